"""Erased people stay erased: a sync (against the simulator) and webhook deliveries do not store
their bookings from before the erasure again, while a booking made later is stored as usual."""

from collections import Counter

import pytest
from sqlalchemy import func, select

from services import person_data
from services.syncing import sync_from_settings
from store import erasures
from store.database import db
from store.models import CalendlyEventAttendee, PersonTombstone, WebhookDelivery
from tests.mirror.test_webhooks import KEY, deliver, invitee_delivery

# Deliveries are signed with the clock's time and concern webinars around now.
pytestmark = [pytest.mark.dated, pytest.mark.sim_account("small")]


@pytest.fixture
def app(make_app, module_sim):
    return make_app(
        CALENDLY_API_BASE_URL=module_sim.base_url,
        CALENDLY_TOKEN=module_sim.token,
        CALENDLY_WEBHOOK_SIGNING_KEY=KEY,
        SYNC_LOOKBACK_DAYS=14,
    )


def _booked_twice(sim, pick_event) -> tuple[str, list[dict]]:
    """An email booked into two webinars of the simulator (the second booking made here), and
    that person's invitees."""
    # Someone with no other booking in the account (generated people book again, reschedule),
    # so that these two are all of theirs.
    emails = Counter(inv["email"].lower() for invs in sim.invitees.values() for inv in invs)
    candidates = pick_event(sim, ahead=True, min_active=1, room=1, count="all")
    first, invitee = next(
        (uuid, inv)
        for uuid in candidates
        for inv in sim.invitees[uuid]
        if inv["status"] == "active" and emails[inv["email"].lower()] == 1
    )
    second = next(uuid for uuid in candidates if uuid != first)
    again = sim.book(second, name=invitee["name"], email=invitee["email"].upper())
    return invitee["email"], [invitee, again]


def _stored(app, email: str) -> list[str]:
    """URIs of the stored attendees of `email` (any case)."""
    with app.app_context():
        return sorted(
            db.session.scalars(
                select(CalendlyEventAttendee.uri).where(
                    func.lower(CalendlyEventAttendee.email) == email.lower()
                )
            )
        )


def _count(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(CalendlyEventAttendee))


def _erase(app, email: str) -> person_data.Erasure:
    with app.app_context():
        return person_data.erase_person(email, None)


def test_a_sync_does_not_store_an_erased_persons_bookings_again_but_a_later_one(
    app, module_sim, pick_event
):
    email, invitees = _booked_twice(module_sim, pick_event)
    with app.app_context():
        assert sync_from_settings("cli").status == "succeeded"
    assert _stored(app, email) == sorted(inv["uri"] for inv in invitees)
    before = _count(app)

    done = _erase(app, email.title())  # any case: the email is compared case-folded

    assert done.bookings == 2 and done.at_calendly == "not_asked"
    assert _stored(app, email) == []
    assert _count(app) == before - 2
    with app.app_context():
        [tombstone] = db.session.scalars(select(PersonTombstone)).all()
        # The tombstone names nobody: a keyed hash, not the email.
        assert email.lower() not in tombstone.person_hmac
        assert tombstone.person_hmac == erasures.person_hmac("test-erasure-key", email)
        run = sync_from_settings("cli", full=True)
        assert run.status == "succeeded"
    assert _stored(app, email) == []
    assert _count(app) == before - 2

    # Later the same person books again: a new, legitimate record.
    [event_uuid] = pick_event(module_sim, ahead=True, room=1, count=1)
    new = module_sim.book(event_uuid, name="Wieder da", email=email)
    with app.app_context():
        assert sync_from_settings("cli", full=True).status == "succeeded"
    assert _stored(app, email) == [new["uri"]]


def test_a_webhook_for_an_erased_person_stores_nothing_but_a_later_booking(
    app, client, module_sim, pick_event
):
    email, invitees = _booked_twice(module_sim, pick_event)
    for invitee in invitees:
        assert deliver(client, invitee_delivery(module_sim, invitee)).status_code == 200
    assert len(_stored(app, email)) == 2
    _erase(app, email)
    with app.app_context():
        # The delivery log keeps no pointer to the erased bookings.
        uris = set(db.session.scalars(select(WebhookDelivery.invitee_uri)))
        assert uris.isdisjoint(inv["uri"] for inv in invitees)

    # Calendly retries an old delivery, or sends the booking's cancellation.
    response = deliver(client, invitee_delivery(module_sim, invitees[0]))
    assert response.status_code == 200
    assert response.get_json() == {"outcome": "ignored", "detail": "person_erased"}
    module_sim.cancel_invitee(invitees[1]["uri"].rsplit("/", 1)[1])
    _, canceled = module_sim.find_invitee(invitees[1]["uri"].rsplit("/", 1)[1])
    response = deliver(client, invitee_delivery(module_sim, canceled, "invitee.canceled"))
    assert response.get_json() == {"outcome": "ignored", "detail": "person_erased"}
    assert _stored(app, email) == []

    [event_uuid] = pick_event(module_sim, ahead=True, room=1, count=1)
    new = module_sim.book(event_uuid, name="Wieder da", email=email)
    response = deliver(client, invitee_delivery(module_sim, new))
    assert response.get_json()["outcome"] == "applied"
    assert _stored(app, email) == [new["uri"]]


def test_erasing_again_after_a_new_booking_moves_the_tombstone(app, add_webinar, add_attendee):
    event = add_webinar()
    add_attendee(event, email="Wiederkehr@Example.de")
    _erase(app, "wiederkehr@example.de")
    with app.app_context():
        first = db.session.scalar(select(PersonTombstone.erased_at))
    add_attendee(event, email="wiederkehr@example.de")
    assert _erase(app, "WIEDERKEHR@example.de").bookings == 1
    with app.app_context():
        [again] = db.session.scalars(select(PersonTombstone.erased_at)).all()
    assert again >= first


@pytest.mark.parametrize("whole", [True, False])
def test_the_writers_check_drops_only_bookings_made_before_the_erasure(app, monkeypatch, whole):
    from datetime import timedelta

    from store import clock

    if not whole:  # many tombstones: looked up by the batch's emails instead
        monkeypatch.setattr(erasures, "READ_WHOLE", 0)
    erased_at = clock.now()
    key = "test-erasure-key"
    rows = [
        {"email": "Gone@Example.de", "calendly_created_at": erased_at - timedelta(days=2)},
        {"email": "gone@example.de", "calendly_created_at": erased_at + timedelta(seconds=1)},
        {"email": "gone@example.de", "calendly_created_at": None},
        {"email": "kept@example.de", "calendly_created_at": erased_at - timedelta(days=2)},
        {"email": None, "calendly_created_at": None},
    ]
    with app.app_context():
        connection = db.session.connection()
        assert erasures.without_erased(connection, key, rows) == (rows, 0)
        erasures.add_tombstones(
            connection, {erasures.person_hmac(key, "gone@example.de"): erased_at}
        )
        kept, dropped = erasures.without_erased(connection, key, rows)
        db.session.rollback()
    assert dropped == 2
    assert kept == [rows[1], rows[3], rows[4]]


def test_the_erasure_compares_emails_case_folded(app, add_webinar, add_attendee):
    event = add_webinar()
    add_attendee(event, name="Jörg Straße", email="Jörg.Straße@Example.de")
    add_attendee(event, name="Jörg Strasse", email="JÖRG.STRASSE@example.de")
    add_attendee(event, name="Other", email="joerg.strasse@example.de")
    assert _erase(app, "jörg.strasse@example.de").bookings == 2
    assert _stored(app, "joerg.strasse@example.de") == [f"{event.uri}/invitees/inv-0003"]
