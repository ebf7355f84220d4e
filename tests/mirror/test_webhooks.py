"""Calendly webhook deliveries: signed with real HMACs, applied to a real database, safely.

Payloads are built from the simulator's own records (an invitee plus its embedded
`scheduled_event`, exactly as Calendly nests them), right after the change they announce.
"""

import concurrent.futures
import copy
import json
import logging
import random
import threading
from datetime import timedelta

import pytest
import requests
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from calendly.signature import sign
from calendly.times import parse_time
from mirror import webhooks
from services import settings
from services.syncing import sync_from_settings
from store import clock
from store.database import db
from store.models import (
    CalendlyEvent,
    CalendlyEventAttendee,
    EventHost,
    SyncRun,
    WebhookDelivery,
)

KEY = "whsec-test-0f1e2d3c4b5a"
PATH = "/api/infowebinar/webhook"
EMBEDDED_FIELDS = (
    "uri", "name", "meeting_notes_plain", "meeting_notes_html", "status", "start_time",
    "end_time", "event_type", "location", "invitees_counter", "created_at", "updated_at",
    "event_memberships", "event_guests", "cancellation",
)  # fmt: skip


# -- fixtures and helpers -------------------------------------------------------------------------


# A small simulated account, every event inside the sync's look-back window.
# Signatures are aged by the clock, deliveries concern events around now; tests of the
# endpoint's refusals, concurrency and retries are exempted with dated(False).
pytestmark = [pytest.mark.dated, pytest.mark.sim_account("small")]
NOT_DATED = pytest.mark.dated(False)


@pytest.fixture
def app(make_app, module_sim):
    """An app on the simulator that takes deliveries signed with KEY."""
    return make_app(
        CALENDLY_API_BASE_URL=module_sim.base_url,
        CALENDLY_TOKEN=module_sim.token,
        CALENDLY_WEBHOOK_SIGNING_KEY=KEY,
        SYNC_LOOKBACK_DAYS=14,
    )


def invitee_delivery(sim, invitee, name="invitee.created"):
    """The delivery Calendly sends for `invitee` as it is now (copied, with its event)."""
    event_uuid, _ = sim.find_invitee(invitee["uri"].rsplit("/", 1)[1])
    event = sim.events[event_uuid]
    payload = copy.deepcopy(invitee)
    payload["scheduled_event"] = {k: copy.deepcopy(event.get(k)) for k in EMBEDDED_FIELDS}
    return {
        "event": name,
        "created_at": invitee["updated_at"],
        "created_by": sim.user["uri"],
        "payload": payload,
    }


def no_show_delivery(sim, invitee, on: bool, mark: dict | None = None):
    """invitee_no_show.created/deleted for `invitee`, as of the change just made."""
    mark = copy.deepcopy(mark or invitee["no_show"])
    return {
        "event": "invitee_no_show.created" if on else "invitee_no_show.deleted",
        "created_at": invitee["updated_at"],
        "created_by": sim.user["uri"],
        "payload": {
            "uri": mark["uri"],
            "invitee": invitee["uri"],
            "created_at": mark["created_at"],
        },
    }


def signed(payload, key=KEY, timestamp=None):
    body = json.dumps(payload).encode()
    return body, {
        "Content-Type": "application/json",
        "Calendly-Webhook-Signature": sign(body, key, timestamp),
    }


def deliver(client, payload, **kwargs):
    body, headers = signed(payload, **kwargs)
    return client.post(PATH, data=body, headers=headers)


def new_webinar(sim):
    """A fresh future info-webinar in the simulator (room for 50)."""
    return sim.add_event()


def book(sim, event, n):
    uuid = event["uri"].rsplit("/", 1)[1]
    return sim.book(uuid, name=f"Person {n}", email=f"person{n}@example.org")


def uuid_of(resource):
    return resource["uri"].rsplit("/", 1)[1]


def attendee(app, invitee):
    with app.app_context():
        row = db.session.scalars(
            select(CalendlyEventAttendee).where(
                CalendlyEventAttendee.calendly_id == uuid_of(invitee)
            )
        ).first()
        if row is not None:
            db.session.expunge(row)
        return row


def counts(app):
    with app.app_context():
        return (
            db.session.scalar(select(func.count()).select_from(CalendlyEvent)),
            db.session.scalar(select(func.count()).select_from(CalendlyEventAttendee)),
        )


def deliveries(app):
    with app.app_context():
        rows = db.session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)).all()
        db.session.expunge_all()
        return rows


def test_signatures_are_aged_by_the_apps_clock(client, monkeypatch):
    body = json.dumps({"event": "routing_form_submission.created", "payload": {}}).encode()
    headers = {"Calendly-Webhook-Signature": sign(body, KEY, timestamp=1_700_000_000)}
    monkeypatch.setattr(clock, "timestamp", lambda: 1_700_000_180.0)
    assert client.post(PATH, data=body, headers=headers).status_code == 200
    monkeypatch.setattr(clock, "timestamp", lambda: 1_700_000_181.0)
    assert client.post(PATH, data=body, headers=headers).status_code == 401


# -- refused deliveries change nothing ------------------------------------------------------------


def _tamper(kind, sim):
    invitee = book(sim, new_webinar(sim), 1)
    payload = invitee_delivery(sim, invitee)
    body, headers = signed(payload)
    if kind == "wrong key":
        body, headers = signed(payload, key="not-the-key")
    elif kind == "altered body":
        body = body.replace(b"Person 1", b"Person 2")
    elif kind == "missing header":
        del headers["Calendly-Webhook-Signature"]
    # A minute past the three-minute tolerance either way (the exact edges are tested with a
    # given `now` above): +181 s was accepted when a second ticked over before the check.
    elif kind == "stale timestamp":
        body, headers = signed(payload, timestamp=int(clock.timestamp()) - 240)
    elif kind == "future timestamp":
        body, headers = signed(payload, timestamp=int(clock.timestamp()) + 240)
    elif kind == "signature of another body":
        other, _ = signed({"event": "invitee.created"})
        headers["Calendly-Webhook-Signature"] = sign(other, KEY)
    return body, headers


@pytest.mark.parametrize(
    "kind",
    [
        "wrong key",
        "altered body",
        "missing header",
        "stale timestamp",
        "future timestamp",
        "signature of another body",
    ],
)
@NOT_DATED
def test_bad_signatures_are_refused_and_change_nothing(app, client, module_sim, kind):
    body, headers = _tamper(kind, module_sim)
    response = client.post(PATH, data=body, headers=headers)
    assert response.status_code == 401
    assert response.get_json() == {
        "outcome": "rejected",
        "detail": "signature verification failed",
    }
    assert counts(app) == (0, 0)
    [row] = deliveries(app)
    assert (row.outcome, row.signature_valid, row.event, row.invitee_uri) == (
        "rejected",
        False,
        None,
        None,
    )
    assert row.reason == "bad_signature" and row.reason_params["problem"]
    assert "Person" not in str(row.reason_params)  # nothing of the body is kept


@NOT_DATED
def test_without_a_signing_key_everything_is_refused(make_app, module_sim):
    app = make_app(CALENDLY_WEBHOOK_SIGNING_KEY="")
    invitee = book(module_sim, new_webinar(module_sim), 1)
    response = deliver(app.test_client(), invitee_delivery(module_sim, invitee))
    assert response.status_code == 403
    assert counts(app) == (0, 0)
    assert [(d.outcome, d.reason) for d in deliveries(app)] == [("rejected", "no_signing_key")]


@NOT_DATED
def test_the_stored_signing_key_is_used_when_none_is_configured(make_app, module_sim):
    app = make_app(CALENDLY_WEBHOOK_SIGNING_KEY="")
    with app.app_context():
        settings.save_webhook_signing_key("  stored-key-42 ")
        assert settings.webhook_signing_key() == "stored-key-42"
        assert "stored-key-42" not in json.dumps(settings.get_setting("webhook_signing_key"))
    invitee = book(module_sim, new_webinar(module_sim), 1)
    client = app.test_client()
    assert deliver(client, invitee_delivery(module_sim, invitee), key=KEY).status_code == 401
    assert (
        deliver(client, invitee_delivery(module_sim, invitee), key="stored-key-42").status_code
        == 200
    )
    with app.app_context():
        settings.save_webhook_signing_key("")
        assert settings.webhook_signing_key() is None


@NOT_DATED
def test_an_oversized_body_is_refused_unread(app, client):
    body = b"{" + b" " * webhooks.MAX_BODY_BYTES + b"}"
    response = client.post(PATH, data=body, headers={"Calendly-Webhook-Signature": sign(body, KEY)})
    assert response.status_code == 413
    assert [d.outcome for d in deliveries(app)] == ["rejected"]


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"\xff\xfe",
        b"[]",
        b'{"event": "invitee.created"}',
        b'{"event": "invitee.created", "payload": {"status": "active"}}',
        b'{"event": "invitee.created", "payload": {"uri": "https://x/invitees/a b"}}',
        b'{"event": "invitee_no_show.created", "created_at": "yesterday",'
        b' "payload": {"invitee": "https://api.calendly.com/scheduled_events/E/invitees/I"}}',
    ],
)
@NOT_DATED
def test_authentic_but_malformed_bodies_get_200_so_calendly_does_not_retry(app, client, body):
    # Calendly retries every non-2xx answer for 24 hours and then disables the subscription.
    response = client.post(PATH, data=body, headers={"Calendly-Webhook-Signature": sign(body, KEY)})
    assert response.status_code == 200
    assert response.get_json()["outcome"] == "rejected"
    assert counts(app) == (0, 0)
    [row] = deliveries(app)
    assert (row.outcome, row.signature_valid) == ("rejected", True)


@NOT_DATED
def test_the_endpoint_needs_no_login_and_no_csrf_token(app, client, module_sim):
    assert app.config.get("WTF_CSRF_ENABLED", True)
    invitee = book(module_sim, new_webinar(module_sim), 1)
    response = deliver(client, invitee_delivery(module_sim, invitee))
    assert response.status_code == 200
    assert client.get(PATH).status_code in (302, 405)  # only POST is public


# -- applied deliveries ---------------------------------------------------------------------------


def test_invitee_created_mirrors_event_and_attendee(app, client, module_sim):
    event = new_webinar(module_sim)
    invitee = book(module_sim, event, 1)
    response = deliver(client, invitee_delivery(module_sim, invitee))
    assert response.status_code == 200
    assert response.get_json() == {
        "outcome": "applied",
        "detail": "invitee_written (event=created, invitee=created)",
    }
    row = attendee(app, invitee)
    assert (row.email, row.status, row.name) == ("person1@example.org", "active", "Person 1")
    assert row.calendly_updated_at == parse_time(invitee["updated_at"])
    with app.app_context():
        stored = db.session.scalars(select(CalendlyEvent)).one()
        assert stored.uri == event["uri"]
        assert stored.invitees_active == 1
        # The next sync must still fetch this event's complete invitee list.
        assert stored.attendees_synced_at is None
    [record] = deliveries(app)
    assert record.event == "invitee.created"
    assert record.invitee_uri == invitee["uri"]
    assert record.signature_valid and record.outcome == "applied"
    assert record.payload_created_at == parse_time(invitee["updated_at"])


def test_a_delivery_stamps_the_webinars_local_start_in_the_admins_zone(app, client, module_sim):
    from zoneinfo import ZoneInfo

    with app.app_context():
        settings.set_setting(settings.TIMEZONE_KEY, "America/New_York")
    invitee = book(module_sim, new_webinar(module_sim), 1)
    assert deliver(client, invitee_delivery(module_sim, invitee)).status_code == 200
    with app.app_context():
        stored = db.session.scalars(select(CalendlyEvent)).one()
        local = stored.start_time.astimezone(ZoneInfo("America/New_York"))
        assert (stored.local_date, stored.local_weekday, stored.local_hour) == (
            local.date().isoformat(),
            local.weekday(),
            local.hour,
        )


def test_a_delivery_brings_the_hosts_of_its_event(app, client, module_sim):
    from devtools.sample_data import CO_HOST

    event = new_webinar(module_sim)
    owner = {"uri": module_sim.user["uri"], "name": "Katrin Böhm", "email": "k@example.de"}
    module_sim.set_hosts(uuid_of(event), [owner, CO_HOST])
    invitee = book(module_sim, event, 1)
    assert deliver(client, invitee_delivery(module_sim, invitee)).status_code == 200
    with app.app_context():
        stored = db.session.scalars(select(CalendlyEvent)).one()
        assert stored.hosts == [owner, CO_HOST]
        hosts = db.session.scalars(select(EventHost.user_uri).order_by(EventHost.user_uri))
        assert set(hosts) == {owner["uri"], CO_HOST["uri"]}


def test_a_delivery_for_a_synced_event_sends_it_back_to_the_next_full_fetch(
    app, client, module_sim
):
    event = new_webinar(module_sim)
    first = book(module_sim, event, 1)
    with app.app_context():
        assert sync_from_settings("cli").status == "succeeded"
    # Two more people book; only the second delivery arrives (the first is still on its way).
    book(module_sim, event, 2)
    third = book(module_sim, event, 3)
    assert deliver(client, invitee_delivery(module_sim, third)).status_code == 200
    with app.app_context():
        row = db.session.scalars(
            select(CalendlyEvent).where(CalendlyEvent.uri == event["uri"])
        ).one()
        assert row.invitees_active == 3 and row.attendees_synced_at is None
        sync_from_settings("cli")
        names = db.session.scalars(
            select(CalendlyEventAttendee.name).where(CalendlyEventAttendee.event_id == row.id)
        ).all()
    assert sorted(names) == ["Person 1", "Person 2", "Person 3"]
    assert attendee(app, first).status == "active"


def test_invitee_canceled_and_rescheduled(app, client, module_sim):
    event, other = new_webinar(module_sim), new_webinar(module_sim)
    staying, moving = book(module_sim, event, 1), book(module_sim, event, 2)
    for invitee in (staying, moving):
        assert deliver(client, invitee_delivery(module_sim, invitee)).status_code == 200

    canceled = copy.deepcopy(module_sim.cancel_invitee(uuid_of(staying), reason="Krank"))
    assert (
        deliver(client, invitee_delivery(module_sim, canceled, "invitee.canceled")).status_code
        == 200
    )
    new = module_sim.reschedule(uuid_of(moving), uuid_of(other))
    _, old = module_sim.find_invitee(uuid_of(moving))
    assert deliver(client, invitee_delivery(module_sim, old, "invitee.canceled")).status_code == 200
    assert deliver(client, invitee_delivery(module_sim, new)).status_code == 200

    row = attendee(app, staying)
    assert (row.status, row.cancel_reason, row.canceler_type) == ("canceled", "Krank", "invitee")
    old_row, new_row = attendee(app, moving), attendee(app, new)
    assert (old_row.status, old_row.rescheduled, old_row.new_invitee_uri) == (
        "canceled",
        True,
        new["uri"],
    )
    assert (new_row.status, new_row.old_invitee_uri) == ("active", moving["uri"])
    with app.app_context():
        actives = dict(
            db.session.execute(select(CalendlyEvent.uri, CalendlyEvent.invitees_active)).all()
        )
    assert actives == {event["uri"]: 0, other["uri"]: 1}


def test_no_show_marked_and_cleared(app, client, module_sim):
    invitee = book(module_sim, new_webinar(module_sim), 1)
    deliver(client, invitee_delivery(module_sim, invitee))
    marked = copy.deepcopy(module_sim.set_no_show(uuid_of(invitee), True))
    response = deliver(client, no_show_delivery(module_sim, marked, True))
    assert response.get_json()["detail"] == "no_show_marked"
    row = attendee(app, invitee)
    assert (row.no_show, row.no_show_uri) == (True, marked["no_show"]["uri"])

    cleared = copy.deepcopy(module_sim.set_no_show(uuid_of(invitee), False))
    response = deliver(client, no_show_delivery(module_sim, cleared, False, mark=marked["no_show"]))
    assert response.get_json()["detail"] == "no_show_cleared"
    row = attendee(app, invitee)
    assert (row.no_show, row.no_show_uri) == (False, None)
    assert row.calendly_updated_at == parse_time(cleared["updated_at"])


def test_no_show_deliveries_out_of_order_keep_the_latest(app, client, module_sim):
    invitee = book(module_sim, new_webinar(module_sim), 1)
    deliver(client, invitee_delivery(module_sim, invitee))
    marked = copy.deepcopy(module_sim.set_no_show(uuid_of(invitee), True))
    cleared = copy.deepcopy(module_sim.set_no_show(uuid_of(invitee), False))
    mark_delivery = no_show_delivery(module_sim, marked, True)
    clear_delivery = no_show_delivery(module_sim, cleared, False, mark=marked["no_show"])
    assert deliver(client, clear_delivery).status_code == 200
    late = deliver(client, mark_delivery)
    assert late.status_code == 200
    assert late.get_json() == {
        "outcome": "ignored",
        "detail": "stale",
    }
    assert attendee(app, invitee).no_show is False
    # A copy of the invitee from before the mark (a late delivery, or what a sync read just
    # before the mark) cannot undo it either.
    marked_again = copy.deepcopy(module_sim.set_no_show(uuid_of(invitee), True))
    deliver(client, no_show_delivery(module_sim, marked_again, True))
    stale = invitee_delivery(module_sim, cleared, "invitee.created")  # the invitee before the mark
    assert deliver(client, stale).get_json()["outcome"] == "ignored"
    assert attendee(app, invitee).no_show is True


def test_no_show_for_an_invitee_not_mirrored_is_ignored(app, client, module_sim):
    invitee = book(module_sim, new_webinar(module_sim), 1)
    marked = module_sim.set_no_show(uuid_of(invitee), True)
    response = deliver(client, no_show_delivery(module_sim, marked, True))
    assert response.status_code == 200 and response.get_json()["outcome"] == "ignored"
    assert counts(app) == (0, 0)


def test_replayed_older_delivery_changes_nothing(app, client, module_sim):
    invitee = book(module_sim, new_webinar(module_sim), 1)
    created = invitee_delivery(module_sim, invitee)
    canceled_invitee = module_sim.cancel_invitee(uuid_of(invitee))
    canceled = invitee_delivery(module_sim, canceled_invitee, "invitee.canceled")
    assert deliver(client, canceled).get_json()["outcome"] == "applied"
    before = attendee(app, invitee)

    replay = deliver(client, created)  # freshly signed, but older data
    assert replay.status_code == 200
    assert replay.get_json()["outcome"] == "ignored"
    after = attendee(app, invitee)
    assert (after.status, after.calendly_updated_at, after.synced_at) == (
        before.status,
        before.calendly_updated_at,
        before.synced_at,
    )
    with app.app_context():
        event = db.session.scalars(select(CalendlyEvent)).one()
        assert (event.status, event.invitees_active) == ("active", 0)


def test_the_same_delivery_twice_is_applied_once(app, client, module_sim):
    invitee = book(module_sim, new_webinar(module_sim), 1)
    payload = invitee_delivery(module_sim, invitee)
    created = "invitee_written (event=created, invitee=created)"
    assert deliver(client, payload).get_json()["detail"] == created
    assert deliver(client, payload).get_json() == {
        "outcome": "applied",
        "detail": "invitee_written (invitee=unchanged)",
    }
    assert counts(app) == (1, 1)
    assert len(deliveries(app)) == 2


def test_event_types_that_are_not_synced_are_acknowledged_and_ignored(make_app, module_sim):
    app = make_app(
        CALENDLY_WEBHOOK_SIGNING_KEY=KEY,
        CALENDLY_EVENT_TYPES=module_sim.event_type_uri("Einzelberatung") + ",Telefonsprechstunde",
    )
    invitee = book(module_sim, new_webinar(module_sim), 1)  # an info-webinar
    response = deliver(app.test_client(), invitee_delivery(module_sim, invitee))
    assert response.status_code == 200
    assert response.get_json() == {"outcome": "ignored", "detail": "type_not_synced"}
    assert counts(app) == (0, 0)


def test_before_an_event_type_choice_no_delivery_is_copied(make_app, module_sim):
    app = make_app(event_types=None, CALENDLY_WEBHOOK_SIGNING_KEY=KEY)
    invitee = book(module_sim, new_webinar(module_sim), 1)
    response = deliver(app.test_client(), invitee_delivery(module_sim, invitee))
    assert response.status_code == 200
    assert response.get_json() == {"outcome": "ignored", "detail": "type_not_synced"}
    assert counts(app) == (0, 0)


@NOT_DATED
def test_unknown_events_are_acknowledged(app, client, caplog, monkeypatch):
    # Alembic's fileConfig() (test_migrations) disables loggers that exist at that moment.
    monkeypatch.setattr(logging.getLogger("mirror.webhooks"), "disabled", False)
    payload = {"event": "routing_form_submission.created", "created_at": None, "payload": {}}
    with caplog.at_level("INFO", logger="mirror.webhooks"):
        response = deliver(client, payload)
    assert response.status_code == 200
    assert response.get_json()["outcome"] == "ignored"
    assert "routing_form_submission.created" in caplog.text
    assert [d.event for d in deliveries(app)] == ["routing_form_submission.created"]


# -- many deliveries at once, while a sync runs ------------------------------------------------


def _story(sim, rng):
    """Change the simulated account the way a busy week would, and collect every delivery
    Calendly would send for it, in order. Returns (deliveries, new events)."""
    sent, events = [], [new_webinar(sim) for _ in range(5)]
    booked = []
    for n in range(150):
        invitee = copy.deepcopy(book(sim, events[n % 5], n))
        booked.append(invitee)
        sent.append(invitee_delivery(sim, invitee))
    for invitee in rng.sample(booked, 40):
        changed = copy.deepcopy(sim.cancel_invitee(uuid_of(invitee), reason="Termin"))
        sent.append(invitee_delivery(sim, changed, "invitee.canceled"))
    # Invitees of the seeded account (the sync, not a delivery, brings them in first).
    seeded = [
        inv
        for uuid, invs in sim.invitees.items()
        if uuid not in {uuid_of(e) for e in events}
        for inv in invs
        if inv["status"] == "active"
    ]
    for invitee in rng.sample(seeded, min(12, len(seeded))):
        marked = copy.deepcopy(sim.set_no_show(uuid_of(invitee), True))
        sent.append(no_show_delivery(sim, marked, True))
        if rng.random() < 0.5:
            cleared = copy.deepcopy(sim.set_no_show(uuid_of(invitee), False))
            sent.append(no_show_delivery(sim, cleared, False, mark=marked["no_show"]))
    active = [inv for inv in booked if sim.find_invitee(uuid_of(inv))[1]["status"] == "active"]
    position = {event["uri"]: n for n, event in enumerate(events)}
    for invitee in rng.sample(active, 10):
        target = events[(position[invitee["event"]] + 1) % len(events)]
        new = copy.deepcopy(sim.reschedule(uuid_of(invitee), uuid_of(target)))
        _, old = sim.find_invitee(uuid_of(invitee))
        sent.append(invitee_delivery(sim, copy.deepcopy(old), "invitee.canceled"))
        sent.append(invitee_delivery(sim, new))
    # Calendly retries: duplicates of earlier deliveries, arriving late.
    sent += [copy.deepcopy(rng.choice(sent)) for _ in range(500 - len(sent))]
    return sent, events


def assert_mirror_equals_simulator(app, sim):
    """Every invitee in the simulator is mirrored once, in its latest state; nothing else."""
    expected = {uuid_of(inv): inv for invs in sim.invitees.values() for inv in invs}
    with app.app_context():
        rows = db.session.scalars(select(CalendlyEventAttendee)).all()
        events = {e.id: e for e in db.session.scalars(select(CalendlyEvent))}
        assert len(rows) == len({row.calendly_id for row in rows})  # no duplicates
        assert {row.calendly_id for row in rows} == set(expected)
        for row in rows:
            invitee = expected[row.calendly_id]
            assert row.status == invitee["status"], row.calendly_id
            assert row.no_show == bool(invitee["no_show"]), row.calendly_id
            assert row.calendly_updated_at == parse_time(invitee["updated_at"]), row.calendly_id
            assert events[row.event_id].uri == invitee["event"]
            assert row.new_invitee_uri == invitee["new_invitee"]
        for event in events.values():
            upstream = sim.events[event.calendly_id]
            assert event.status == upstream["status"]
            assert event.invitees_active == upstream["invitees_counter"]["active"]
            assert event.calendly_updated_at == parse_time(upstream["updated_at"])
        assert {e.calendly_id for e in events.values()} == set(sim.events)


@NOT_DATED
def test_500_concurrent_deliveries_during_a_sync(app, module_sim, live_server):
    rng = random.Random(5)
    sent, _ = _story(module_sim, rng)
    assert len(sent) == 500
    rng.shuffle(sent)  # arrival order has nothing to do with the order of the changes
    bodies = [signed(payload) for payload in sent]
    # Slow down some of the sync's reads so that it is still running while deliveries land.
    module_sim.inject("slow", times=8, path="/scheduled_events/", delay=0.25)

    # On SQLite the deliveries queue for the one write lock while the sync writes; on a loaded
    # two-core CI machine that queue can outlast the 5 s a web request waits by default. This
    # test is about what the mirror holds afterwards (the busy answer has tests of its own).
    app.config["WEB_DB_LOCK_TIMEOUT_SECONDS"] = 30
    url = live_server(PATH)
    local = threading.local()

    def post(item):
        session = getattr(local, "session", None) or requests.Session()
        local.session = session
        body, headers = item
        response = session.post(url, data=body, headers=headers, timeout=60)
        return response.status_code, response.json()["outcome"]

    sync_result = {}

    def run_sync():
        with app.app_context():
            run = sync_from_settings("manual")
            sync_result.update(id=run.id, status=run.status, outcome=run.outcome)

    syncer = threading.Thread(target=run_sync)
    syncer.start()
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(post, bodies))
    syncer.join(60)

    assert sync_result["status"] == "succeeded", sync_result
    assert all(status == 200 for status, _ in answers), {a for a in answers if a[0] != 200}
    assert {outcome for _, outcome in answers} <= {"applied", "ignored"}
    assert_mirror_equals_simulator(app, module_sim)

    with app.app_context():
        run = db.session.get(SyncRun, sync_result["id"])
        during = db.session.scalar(
            select(func.count())
            .select_from(WebhookDelivery)
            .where(WebhookDelivery.received_at.between(run.started_at, run.finished_at))
        )
        total = db.session.scalar(select(func.count()).select_from(WebhookDelivery))
    assert total == 500
    assert during > 0, "no delivery arrived while the sync ran"
    assert run.finished_at - run.started_at < timedelta(seconds=60)


# -- failures ------------------------------------------------------------------------------------


@NOT_DATED
def test_a_failure_answers_500_so_calendly_retries_and_keeps_nothing_half_done(
    app, client, module_sim, monkeypatch
):
    invitee = book(module_sim, new_webinar(module_sim), 1)
    real_apply = webhooks._apply

    def apply_then_fail(delivery, *args):
        real_apply(delivery, *args)  # the event and attendee are written ...
        raise RuntimeError("disk on fire: person1@example.org")  # ... then it breaks

    monkeypatch.setattr(webhooks, "_apply", apply_then_fail)
    response = deliver(client, invitee_delivery(module_sim, invitee))
    assert response.status_code == 500
    assert response.get_json()["outcome"] == "error"
    assert counts(app) == (0, 0)  # rolled back
    [row] = deliveries(app)
    assert (row.outcome, row.reason, row.reason_params) == (
        "error",
        "internal_error",
        {"error": "RuntimeError"},
    )

    monkeypatch.setattr(webhooks, "_apply", real_apply)
    assert deliver(client, invitee_delivery(module_sim, invitee)).status_code == 200  # the retry
    assert counts(app) == (1, 1)


class _Deadlock(Exception):
    sqlstate = "40P01"


@NOT_DATED
def test_a_deadlock_is_retried(app, client, module_sim, monkeypatch):
    invitee = book(module_sim, new_webinar(module_sim), 1)
    real_apply, calls = webhooks._apply, []

    def deadlock_once(delivery, *args):
        calls.append(1)
        outcome = real_apply(delivery, *args)
        if len(calls) == 1:
            raise OperationalError("UPDATE ...", {}, _Deadlock())
        return outcome

    monkeypatch.setattr(webhooks, "_apply", deadlock_once)
    response = deliver(client, invitee_delivery(module_sim, invitee))
    assert response.get_json() == {
        "outcome": "applied",
        "detail": "invitee_written (event=created, invitee=created)",
    }
    assert len(calls) == 2
    assert counts(app) == (1, 1)
    assert [d.outcome for d in deliveries(app)] == ["applied"]
