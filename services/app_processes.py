"""Which app processes are running: each serving process keeps a row in `app_processes` fresh.

A restore that replaces the configured database (`flask backup restore --force`) asks this
first: a process that still runs would go on writing into the database being replaced. Every
process that serves requests (gunicorn workers, `flask run`) starts a `ProcessHeartbeat`, which
writes its row at once and then every BEAT_SECONDS; a clean exit deletes it. A row older than
DEAD_AFTER_SECONDS belongs to a process that died without saying so (killed, host gone).
"""

from __future__ import annotations

import atexit
import logging
import os
import socket
import threading
from datetime import datetime, timedelta

from flask import Flask
from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import SQLAlchemyError

from mirror.leases import process_owner
from mirror.problems import log_failure
from store import clock
from store.database import db, write_connection
from store.models import AppProcess

log = logging.getLogger(__name__)

BEAT_SECONDS = 60.0
# Three beats missed: the process is gone (a busy database may delay one beat, not three).
DEAD_AFTER_SECONDS = 180.0

_table = AppProcess.__table__


def beat(engine, owner: str, started_at: datetime) -> None:
    """Say that process `owner` is alive now (insert or refresh its row); drop dead rows."""
    now = clock.now()
    with write_connection(engine) as conn, conn.begin():
        refreshed = conn.execute(
            update(_table).where(_table.c.owner == owner).values(last_seen=now)
        ).rowcount
        if not refreshed:
            host, pid = _host_and_pid(owner)
            conn.execute(
                insert(_table).values(
                    owner=owner, host=host, pid=pid, started_at=started_at, last_seen=now
                )
            )
        conn.execute(delete(_table).where(_table.c.last_seen < now - _dead_after()))


def forget(engine, owner: str) -> None:
    """Delete the row of process `owner` (it is exiting)."""
    with write_connection(engine) as conn, conn.begin():
        conn.execute(delete(_table).where(_table.c.owner == owner))


def live_processes(connection) -> list:
    """The rows of processes seen within DEAD_AFTER_SECONDS (owner, host, pid, last_seen)."""
    cutoff = clock.now() - _dead_after()
    return connection.execute(
        select(_table.c.owner, _table.c.host, _table.c.pid, _table.c.last_seen)
        .where(_table.c.last_seen >= cutoff)
        .order_by(_table.c.owner)
    ).all()


def _dead_after() -> timedelta:
    return timedelta(seconds=DEAD_AFTER_SECONDS)


def _host_and_pid(owner: str) -> tuple[str, int]:
    host, _, rest = owner.partition(":")
    pid = rest.split(":", 1)[0]
    return (host or socket.gethostname())[:255], int(pid) if pid.isdigit() else os.getpid()


class ProcessHeartbeat:
    """Keeps this process's `app_processes` row fresh from a daemon thread until `stop()`."""

    def __init__(self, engine, owner: str | None = None, every_seconds: float = BEAT_SECONDS):
        self.owner = owner or process_owner()
        self.started_at = clock.now()
        self.every = every_seconds
        self._engine = engine  # the thread has no app context of its own
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="app-heartbeat", daemon=True)

    def start(self) -> ProcessHeartbeat:
        self._thread.start()
        return self

    def stop(self) -> None:
        """End the beat and delete this process's row (a clean exit is not a dead process)."""
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join()
        try:
            forget(self._engine, self.owner)
        except SQLAlchemyError as exc:
            log_failure(log, "could not remove this process's heartbeat row", exc=exc)

    def _run(self) -> None:
        failing = False
        while True:
            try:
                beat(self._engine, self.owner, self.started_at)
                if failing:
                    log.info("heartbeat of %s written again", self.owner)
                failing = False
            except SQLAlchemyError as exc:  # not migrated yet, or busy: the next beat tries again
                if not failing:  # said once, not every minute
                    log_failure(log, "could not write this process's heartbeat", exc=exc)
                failing = True
            if self._stop.wait(self.every):
                return


def init_heartbeat(app: Flask) -> ProcessHeartbeat:
    """Start this serving process's heartbeat (once per app); stopped at exit."""
    existing = app.extensions.get("app_heartbeat")
    if existing is not None:
        return existing
    with app.app_context():
        engine = db.engine
    heartbeat = ProcessHeartbeat(engine).start()
    app.extensions["app_heartbeat"] = heartbeat
    atexit.register(heartbeat.stop)
    return heartbeat
