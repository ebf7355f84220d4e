"""Named leases in the database: a lock shared by every thread, process and host of the app.

A lease has an expiry so that a crashed holder stops blocking others; a live holder renews it,
from a `Heartbeat` thread that does not depend on the holder's progress. Each call runs in its
own short transaction, apart from the caller's session (except `held_by`, which asks inside the
caller's transaction).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from datetime import timedelta

from sqlalchemy import and_, delete, insert, or_, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError

from store import clock, log_context
from store.database import busy_reason, db, wait_limits, write_connection
from store.models import Lease

log = logging.getLogger(__name__)

_table = Lease.__table__


class LeaseLost(Exception):
    """The lease expired and was taken by someone else while its holder was working."""


def process_owner() -> str:
    """A new owner name for this process: "<host>:<pid>:<random id>"."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def owner_process_is_gone(owner: str) -> bool:
    """True when `owner` (from `process_owner`) names a process on this host that has ended."""
    host, _, rest = owner.partition(":")
    if host != socket.gethostname():
        return False  # another machine: only the lease expiry can tell
    try:
        os.kill(int(rest.split(":", 1)[0]), 0)
    except ProcessLookupError:
        return True
    except (ValueError, PermissionError, OSError):
        return False
    return False


def try_acquire(name: str, owner: str, ttl_seconds: float) -> bool:
    """Take lease `name` for `owner` if it is free, expired or already `owner`'s."""
    now = clock.now()
    expires = now + timedelta(seconds=ttl_seconds)
    try:
        with write_connection(db.engine) as conn, conn.begin():
            conn.execute(
                insert(_table).values(name=name, owner=owner, acquired_at=now, expires_at=expires)
            )
        return True
    except IntegrityError:
        pass
    with write_connection(db.engine) as conn, conn.begin():
        result = conn.execute(
            update(_table)
            .where(
                and_(
                    _table.c.name == name,
                    or_(_table.c.expires_at < now, _table.c.owner == owner),
                )
            )
            .values(owner=owner, acquired_at=now, expires_at=expires)
        )
        return result.rowcount == 1


def take_over(name: str, stale_owner: str, owner: str, ttl_seconds: float) -> bool:
    """Move lease `name` from `stale_owner` (known to be dead) to `owner`."""
    now = clock.now()
    with write_connection(db.engine) as conn, conn.begin():
        result = conn.execute(
            update(_table)
            .where(and_(_table.c.name == name, _table.c.owner == stale_owner))
            .values(owner=owner, acquired_at=now, expires_at=now + timedelta(seconds=ttl_seconds))
        )
        return result.rowcount == 1


def renew(name: str, owner: str, ttl_seconds: float, *, engine=None) -> bool:
    """Push the expiry of `owner`'s lease forward; False when the lease is no longer theirs.

    `engine` for threads without an app context (the heartbeat); db.engine otherwise.
    """
    with write_connection(engine or db.engine) as conn, conn.begin():
        result = conn.execute(
            update(_table)
            .where(and_(_table.c.name == name, _table.c.owner == owner))
            .values(expires_at=clock.now() + timedelta(seconds=ttl_seconds))
        )
        return result.rowcount == 1


def release(name: str, owner: str) -> None:
    """Give up `owner`'s lease (no-op when someone else holds it)."""
    with write_connection(db.engine) as conn, conn.begin():
        conn.execute(delete(_table).where(and_(_table.c.name == name, _table.c.owner == owner)))


def release_in(session, name: str, owner: str) -> None:
    """Give up `owner`'s lease inside `session`'s transaction: it is free exactly when what
    that transaction records (a run's end) is committed, never a moment later."""
    session.execute(delete(_table).where(and_(_table.c.name == name, _table.c.owner == owner)))


def current_holder(name: str) -> str | None:
    """The owner of an unexpired lease `name`, or None."""
    with db.engine.connect() as conn:
        row = conn.execute(
            select(_table.c.owner, _table.c.expires_at).where(_table.c.name == name)
        ).first()
    if row is None or row.expires_at < clock.now():
        return None
    return row.owner


def held_by(session, name: str, owner: str) -> bool:
    """True when `owner` holds lease `name`, asked inside `session`'s transaction: PostgreSQL
    then keeps anyone from taking the lease over until that transaction ends (SQLite's writer
    holds the whole database anyway)."""
    holder = session.scalar(select(_table.c.owner).where(_table.c.name == name).with_for_update())
    return holder == owner


class Heartbeat:
    """Renews `owner`'s lease `name` for `ttl_seconds` every `every_seconds`, in a thread of
    its own, whatever the holder is doing (waiting for Calendly, a 429 or a busy database).

    Use as a context manager. When the lease turns out to be someone else's, `lost` is set and
    the beat stops: `check()` then raises LeaseLost, and the holder must stop writing. A renewal
    that fails (the database is busy or gone) is tried again at the next beat; the expiry is
    the limit.
    """

    def __init__(self, name: str, owner: str, ttl_seconds: float, every_seconds: float):
        self.name, self.owner = name, owner
        self.ttl, self.every = ttl_seconds, every_seconds
        self.lost = threading.Event()
        # Set by the holder before it commits the lease's release (`release_in`).
        self._releasing = threading.Event()
        self._engine = db.engine  # the thread has no app context of its own
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> Heartbeat:
        # Started here, so that its lines carry the ids of the run that holds the lease.
        self._thread = threading.Thread(
            target=log_context.carried(self._beat), name=f"lease-{self.name}", daemon=True
        )
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def releasing(self) -> None:
        """The holder is about to release the lease: a renewal that finds it gone then ends
        the beat quietly instead of reporting it lost."""
        self._releasing.set()

    def check(self) -> None:
        """Raise LeaseLost once the lease has gone to someone else."""
        if self.lost.is_set():
            raise LeaseLost()

    def _beat(self) -> None:
        while not self._stop.wait(self.every):
            try:
                # Never wait longer than a beat: the next one tries again.
                with wait_limits(lock_seconds=self.every):
                    mine = renew(self.name, self.owner, self.ttl, engine=self._engine)
            except DBAPIError as exc:
                reason = busy_reason(exc) or type(exc.orig).__name__
                log.warning("could not renew lease %s (%s); trying again", self.name, reason)
                continue
            if not mine:
                if self._releasing.is_set():
                    return
                log.warning("lease %s of %s was taken over by someone else", self.name, self.owner)
                self.lost.set()
                return
