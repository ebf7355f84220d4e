"""The scheduler: runs the one sync on the admin's schedule, exactly once per scheduled time.

Every process that serves the app runs one (gunicorn workers, several hosts). Each scheduled
time (a "tick") is claimed through a database lease named after it: the first process to claim
it runs the sync, under the same `calendly_sync` lease as "Sync now"; the others record a SyncRun
with status "skipped", a SkipReason as `outcome`, the process ("<host>:<pid>:<id>") as `owner`
and the tick as `tick`. So every tick leaves one row per process.

Why one thread per process that runs the ticks itself rather than APScheduler's scheduler: only
its private internals tell which tick a job runs for and which ticks it dropped. Of APScheduler
only the triggers' public `get_next_fire_time` is used (a cron trigger in the admin's time zone,
so DST is right; an interval counting from a fixed origin, so every process computes the same
ticks). Owning the loop, every tick is run or recorded: STILL_RUNNING (it came due while this
process ran a sync; never run late, so slow syncs do not run back to back), COALESCED (woken
late to several, only the newest runs), MISSED (more than MISFIRE_GRACE_SECONDS late).

`reschedule(app)` applies a changed schedule at once (its ticks count from then on); a watcher
thread re-reads it every SCHEDULER_WATCH_SECONDS (30), for changes saved by other processes.
SCHEDULER_TEST_INTERVAL_SECONDS replaces the schedule with a plain interval (tests).
"""

from __future__ import annotations

import atexit
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from functools import cached_property
from itertools import islice
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from flask import Flask
from sqlalchemy import delete, or_

from mirror import leases
from mirror.problems import log_failure
from mirror.sync import SyncAlreadyRunning, run_sync
from services import alerts, maintenance, retention, settings, webhook_subscriptions
from services.backups import (
    SCHEDULED_LEASE_PREFIX,
    Backup,
    BackupConfig,
    prune_backups,
    run_daily_backup,
)
from services.connection import build_client
from services.secrets import TokenVaultError
from services.syncing import options_from_settings
from store import clock
from store.database import db, start_write, write_connection
from store.models import Lease, SyncRun
from store.outcomes import SkipReason, SyncStatus, SyncTrigger

log = logging.getLogger(__name__)

THREAD_NAME = "sync-scheduler"
TICK_LEASE_PREFIX = "scheduler_tick:"
# A tick more than this late is not run: another process may have run it and its lease expired.
MISFIRE_GRACE_SECONDS = 300
# A tick's lease must outlive the last moment any process may still start that tick.
TICK_LEASE_SECONDS = MISFIRE_GRACE_SECONDS + 60
# Interval ticks are origin + k * interval, the same in every process.
INTERVAL_ORIGIN = datetime(2000, 1, 1, tzinfo=UTC)
DEFAULT_WATCH_SECONDS = 30.0
DEFAULT_DAILY_TIME = time(6, 0)
# Waits are measured on the monotonic clock; look at the wall clock again at least this often,
# in case it was set (or the machine slept).
MAX_WAIT_SECONDS = 60.0
# Skips recorded at once for long-missed ticks: a process that slept for weeks does not write a
# row for every minute of it.
MAX_SKIPS_RECORDED = 1000
_MICROSECOND = timedelta(microseconds=1)


@dataclass(frozen=True)
class Schedule:
    """When the sync runs: a daily time in a time zone, and/or every `interval_seconds`."""

    daily_time: time | None
    timezone: str
    interval_seconds: float = 0

    @cached_property
    def _daily(self) -> CronTrigger | None:
        if self.daily_time is None:
            return None
        return CronTrigger(
            hour=self.daily_time.hour, minute=self.daily_time.minute, timezone=self._zone
        )

    @cached_property
    def _interval(self) -> IntervalTrigger | None:
        if self.interval_seconds <= 0:
            return None
        return IntervalTrigger(
            seconds=self.interval_seconds, start_date=INTERVAL_ORIGIN, timezone=UTC
        )

    @cached_property
    def _zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def first_tick(self, moment: datetime) -> datetime | None:
        """The first tick at or after `moment` (aware UTC), or None when nothing is scheduled."""
        ticks = []
        if self._daily is not None:
            ticks.append(self._daily_tick(moment))
        if self._interval is not None:
            ticks.append(self._interval.get_next_fire_time(None, moment).astimezone(UTC))
        return min(ticks, default=None)

    def ticks(self, start: datetime, end: datetime) -> Iterator[datetime]:
        """The ticks from `start` (inclusive) to `end` (exclusive), oldest first."""
        tick = self.first_tick(start)
        while tick is not None and tick < end:
            yield tick
            tick = self.first_tick(tick + _MICROSECOND)

    def _daily_tick(self, moment: datetime) -> datetime:
        while True:
            tick = self._daily.get_next_fire_time(None, moment).astimezone(UTC)
            # A daily time in the hour repeated when DST ends matches twice: run it once.
            if not tick.astimezone(self._zone).fold:
                return tick
            moment = tick + _MICROSECOND  # in UTC: local arithmetic would lose the fold

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
    if not settings.event_types_chosen():
        return record_skip(process_owner, scheduled, SkipReason.NO_EVENT_TYPES)
    options = options_from_settings(SyncTrigger.SCHEDULER, tick=scheduled)
    try:
        run = run_sync(build_client, options)
    except SyncAlreadyRunning:
        return record_skip(process_owner, scheduled, SkipReason.SYNC_RUNNING)
    log.info("scheduled sync for %s: %s", key, run.status)
    _check_webhooks()
    alerts.after_sync()
    return run


def _check_webhooks() -> None:
    """Notice a subscription Calendly disabled, without waiting for someone to open a page."""
    try:
        webhook_subscriptions.refresh_health_if_stale()
    except Exception as exc:  # the sync itself went fine; a failed check must not fail the tick
        log_failure(log, "could not check the webhook subscriptions", exc=exc)


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
    """This process's schedule thread, which runs the ticks, and its schedule watcher."""

    def __init__(self, app: Flask):
        self.app = app
        self.owner = leases.process_owner()
        self.watch_seconds = float(app.config.get("SCHEDULER_WATCH_SECONDS", DEFAULT_WATCH_SECONDS))
        self.schedule: Schedule | None = None
        self._next: datetime | None = None  # the next tick this process has to account for
        # _lock guards schedule and _next and is held only briefly; _apply_lock keeps two
        # apply_schedule() calls from storing what they read in the wrong order.
        self._lock = threading.Lock()
        self._apply_lock = threading.Lock()
        self._wake = threading.Event()  # a new schedule, or shutdown
        self._stop = threading.Event()
        self._ticker = threading.Thread(target=self._tick_loop, name=THREAD_NAME, daemon=True)
        self._watcher = threading.Thread(
            target=self._watch_loop, name=f"{THREAD_NAME}-watch", daemon=True
        )

    def start(self) -> None:
        """Start the schedule thread and the watcher, whose first look reads the schedule (so
        nothing touches the database while the app is being built)."""
        self._ticker.start()
        self._watcher.start()
        log.info("scheduler started (%s)", self.owner)

    @property
    def running(self) -> bool:
        """True from start() until shutdown()."""
        return self._ticker.is_alive() and not self._stop.is_set()

    def shutdown(self, wait: bool = False) -> None:
        """Stop both threads; with `wait`, also wait until a running sync has ended."""
        self._stop.set()
        self._wake.set()
        # Without `wait` the schedule thread may go on running a sync (it is a daemon thread).
        for thread in (self._watcher, self._ticker) if wait else (self._watcher,):
            if thread.is_alive() and thread is not threading.current_thread():
                thread.join()

    def apply_schedule(self) -> bool:
        """Read the schedule from the settings and follow it from now on if it changed.

        Needs an app context. Returns True when the schedule changed.
        """
        with self._apply_lock:
            schedule = schedule_from_settings(self.app)
            with self._lock:
                if schedule == self.schedule:
                    return False
                self.schedule = schedule
                self._next = schedule.first_tick(clock.now())
        self._wake.set()
        log.info("sync schedule: %s; next run %s", schedule.describe(), self.next_run_time())
        return True

    def next_run_time(self) -> datetime | None:
        """When this process next starts a sync (aware UTC), or None."""
        if not self.running:
            return None
        with self._lock:
            schedule, tick = self.schedule, self._next
        now = clock.now()
        if tick is not None and tick < now:  # passing while a sync runs: not started late
            tick = schedule.first_tick(now)
        return tick

    def run_due_ticks(self) -> None:
        """Run the newest due tick unless it is too late, and record a skip for every other."""
        now = clock.now()
        due = self._take_due(now)
        if due is None:
            return
        schedule, first = due
        cutoff = max(first, now - timedelta(seconds=MISFIRE_GRACE_SECONDS))
        skips = _skips(schedule, first, cutoff, SkipReason.MISSED)
        # Within the grace time: at most a few hundred, even at the tests' 1 s interval.
        recent = _skips(schedule, cutoff, now + _MICROSECOND, SkipReason.COALESCED, limit=None)
        try:
            if recent:
                newest, _ = recent.pop()
                # Run it before writing the skips: the other processes are claiming it now.
                if run_tick(self.app, newest, self.owner).status != SyncStatus.SKIPPED:
                    skips += self._passed_while_running()
        finally:
            self._record(skips + recent)

    def _passed_while_running(self) -> list[tuple[datetime, SkipReason]]:
        """The ticks that came due while this process ran a sync: skipped, not run late (a slow
        sync would otherwise run back to back)."""
        now = clock.now()
        due = self._take_due(now)
        if due is None:
            return []
        schedule, first = due
        return _skips(schedule, first, now + _MICROSECOND, SkipReason.STILL_RUNNING)

    def _take_due(self, now: datetime) -> tuple[Schedule, datetime] | None:
        """The schedule and its oldest tick not yet accounted for, if that is due by `now`;
        the ticks up to `now` are then this caller's to account for."""
        with self._lock:
            schedule, first = self.schedule, self._next
            if schedule is None or first is None or first > now:
                return None
            self._next = schedule.first_tick(now + _MICROSECOND)
            return schedule, first

    def _record(self, skips: list[tuple[datetime, SkipReason]]) -> None:
        with self.app.app_context():
            try:
                for tick, reason in sorted(skips):
                    record_skip(self.owner, tick, reason)
            finally:
                db.session.remove()

    def _tick_loop(self) -> None:
        while True:
            # Cleared before looking at _stop and _next: a change after this wakes the wait.
            self._wake.clear()
            if self._stop.is_set():
                return
            with self._lock:
                tick = self._next
            delay = MAX_WAIT_SECONDS if tick is None else (tick - clock.now()).total_seconds()
            if delay > 0:
                self._wake.wait(min(delay, MAX_WAIT_SECONDS))
                continue
            try:
                self.run_due_ticks()
            except Exception as exc:  # _next has moved on: the thread goes on with the next tick
                log_failure(log, "scheduled sync failed", exc=exc)

    def _watch_loop(self) -> None:
        while True:
            self._watch()
            if self._stop.wait(self.watch_seconds):
                return

    def _watch(self) -> None:
        """Pick up schedule changes made elsewhere; drop the leases of long-past ticks and
        prune old bookkeeping when that is due."""
        with self.app.app_context():
            try:
                self.apply_schedule()
                with write_connection(db.engine) as conn, conn.begin():
                    conn.execute(
                        delete(Lease).where(
                            or_(
                                *(
                                    Lease.name.startswith(prefix, autoescape=True)
                                    for prefix in (
                                        TICK_LEASE_PREFIX,
                                        SCHEDULED_LEASE_PREFIX,
                                        retention.DAILY_LEASE_PREFIX,
                                    )
                                )
                            ),
                            Lease.expires_at < clock.now(),
                        )
                    )
                maintenance.prune_if_due()
                alerts.check_if_due()
            except Exception as exc:
                log_failure(log, "could not refresh the sync schedule; trying again later", exc=exc)
            finally:
                db.session.remove()
            self.retention_if_due()
            self.backup_if_due()

    def retention_if_due(self) -> retention.Plan | None:
        """Run today's retention purge unless another process ran it (once a day, in the
        admin's time zone)."""
        with self.app.app_context():
            try:
                done = retention.run_daily(self.owner)
                if done is not None:
                    # Backups hold the people the purge removed: those past the period go too.
                    config = BackupConfig.from_config(self.app.config, self.app.instance_path)
                    prune_backups(config.directory, 0, expired_before=done.cutoff_at)
                return done
            except Exception as exc:  # tried again the next day
                log_failure(log, "the daily retention purge failed", exc=exc)
                return None
            finally:
                db.session.remove()

    def backup_if_due(self) -> Backup | None:
        """Make the daily backup (BACKUP_AT) when it is due and no other process made it."""
        with self.app.app_context():
            config = BackupConfig.from_config(self.app.config, self.app.instance_path)
            try:
                made = run_daily_backup(
                    config,
                    settings.display_timezone(),
                    self.owner,
                    expired_before=retention.expired_before(settings.retention_months()),
                )
            except Exception as exc:  # the backup of the next day is tried all the same
                log_failure(log, "the daily backup failed", exc=exc)
                return None
            finally:
                db.session.remove()
        if made is not None:
            log.info("daily backup written: %s (%d bytes)", made.path, made.size)
        return made


def _skips(
    schedule: Schedule,
    start: datetime,
    end: datetime,
    reason: SkipReason,
    limit: int | None = MAX_SKIPS_RECORDED,
) -> list[tuple[datetime, SkipReason]]:
    """The ticks from `start` to `end` (exclusive), each with `reason`; the first `limit`."""
    ticks = list(islice(schedule.ticks(start, end), None if limit is None else limit + 1))
    if limit is not None and len(ticks) > limit:
        log.warning(
            "more than %d scheduled syncs %s between %s and %s; recording the first %d",
            limit,
            reason,
            tick_key(start),
            tick_key(end),
            limit,
        )
        del ticks[limit:]
    return [(tick, reason) for tick in ticks]


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
