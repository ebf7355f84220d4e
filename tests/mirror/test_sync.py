"""The sync engine against a real Calendly simulator and a real database."""

import logging
import math
import os
import re
import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from calendly.locations import parse_location
from calendly.times import parse_time
from mirror.sync import SyncAlreadyRunning
from services.syncing import sync_from_settings
from store import clock
from store.database import db
from store.models import CalendlyEvent, CalendlyEventAttendee, EventHost, SyncRun
from store.outcomes import RunProblem

ROOT = Path(__file__).resolve().parents[2]
LOOKBACK_DAYS = 14
# Which events a sync reads depends on the look-back window and what lies ahead; tests of
# concurrency, faults and pacing are exempted with dated(False).
pytestmark = pytest.mark.dated
NOT_DATED = pytest.mark.dated(False)


@pytest.fixture
def infowebinar_uri(calendly_sim):
    return calendly_sim.event_type_uri("TLr - Infowebinar")


@pytest.fixture
def sync_app(make_app, calendly_sim, infowebinar_uri):
    """An app syncing only the info-webinar type from the simulator, with quick retries."""
    return make_app(
        CALENDLY_API_BASE_URL=calendly_sim.base_url,
        CALENDLY_TOKEN="sim-token",
        CALENDLY_EVENT_TYPES=infowebinar_uri,
        SYNC_LOOKBACK_DAYS=LOOKBACK_DAYS,
        CALENDLY_BACKOFF_BASE=0.01,
        CALENDLY_BACKOFF_CAP=0.05,
        CALENDLY_MAX_RETRIES=2,
    )


@pytest.fixture
def ctx(sync_app):
    with sync_app.app_context():
        yield sync_app


def window_start():
    return clock.now() - timedelta(days=LOOKBACK_DAYS)


def expected_events(sim, type_uris, start):
    return {
        uuid: event
        for uuid, event in sim.events.items()
        if event["event_type"] in type_uris and parse_time(event["start_time"]) >= start
    }


def hosts_of(event: dict) -> list[dict]:
    """What the mirror stores as the hosts of a simulated event."""
    return [
        {"uri": m["user"], "name": m["user_name"], "email": m["user_email"]}
        for m in event["event_memberships"]
    ]


def stored_hosts(calendly_id: str) -> set[str]:
    """The user URIs the host filter finds for an event."""
    return set(
        db.session.scalars(
            select(EventHost.user_uri)
            .join(CalendlyEvent, CalendlyEvent.id == EventHost.event_id)
            .where(CalendlyEvent.calendly_id == calendly_id)
        )
    )


def assert_mirror_matches(sim, type_uris, start):
    """The database holds exactly the simulator's events and invitees, field by field."""
    expected = expected_events(sim, type_uris, start)
    rows = {
        row.calendly_id: row
        for row in db.session.scalars(
            select(CalendlyEvent).where(CalendlyEvent.missing_upstream.is_(False))
        )
    }
    assert set(rows) == set(expected)
    for uuid, event in expected.items():
        row = rows[uuid]
        assert row.name == event["name"]
        assert row.status == event["status"]
        assert row.start_time == parse_time(event["start_time"])
        assert row.start_time.utcoffset() == timedelta(0)
        assert row.end_time == parse_time(event["end_time"])
        assert row.event_type_uri == event["event_type"]
        location = parse_location(event["location"])
        assert (row.location_type, row.location, row.location_status) == (
            location.type,
            location.location,
            location.status,
        )
        counter = event["invitees_counter"]
        assert (row.invitees_active, row.invitees_total, row.invitees_limit) == (
            counter["active"],
            counter["total"],
            counter["limit"],
        )
        assert row.cancel_reason == (event.get("cancellation") or {}).get("reason")
        assert row.hosts == hosts_of(event)

        invitees = {inv["uri"].rsplit("/", 1)[1]: inv for inv in sim.invitees.get(uuid, [])}
        stored = {a.calendly_id: a for a in row.attendees}
        assert set(stored) == set(invitees), f"attendees of {uuid}"
        for inv_uuid, invitee in invitees.items():
            attendee = stored[inv_uuid]
            assert attendee.name == invitee["name"]
            assert attendee.email == invitee["email"]
            assert attendee.status == invitee["status"]
            assert attendee.rescheduled == invitee["rescheduled"]
            assert attendee.old_invitee_uri == invitee["old_invitee"]
            assert attendee.new_invitee_uri == invitee["new_invitee"]
            assert attendee.cancel_reason == (invitee.get("cancellation") or {}).get("reason")
            assert attendee.calendly_created_at == parse_time(invitee["created_at"])
            assert [qa["answer"] for qa in attendee.questions_and_answers] == [
                qa["answer"]
                for qa in sorted(invitee["questions_and_answers"], key=lambda q: q["position"])
            ]
    return expected


def count(model):
    return db.session.scalar(select(func.count()).select_from(model))


def test_first_sync_mirrors_the_configured_events_and_all_invitees(
    ctx, calendly_sim, infowebinar_uri
):
    start = window_start()
    run = sync_from_settings("cli")
    assert run.status == "succeeded", run.outcome_params
    expected = assert_mirror_matches(calendly_sim, {infowebinar_uri}, start)
    assert len(expected) > 50
    # The seed covers what matters: canceled events and invitees, group limits, many locations.
    assert any(e["status"] == "canceled" for e in expected.values())
    statuses = {a.status for a in db.session.scalars(select(CalendlyEventAttendee))}
    assert statuses == {"active", "canceled"}
    assert run.events_created == len(expected)
    assert run.attendees_created == count(CalendlyEventAttendee)
    # Past events outside the look-back window and other event types were not stored.
    assert db.session.scalar(select(func.min(CalendlyEvent.start_time))) >= start


def test_all_event_types_when_all_are_chosen(make_app, calendly_sim):
    app = make_app(CALENDLY_API_BASE_URL=calendly_sim.base_url, CALENDLY_TOKEN="sim-token")
    with app.app_context():
        start = window_start()
        assert sync_from_settings("cli").status == "succeeded"
        all_types = {t["uri"] for t in calendly_sim.event_types}
        expected = assert_mirror_matches(calendly_sim, all_types, start)
        assert len({e["event_type"] for e in expected.values()}) > 1


def test_second_sync_without_changes_writes_nothing_and_reads_only_event_pages(ctx, calendly_sim):
    start = window_start()
    assert sync_from_settings("cli").status == "succeeded"
    before = (count(CalendlyEvent), count(CalendlyEventAttendee))
    calendly_sim.reset_log()

    run = sync_from_settings("cli")

    assert run.status == "succeeded"
    assert (run.events_created, run.events_updated, run.events_missing) == (0, 0, 0)
    assert (run.attendees_created, run.attendees_updated) == (0, 0)
    assert run.events_unchanged > 0
    assert (count(CalendlyEvent), count(CalendlyEventAttendee)) == before
    in_window = sum(1 for e in calendly_sim.events.values() if parse_time(e["start_time"]) >= start)
    assert calendly_sim.request_count <= math.ceil(in_window / 100) + 1
    assert run.api_requests == calendly_sim.request_count
    assert all(r.path == "/scheduled_events" for r in calendly_sim.request_log)


def test_one_sync_converges_after_bookings_cancellations_reschedules_and_renames(
    ctx, calendly_sim, infowebinar_uri, pick_event
):
    sim = calendly_sim
    assert sync_from_settings("cli").status == "succeeded"
    webinar = {"event_type": infowebinar_uri, "ahead": True}
    roomy = pick_event(sim, room=2, **webinar)  # two bookings, one moved on below
    booked_out = pick_event(sim, min_active=1, exclude={roomy}, **webinar)
    target = pick_event(sim, room=1, exclude={roomy, booked_out}, **webinar)
    renamed, canceled = pick_event(sim, count=2, exclude={roomy, booked_out, target}, **webinar)

    booked = sim.book(roomy, name="Jürgen Groß", email="juergen@example.de")
    sim.book(roomy, name="<script>alert(1)</script>", email="xss@example.com")
    active = [i for i in sim.invitees[booked_out] if i["status"] == "active"]
    sim.cancel_invitee(active[0]["uri"].rsplit("/", 1)[1], reason="Krank geworden")
    moved = sim.reschedule(booked["uri"].rsplit("/", 1)[1], target)
    sim.rename_event(renamed, "TLr - Infowebinar (neuer Termin)")
    sim.cancel_event(canceled, reason="Referentin erkrankt")
    added = sim.add_event(event_type_uri=infowebinar_uri)
    sim.book(added["uri"].rsplit("/", 1)[1], name="李小龙", email="li@example.cn")

    start = window_start()
    run = sync_from_settings("cli")

    assert run.status == "succeeded", run.outcome_params
    assert_mirror_matches(sim, {infowebinar_uri}, start)
    assert run.events_created == 1
    assert run.events_updated >= 5
    old = db.session.scalar(
        select(CalendlyEventAttendee).where(CalendlyEventAttendee.uri == booked["uri"])
    )
    assert old.status == "canceled" and old.rescheduled and old.new_invitee_uri == moved["uri"]


def test_a_change_of_hosts_alone_updates_the_event_and_equal_hosts_leave_it_unchanged(
    ctx, calendly_sim, infowebinar_uri, pick_event
):
    from devtools.sample_data import CO_HOST

    sim = calendly_sim
    assert sync_from_settings("cli").status == "succeeded"
    webinar = pick_event(sim, event_type=infowebinar_uri, ahead=True)
    colleague = {"uri": f"{sim.user['uri']}-x", "name": "Ute Brandt", "email": "ute@example.de"}
    owner = {"uri": sim.user["uri"], "name": sim.user["name"], "email": sim.user["email"]}
    # The owner stays a host: "my events" reads only the events the token's owner hosts.
    sim.set_hosts(webinar, [colleague, owner, CO_HOST])

    run = sync_from_settings("cli")

    assert (run.events_updated, run.events_created) == (1, 0)
    assert stored_hosts(webinar) == {colleague["uri"], owner["uri"], CO_HOST["uri"]}
    row = db.session.scalar(select(CalendlyEvent).where(CalendlyEvent.calendly_id == webinar))
    assert row.hosts == [colleague, owner, CO_HOST]  # in Calendly's order

    sim.set_hosts(webinar, [owner])
    assert sync_from_settings("cli").events_updated == 1
    assert stored_hosts(webinar) == {owner["uri"]}
    again = sync_from_settings("cli")
    assert (again.events_updated, again.events_created) == (0, 0)
    assert stored_hosts(webinar) == {owner["uri"]}


def test_event_that_disappears_upstream_is_flagged_not_deleted(
    ctx, calendly_sim, infowebinar_uri, pick_event
):
    assert sync_from_settings("cli").status == "succeeded"
    gone = pick_event(calendly_sim, event_type=infowebinar_uri, ahead=True, min_invitees=1)
    calendly_sim.remove_event(gone)

    run = sync_from_settings("cli")

    assert run.status == "succeeded" and run.events_missing == 1
    row = db.session.scalar(select(CalendlyEvent).where(CalendlyEvent.calendly_id == gone))
    assert row is not None and row.missing_upstream
    assert row.attendees  # kept, not deleted


def assert_consistent(sim):
    """Every stored event whose attendees were written holds all of them: nothing half-written."""
    for event in db.session.scalars(select(CalendlyEvent)):
        stored = {a.calendly_id for a in event.attendees}
        upstream = {i["uri"].rsplit("/", 1)[1] for i in sim.invitees.get(event.calendly_id, [])}
        assert event.attendees_synced_at is not None
        assert stored == upstream, f"half-written event {event.calendly_id}"
        assert event.invitees_total == len(upstream)


@NOT_DATED
def test_token_revoked_mid_sync_leaves_consistent_rows_and_next_sync_converges(
    ctx, calendly_sim, infowebinar_uri
):
    calendly_sim.inject("revoke", after=15)
    run = sync_from_settings("cli")

    assert (run.status, run.outcome) == ("failed", RunProblem.TOKEN_REFUSED)
    assert run.outcome_params["status"] == 401
    assert "access token is invalid" in run.outcome_params["detail"]  # Calendly's own words
    assert (
        0
        < count(CalendlyEvent)
        < len(expected_events(calendly_sim, {infowebinar_uri}, window_start()))
    )
    assert_consistent(calendly_sim)

    calendly_sim.clear_faults()
    start = window_start()
    assert sync_from_settings("cli").status == "succeeded"
    assert_mirror_matches(calendly_sim, {infowebinar_uri}, start)


@NOT_DATED
def test_failure_before_writing_changes_nothing(ctx, calendly_sim):
    calendly_sim.revoke_token()
    run = sync_from_settings("cli")
    assert (run.status, run.outcome) == ("failed", RunProblem.TOKEN_REFUSED)
    assert count(CalendlyEvent) == 0 and count(CalendlyEventAttendee) == 0
    assert db.session.get(SyncRun, run.id).finished_at is not None


@pytest.mark.parametrize(
    ("fault", "times", "succeeds", "problem"),
    [
        ("500", 2, True, None),
        ("503", 20, False, RunProblem.CALENDLY_ERROR),
        ("drop", 2, True, None),
        ("drop", 20, False, RunProblem.NETWORK),
        ("malformed", 1, True, None),
        ("malformed", 20, False, RunProblem.MALFORMED_RESPONSE),
        ("429", 1, True, None),
    ],
)
@NOT_DATED
def test_faults_on_invitee_pages_retry_or_fail_clearly_then_converge(
    ctx, calendly_sim, infowebinar_uri, fault, times, succeeds, problem
):
    calendly_sim.inject(fault, times=times, path="/scheduled_events/", after=10, reset=0.2)
    run = sync_from_settings("cli")
    assert (run.status == "succeeded") == succeeds, run.outcome_params
    assert run.outcome == problem
    if problem:
        assert "Traceback" not in str(run.outcome_params)
    assert_consistent(calendly_sim)

    calendly_sim.clear_faults()
    start = window_start()
    assert sync_from_settings("cli").status == "succeeded"
    assert_mirror_matches(calendly_sim, {infowebinar_uri}, start)


@NOT_DATED
def test_timeouts_become_a_network_error(make_app, calendly_sim, infowebinar_uri):
    app = make_app(
        CALENDLY_API_BASE_URL=calendly_sim.base_url,
        CALENDLY_TOKEN="sim-token",
        CALENDLY_EVENT_TYPES=infowebinar_uri,
        CALENDLY_TIMEOUT=(1.0, 0.2),
        CALENDLY_MAX_RETRIES=1,
        CALENDLY_BACKOFF_BASE=0.01,
    )
    calendly_sim.inject("slow", times=2, delay=0.6)
    with app.app_context():
        run = sync_from_settings("cli")
        assert (run.status, run.outcome) == ("failed", RunProblem.NETWORK)
        assert "no response within 0.2 s" in run.outcome_params["detail"]
        assert count(CalendlyEvent) == 0


@NOT_DATED
def test_missing_token_is_a_clear_failure(make_app, calendly_sim):
    app = make_app(CALENDLY_API_BASE_URL=calendly_sim.base_url, CALENDLY_TOKEN="")
    with app.app_context():
        run = sync_from_settings("cli")
        assert (run.status, run.outcome) == ("failed", RunProblem.MISSING_TOKEN)
        assert calendly_sim.request_count == 0


@NOT_DATED
def test_two_syncs_at_once_exactly_one_runs(sync_app, calendly_sim):
    calendly_sim.inject("slow", times=3, delay=0.3)
    outcomes = []
    barrier = threading.Barrier(2)

    def attempt():
        with sync_app.app_context():
            barrier.wait()
            try:
                outcomes.append(sync_from_settings("manual").status)
            except SyncAlreadyRunning as exc:
                outcomes.append(str(exc))
            finally:
                db.session.remove()

    threads = [threading.Thread(target=attempt) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert sorted(outcomes) == sorted(
        ["succeeded", "A sync is already running; wait for it to finish."]
    )
    with sync_app.app_context():
        assert count(SyncRun) == 1
        dupes = db.session.execute(
            select(CalendlyEventAttendee.calendly_id)
            .group_by(CalendlyEventAttendee.calendly_id)
            .having(func.count() > 1)
        ).all()
        assert dupes == []


@NOT_DATED
def test_unique_constraints_hold(ctx, calendly_sim):
    assert sync_from_settings("cli").status == "succeeded"
    event = db.session.scalars(select(CalendlyEvent).limit(1)).first()
    db.session.add(
        CalendlyEvent(
            calendly_id=event.calendly_id,
            uri=event.uri,
            status="active",
            start_time=event.start_time,
            end_time=event.end_time,
        )
    )
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()
    attendee = db.session.scalars(select(CalendlyEventAttendee).limit(1)).first()
    db.session.add(
        CalendlyEventAttendee(
            event_id=event.id, calendly_id=attendee.calendly_id, uri=attendee.uri, status="active"
        )
    )
    with pytest.raises(IntegrityError):
        db.session.commit()


@NOT_DATED
@pytest.mark.subprocess
def test_killed_sync_leaves_consistent_rows_and_the_next_one_completes(
    sync_app, calendly_sim, infowebinar_uri, database_url
):
    """SIGKILL a `flask calendly sync` halfway; the next sync is not blocked and converges."""
    calendly_sim.inject("slow", times=10_000, delay=0.05, path="/scheduled_events/")
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "CALENDLY_API_BASE_URL": calendly_sim.base_url,
        "CALENDLY_TOKEN": "sim-token",
        "CALENDLY_EVENT_TYPES": infowebinar_uri,
        "SECRET_KEY": "test",
        "TOKEN_ENCRYPTION_KEY": sync_app.config["TOKEN_ENCRYPTION_KEY"],
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "app", "calendly", "sync"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    with sync_app.app_context():
        deadline = time.monotonic() + 30
        while count(CalendlyEvent) < 5 and time.monotonic() < deadline:
            db.session.rollback()
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        db.session.rollback()
        assert count(CalendlyEvent) >= 5
        assert_consistent(calendly_sim)

        calendly_sim.clear_faults()
        start = window_start()
        run = sync_from_settings("cli")
        assert run.status == "succeeded", run.outcome_params
        assert_mirror_matches(calendly_sim, {infowebinar_uri}, start)
        killed = db.session.scalars(select(SyncRun).order_by(SyncRun.id)).first()
        assert (killed.status, killed.outcome) == ("failed", RunProblem.INTERRUPTED)


@NOT_DATED
def test_paced_full_sync_meets_no_429_and_keeps_to_the_allowed_rate(make_app, make_sim, caplog):
    sim = make_sim(11, n_events=120, max_invitees=10)
    sim.set_rate_limit(60, 1.0)
    app = make_app(CALENDLY_API_BASE_URL=sim.base_url, CALENDLY_TOKEN=sim.token)
    caplog.set_level(logging.WARNING, logger="calendly.transport")
    with app.app_context():
        run = sync_from_settings("cli", full=True)
        assert run.status == "succeeded", run.outcome_params
    assert sim.responses_429 == 0
    requests_made = sim.request_count
    assert requests_made > 120
    # No more waiting than the rate asks for: at most one wait per used-up window, none longer
    # than the window (counted from the pacing's own log lines, not the wall clock, which a
    # loaded machine stretches).
    waits = [
        float(re.search(r"waiting ([\d.]+) s", r.getMessage()).group(1))
        for r in caplog.records
        if "waiting" in r.getMessage() and "for the reset" in r.getMessage()
    ]
    assert len(waits) <= math.ceil(requests_made / 60), waits
    assert all(wait <= 1.0 for wait in waits), waits
