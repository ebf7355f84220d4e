"""The scheduler: runs the one sync on the admin's schedule, exactly once per scheduled time.

Every process that serves the app may start a BackgroundScheduler (gunicorn workers, several
hosts). Each scheduled time (a "tick") is claimed through a database lease named after it: the
first process to claim it runs the sync, under the same `calendly_sync` lease as "Sync now", and
the others record that they skipped. So every tick leaves one SyncRun row per process: the run
itself, or a row with status "skipped" and a SkipReason as `outcome` (the tick ran elsewhere,
another sync was running, Calendly is not connected, this process was too busy). The `owner` of
these rows is the process ("<host>:<pid>:<id>"); their `tick` is the scheduled time.

Ticks are aligned, so every process computes the same ones: the daily time is a cron trigger in
the admin's time zone, and interval ticks count from a fixed origin. The schedule lives in the
settings; `reschedule(app)` applies a change at once, and a small watcher thread re-reads it
every SCHEDULER_WATCH_SECONDS (30) so that a change saved in another process takes effect here
too. SCHEDULER_TEST_INTERVAL_SECONDS replaces the schedule with a plain interval (tests).
"""

from __future__ import annotations

import atexit
import concurrent.futures
import logging
import os
import socket
import threading
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

from apscheduler.events import EVENT_JOB_MISSED
from apscheduler.executors.base import MaxInstancesReachedError, run_job
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.combining import OrTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from flask import Flask
from sqlalchemy import delete

from mirror import leases
from mirror.sync import SyncAlreadyRunning, run_sync
from services import settings, webhook_subscriptions
from services.connection import build_client
from services.secrets import TokenVaultError
from services.syncing import options_from_settings
from store import clock
from store.database import db, start_write, write_connection
from store.models import Lease, SyncRun
from store.outcomes import SkipReason, SyncStatus, SyncTrigger

log = logging.getLogger(__name__)

SYNC_JOB_ID = "calendly_sync"
JOB_DEFAULTS = {"coalesce": True, "max_instances": 1, "misfire_grace_time": 300}
TICK_LEASE_PREFIX = "scheduler_tick:"
# A tick's lease must outlive the last moment any process may still start that tick.
TICK_LEASE_SECONDS = JOB_DEFAULTS["misfire_grace_time"] + 60
# Interval ticks are origin + k * interval, the same in every process.
INTERVAL_ORIGIN = datetime(2000, 1, 1, tzinfo=UTC)
DEFAULT_WATCH_SECONDS = 30.0
DEFAULT_DAILY_TIME = time(6, 0)


# The tick the current executor thread is running the sync job for (set by _TickExecutor).
_current = threading.local()


@dataclass(frozen=True)
class Schedule:
    """When the sync runs: a daily time in a time zone, and/or every `interval_seconds`."""

    daily_time: time | None
    timezone: str
    interval_seconds: float = 0

    def trigger(self):
        """The APScheduler trigger, or None when nothing is scheduled."""
        triggers = []
        if self.daily_time is not None:
            triggers.append(
                CronTrigger(
                    hour=self.daily_time.hour,
                    minute=self.daily_time.minute,
                    timezone=ZoneInfo(self.timezone),
                )
            )
        if self.interval_seconds > 0:
            triggers.append(
                IntervalTrigger(
                    seconds=self.interval_seconds, start_date=INTERVAL_ORIGIN, timezone=UTC
                )
            )
        if not triggers:
            return None
        return triggers[0] if len(triggers) == 1 else OrTrigger(triggers)

    def describe(self) -> str:
        """The schedule in words, for the log."""
        parts = []
        if self.daily_time is not None:
            parts.append(f"daily at {self.daily_time:%H:%M} {self.timezone}")
        if self.interval_seconds > 0:
            parts.append(f"every {self.interval_seconds:g} s")
        return " and ".join(parts) or "no automatic sync"


def schedule_from_settings(app: Flask) -> Schedule:
    """The schedule the settings ask for (needs an app context).

    `SCHEDULER_TEST_INTERVAL_SECONDS` in the config replaces it with a plain interval (tests).
    """
    test_seconds = app.config.get("SCHEDULER_TEST_INTERVAL_SECONDS")
    if test_seconds:
        return Schedule(None, "UTC", float(test_seconds))
    stored = settings.sync_schedule()
    return Schedule(
        daily_time=_daily_time(stored.get("daily_time")),
        timezone=settings.display_timezone(),
        interval_seconds=60 * _minutes(stored.get("interval_minutes")),
    )


def _daily_time(value) -> time | None:
    if value in (None, ""):
        return None  # no daily run, only the interval (if any)
    try:
        hour, minute = (int(part) for part in str(value).split(":"))
        return time(hour, minute)
    except ValueError:
        log.warning("unreadable daily sync time %r; using %s", value, DEFAULT_DAILY_TIME)
        return DEFAULT_DAILY_TIME


def _minutes(value) -> int:
    try:
        return max(0, int(value or 0))
    except (TypeError, ValueError):
        log.warning("unreadable sync interval %r; no interval sync", value)
        return 0


def tick_key(scheduled: datetime) -> str:
    """The name of a tick: its scheduled time in UTC, ISO 8601."""
    return scheduled.astimezone(UTC).isoformat()


# -- one tick -------------------------------------------------------------------------------------


def run_tick(app: Flask, scheduled: datetime, process_owner: str) -> SyncRun:
    """Run the sync for the tick `scheduled` unless another process claimed it first.

    Returns the run, or the "skipped" row recorded instead (detached, attributes loaded).
    """
    with app.app_context():
        try:
            run = _run_tick(scheduled, process_owner)
            db.session.refresh(run)
            db.session.expunge(run)  # loaded and detached: usable after the context ends
            return run
        finally:
            db.session.remove()


def _run_tick(scheduled: datetime, process_owner: str) -> SyncRun:
    key = tick_key(scheduled)
    if not leases.try_acquire(TICK_LEASE_PREFIX + key, process_owner, TICK_LEASE_SECONDS):
        return record_skip(process_owner, scheduled, SkipReason.RAN_ELSEWHERE)
    if not _connected():
        return record_skip(process_owner, scheduled, SkipReason.NOT_CONNECTED)
    options = options_from_settings(SyncTrigger.SCHEDULER, tick=scheduled)
    try:
        run = run_sync(build_client, options)
    except SyncAlreadyRunning:
        return record_skip(process_owner, scheduled, SkipReason.SYNC_RUNNING)
    log.info("scheduled sync for %s: %s", key, run.status)
    _check_webhooks()
    return run


def _check_webhooks() -> None:
    """Notice a subscription Calendly disabled, without waiting for someone to open a page."""
    try:
        webhook_subscriptions.refresh_health_if_stale()
    except Exception:  # the sync itself went fine; a failed check must not fail the tick
        log.exception("could not check the webhook subscriptions")


def _connected() -> bool:
    try:
        return bool(settings.calendly_token())
    except TokenVaultError:
        return True  # let the run fail with the vault's message, which says what to do


def record_skip(owner: str, tick: datetime, reason: SkipReason) -> SyncRun:
    """Record that this process did not run the scheduled sync of `tick`, and why (needs an app
    context)."""
    start_write(db.session)
    now = clock.now()
    run = SyncRun(
        trigger=SyncTrigger.SCHEDULER,
        status=SyncStatus.SKIPPED,
        started_at=now,
        finished_at=now,
        outcome=reason,
        outcome_params={},
        owner=owner,
        tick=tick,
    )
    db.session.add(run)
    db.session.commit()
    log.info("scheduled sync for %s skipped: %s", tick_key(tick), reason)
    return run


# -- the scheduler --------------------------------------------------------------------------------


class SyncScheduler:
    """This process's BackgroundScheduler with the sync job and the schedule watcher."""

    def __init__(self, app: Flask):
        self.app = app
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.watch_seconds = float(app.config.get("SCHEDULER_WATCH_SECONDS", DEFAULT_WATCH_SECONDS))
        self.schedule: Schedule | None = None
        # Lock order: _lock, then APScheduler's own locks. The scheduler's thread holds those
        # when it calls note_due(), so note_due() takes only _tick_lock, never _lock.
        self._lock = threading.RLock()
        self._tick_lock = threading.Lock()
        self._last_tick: datetime | None = None
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None
        # Skips noticed on the scheduler's own thread are written from here, off that thread.
        self._bookkeeping = concurrent.futures.ThreadPoolExecutor(
            1, thread_name_prefix="scheduler-bookkeeping"
        )
        self.scheduler = BackgroundScheduler(
            timezone="UTC",
            job_defaults=JOB_DEFAULTS,
            executors={"default": _TickExecutor(self)},
        )

    def start(self) -> None:
        """Start the scheduler and the schedule watcher, whose first look adds the sync job
        (so nothing touches the database while the app is being built)."""
        self.scheduler.start()
        # The watcher is a plain thread, not a job: APScheduler's shutdown(wait=True) holds
        # its job store lock while waiting for running jobs, so a job that reschedules
        # (add_job needs that lock) would deadlock it.
        self._watcher = threading.Thread(
            target=self._watch_loop, name="sync-schedule-watch", daemon=True
        )
        self._watcher.start()
        log.info("scheduler started (%s)", self.owner)

    @property
    def running(self) -> bool:
        return self.scheduler.running

    def shutdown(self, wait: bool = False) -> None:
        """Stop the scheduler (`wait`: until a running sync ends) and flush recorded skips."""
        self._stop.set()
        if self._watcher is not None and self._watcher is not threading.current_thread():
            self._watcher.join()
        if self.scheduler.running:
            self.scheduler.shutdown(wait=wait)
        self._bookkeeping.shutdown(wait=True)

    def apply_schedule(self) -> bool:
        """Read the schedule from the settings and (re)schedule the sync job if it changed.

        Needs an app context. Returns True when the job was rescheduled.
        """
        with self._lock:
            schedule = schedule_from_settings(self.app)
            if schedule == self.schedule:
                return False
            trigger = schedule.trigger()
            if trigger is None:
                if self.scheduler.get_job(SYNC_JOB_ID) is not None:
                    self.scheduler.remove_job(SYNC_JOB_ID)
            else:
                self.scheduler.add_job(
                    _scheduled_sync,
                    trigger,
                    args=[self],
                    id=SYNC_JOB_ID,
                    name="Calendly sync",
                    replace_existing=True,
                )
            self.schedule = schedule
            with self._tick_lock:
                self._last_tick = None
            log.info("sync schedule: %s; next run %s", schedule.describe(), self.next_run_time())
            return True

    def next_run_time(self) -> datetime | None:
        """When this process's scheduler next starts a sync (aware UTC), or None."""
        if not self.scheduler.running:
            return None
        job = self.scheduler.get_job(SYNC_JOB_ID)
        if job is None or job.next_run_time is None:
            return None
        return job.next_run_time.astimezone(UTC)

    def _watch_loop(self) -> None:
        while True:
            self._watch()
            if self._stop.wait(self.watch_seconds):
                return

    def _watch(self) -> None:
        """Pick up schedule changes made elsewhere; drop the leases of long-past ticks."""
        with self.app.app_context():
            try:
                self.apply_schedule()
                with write_connection(db.engine) as conn, conn.begin():
                    conn.execute(
                        delete(Lease).where(
                            Lease.name.startswith(TICK_LEASE_PREFIX, autoescape=True),
                            Lease.expires_at < clock.now(),
                        )
                    )
            except Exception:
                log.exception("could not refresh the sync schedule; trying again later")
            finally:
                db.session.remove()

    # Called by _TickExecutor on the scheduler's thread.

    def note_due(self, trigger, run_times: list[datetime]) -> None:
        """Account for ticks APScheduler merged away (coalesce) before `run_times`."""
        with self._tick_lock:
            last, self._last_tick = self._last_tick, run_times[-1]
        if last is None:
            return
        merged, moment = [], last
        while len(merged) < 1000:
            moment = trigger.get_next_fire_time(moment, moment)
            if moment is None or moment >= run_times[0]:
                break
            merged.append(moment)
        for moment in merged:
            self.skip_later(moment, SkipReason.COALESCED)

    def skip_later(self, scheduled: datetime, reason: SkipReason) -> None:
        """Record a skipped tick from the bookkeeping thread."""

        def write():
            with self.app.app_context():
                try:
                    record_skip(self.owner, scheduled, reason)
                except Exception:
                    log.exception("could not record a skipped scheduled sync")
                finally:
                    db.session.remove()

        try:
            self._bookkeeping.submit(write)
        except RuntimeError:  # shutting down
            log.info("scheduled sync for %s skipped: %s", tick_key(scheduled), reason)


def _scheduled_sync(scheduler: SyncScheduler) -> None:
    """The sync job: run (or skip) the tick this thread was started for."""
    scheduled = getattr(_current, "run_time", None) or clock.now()
    run_tick(scheduler.app, scheduled, scheduler.owner)


class _TickExecutor(ThreadPoolExecutor):
    """A thread pool that tells the sync job which tick it runs for, and accounts for every tick
    it does not run (merged, still running, missed) as a skip."""

    def __init__(self, sync_scheduler: SyncScheduler, max_workers: int = 4):
        super().__init__(max_workers)
        self._sync_scheduler = sync_scheduler

    def submit_job(self, job, run_times):
        if job.id != SYNC_JOB_ID:
            return super().submit_job(job, run_times)
        self._sync_scheduler.note_due(job.trigger, run_times)
        try:
            super().submit_job(job, run_times)
        except MaxInstancesReachedError:
            for moment in run_times:
                self._sync_scheduler.skip_later(moment, SkipReason.STILL_RUNNING)
            raise

    def _do_submit_job(self, job, run_times):
        if job.id != SYNC_JOB_ID:
            return super()._do_submit_job(job, run_times)

        def done(future):
            exc = future.exception()
            if exc is not None:
                self._run_job_error(job.id, exc, exc.__traceback__)
            else:
                self._run_job_success(job.id, future.result())

        future = self._pool.submit(
            _run_ticks, self._sync_scheduler, job, job._jobstore_alias, run_times, self._logger.name
        )
        future.add_done_callback(done)


def _run_ticks(sync_scheduler: SyncScheduler, job, jobstore_alias, run_times, logger_name):
    """APScheduler's run_job, one tick at a time, with the tick published to the job."""
    events = []
    for moment in run_times:
        _current.run_time = moment
        try:
            batch = run_job(job, jobstore_alias, [moment], logger_name)
        finally:
            _current.run_time = None
        if any(event.code == EVENT_JOB_MISSED for event in batch):
            sync_scheduler.skip_later(moment, SkipReason.MISSED)
        events.extend(batch)
    return events


# -- wiring ------------------------------------------------------------------------------------


def init_scheduler(app: Flask) -> SyncScheduler | None:
    """Start this process's scheduler for `app` when it should run one; returns it or None.

    Not started when SCHEDULER_ENABLED is off (tests). The app factory calls it only in a process
    that serves requests (`app.serves_requests`). Calling it again returns the running one.
    """
    app.extensions.setdefault("scheduler_next_run", lambda: next_run_time(app))
    existing = app.extensions.get("scheduler")
    if existing is not None:
        return existing
    if not app.config.get("SCHEDULER_ENABLED"):
        return None
    scheduler = SyncScheduler(app)
    scheduler.start()
    app.extensions["scheduler"] = scheduler
    atexit.register(scheduler.shutdown)
    return scheduler


def reschedule(app: Flask) -> datetime | None:
    """Apply the stored schedule now (the Settings page calls this after saving it).

    Returns the next run time, or None when this process runs no scheduler.
    """
    scheduler = app.extensions.get("scheduler")
    if scheduler is None:
        return None
    with app.app_context():
        try:
            scheduler.apply_schedule()
        finally:
            db.session.remove()
    return scheduler.next_run_time()


def next_run_time(app: Flask) -> datetime | None:
    """When this process's scheduler next starts a sync (aware UTC), or None."""
    scheduler = app.extensions.get("scheduler")
    return None if scheduler is None else scheduler.next_run_time()
