"""The scheduler: when it starts, how it follows the schedule, and what every tick leaves behind."""

import logging
import math
import threading
import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import select

from mirror import leases
from mirror.sync import SYNC_LEASE
from services import scheduler as jobs
from services import settings
from store import clock
from store.database import db, start_write
from store.models import Lease, SyncRun
from store.outcomes import SkipReason


@pytest.fixture
def scheduled(make_app):
    """`scheduled(**config)`: an app whose scheduler runs (stopped again after the test)."""
    make_app()  # the schema exists before any scheduler thread looks at it
    apps = []

    def start(**config):
        app = make_app(SCHEDULER_ENABLED=True, **config)
        apps.append(app)
        return app, jobs.init_scheduler(app)

    yield start
    for app in apps:
        scheduler = app.extensions.pop("scheduler", None)
        if scheduler is not None:
            scheduler.shutdown(wait=True)


def scheduler_threads():
    return [t for t in threading.enumerate() if "APScheduler" in t.name and t.is_alive()]


def next_local_time(hour, minute, zone):
    """The next hour:minute in `zone` after now, in UTC."""
    tz = ZoneInfo(zone)
    now = datetime.now(tz)
    day = now.date()
    while True:
        candidate = datetime(day.year, day.month, day.day, hour, minute, tzinfo=tz)
        if candidate > now:
            return candidate.astimezone(UTC)
        day += timedelta(days=1)


def next_interval_tick(minutes):
    step = minutes * 60
    elapsed = (clock.now() - jobs.INTERVAL_ORIGIN).total_seconds()
    return jobs.INTERVAL_ORIGIN + timedelta(seconds=math.ceil(elapsed / step) * step)


def store(app, key, value):
    """Save a setting the way the Settings page does (the write lock first)."""
    with app.app_context():
        start_write(db.session)
        settings.set_setting(key, value)


def save_schedule(app, daily_time, interval_minutes):
    store(
        app,
        settings.SCHEDULE_KEY,
        {"daily_time": daily_time, "interval_minutes": interval_minutes},
    )


def wait_for(condition, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


# -- when a scheduler starts ---------------------------------------------------------------------


def test_disabled_scheduler_starts_nothing(make_app):
    before = len(scheduler_threads())
    app = make_app(SCHEDULER_ENABLED=False)
    assert jobs.init_scheduler(app) is None
    assert "scheduler" not in app.extensions
    assert app.extensions["scheduler_next_run"]() is None
    assert jobs.reschedule(app) is None
    assert len(scheduler_threads()) == before


def test_shutdown_stops_the_thread(scheduled):
    app, scheduler = scheduled()
    assert wait_for(lambda: scheduler.next_run_time() is not None)
    scheduler.shutdown(wait=True)
    assert not scheduler.running
    assert jobs.next_run_time(app) is None


# -- following the schedule ----------------------------------------------------------------------


def test_default_schedule_is_six_in_the_morning_berlin_time(scheduled):
    app, scheduler = scheduled()
    assert wait_for(lambda: jobs.next_run_time(app) is not None)
    assert jobs.next_run_time(app) == next_local_time(6, 0, "Europe/Berlin")
    assert app.extensions["scheduler_next_run"]() == jobs.next_run_time(app)


def test_a_changed_schedule_takes_effect_without_restart(scheduled):
    app, scheduler = scheduled()
    jobs.reschedule(app)
    save_schedule(app, "07:30", 0)
    assert jobs.reschedule(app) == next_local_time(7, 30, "Europe/Berlin")
    assert jobs.next_run_time(app) == next_local_time(7, 30, "Europe/Berlin")

    save_schedule(app, "07:30", 15)
    expected = min(next_local_time(7, 30, "Europe/Berlin"), next_interval_tick(15))
    assert jobs.reschedule(app) == expected

    save_schedule(app, "", 0)
    assert jobs.reschedule(app) is None  # nothing scheduled


def test_a_change_saved_by_another_process_is_picked_up(scheduled):
    app, scheduler = scheduled(SCHEDULER_WATCH_SECONDS=0.2)
    assert wait_for(lambda: jobs.next_run_time(app) == next_local_time(6, 0, "Europe/Berlin"))
    # What another process's Settings page writes; nobody calls reschedule() here.
    store(app, settings.TIMEZONE_KEY, "America/New_York")
    save_schedule(app, "21:15", 0)
    with app.app_context():
        # A tick lease long past: the watcher clears it away.
        start_write(db.session)
        db.session.add(
            Lease(
                name=jobs.TICK_LEASE_PREFIX + "2000-01-01T00:00:00+00:00",
                owner="gone",
                acquired_at=clock.now() - timedelta(days=1),
                expires_at=clock.now() - timedelta(hours=23),
            )
        )
        db.session.commit()
    expected = next_local_time(21, 15, "America/New_York")
    assert wait_for(lambda: jobs.next_run_time(app) == expected)
    with app.app_context():

        def leases_left():
            db.session.rollback()  # a fresh snapshot each time
            return db.session.scalars(select(Lease.name)).all()

        assert wait_for(lambda: leases_left() == [])


def test_unreadable_settings_fall_back_to_defaults(scheduled):
    app, scheduler = scheduled()
    save_schedule(app, "7 Uhr", "x")
    store(app, settings.TIMEZONE_KEY, "Mars/Olympus_Mons")
    assert jobs.reschedule(app) == next_local_time(6, 0, "Europe/Berlin")


# -- what a tick does ----------------------------------------------------------------------------


@pytest.fixture
def tick():
    return clock.now().replace(microsecond=0)


def test_the_first_process_to_claim_a_tick_runs_it_the_others_skip(sim_app, tick):
    first = jobs.run_tick(sim_app, tick, "host-a:1:aaaa")
    second = jobs.run_tick(sim_app, tick, "host-b:2:bbbb")
    with sim_app.app_context():
        runs = db.session.scalars(select(SyncRun).order_by(SyncRun.id)).all()
        assert [(r.trigger, r.status, r.outcome) for r in runs] == [
            ("scheduler", "succeeded", None),
            ("scheduler", "skipped", SkipReason.RAN_ELSEWHERE),
        ]
        assert [r.tick for r in runs] == [tick, tick]
        assert runs[1].started_at == runs[1].finished_at
        assert runs[1].owner == "host-b:2:bbbb"
    assert first.id != second.id
    # The next tick is a new claim.
    later = jobs.run_tick(sim_app, tick + timedelta(minutes=15), "host-b:2:bbbb")
    assert later.status == "succeeded"


def test_a_tick_while_another_sync_runs_is_recorded_as_skipped(sim_app, tick, caplog, monkeypatch):
    # Alembic's fileConfig() (test_migrations) disables loggers that exist at that moment.
    monkeypatch.setattr(logging.getLogger("services.scheduler"), "disabled", False)
    with sim_app.app_context():
        assert leases.try_acquire(SYNC_LEASE, "someone-else", 60)
    with caplog.at_level("INFO", logger="services.scheduler"):
        run = jobs.run_tick(sim_app, tick, "host-a:1:aaaa")
    assert (run.status, run.outcome) == ("skipped", SkipReason.SYNC_RUNNING)
    assert f"skipped: {SkipReason.SYNC_RUNNING}" in caplog.text


def test_a_tick_without_calendly_connection_is_skipped(make_app, tick):
    app = make_app(CALENDLY_TOKEN="")
    run = jobs.run_tick(app, tick, "host-a:1:aaaa")
    assert (run.status, run.outcome) == ("skipped", SkipReason.NOT_CONNECTED)


def test_ticks_merged_by_a_busy_process_are_recorded_as_skipped(app):
    scheduler = jobs.SyncScheduler(app)  # not started: only its bookkeeping is used
    trigger = IntervalTrigger(seconds=10, start_date=jobs.INTERVAL_ORIGIN, timezone=UTC)
    t0 = datetime(2026, 1, 5, 6, 0, tzinfo=UTC)
    scheduler.note_due(trigger, [t0])
    scheduler.note_due(trigger, [t0 + timedelta(seconds=40)])  # 10, 20 and 30 were merged
    scheduler.shutdown()  # waits for the recorded skips
    with app.app_context():
        runs = db.session.scalars(select(SyncRun).order_by(SyncRun.id)).all()
        assert [(r.tick, r.outcome) for r in runs] == [
            (t0 + timedelta(seconds=s), SkipReason.COALESCED) for s in (10, 20, 30)
        ]
