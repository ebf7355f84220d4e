"""The participant list import against Calendly (the simulator): the missing people become
no-shows in Calendly and here, then the webinar counts as recorded; Calendly's refusals say who
is left and record nothing."""

from __future__ import annotations

import re
from datetime import timedelta
from io import BytesIO

import pytest
from sqlalchemy import select

from devtools.sample_data import uuid_of
from services.syncing import sync_from_settings
from store import clock
from store.database import db
from store.models import AuditEntry, CalendlyEvent, CalendlyEventAttendee

# Which webinars have ended depends on the clock.
pytestmark = [pytest.mark.dated, pytest.mark.sim_account("small"), pytest.mark.language("en")]


PEOPLE = [f"teilnehmer{n}@example.de" for n in range(1, 6)]


@pytest.fixture
def ended_event(module_sim) -> dict:
    """A webinar of the simulator that ended two hours ago, with five bookings of its own
    (whatever the seeded account holds)."""
    event = module_sim.add_event(start_time=clock.now() - timedelta(hours=3))
    for n, email in enumerate(PEOPLE, 1):
        module_sim.book(uuid_of(event["uri"]), name=f"Teilnehmer {n}", email=email)
    return event


@pytest.fixture
def app(connected_app, module_sim, ended_event):
    """The app on the simulator, synced once."""
    app = connected_app(module_sim)
    with app.app_context():
        assert sync_from_settings("cli").status == "succeeded"
    module_sim.reset_log()
    return app


@pytest.fixture
def webinar(app, ended_event):
    """(event row id, its bookings' emails) of the ended webinar."""
    with app.app_context():
        uri = ended_event["uri"]
        row = db.session.scalar(select(CalendlyEvent).where(CalendlyEvent.uri == uri))
        assert row is not None and row.is_over
        return row.id, list(PEOPLE)


def _token(html: str) -> str:
    return re.search(r'name="csrf-token" content="([^"]+)"', html)[1]


def _preview(client, event_id, emails: list[str]) -> str:
    listing = "Name\tFirst Join\tEmail\n" + "".join(f"Someone\t18:00\t{e}\n" for e in emails)
    page = client.get(f"/webinars/{event_id}/attendance/import").text
    response = client.post(
        f"/webinars/{event_id}/attendance/import",
        data={
            "csrf_token": _token(page),
            "participants": (BytesIO(listing.encode("utf-16")), "a.csv"),
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 200, response.text
    return response.text


def _confirm(client, event_id, preview: str):
    token = re.search(r'name="token" value="([^"]+)"', preview)[1]
    return client.post(
        f"/webinars/{event_id}/attendance/import/confirm",
        data={"csrf_token": _token(preview), "token": token},
    )


def _no_shows_here(app, event_id) -> set[str]:
    with app.app_context():
        return set(
            db.session.scalars(
                select(CalendlyEventAttendee.email).where(
                    CalendlyEventAttendee.event_id == event_id,
                    CalendlyEventAttendee.no_show.is_(True),
                )
            )
        )


def _no_shows_upstream(sim, emails) -> set[str]:
    return {
        inv["email"]
        for invs in sim.invitees.values()
        for inv in invs
        if inv["email"] in emails and inv["no_show"]
    }


def _recorded_at(app, event_id):
    with app.app_context():
        return db.session.get(CalendlyEvent, event_id).attendance_recorded_at


_FIXTURE_ACTIONS = ("account_created", "signed_in")


def _audit(app):
    with app.app_context():
        # What the admin did here, not the sign-in and account making of the fixtures.
        query = select(AuditEntry).where(AuditEntry.action.not_in(_FIXTURE_ACTIONS))
        return [(e.action, e.params, e.actor_email) for e in db.session.scalars(query)]


def test_import_marks_the_missing_as_no_shows_and_records_the_webinar(
    app, module_sim, login, webinar
):
    event_id, emails = webinar
    came, missing = emails[:1], emails[1:]

    preview = _preview(login, event_id, [came[0].upper(), "gast@example.org"])
    assert f"Did not attend: {len(missing)} people" in preview
    assert module_sim.request_log == []  # the preview changes nothing anywhere

    response = _confirm(login, event_id, preview)

    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/webinars/{event_id}")
    page = login.get(response.headers["Location"]).text
    assert f"{len(missing)} people were marked as no-shows in Calendly." in page
    assert "Attendance recorded" in page
    assert _no_shows_upstream(module_sim, emails) == set(missing)
    assert _no_shows_here(app, event_id) == set(missing)
    assert _recorded_at(app, event_id) is not None
    calendly_id = _calendly_id(app, event_id)
    entries = _audit(app)
    # Each no-show written to Calendly is the admin's, as one marked by hand; then the webinar.
    assert [(action, actor) for action, _params, actor in entries[:-1]] == [
        ("no_show_marked", "admin@example.org")
    ] * len(missing)
    assert {params["webinar"] for _action, params, _actor in entries[:-1]} == {calendly_id}
    assert entries[-1] == (
        "attendance_recorded",
        {"webinar": calendly_id, "attended": 1, "no_shows": len(missing), "source": "import"},
        "admin@example.org",
    )
    # The guest in the list is no attendee: nothing was stored for them.
    with app.app_context():
        assert not db.session.scalar(
            select(CalendlyEventAttendee).where(CalendlyEventAttendee.email == "gast@example.org")
        )


def _calendly_id(app, event_id) -> str:
    with app.app_context():
        return db.session.get(CalendlyEvent, event_id).calendly_id


def test_a_refusal_for_one_person_names_them_and_records_nothing(app, module_sim, login, webinar):
    event_id, emails = webinar
    refused = emails[1]
    preview = _preview(login, event_id, emails[:1])
    # Marked in Calendly meanwhile (no webhook): Calendly refuses to mark them again.
    module_sim.set_no_show(_invitee_id(module_sim, refused), True)

    response = _confirm(login, event_id, preview)

    html = response.text
    assert response.status_code == 200
    assert "Attendance is not recorded yet" in html
    assert "Not marked." in html and "Calendly says:" in html
    assert "Try again" in html
    assert _recorded_at(app, event_id) is None
    assert _no_shows_here(app, event_id) == set(emails[2:])  # the others are marked
    # The no-shows Calendly took are the admin's entries; the attendance is not recorded.
    assert [action for action, _params, _actor in _audit(app)] == ["no_show_marked"] * len(
        emails[2:]
    )

    # The next sync brings Calendly's mark; trying again then records the webinar.
    with app.app_context():
        assert sync_from_settings("cli", full=True).status == "succeeded"
    retry = _confirm(login, event_id, html)

    assert retry.status_code == 303
    assert _recorded_at(app, event_id) is not None
    assert _no_shows_here(app, event_id) == set(emails[1:])


def test_missing_write_scope_stops_at_the_first_person(app, module_sim, login, webinar):
    event_id, emails = webinar
    preview = _preview(login, event_id, emails[:1])
    module_sim.set_scopes(missing=["scheduled_events:write"])

    html = _confirm(login, event_id, preview).text

    assert "scheduled_events:write" in html
    assert f"{len(emails) - 2} people were not tried after this failure." in html
    posts = [r for r in module_sim.request_log if r.path.startswith("/invitee_no_shows")]
    assert len(posts) == 1
    assert _no_shows_here(app, event_id) == set() and _recorded_at(app, event_id) is None


def test_a_long_import_stops_in_time_and_continues(app, module_sim, login, webinar, monkeypatch):
    from services import attendance

    event_id, emails = webinar
    preview = _preview(login, event_id, emails[:1])
    monkeypatch.setattr(attendance, "MARK_TIME_BUDGET", 0.0)  # over after the first person

    html = _confirm(login, event_id, preview).text

    assert f"{len(emails) - 2} people are still to be marked" in html and "Continue" in html
    assert _no_shows_here(app, event_id) == {emails[1]}
    assert _recorded_at(app, event_id) is None

    monkeypatch.setattr(attendance, "MARK_TIME_BUDGET", 20.0)
    assert _confirm(login, event_id, html).status_code == 303
    assert _no_shows_here(app, event_id) == set(emails[1:])
    assert _recorded_at(app, event_id) is not None


def _invitee_id(sim, email) -> str:
    for invs in sim.invitees.values():
        for inv in invs:
            if inv["email"] == email:
                return uuid_of(inv["uri"])
    raise AssertionError(email)
