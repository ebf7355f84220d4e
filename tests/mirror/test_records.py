"""One schema for Calendly records: every bad record through both ways in, the sync and a signed
webhook delivery, against the real simulator and the real database (SQLite, or PostgreSQL with
TEST_DATABASE_URL).

A malformed record is skipped by the sync (counted and named on its run, every other record still
written) and rejected by the webhook receiver (answered 200 so that Calendly does not retry it,
recorded with the fields at fault, nothing stored). Over-long free text is cut to its column, a
NUL is removed from free text; identity and code fields that do not fit make the record malformed.
"""

import copy
import json
from dataclasses import dataclass

import pytest
from sqlalchemy import func, select

from calendly.signature import sign
from services.syncing import sync_from_settings
from store.database import db
from store.models import CalendlyEvent, CalendlyEventAttendee, WebhookDelivery

# A small account: every event inside the sync's look-back window.
pytestmark = pytest.mark.sim_account("small")

KEY = "whsec-records-1a2b3c"
PATH = "/api/infowebinar/webhook"
EMBEDDED_FIELDS = (
    "uri", "name", "meeting_notes_plain", "meeting_notes_html", "status", "start_time",
    "end_time", "event_type", "location", "invitees_counter", "created_at", "updated_at",
    "event_memberships", "event_guests", "cancellation",
)  # fmt: skip
NAIVE = "2030-01-01T10:00:00"
LONG = "N" * 300


# -- the cases ------------------------------------------------------------------------------------


def setter(path: str, value):
    """A mutation that sets `path` ("a.b.0.c") of a record to `value`."""

    def mutate(record: dict) -> None:
        *parents, last = path.split(".")
        target = record
        for part in parents:
            target = target[int(part)] if isinstance(target, list) else target[part]
        if isinstance(target, list):
            target[int(last)] = copy.deepcopy(value)
        else:
            target[last] = copy.deepcopy(value)

    return mutate


ANSWERS = [
    {"question": "Welche Schulform?", "answer": "Gymnasium", "position": 0},
    {"question": "Wie erfahren?", "answer": "Instagram", "position": 1},
]
MIXED_POSITIONS = [
    {"question": "Welche Schulform?", "answer": "Gymnasium", "position": 0},
    {"question": "Wie erfahren?", "answer": "Instagram", "position": "1"},
]
CANCELLATION = {
    "canceled_by": "Jürgen Groß",
    "reason": "Krank\x00geworden",
    "canceler_type": "invitee",
    "created_at": "2030-01-01T10:00:00.000000Z",
}


@dataclass
class Case:
    """One bad (or merely over-long) record: which record, how it is spoiled, what follows.

    `field` names the field at fault for a malformed record; `stored` checks the stored row of
    a record that is fitted to its columns instead.
    """

    name: str
    record: str  # "event" or "invitee"
    mutate: object
    field: str | None = None
    stored: object = None


def malformed(name, record, path, value, at=None):
    return Case(name, record, setter(path, value), field=at or path)


class FittedHosts:
    """Equal to stored hosts that are one host named `name` without an email (the host keeps the
    token owner's URI, which the simulated account chooses)."""

    def __init__(self, name):
        self.name = name

    def __eq__(self, hosts):
        return [(host["name"], host["email"]) for host in hosts] == [(self.name, None)]


def fitted(name, record, path, value, column, expected):
    return Case(name, record, setter(path, value), stored=(column, expected))


CASES = [
    malformed("limit 'fifty'", "event", "invitees_counter.limit", "fifty"),
    malformed("no_show 'yes'", "invitee", "no_show", "yes"),
    malformed("invitee cancellation 'x'", "invitee", "cancellation", "x"),
    malformed("event cancellation 'x'", "event", "cancellation", "x"),
    malformed("answers as a string", "invitee", "questions_and_answers", "Gymnasium"),
    malformed("answers as a dict", "invitee", "questions_and_answers", ANSWERS[0]),
    malformed(
        "answers [1, 2]", "invitee", "questions_and_answers", [1, 2], at="questions_and_answers.0"
    ),
    malformed(
        "answer positions of mixed types",
        "invitee",
        "questions_and_answers",
        MIXED_POSITIONS,
        at="questions_and_answers.1.position",
    ),
    malformed("invitee updated_at without zone", "invitee", "updated_at", NAIVE),
    malformed("event updated_at without zone", "event", "updated_at", NAIVE),
    malformed("start_time without zone", "event", "start_time", NAIVE),
    malformed("name as an object", "invitee", "name", {"first": "Anna"}),
    malformed("name as a list", "invitee", "name", ["Anna", "Schmidt"]),
    malformed("email as an object", "invitee", "email", {"address": "a@example.org"}),
    malformed("email as a list", "invitee", "email", ["a@example.org"]),
    malformed("event name as an object", "event", "name", {"de": "Infowebinar"}),
    malformed("counter as a string", "event", "invitees_counter", "12 of 50"),
    malformed("counter active 'abc'", "event", "invitees_counter.active", "abc"),
    malformed("counter active 10**30", "event", "invitees_counter.active", 10**30),
    malformed("event_type as a list", "event", "event_type", ["https://api.calendly.com/x"]),
    # Identity and code fields that do not fit their column.
    malformed("300-character invitee status", "invitee", "status", "s" * 300),
    malformed("300-character event status", "event", "status", "s" * 300),
    malformed("300-character email", "invitee", "email", "e" * 290 + "@example.org"),
    malformed("100-character timezone", "invitee", "timezone", "Europe/" + "B" * 93),
    malformed("300-character event_type", "event", "event_type", "https://x/" + "t" * 290),
    malformed("NUL in an email", "invitee", "email", "a\x00b@example.org"),
    malformed("NUL in a status", "invitee", "status", "act\x00ive"),
    malformed("memberships as an object", "event", "event_memberships", {"user": "u"}),
    malformed("member without a user", "event", "event_memberships.0.user", None),
    malformed(
        "300-character host email",
        "event",
        "event_memberships.0.user_email",
        "e" * 290 + "@example.org",
        at="event_memberships.0.email",
    ),
    # Free text is fitted to its column: cut, and without NUL characters.
    fitted("300-character name", "invitee", "name", LONG, "name", LONG[:255]),
    fitted("300-character first name", "invitee", "first_name", LONG, "first_name", LONG[:255]),
    fitted("300-character last name", "invitee", "last_name", LONG, "last_name", LONG[:255]),
    fitted("300-character event name", "event", "name", LONG, "name", LONG[:255]),
    fitted("NUL in a name", "invitee", "name", "Anna\x00 Schmidt", "name", "Anna Schmidt"),
    fitted("NUL in an event name", "event", "name", "Info\x00webinar", "name", "Infowebinar"),
    Case(
        "300-character host name",
        "event",
        lambda event: event.update(
            event_memberships=[
                {
                    "user": event["event_memberships"][0]["user"],
                    "user_name": LONG,
                    "user_email": None,
                }
            ]
        ),
        stored=("hosts", FittedHosts(LONG[:255])),
    ),
    fitted(
        "NUL in a cancel reason",
        "invitee",
        "cancellation",
        CANCELLATION,
        "cancel_reason",
        "Krankgeworden",
    ),
    fitted(
        "NUL in an answer",
        "invitee",
        "questions_and_answers",
        [{"question": "Fragen?", "answer": "Ja\x00, eine", "position": 0}],
        "questions_and_answers",
        [{"question": "Fragen?", "answer": "Ja, eine", "position": 0}],
    ),
]
IDS = [case.name for case in CASES]


# -- fixtures and helpers -------------------------------------------------------------------------


@pytest.fixture
def app(connected_app, calendly_sim):
    """Syncs every event type (so that no selection hides a case) and receives webhooks."""
    return connected_app(calendly_sim, CALENDLY_WEBHOOK_SIGNING_KEY=KEY)


def uuid_of(resource) -> str:
    return resource["uri"].rsplit("/", 1)[1]


def webinar_with_two_bookings(calendly_sim):
    """A new future webinar with two invitees: (event, [first, second])."""
    event = calendly_sim.add_event()
    booked = [
        calendly_sim.book(uuid_of(event), name=f"Person {n}", email=f"person{n}@example.org")
        for n in (1, 2)
    ]
    return calendly_sim.events[uuid_of(event)], booked


def spoil(case: Case, calendly_sim, event, invitee) -> None:
    """Apply the case to the simulator's own record, so that Calendly serves it."""
    case.mutate(calendly_sim.events[uuid_of(event)] if case.record == "event" else invitee)


def delivery(calendly_sim, invitee, name="invitee.created"):
    """The delivery Calendly sends for `invitee` as it is now (copied, with its event)."""
    event = calendly_sim.events[uuid_of({"uri": invitee["event"]})]
    payload = copy.deepcopy(invitee)
    payload["scheduled_event"] = {k: copy.deepcopy(event.get(k)) for k in EMBEDDED_FIELDS}
    return {
        "event": name,
        "created_at": "2030-01-01T10:00:00.000000Z",
        "created_by": calendly_sim.user["uri"],
        "payload": payload,
    }


def deliver(client, payload):
    body = json.dumps(payload).encode()
    headers = {"Content-Type": "application/json", "Calendly-Webhook-Signature": sign(body, KEY)}
    return client.post(PATH, data=body, headers=headers)


def stored_rows(model, **where):
    query = select(model)
    for name, value in where.items():
        query = query.where(getattr(model, name) == value)
    return db.session.scalars(query).all()


def counts():
    return (
        db.session.scalar(select(func.count()).select_from(CalendlyEvent)),
        db.session.scalar(select(func.count()).select_from(CalendlyEventAttendee)),
    )


# -- the table through the sync ------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_sync_skips_a_malformed_record_and_fits_free_text(app, calendly_sim, case):
    event, (spoiled, other) = webinar_with_two_bookings(calendly_sim)
    spoil(case, calendly_sim, event, spoiled)
    others = {uuid for uuid in calendly_sim.events if uuid != uuid_of(event)}

    with app.app_context():
        run = sync_from_settings("cli")

        assert run.status == "succeeded", (run.outcome, run.outcome_params)
        stored_events = {row.calendly_id: row for row in stored_rows(CalendlyEvent)}
        assert others <= set(stored_events), "every other event is still written"
        assert not any(row.missing_upstream for row in stored_events.values())
        assert run.events_missing == 0
        if case.field is None:
            assert run.records_skipped == 0 and not run.skipped_records
            record = spoiled if case.record == "invitee" else event
            model = CalendlyEventAttendee if case.record == "invitee" else CalendlyEvent
            [row] = stored_rows(model, calendly_id=uuid_of(record))
            column, expected = case.stored
            assert getattr(row, column) == expected
            return

        assert run.records_skipped == 1
        [skipped] = run.skipped_records
        assert skipped["code"] == f"malformed_{case.record}"
        assert any(name.endswith(case.field) for name in skipped["fields"]), skipped
        if case.record == "event":
            assert skipped["record"] == event["uri"]
            assert uuid_of(event) not in stored_events
            assert not stored_rows(CalendlyEventAttendee, calendly_id=uuid_of(other))
        else:
            assert skipped["record"] == spoiled["uri"]
            assert not stored_rows(CalendlyEventAttendee, calendly_id=uuid_of(spoiled))
            [kept] = stored_rows(CalendlyEventAttendee, calendly_id=uuid_of(other))
            assert kept.name == "Person 2"
            # Not complete: the next sync reads this event's invitees again.
            assert stored_events[uuid_of(event)].attendees_synced_at is None
        assert "Person 1" not in json.dumps(run.skipped_records)  # no personal data


# -- the table through a signed webhook delivery ---------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_a_signed_delivery_with_a_malformed_record_is_answered_200_and_stores_nothing(
    app, calendly_sim, case
):
    event, (invitee, _) = webinar_with_two_bookings(calendly_sim)
    payload = delivery(calendly_sim, invitee)
    target = payload["payload"]["scheduled_event"] if case.record == "event" else payload["payload"]
    case.mutate(target)

    response = deliver(app.test_client(), payload)

    assert response.status_code == 200, response.get_data(as_text=True)
    with app.app_context():
        [row] = db.session.scalars(select(WebhookDelivery)).all()
        if case.field is None:
            assert response.get_json()["outcome"] == "applied"
            model = CalendlyEventAttendee if case.record == "invitee" else CalendlyEvent
            record = invitee if case.record == "invitee" else event
            [stored] = stored_rows(model, calendly_id=uuid_of(record))
            column, expected = case.stored
            assert getattr(stored, column) == expected
            return
        assert response.get_json()["outcome"] == "rejected"
        assert counts() == (0, 0)
        assert (row.outcome, row.signature_valid, row.event) == (
            "rejected",
            True,
            "invitee.created",
        )
        assert row.reason == "malformed_record"
        prefix = "scheduled_event." if case.record == "event" else ""
        assert any(name.endswith(prefix + case.field) for name in row.reason_params["fields"]), (
            row.reason_params
        )
        assert "Person 1" not in json.dumps(row.reason_params)


# -- skipped records: seen, counted, complete ------------------------------------------------------


def test_a_skipped_event_counts_as_seen_and_keeps_its_stored_copy(app, calendly_sim):
    event, _ = webinar_with_two_bookings(calendly_sim)
    with app.app_context():
        assert sync_from_settings("cli").status == "succeeded"
        calendly_sim.events[uuid_of(event)]["invitees_counter"]["limit"] = "fifty"

        run = sync_from_settings("cli")

        assert (run.status, run.records_skipped, run.events_missing) == ("succeeded", 1, 0)
        [row] = stored_rows(CalendlyEvent, calendly_id=uuid_of(event))
        assert not row.missing_upstream and row.invitees_limit == 50
        assert row.is_full is False


def test_an_event_whose_uri_cannot_be_read_means_nothing_is_flagged_missing(app, calendly_sim):
    first, _ = webinar_with_two_bookings(calendly_sim)
    second, _ = webinar_with_two_bookings(calendly_sim)
    first_uuid, first_uri = uuid_of(first), first["uri"]
    with app.app_context():
        assert sync_from_settings("cli").status == "succeeded"
        calendly_sim.events[first_uuid]["uri"] = {"not": "a uri"}
        calendly_sim.remove_event(uuid_of(second))

        run = sync_from_settings("cli")

        assert run.status == "succeeded"
        assert (run.records_skipped, run.events_missing) == (1, 0)
        [skipped] = run.skipped_records
        assert skipped["record"] is None and skipped["position"] >= 1
        assert not any(row.missing_upstream for row in stored_rows(CalendlyEvent))

        # Once Calendly's list is readable again, the removed event is flagged as before.
        calendly_sim.events[first_uuid]["uri"] = first_uri
        run = sync_from_settings("cli")
        assert (run.records_skipped, run.events_missing) == (0, 1)


def test_an_event_with_a_skipped_invitee_is_read_again_by_the_next_sync(app, calendly_sim):
    event, (spoiled, _) = webinar_with_two_bookings(calendly_sim)
    good_name = spoiled["name"]
    spoiled["name"] = {"first": "Anna"}
    with app.app_context():
        assert sync_from_settings("cli").records_skipped == 1
        spoiled["name"] = good_name  # fixed upstream; the event itself did not change

        run = sync_from_settings("cli")

        assert run.records_skipped == 0 and run.attendees_created == 1
        [row] = stored_rows(CalendlyEventAttendee, calendly_id=uuid_of(spoiled))
        assert row.name == good_name
        [stored_event] = stored_rows(CalendlyEvent, calendly_id=uuid_of(event))
        assert stored_event.attendees_synced_at is not None


def test_a_full_sync_that_meets_a_malformed_invitee_sends_its_event_back_to_be_read(
    app, calendly_sim
):
    event, (spoiled, _) = webinar_with_two_bookings(calendly_sim)
    with app.app_context():
        assert sync_from_settings("cli").status == "succeeded"
        spoiled["no_show"] = "yes"
        run = sync_from_settings("cli", full=True)
        assert run.records_skipped == 1
        [stored_event] = stored_rows(CalendlyEvent, calendly_id=uuid_of(event))
        assert stored_event.attendees_synced_at is None


def test_every_malformed_record_is_counted_and_named(app, calendly_sim):
    event, (first, second) = webinar_with_two_bookings(calendly_sim)
    other, _ = webinar_with_two_bookings(calendly_sim)
    first["no_show"] = "yes"
    second["questions_and_answers"] = [1, 2]
    calendly_sim.events[uuid_of(other)]["start_time"] = NAIVE
    with app.app_context():
        run = sync_from_settings("cli")
        assert (run.status, run.records_skipped) == ("succeeded", 3)
        assert {(s["code"], s["record"]) for s in run.skipped_records} == {
            ("malformed_invitee", first["uri"]),
            ("malformed_invitee", second["uri"]),
            ("malformed_event", other["uri"]),
        }
        [row] = stored_rows(CalendlyEvent, calendly_id=uuid_of(event))
        assert row.attendees_synced_at is None


# -- the webhook envelope ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"not json", "not_json"),
        (b"[]", "malformed_record"),
        (b'{"event": "invitee.created"}', "malformed_record"),
        (b'{"event": ["invitee.created"], "payload": {}}', "malformed_record"),
        (b'{"event": "invitee.created", "created_at": "2030-01-01T10:00:00", "payload": {}}',
         "malformed_record"),
        (b'{"event": "invitee_no_show.created", "created_at": "2030-01-01T10:00:00Z",'
         b' "payload": {"invitee": 7}}', "malformed_record"),
    ],
)  # fmt: skip
def test_an_authentic_but_unreadable_delivery_is_answered_200(app, body, reason):
    response = app.test_client().post(
        PATH, data=body, headers={"Calendly-Webhook-Signature": sign(body, KEY)}
    )
    assert response.status_code == 200
    assert response.get_json()["outcome"] == "rejected"
    with app.app_context():
        [row] = db.session.scalars(select(WebhookDelivery)).all()
        assert (row.outcome, row.reason, row.signature_valid) == ("rejected", reason, True)
        assert counts() == (0, 0)


def test_unsigned_and_oversized_deliveries_keep_their_4xx(app, calendly_sim):
    _, (invitee, _) = webinar_with_two_bookings(calendly_sim)
    body = json.dumps(delivery(calendly_sim, invitee)).encode()
    client = app.test_client()
    assert client.post(PATH, data=body).status_code == 401
    bad = {"Calendly-Webhook-Signature": sign(body, "another key")}
    assert client.post(PATH, data=body, headers=bad).status_code == 401
    big = b"{" + b" " * (256 * 1024) + b"}"
    signed_big = {"Calendly-Webhook-Signature": sign(big, KEY)}
    assert client.post(PATH, data=big, headers=signed_big).status_code == 413


# -- pages stay readable -----------------------------------------------------------------------


def test_pages_stay_readable_after_a_bad_delivery(app, calendly_sim, admin_client):
    event, (invitee, _) = webinar_with_two_bookings(calendly_sim)
    payload = delivery(calendly_sim, invitee)
    payload["payload"]["scheduled_event"]["invitees_counter"]["limit"] = "fifty"
    assert deliver(app.test_client(), payload).status_code == 200
    good = delivery(calendly_sim, invitee)
    assert deliver(app.test_client(), good).get_json()["outcome"] == "applied"
    client = admin_client(app)
    assert client.get("/").status_code == 200
    with app.app_context():
        [row] = stored_rows(CalendlyEvent, calendly_id=uuid_of(event))
        event_id = row.id
    assert client.get(f"/webinars/{event_id}").status_code == 200
