"""The scheduler: when it starts, how it follows the schedule, and what every tick leaves behind."""

import logging
import math
import threading
import time
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from mirror import leases
from mirror.sync import SYNC_LEASE
from services import retention, settings
from services import scheduler as jobs
from store import clock
from store.database import db, start_write
from store.models import Lease, SyncRun
from store.outcomes import SkipReason, SyncStatus

# Daily times in local time, DST changes, ticks from a fixed origin.
pytestmark = pytest.mark.dated


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


@pytest.fixture
def frozen(time_machine):
    """The clock stands still at the moment the test starts (whatever day that is), so that
    the test and the scheduler compute the next tick from the same "now"."""
    time_machine.move_to(clock.now(), tick=False)


def scheduler_threads():
    return [t for t in threading.enumerate() if t.name.startswith(jobs.THREAD_NAME)]


def next_local_time(hour, minute, zone):
    """The next hour:minute in `zone` after now, in UTC."""
    tz = ZoneInfo(zone)
    now = clock.now().astimezone(tz)
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


def test_shutdown_stops_the_threads(scheduled):
    before = len(scheduler_threads())
    app, scheduler = scheduled()
    assert len(scheduler_threads()) == before + 2  # the schedule thread and its watcher
    assert wait_for(lambda: scheduler.next_run_time() is not None)
    scheduler.shutdown(wait=True)
    assert not scheduler.running
    assert jobs.next_run_time(app) is None
    assert len(scheduler_threads()) == before


# -- following the schedule ----------------------------------------------------------------------


def test_default_schedule_is_six_in_the_morning_berlin_time(scheduled, frozen):
    app, scheduler = scheduled()
    assert wait_for(lambda: jobs.next_run_time(app) is not None)
    assert jobs.next_run_time(app) == next_local_time(6, 0, "Europe/Berlin")
    assert app.extensions["scheduler_next_run"]() == jobs.next_run_time(app)


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        # The evening before summer time starts: 06:00 CEST is 04:00 UTC.
        (datetime(2026, 3, 28, 18, 0, tzinfo=UTC), datetime(2026, 3, 29, 4, 0, tzinfo=UTC)),
        # The evening before it ends: 06:00 CET is 05:00 UTC.
        (datetime(2026, 10, 24, 18, 0, tzinfo=UTC), datetime(2026, 10, 25, 5, 0, tzinfo=UTC)),
    ],
)
def test_the_daily_time_is_local_time_across_dst_changes(scheduled, time_machine, now, expected):
    time_machine.move_to(now, tick=False)
    app, scheduler = scheduled()
    assert wait_for(lambda: jobs.next_run_time(app) is not None)
    assert jobs.next_run_time(app) == expected == next_local_time(6, 0, "Europe/Berlin")


@pytest.mark.parametrize("zone", ["Europe/Berlin", "America/New_York"])
@pytest.mark.parametrize("daily", ["01:30", "02:00", "02:30", "03:00", "06:00"])
def test_a_daily_time_runs_once_every_local_day_even_when_dst_changes(zone, daily):
    tz = ZoneInfo(zone)
    hour, minute = (int(part) for part in daily.split(":"))
    schedule = jobs.Schedule(clock_time(hour, minute), zone)
    for year, month, day in [(2026, 3, 5), (2026, 3, 25), (2026, 10, 20), (2026, 10, 29)]:
        days = [date(year, month, day) + timedelta(days=n) for n in range(10)]
        start = datetime.combine(days[0], clock_time(0), tz).astimezone(UTC)
        end = datetime.combine(days[-1] + timedelta(days=1), clock_time(0), tz).astimezone(UTC)
        # A time the clocks skip runs an hour later (fold=0 reads it with the earlier
        # offset); a time they pass twice runs the first time only.
        expected = [datetime.combine(d, clock_time(hour, minute), tz).astimezone(UTC) for d in days]
        assert list(schedule.ticks(start, end)) == expected


def test_a_daily_time_does_not_run_again_in_the_repeated_hour():
    schedule = jobs.Schedule(clock_time(2, 30), "Europe/Berlin")
    # 02:15:00.5 the second time (CET): 02:30 CEST has passed, 02:30 CET is its repeat.
    moment = datetime(2026, 10, 25, 1, 15, 0, 500000, tzinfo=UTC)
    assert schedule.first_tick(moment) == datetime(2026, 10, 26, 1, 30, tzinfo=UTC)


def test_interval_ticks_count_from_a_fixed_origin_and_join_the_daily_time():
    schedule = jobs.Schedule(clock_time(7, 30), "Europe/Berlin", 25 * 60)
    start = datetime(2026, 7, 1, 5, 0, 10, tzinfo=UTC)  # 07:00:10 in Berlin
    ticks = list(schedule.ticks(start, start + timedelta(hours=1)))
    # 2026-07-01 05:05 UTC is 13,936,625 minutes (557,465 * 25) after the origin.
    assert [f"{tick:%H:%M}" for tick in ticks] == ["05:05", "05:30", "05:55"]
    assert jobs.Schedule(None, "UTC").first_tick(start) is None


def test_a_changed_schedule_takes_effect_without_restart(scheduled, frozen):
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


def test_a_change_saved_by_another_process_is_picked_up(scheduled, frozen):
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

        # Only the day's retention run holds its lease (until the day after next; a day in
        # the old time zone and maybe one in the new).
        def others_left():
            names = leases_left()
            return [n for n in names if not n.startswith(retention.DAILY_LEASE_PREFIX)], names

        assert wait_for(lambda: others_left()[0] == [] and others_left()[1] != [])


def test_unreadable_settings_fall_back_to_defaults(scheduled, frozen):
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


def test_a_tick_without_an_event_type_choice_is_skipped_and_copies_nothing(
    make_app, calendly_sim, tick
):
    app = make_app(
        event_types=None, CALENDLY_API_BASE_URL=calendly_sim.base_url, CALENDLY_TOKEN="sim-token"
    )
    run = jobs.run_tick(app, tick, "host-a:1:aaaa")
    assert (run.status, run.outcome) == ("skipped", SkipReason.NO_EVENT_TYPES)
    assert calendly_sim.request_count == 0


T0 = datetime(2026, 1, 5, 6, 0, tzinfo=UTC)


@pytest.fixture
def minutely(make_app, time_machine):
    """A scheduler (not started) of an app without Calendly, ticking every minute from T0, with
    the clock standing at T0; the test calls its `run_due_ticks()` itself."""
    time_machine.move_to(T0, tick=False)
    app = make_app(SCHEDULER_TEST_INTERVAL_SECONDS=60)
    scheduler = jobs.SyncScheduler(app)
    with app.app_context():
        scheduler.apply_schedule()
    return scheduler


def recorded(app):
    with app.app_context():
        runs = db.session.scalars(select(SyncRun).order_by(SyncRun.tick)).all()
        return [(int((run.tick - T0).total_seconds()), run.outcome) for run in runs]


def test_late_ticks_are_merged_into_the_newest_or_missed(minutely, time_machine):
    time_machine.move_to(T0 + timedelta(seconds=420.5))  # woke late (machine asleep, say)
    minutely.run_due_ticks()
    assert recorded(minutely.app) == [
        # More than the grace time late: not run, its lease may be gone.
        *[(s, SkipReason.MISSED) for s in (0, 60, 120)],
        # Within it: the newest runs (here: finds Calendly not connected), the rest merged.
        *[(s, SkipReason.COALESCED) for s in (180, 240, 300, 360)],
        (420, SkipReason.NOT_CONNECTED),
    ]
    time_machine.move_to(T0 + timedelta(seconds=480))
    minutely.run_due_ticks()
    assert recorded(minutely.app)[-1] == (480, SkipReason.NOT_CONNECTED)


def slow_first_tick(time_machine, status):
    """A stand-in for run_tick whose first call takes 130 s; it notes the ticks it ran."""
    ran = []

    def run_tick(app, scheduled, owner):
        ran.append(int((scheduled - T0).total_seconds()))
        if len(ran) == 1:
            time_machine.shift(130)
        return SimpleNamespace(status=status)

    return run_tick, ran


@pytest.mark.parametrize("status", [SyncStatus.SUCCEEDED, SyncStatus.FAILED])
def test_ticks_that_pass_while_a_sync_runs_are_skipped_not_run_late(
    minutely, time_machine, monkeypatch, status
):
    run_tick, ran = slow_first_tick(time_machine, status)
    monkeypatch.setattr(jobs, "run_tick", run_tick)
    minutely.run_due_ticks()  # the sync of T0 runs until T0 + 130 s
    minutely.run_due_ticks()
    assert recorded(minutely.app) == [
        (60, SkipReason.STILL_RUNNING),
        (120, SkipReason.STILL_RUNNING),
    ]
    time_machine.move_to(T0 + timedelta(seconds=180))
    minutely.run_due_ticks()
    assert ran == [0, 180]


def test_a_slow_skip_leaves_the_ticks_meanwhile_due(minutely, time_machine, monkeypatch):
    # A skip takes long only when the database is busy; this process ran no sync meanwhile.
    run_tick, ran = slow_first_tick(time_machine, SyncStatus.SKIPPED)
    monkeypatch.setattr(jobs, "run_tick", run_tick)
    minutely.run_due_ticks()
    assert recorded(minutely.app) == []
    minutely.run_due_ticks()
    assert ran == [0, 120]
    assert recorded(minutely.app) == [(60, SkipReason.COALESCED)]
