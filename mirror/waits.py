"""A sync's waits for a busy database: bounded, and told to whoever watches the run.

Another connection may hold a lock the sync needs (a long migration, a manual `LOCK TABLE`, an
open SQLite write transaction). Instead of one wait without end, each database step of the sync
waits a short slice at a time (PostgreSQL's lock_timeout, SQLite's busy timeout) and is tried
again, so that between the slices the run can say that it is waiting, and give up once the
waits add up to the limit. A step is one transaction: given up, it leaves nothing behind.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlalchemy.exc import DBAPIError

from store import clock
from store.database import busy_reason, db, wait_limits, write_connection
from store.models import SyncRun
from store.outcomes import SyncStatus

log = logging.getLogger(__name__)

# One slice of waiting: how soon a wait is reported, and how often the run looks up from it.
SLICE_SECONDS = 2.0
# Between slices, when the database refuses at once (SQLite can) rather than waiting.
PAUSE_SECONDS = 0.05


# Runs of this process waiting for a busy database: run id -> since when. For SQLite, whose
# locked database cannot take the note in `sync_runs.waiting_since`: this process still knows.
_WAITING: dict[int, datetime] = {}


def waiting_since(run: SyncRun) -> datetime | None:
    """Since when `run` waits for a busy database, or None."""
    return _WAITING.get(run.id) or run.waiting_since


def note_waiting(run_id: int, since: datetime | None, *, record: bool = True) -> None:
    """Note that run `run_id` waits for the database (since), or no more (None); `record` also
    in its row, for other processes, as far as the busy database lets it."""
    if since is None:
        _WAITING.pop(run_id, None)
    else:
        _WAITING[run_id] = since
    if not record:
        return
    try:
        # A short transaction of its own: PostgreSQL's sync_runs is usually free while another
        # table is locked.
        with wait_limits(lock_seconds=0.5), write_connection(db.engine) as conn, conn.begin():
            conn.execute(update(SyncRun).where(SyncRun.id == run_id).values(waiting_since=since))
    except DBAPIError as exc:
        log.info("could not note the wait of sync #%s: %s", run_id, type(exc.orig).__name__)


class RetryNote:
    """A client's `on_retry` for run `run_id`: keeps in the run's row, while it runs, that
    Calendly is being retried (why, which retry, until when) or no more, for the panel of any
    process. The state is data (`outcome_params["retry"]`); the end of the run replaces it
    with the outcome's parameters."""

    def __init__(self, run_id: int):
        self.run_id = run_id
        self._engine = db.engine  # called from the download thread, which has no app context

    def __call__(self, retry) -> None:
        state = None
        if retry is not None:
            until = clock.now() + timedelta(seconds=retry.wait)
            state = {
                "retry": {
                    "reason": retry.reason,
                    "until": until.isoformat(),
                    "attempt": retry.retry + 1,
                    "attempts": retry.max_retries + 1,
                }
            }
        try:
            with (
                wait_limits(lock_seconds=0.5),
                write_connection(self._engine) as conn,
                conn.begin(),
            ):
                conn.execute(
                    update(SyncRun)
                    .where(SyncRun.id == self.run_id, SyncRun.status == SyncStatus.RUNNING)
                    .values(outcome_params=state)
                )
        except DBAPIError as exc:
            log.info("could not note a retry of sync #%s: %s", self.run_id, type(exc.orig).__name__)


def retry_state(run: SyncRun) -> dict | None:
    """What a running run's client is retrying ({reason, until, attempt, attempts}), or None."""
    state = (run.outcome_params or {}).get("retry") if run.is_running else None
    return state if isinstance(state, dict) else None


class DatabaseBusy(Exception):
    """The database stayed busy longer than a sync may wait for it."""

    def __init__(self, waited_seconds: float):
        super().__init__(f"the database was busy for {waited_seconds:.0f} s")
        self.waited_seconds = waited_seconds


class Patience:
    """Runs database steps, waiting for a busy database at most `limit_seconds` in a row.

    `on_wait(since)` hears when a wait begins (the time it began) and when it ends (None);
    `check()` runs before every try and may raise to stop waiting (the lease is gone).
    """

    def __init__(
        self,
        limit_seconds: float,
        on_wait: Callable[[datetime | None], None] = lambda since: None,
        check: Callable[[], None] = lambda: None,
    ):
        self.limit = limit_seconds
        self.on_wait = on_wait
        self.check = check

    def run(self, step: Callable[[], object]):
        """`step()`, tried again while the database is busy; its result.

        Raises:
            DatabaseBusy: the database stayed busy for `limit_seconds`.
        """
        began = None
        while True:
            self.check()
            tried = time.monotonic()
            left = self.limit if began is None else self.limit - (tried - began)
            try:
                with wait_limits(lock_seconds=max(0.05, min(SLICE_SECONDS, left))):
                    result = step()
            except DBAPIError as exc:
                db.session.rollback()
                reason = busy_reason(exc)
                if reason is None:
                    raise
                if began is None:
                    began = tried  # the first slice was spent waiting already
                    log.warning("the database is busy (%s); the sync waits", reason)
                    self.on_wait(clock.now())
                waited = time.monotonic() - began
                if waited >= self.limit:
                    raise DatabaseBusy(self.limit) from exc
                time.sleep(PAUSE_SECONDS)
                continue
            if began is not None:
                log.info("the database is free again; the sync carries on")
                self.on_wait(None)
            return result
