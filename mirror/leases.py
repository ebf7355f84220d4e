"""Named leases in the database: a lock shared by every thread, process and host of the app.

A lease has an expiry so that a crashed holder stops blocking others; a live holder renews it.
Each call runs in its own short transaction, apart from the caller's session.
"""

from __future__ import annotations

import os
import socket
import uuid
from datetime import timedelta

from sqlalchemy import and_, delete, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from store import clock
from store.database import db, write_connection
from store.models import Lease

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


def renew(name: str, owner: str, ttl_seconds: float) -> bool:
    """Push the expiry of `owner`'s lease forward; False when the lease is no longer theirs."""
    with write_connection(db.engine) as conn, conn.begin():
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


def current_holder(name: str) -> str | None:
    """The owner of an unexpired lease `name`, or None."""
    with db.engine.connect() as conn:
        row = conn.execute(
            select(_table.c.owner, _table.c.expires_at).where(_table.c.name == name)
        ).first()
    if row is None or row.expires_at < clock.now():
        return None
    return row.owner
