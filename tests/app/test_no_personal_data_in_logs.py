"""No personal data in logs: every failure path logs record ids and reasons only.

Recognisable names, emails and answers go through each failure case while every logger records
at DEBUG; none of those values may appear in what was logged.
"""

from __future__ import annotations

import copy
import json
import logging

import pytest
from sqlalchemy import text

from calendly.signature import sign
from services import no_shows
from services.syncing import sync_from_settings
from store.database import db
from store.models import CalendlyEventAttendee
from tests.app.log_capture import json_log

# A small account: every event inside the sync's look-back window.
pytestmark = pytest.mark.sim_account("small")

KEY = "whsec-logs-4711"
NAME = "Zacharias Quellenfeld"
EMAIL = "zacharias.quellenfeld@example.org"
ANSWER = "Geheimantwort Kormoran-Lagune"
SECRETS = (NAME, "Quellenfeld", EMAIL, "zacharias.quellenfeld", ANSWER, "Kormoran")
EMBEDDED_FIELDS = ("uri", "name", "status", "start_time", "end_time", "event_type", "location",
                   "invitees_counter", "created_at", "updated_at", "cancellation")  # fmt: skip


@pytest.fixture(params=["text", "json"])
def logs(request, caplog):
    """Every logger at DEBUG, records kept in caplog, and with LOG_FORMAT=json also the JSON
    lines as written (exceptions and ids included); yields the joined text to search."""
    for logger in [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]:
        if isinstance(logger, logging.Logger):
            logger.disabled = False  # Alembic's fileConfig disables loggers of other tests
    caplog.set_level(logging.DEBUG)

    def text_of() -> str:
        parts = []
        for record in caplog.records:
            parts.append(record.getMessage())
            if record.exc_info:
                parts.append(logging.Formatter().formatException(record.exc_info))
            if record.exc_text:
                parts.append(record.exc_text)
        if written is not None:
            assert written.lines(), "nothing was written as JSON"
            # Parsed, so that escapes (\u00e9, \n) cannot hide a value from the search.
            parts.extend(json.dumps(line, ensure_ascii=False) for line in written.lines())
            parts.extend(str(value) for line in written.lines() for value in line.values())
        return "\n".join(parts)

    if request.param == "text":
        written = None
        yield text_of
        return
    with json_log(logging.DEBUG) as written:
        yield text_of


def assert_no_personal_data(logged: str) -> None:
    assert logged, "the failure logged nothing at all"
    found = [value for value in SECRETS if value.casefold() in logged.casefold()]
    assert not found, f"personal data in the log: {found}\n{logged[-3000:]}"


def booking(calendly_sim):
    """A future webinar of the simulator booked by the recognisable person."""
    event = calendly_sim.add_event()
    invitee = calendly_sim.book(event["uri"].rsplit("/", 1)[1], name=NAME, email=EMAIL)
    invitee["questions_and_answers"] = [
        {"question": "Wie haben Sie von uns erfahren?", "answer": ANSWER, "position": 0}
    ]
    return event, invitee


def delivery(calendly_sim, invitee):
    event = calendly_sim.events[invitee["uri"].split("/")[-3]]
    payload = copy.deepcopy(invitee)
    payload["scheduled_event"] = {key: copy.deepcopy(event.get(key)) for key in EMBEDDED_FIELDS}
    body = json.dumps({"event": "invitee.created", "created_at": invitee["updated_at"],
                       "payload": payload}).encode()  # fmt: skip
    return body, {"Content-Type": "application/json", "Calendly-Webhook-Signature": sign(body, KEY)}


def refuse_attendee_writes(app):
    """Make the database itself refuse every new attendee row, as a broken disk or a
    constraint would: the error then carries the statement and its parameters."""
    with app.app_context(), db.engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql(
                "CREATE TRIGGER refuse_attendees BEFORE INSERT ON calendly_event_attendees"
                " BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"
            )
        else:
            conn.exec_driver_sql(
                "CREATE OR REPLACE FUNCTION refuse_attendees() RETURNS trigger AS $$"
                " BEGIN RAISE EXCEPTION 'refused by the test'; END $$ LANGUAGE plpgsql"
            )
            conn.exec_driver_sql(
                "CREATE TRIGGER refuse_attendees BEFORE INSERT ON calendly_event_attendees"
                " FOR EACH ROW EXECUTE FUNCTION refuse_attendees()"
            )


@pytest.fixture
def hook_app(make_app, calendly_sim):
    app = make_app(
        CALENDLY_API_BASE_URL=calendly_sim.base_url,
        CALENDLY_TOKEN="sim-token",
        CALENDLY_WEBHOOK_SIGNING_KEY=KEY,
        SYNC_LOOKBACK_DAYS=14,
    )
    yield app
    with app.app_context(), db.engine.begin() as conn:
        conn.exec_driver_sql("DROP TRIGGER IF EXISTS refuse_attendees" + (
            "" if conn.dialect.name == "sqlite" else " ON calendly_event_attendees"))  # fmt: skip


def test_a_webhook_write_the_database_refuses(hook_app, calendly_sim, logs):
    _event, invitee = booking(calendly_sim)
    refuse_attendee_writes(hook_app)
    body, headers = delivery(calendly_sim, invitee)
    response = hook_app.test_client().post("/api/infowebinar/webhook", data=body, headers=headers)
    assert response.status_code == 500
    assert_no_personal_data(logs())


def test_a_webhook_that_breaks_with_personal_data_in_its_error(
    hook_app, calendly_sim, logs, monkeypatch
):
    from mirror import webhooks

    _event, invitee = booking(calendly_sim)

    def broken(*_args, **_kwargs):
        raise RuntimeError(f"disk on fire while writing {NAME} <{EMAIL}>")

    monkeypatch.setattr(webhooks, "write_attendees", broken)
    body, headers = delivery(calendly_sim, invitee)
    response = hook_app.test_client().post("/api/infowebinar/webhook", data=body, headers=headers)
    assert response.status_code == 500
    assert_no_personal_data(logs())


@pytest.mark.parametrize(
    "broken",
    [{"email": [EMAIL]}, {"name": {"full": NAME}}, {"questions_and_answers": ANSWER}],
    ids=["email as a list", "name as an object", "answers as a string"],
)
def test_a_malformed_delivery(hook_app, calendly_sim, logs, broken):
    _event, invitee = booking(calendly_sim)
    invitee = {**invitee, **broken}
    body, headers = delivery(calendly_sim, invitee)
    response = hook_app.test_client().post("/api/infowebinar/webhook", data=body, headers=headers)
    assert response.status_code < 500
    assert_no_personal_data(logs())


def test_a_sync_the_database_refuses(hook_app, calendly_sim, logs):
    booking(calendly_sim)
    refuse_attendee_writes(hook_app)
    with hook_app.app_context():
        assert sync_from_settings("cli").status == "failed"
    assert_no_personal_data(logs())


def test_a_sync_that_meets_a_malformed_invitee(hook_app, calendly_sim, logs):
    _event, invitee = booking(calendly_sim)
    invitee["email"] = [EMAIL, NAME]  # what Calendly promises never to send
    with hook_app.app_context():
        sync_from_settings("cli")
    assert_no_personal_data(logs())


def test_a_no_show_calendly_refuses(hook_app, calendly_sim, logs):
    event, invitee = booking(calendly_sim)
    with hook_app.app_context():
        assert sync_from_settings("cli").status == "succeeded"
        attendee = db.session.scalars(
            db.select(CalendlyEventAttendee).where(CalendlyEventAttendee.email == EMAIL)
        ).one()
        attendee_id = attendee.id
        # A started webinar, so that the mark is allowed here and Calendly is asked.
        db.session.execute(
            text("UPDATE calendly_events SET start_time = :t WHERE id = :id"),
            {"t": "2000-01-01 10:00:00", "id": attendee.event_id},
        )
        db.session.commit()
    calendly_sim.inject("500", path="/invitee_no_shows")
    with hook_app.test_request_context(), pytest.raises(no_shows.NoShowError):
        no_shows.mark_no_show(attendee_id)
    assert_no_personal_data(logs())


def test_a_page_that_crashes_on_a_person(hook_app, calendly_sim, logs, monkeypatch, admin_client):
    from services import queries

    def broken(email):
        raise RuntimeError(f"no bookings for {email}")

    monkeypatch.setattr(queries, "person_bookings", broken)
    hook_app.config["PROPAGATE_EXCEPTIONS"] = False
    admin = admin_client(hook_app)
    assert admin.get(f"/people/{EMAIL}").status_code == 500
    assert_no_personal_data(logs())
