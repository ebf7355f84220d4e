"""A person's data on the person page: the export (JSON, CSV) and the erasure, each behind a
confirmation, for admins only, recorded in the audit log without the email; the erasure at
Calendly through the simulator's data compliance API (accepted on Enterprise, refused else)."""

import csv
import io
import json
import re
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from services import accounts
from services.syncing import sync_from_settings
from store.database import db
from store.models import AuditEntry, CalendlyEventAttendee, PersonTombstone
from tests.conftest import TEST_PASSWORD_HASH, _page_csrf_token

EMAIL = "jana.beispiel@example.de"
BOOKED = datetime(2031, 3, 4, 9, 30, tzinfo=UTC)
QA = [{"question": "Bundesland?", "answer": "=Bayern", "position": 0}]


@pytest.fixture
def person(add_webinar, add_attendee):
    """Two bookings of EMAIL (one in capitals) and one of somebody else."""
    first = add_webinar(name="Infowebinar Seiteneinstieg")
    second = add_webinar(name="Infowebinar Quereinstieg")
    add_attendee(
        first,
        name="Jana Beispiel",
        email=EMAIL,
        questions_and_answers=QA,
        no_show=True,
        calendly_created_at=BOOKED,
    )
    add_attendee(second, name="Jana B.", email=EMAIL.upper(), status="canceled")
    add_attendee(second, name="Other Person", email="other@example.de")
    return first, second


def _token(client, path: str) -> str:
    return _page_csrf_token(client.get(path).get_data(as_text=True))


def _audit(app) -> list[tuple[str, dict]]:
    """The entries of what was done to persons (not the fixtures' accounts and sign-ins)."""
    query = select(AuditEntry).where(AuditEntry.action.like("person_%")).order_by(AuditEntry.id)
    with app.app_context():
        return [(entry.action, entry.params) for entry in db.session.scalars(query)]


def _emails(app) -> list[str]:
    with app.app_context():
        return sorted(db.session.scalars(select(CalendlyEventAttendee.email)))


# -- the person page and the confirmations --------------------------------------------------------


def test_the_person_page_offers_both_actions_to_admins(login, person):
    page = login.get(f"/people/{EMAIL}").get_data(as_text=True)
    assert "Daten exportieren" in page and "Person löschen" in page
    assert 'href="/person-data/export?email=jana.beispiel@example.de"' in page

    confirm = login.get(f"/person-data/erase?email={EMAIL}").get_data(as_text=True)
    assert "Damit werden 2 Buchungen dieser Person hier gelöscht" in confirm
    assert 'name="confirm_email"' in confirm and 'name="at_calendly"' in confirm
    export = login.get(f"/person-data/export?email={EMAIL}").get_data(as_text=True)
    assert "Ja, die Daten dieser Person exportieren" in export
    assert login.get("/person-data/erase?email=nobody@example.de").status_code == 404


def test_a_viewer_may_see_the_person_but_neither_export_nor_erase(app, admin_user, person):
    app.config["PASSWORD_HASH_METHOD"] = TEST_PASSWORD_HASH
    with app.app_context():
        accounts.create_admin("viewer@example.org", "viewer password 1", "viewer")
    viewer = app.test_client()
    viewer.post(
        "/login",
        data={
            "email": "viewer@example.org",
            "password": "viewer password 1",
            "csrf_token": _token(viewer, "/login"),
        },
    )
    page = viewer.get(f"/people/{EMAIL}")
    assert page.status_code == 200
    assert "Person löschen" not in page.get_data(as_text=True)
    token = _token(viewer, f"/people/{EMAIL}")
    for path in ("/person-data/export", "/person-data/erase"):
        assert viewer.get(f"{path}?email={EMAIL}").status_code == 403
        form = {"csrf_token": token, "email": EMAIL, "confirm": "yes", "format": "json"}
        form["confirm_email"] = EMAIL
        assert viewer.post(path, data=form).status_code == 403
    assert len(_emails(app)) == 3
    assert _audit(app) == []


def test_posts_without_a_csrf_token_are_refused(login, app, person):
    form = {"email": EMAIL, "confirm_email": EMAIL, "confirm": "yes", "format": "json"}
    assert login.post("/person-data/erase", data=form).status_code == 400
    assert login.post("/person-data/export", data=form).status_code == 400
    assert len(_emails(app)) == 3
    assert _audit(app) == []


# -- export -------------------------------------------------------------------------------------


def test_the_export_needs_its_confirmation(login, app, person):
    token = _token(login, f"/person-data/export?email={EMAIL}")
    response = login.post(
        "/person-data/export", data={"csrf_token": token, "email": EMAIL, "format": "json"}
    )
    assert response.status_code == 303
    assert response.headers["Location"].startswith("/person-data/export?email=")
    assert _audit(app) == []


def test_the_json_export_holds_every_stored_field_and_is_audited_without_the_email(
    login, app, person
):
    token = _token(login, f"/person-data/export?email={EMAIL}")
    response = login.post(
        "/person-data/export",
        data={"csrf_token": token, "email": EMAIL, "format": "json", "confirm": "yes"},
    )
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    disposition = response.headers["Content-Disposition"]
    assert EMAIL not in disposition and re.search(r'person-[0-9a-f]{12}\.json"', disposition)
    document = json.loads(response.get_data(as_text=True))
    assert document["email"] == EMAIL
    bookings = document["bookings"]
    assert sorted(b["email"] for b in bookings) == [EMAIL.upper(), EMAIL]
    first = next(b for b in bookings if b["email"] == EMAIL)
    assert first["name"] == "Jana Beispiel" and first["no_show"] is True
    assert first["questions_and_answers"] == QA
    assert first["calendly_created_at"] == "2031-03-04T09:30:00Z"
    assert first["webinar"]["name"] == "Infowebinar Seiteneinstieg"
    assert first["webinar"]["start_time"].endswith("Z")
    for field in ("uri", "status", "timezone", "cancel_reason", "synced_at", "calendly_id"):
        assert field in first
    assert "search_text" not in first and "id" not in first

    [(action, params)] = _audit(app)
    assert action == "person_exported"
    assert params["format"] == "json" and re.fullmatch(r"[0-9a-f]{12}", params["person"])
    assert "@" not in json.dumps(params)


def test_the_csv_export_has_a_bom_one_line_per_booking_and_defused_cells(login, app, person):
    token = _token(login, f"/person-data/export?email={EMAIL}")
    response = login.post(
        "/person-data/export",
        data={"csrf_token": token, "email": EMAIL, "format": "csv", "confirm": "yes"},
    )
    assert response.status_code == 200 and response.mimetype == "text/csv"
    text = response.get_data(as_text=True)
    assert text.startswith("\ufeff")
    rows = list(csv.DictReader(io.StringIO(text[1:]), delimiter=";"))  # German: semicolons
    assert len(rows) == 2
    first = next(row for row in rows if row["email"] == EMAIL)
    assert first["webinar_name"] == "Infowebinar Seiteneinstieg"
    assert first["questions_and_answers"] == "Bundesland?: =Bayern"
    assert first["calendly_created_at"] == "2031-03-04T09:30:00Z"
    assert first["no_show"] == "True"
    [(action, params)] = _audit(app)
    assert (action, params["format"]) == ("person_exported", "csv")


# -- erasure ------------------------------------------------------------------------------------


def test_the_erasure_needs_the_email_typed_again(login, app, person):
    token = _token(login, f"/person-data/erase?email={EMAIL}")
    response = login.post(
        "/person-data/erase",
        data={"csrf_token": token, "email": EMAIL, "confirm_email": "jana@example.de"},
    )
    assert response.status_code == 303
    assert response.headers["Location"].startswith("/person-data/erase?email=")
    assert len(_emails(app)) == 3
    assert _audit(app) == []


def test_the_erasure_removes_every_booking_keeps_a_tombstone_and_is_audited(login, app, person):
    token = _token(login, f"/person-data/erase?email={EMAIL}")
    response = login.post(
        "/person-data/erase",
        data={"csrf_token": token, "email": EMAIL, "confirm_email": f" {EMAIL.upper()} "},
        follow_redirects=True,
    )
    assert response.request.path == "/search"
    assert "Die Person ist hier gelöscht: 2 Buchungen entfernt." in response.get_data(as_text=True)
    assert _emails(app) == ["other@example.de"]
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(PersonTombstone)) == 1
    [(action, params)] = _audit(app)
    assert action == "person_erased"
    assert params["bookings"] == 2 and params["at_calendly"] == "not_asked"
    assert re.fullmatch(r"[0-9a-f]{12}", params["person"]) and "@" not in json.dumps(params)
    assert login.get(f"/people/{EMAIL}").status_code == 404


# -- erasure at Calendly (the simulator's data compliance API) -----------------------------------


@pytest.fixture
def synced(connected_app, calendly_sim, admin_client, pick_event):
    """(app, signed-in client, email of a synced invitee) on the simulator."""
    app = connected_app(calendly_sim)
    with app.app_context():
        assert sync_from_settings("cli").status == "succeeded"
    [event] = pick_event(calendly_sim, ahead=True, min_active=1, count=1)
    email = next(i["email"] for i in calendly_sim.invitees[event] if i["status"] == "active")
    return app, admin_client(app), email


def _erase_at_calendly(client, email: str):
    token = _token(client, f"/person-data/erase?email={email}")
    form = {"csrf_token": token, "email": email, "confirm_email": email, "at_calendly": "yes"}
    return client.post("/person-data/erase", data=form, follow_redirects=True)


def _at_calendly(sim, email: str) -> int:
    return sum(inv["email"] == email for invs in sim.invitees.values() for inv in invs)


@pytest.mark.dated
@pytest.mark.sim_account("small")
def test_on_enterprise_calendly_accepts_the_erasure_and_deletes_there(synced, calendly_sim):
    app, client, email = synced
    calendly_sim.set_enterprise(True)
    page = _erase_at_calendly(client, email).get_data(as_text=True)
    assert "Calendly has accepted the erasure" in page
    assert calendly_sim.deletion_requests == [[email]]
    assert _at_calendly(calendly_sim, email) == 0
    assert email not in _emails(app)
    [(_, params)] = [entry for entry in _audit(app) if entry[0] == "person_erased"]
    assert params["at_calendly"] == "requested"


@pytest.mark.dated
@pytest.mark.sim_account("small")
@pytest.mark.parametrize("refusal", ["plan", "scope"])
def test_a_refusal_at_calendly_is_said_and_the_local_erasure_stays(synced, calendly_sim, refusal):
    app, client, email = synced
    if refusal == "scope":
        calendly_sim.set_enterprise(True)
        calendly_sim.set_scopes(missing=["data_compliance:write"])
    page = _erase_at_calendly(client, email).get_data(as_text=True)
    expected = {"plan": "needs an Enterprise plan", "scope": "data requests permission"}
    assert expected[refusal] in page
    assert "The person is erased here all the same" in page
    assert _at_calendly(calendly_sim, email) >= 1 and calendly_sim.deletion_requests == []
    assert email not in _emails(app)
    [(_, params)] = [entry for entry in _audit(app) if entry[0] == "person_erased"]
    assert params["at_calendly"] == {"plan": "refused_plan", "scope": "refused_permission"}[refusal]


@pytest.mark.dated
@pytest.mark.sim_account("small")
def test_the_refusal_is_said_in_german(synced, calendly_sim):
    app, client, email = synced
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "de"
    page = _erase_at_calendly(client, email).get_data(as_text=True)
    assert "nur im Enterprise-Tarif" in page and "Hier ist die Person trotzdem gelöscht" in page
