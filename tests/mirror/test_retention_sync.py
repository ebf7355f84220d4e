"""The sync and webhooks after the retention purge, against the real simulator: the invitee lists
of purged webinars are never asked for again, and nobody of them is stored again."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from calendly.client import uuid_from_uri as uuid_of
from services import retention
from services.syncing import sync_from_settings
from store import clock
from store.database import db
from store.models import CalendlyEvent, CalendlyEventAttendee, WebhookDelivery
from tests.mirror.test_sync import invitee_reads
from tests.mirror.test_webhooks import KEY, deliver, invitee_delivery

# Which webinars are past the period depends on the clock; the simulator runs on it.
pytestmark = [pytest.mark.dated, pytest.mark.sim_account("small")]


@pytest.fixture
def app(make_app, calendly_sim):
    return make_app(
        CALENDLY_API_BASE_URL=calendly_sim.base_url,
        CALENDLY_TOKEN=calendly_sim.token,
        CALENDLY_WEBHOOK_SIGNING_KEY=KEY,
        SYNC_LOOKBACK_DAYS=14,
    )


@pytest.fixture
def old_webinars(calendly_sim):
    """Two webinars of more than a year ago, with people who booked them."""
    made = []
    for days, n in ((400, 3), (500, 2)):
        event = calendly_sim.add_event(start_time=clock.now() - timedelta(days=days))
        uuid = uuid_of(event["uri"])
        for i in range(n):
            calendly_sim.book(uuid, name=f"Alt {days} {i}", email=f"alt{days}-{i}@example.org")
        made.append(uuid)
    return made


def stored_people(calendly_ids) -> list[tuple]:
    return db.session.execute(
        select(CalendlyEventAttendee.name, CalendlyEventAttendee.email)
        .join(CalendlyEvent)
        .where(CalendlyEvent.calendly_id.in_(calendly_ids))
    ).all()


def test_a_sync_after_the_purge_neither_asks_for_nor_brings_back_the_people(
    app, calendly_sim, old_webinars
):
    with app.app_context():
        first = sync_from_settings("cli", full=True)
        assert first.status == "succeeded", first.outcome_params
        assert len(stored_people(old_webinars)) == 5

        done = retention.purge()

        assert (done.attendees, done.webinars) == (5, 2)
        assert stored_people(old_webinars) == [(None, None)] * 5
        # Another booking changes the old webinar's counter: ordinarily a reason to read it.
        calendly_sim.book(old_webinars[0], name="Spät Bucher", email="spaet@example.org")
        recent = {
            uuid
            for uuid, event in calendly_sim.events.items()
            if event["invitees_counter"]["total"] > 0
        } - set(old_webinars)
        calendly_sim.reset_log()

        for full in (True, False):
            run = sync_from_settings("cli", full=full)
            assert run.status == "succeeded", run.outcome_params
            assert not invitee_reads(calendly_sim) & set(old_webinars)
        assert invitee_reads(calendly_sim) == recent  # the full sync read all the others
        assert stored_people(old_webinars) == [(None, None)] * 5
        assert retention.plan().attendees == 0


def test_a_webhook_for_a_purged_webinar_stores_nobody(app, calendly_sim, old_webinars):
    client = app.test_client()
    with app.app_context():
        sync_from_settings("cli", full=True)
        retention.purge()
    late = calendly_sim.book(old_webinars[1], name="Spät Bucher", email="spaet@example.org")

    response = deliver(client, invitee_delivery(calendly_sim, late))

    assert response.status_code == 200
    with app.app_context():
        delivery = db.session.scalars(select(WebhookDelivery)).one()
        assert (delivery.outcome, delivery.reason) == ("ignored", "personal_data_removed")
        assert stored_people(old_webinars) == [(None, None)] * 5
        count = select(func.count()).where(CalendlyEventAttendee.email == "spaet@example.org")
        assert db.session.scalar(count) == 0


def test_the_writer_keeps_out_people_of_a_purged_webinar_a_sync_read_before_the_purge(
    app, calendly_sim, old_webinars
):
    """A sync that read an invitee list just before the purge writes it just after."""
    from calendly.records import Invitee
    from mirror.writer import attendee_values, write_attendees

    with app.app_context():
        sync_from_settings("cli", full=True)
        retention.purge()
        event_id = db.session.scalar(
            select(CalendlyEvent.id).where(CalendlyEvent.calendly_id == old_webinars[0])
        )
        raw = calendly_sim.invitees[old_webinars[0]][0]
        values = attendee_values(Invitee.read(raw, "invitee"), event_id)
        counts = write_attendees([values], clock.now())
        db.session.commit()
        assert (counts.created, counts.updated) == (0, 0)
        assert stored_people(old_webinars) == [(None, None)] * 5
