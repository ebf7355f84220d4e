"""A sync that finds the database busy says so in its progress, waits a bounded time, then gives
up with a clear message, leaving consistent rows that the next sync completes.

PostgreSQL: another connection holds `LOCK TABLE calendly_events IN ACCESS EXCLUSIVE MODE`.
SQLite: another connection holds the database's write lock (BEGIN IMMEDIATE).
"""

import time
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from calendly.times import parse_time
from services.syncing import sync_from_settings
from store import clock
from store.database import db
from store.models import CalendlyEvent
from store.outcomes import SyncStatus
from tests.mirror.background import stalled, start_sync, wait_for

LOOKBACK_DAYS = 14


@pytest.fixture
def make_sync_app(make_app, calendly_sim):
    def factory(**config):
        return make_app(
            CALENDLY_API_BASE_URL=calendly_sim.base_url,
            CALENDLY_TOKEN="sim-token",
            SYNC_LOOKBACK_DAYS=LOOKBACK_DAYS,
            **config,
        )

    return factory


def expected_ids(sim) -> set[str]:
    start = clock.now() - timedelta(days=LOOKBACK_DAYS)
    return {uuid for uuid, e in sim.events.items() if parse_time(e["start_time"]) >= start}


def stored_events(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(CalendlyEvent))


def assert_consistent(app, sim):
    """Every stored event holds all its attendees: nothing half-written."""
    with app.app_context():
        for event in db.session.scalars(select(CalendlyEvent)):
            stored = {a.calendly_id for a in event.attendees}
            upstream = {i["uri"].rsplit("/", 1)[1] for i in sim.invitees.get(event.calendly_id, [])}
            assert event.attendees_synced_at is not None
            assert stored == upstream, f"half-written event {event.calendly_id}"


def panel(client, language="en") -> str:
    return client.get("/sync", headers={"Accept-Language": language}).get_data(as_text=True)


def test_a_sync_waiting_on_the_database_says_so_and_carries_on_once_it_is_free(
    make_sync_app, calendly_sim, admin_client, lock_database
):
    app = make_sync_app(SYNC_DB_WAIT_SECONDS=60)
    client = admin_client(app)
    # The first page of events comes slowly: the run has begun, nothing is written yet.
    calendly_sim.inject("slow", times=1, path="/scheduled_events", delay=1.0)
    thread, result = start_sync(app)
    wait_for(lambda: stalled(calendly_sim))
    with lock_database("calendly_events", hold_at_most=20):
        shown = wait_for(lambda: "Waiting for the database" in panel(client), timeout=10)
        assert shown
        assert "Warten auf die Datenbank" in panel(client, "de")
    thread.join(60)
    assert not thread.is_alive()
    assert result["status"] == SyncStatus.SUCCEEDED, result
    assert stored_events(app) == len(expected_ids(calendly_sim))
    assert_consistent(app, calendly_sim)
    assert "Waiting for the database" not in panel(client)


def test_a_sync_gives_up_after_a_bounded_wait_and_leaves_consistent_rows(
    make_sync_app, calendly_sim, admin_client, lock_database, database_url
):
    app = make_sync_app(SYNC_DB_WAIT_SECONDS=1)
    client = admin_client(app)
    # Twenty attendee lists in, one comes slowly: the events before it are written meanwhile.
    calendly_sim.inject("slow", times=1, path="/scheduled_events/", after=20, delay=2.0)
    thread, result = start_sync(app)
    wait_for(lambda: stalled(calendly_sim))
    wait_for(lambda: stored_events(app) > 0)
    time.sleep(0.3)  # the writer finishes the batch it has

    sqlite = database_url.startswith("sqlite")
    # SQLite can record the failure only once the other writer lets go (the whole database is
    # locked): it holds on for 4 s. On PostgreSQL the lock outlasts the sync's patience by far.
    with lock_database("calendly_events", hold_at_most=4.0 if sqlite else 20.0):
        thread.join(30 if sqlite else 12)
        # PostgreSQL: over while the lock is still held, so it gave up by itself.
        assert not thread.is_alive(), "the sync is still waiting"
    assert (result["status"], result["outcome"]) == (SyncStatus.FAILED, "database_busy")
    assert "The database was busy for too long (1 s), so the sync gave up." in panel(client)
    assert "Die Datenbank war zu lange belegt (1 s)" in panel(client, "de")
    written = stored_events(app)
    assert 0 < written < len(expected_ids(calendly_sim))
    assert_consistent(app, calendly_sim)

    with app.app_context():
        assert sync_from_settings("cli").status == SyncStatus.SUCCEEDED
    assert stored_events(app) == len(expected_ids(calendly_sim))
    assert_consistent(app, calendly_sim)
