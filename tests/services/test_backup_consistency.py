"""A backup taken while a sync runs and webhook deliveries pour in restores to a database that
opens, needs no migration, and holds one consistent state: nothing half-written.

The upstream account does not change while the sync and the deliveries run (the bookings the
deliveries announce were made before), so every state the writers commit keeps the invariants
the writer maintains (see `problems`); a torn copy would break them.
"""

from __future__ import annotations

import concurrent.futures
import threading

import pytest
import requests
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import current_app
from flask_migrate import upgrade
from sqlalchemy import func, select

from mirror.event_types import ALL_TYPES
from services import settings
from store.database import db
from store.models import CalendlyEvent, CalendlyEventAttendee, SyncRun, WebhookDelivery
from store.outcomes import DeliveryOutcome, DeliveryReason, SyncStatus
from tests.mirror.background import stalled, start_sync, wait_for
from tests.mirror.test_webhooks import KEY, PATH, invitee_delivery, signed

pytestmark = pytest.mark.sim_account("small")


@pytest.fixture
def app(make_app, calendly_sim, tmp_path, pg_bin_dir):
    """An app on the simulator whose schema `flask db upgrade` built (alembic_version too)."""
    app = make_app(
        CALENDLY_API_BASE_URL=calendly_sim.base_url,
        CALENDLY_TOKEN=calendly_sim.token,
        CALENDLY_WEBHOOK_SIGNING_KEY=KEY,
        SYNC_LOOKBACK_DAYS=14,
        BACKUP_DIR=str(tmp_path / "backups"),
        PG_BIN_DIR=pg_bin_dir,
    )
    with app.app_context():
        _drop_schema()
        upgrade()
        settings.set_setting(settings.EVENT_TYPES_KEY, [ALL_TYPES])
    yield app
    with app.app_context():
        db.session.remove()
        with db.engine.begin() as conn:
            conn.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")


def _drop_schema() -> None:
    db.drop_all()
    with db.engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")


def problems(sim) -> list[str]:
    """What a half-written state would show (needs an app context), or []:

    - an event marked complete (attendees_synced_at) lacks invitees, has others, or its stored
      counts disagree with its attendee rows: the sync writes an event and all its invitees
      in one transaction;
    - a delivery recorded as applied whose invitee is missing: a delivery and its writes
      commit together.
    """
    found = []
    for event in db.session.scalars(select(CalendlyEvent)):
        if event.attendees_synced_at is None:
            continue
        stored = {a.calendly_id for a in event.attendees}
        active = sum(a.status == "active" for a in event.attendees)
        upstream = {i["uri"].rsplit("/", 1)[1] for i in sim.invitees.get(event.calendly_id, [])}
        if stored != upstream:
            found.append(f"event {event.calendly_id}: attendees {len(stored)} of {len(upstream)}")
        if (event.invitees_total, event.invitees_active) != (len(stored), active):
            found.append(f"event {event.calendly_id}: counts disagree with its attendee rows")
    stored_uris = set(db.session.scalars(select(CalendlyEventAttendee.uri)))
    applied = db.session.scalars(
        select(WebhookDelivery.invitee_uri).where(
            WebhookDelivery.outcome == DeliveryOutcome.APPLIED,
            WebhookDelivery.reason == DeliveryReason.INVITEE_WRITTEN,
        )
    )
    found += [f"delivery applied, {uri} missing" for uri in applied if uri not in stored_uris]
    return found


def count(model) -> int:
    """Rows of `model` now (each call a transaction of its own: polling sees new rows)."""
    try:
        return db.session.scalar(select(func.count()).select_from(model))
    finally:
        db.session.rollback()


def test_a_backup_during_a_sync_and_a_burst_of_webhooks_restores_a_consistent_state(
    app, calendly_sim, live_server, pick_event, new_database
):
    sim = calendly_sim
    for n, uuid in enumerate(pick_event(sim, ahead=True, room=2, count=4)):
        for k in range(2):
            sim.book(uuid, name=f"Late Booker {n}-{k}", email=f"late{n}-{k}@example.org")
    # A delivery for every invitee, as of now (the upstream stays so), some of them twice.
    burst = [invitee_delivery(sim, inv) for invs in sim.invitees.values() for inv in invs]
    burst += burst[::3]
    # The sync writes its first events, then waits for Calendly long enough for the backup.
    sim.inject("slow", path="/scheduled_events/", after=8, delay=5.0)

    sync, outcome = start_sync(app)
    wait_for(lambda: stalled(sim))
    with app.app_context():
        wait_for(lambda: count(CalendlyEvent) > 0)
        db.session.remove()

    def post(payload):
        body, headers = signed(payload)
        return requests.post(live_server(PATH), data=body, headers=headers, timeout=30).status_code

    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        statuses = pool.map(post, burst)
        posting = threading.Thread(target=lambda: list(statuses))
        posting.start()
        with app.app_context():
            wait_for(lambda: count(WebhookDelivery) >= 5)
            db.session.remove()
        made = app.test_cli_runner().invoke(args=["backup", "create"])
        posting.join(60)
    sync.join(60)
    assert made.exit_code == 0, made.output
    assert outcome["status"] == SyncStatus.SUCCEEDED, outcome
    backup = made.output.split(" backup ", 1)[1].rsplit(" (", 1)[0]

    target = new_database()
    restore = app.test_cli_runner().invoke(args=["backup", "restore", backup, "--into", target])
    assert restore.exit_code == 0, restore.output

    other = _app_on(app, target)
    with other.app_context():
        # 1. It opens, with the rows of the moment of the backup: mid-sync, mid-burst.
        assert count(CalendlyEvent) > 0
        assert count(WebhookDelivery) > 0
        statuses_then = db.session.scalars(select(SyncRun.status)).all()
        assert statuses_then == [SyncStatus.RUNNING]
        # 2. `flask db upgrade` has nothing to do: it is at the head revision.
        script = ScriptDirectory.from_config(current_app.extensions["migrate"].migrate.get_config())
        with db.engine.connect() as conn:
            assert set(MigrationContext.configure(conn).get_current_heads()) == set(
                script.get_heads()
            )
        upgrade()
        with db.engine.connect() as conn:
            assert set(MigrationContext.configure(conn).get_current_heads()) == set(
                script.get_heads()
            )
        # 3. One consistent state.
        assert problems(sim) == []
        complete_then = db.session.scalar(
            select(func.count()).where(CalendlyEvent.attendees_synced_at.is_not(None))
        )
        assert complete_then > 0  # the invariants were checked on something
        # And they would tell: one attendee less of a complete event is a half-written state.
        torn = db.session.scalar(
            select(CalendlyEventAttendee)
            .join(CalendlyEvent)
            .where(CalendlyEvent.attendees_synced_at.is_not(None))
            .limit(1)
        )
        db.session.delete(torn)
        db.session.commit()
        assert problems(sim) != []
        db.session.remove()
        db.engine.dispose()
    # The same invariants hold where the writers finished, over every event.
    with app.app_context():
        assert problems(sim) == []
        assert count(CalendlyEvent) == len(sim.events)
        db.session.remove()


def _app_on(app, url):
    """Another app like `app`, on the database `url` (nothing built or dropped there)."""
    from app import create_app

    config = {k: app.config[k] for k in ("SECRET_KEY", "TOKEN_ENCRYPTION_KEY", "TESTING")}
    return create_app({**config, "SQLALCHEMY_DATABASE_URI": url, "SCHEDULER_ENABLED": False})
