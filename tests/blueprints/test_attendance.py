"""A webinar's "attendance recorded" mark and the participant list import's screens: who may,
for which webinars, and what a bad file says (the flow with Calendly: test_attendance_import)."""

import re
from datetime import timedelta
from io import BytesIO

import pytest
from sqlalchemy import select

from store import clock
from store.database import db
from store.models import AuditEntry, CalendlyEvent, CalendlyEventAttendee

# Past and upcoming webinars are placed around the clock's now.
pytestmark = [pytest.mark.dated, pytest.mark.language("en")]

VIEWER, VIEWER_PASSWORD = "ansicht@example.org", "a viewer's password"


@pytest.fixture
def past(add_webinar, add_attendee):
    """A webinar that ended yesterday: two active bookings, one canceled."""
    start = clock.now() - timedelta(days=1)
    event = add_webinar(name="Infowebinar Rückblick", start_time=start)
    add_attendee(event, name="Jürgen Groß", email="Juergen.Gross@example.de")
    add_attendee(event, name="<script>alert(1)</script>", email="xss@example.de")
    add_attendee(event, name="Aylin Demir", email="aylin@example.de", status="canceled")
    return event


@pytest.fixture
def viewer(app, admin_user):
    from services import accounts

    app.config["PASSWORD_HASH_METHOD"] = "pbkdf2:sha256:1000"
    with app.app_context():
        accounts.create_admin(VIEWER, VIEWER_PASSWORD, "viewer")
    client = app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    token = _token(client.get("/login").text)
    signed_in = client.post(
        "/login", data={"email": VIEWER, "password": VIEWER_PASSWORD, "csrf_token": token}
    )
    assert signed_in.status_code == 303
    return client


def _token(html: str) -> str:
    return re.search(r'name="csrf-token" content="([^"]+)"', html)[1]


def _event(app, event_id) -> CalendlyEvent:
    with app.app_context():
        event = db.session.get(CalendlyEvent, event_id)
        db.session.expunge(event)
    return event


_FIXTURE_ACTIONS = ("account_created", "signed_in")


def _audit(app) -> list[tuple[str, dict]]:
    with app.app_context():
        # What the admin did here, not the sign-in and account making of the fixtures.
        query = select(AuditEntry).where(AuditEntry.action.not_in(_FIXTURE_ACTIONS))
        return [(e.action, e.params) for e in db.session.scalars(query)]


def _upload(client, event_id, data: bytes, *, name="teilnehmer.csv", headers=None):
    token = _token(client.get(f"/webinars/{event_id}/attendance/import").text)
    return client.post(
        f"/webinars/{event_id}/attendance/import",
        data={"csrf_token": token, "participants": (BytesIO(data), name)},
        content_type="multipart/form-data",
        headers=headers or {},
    )


# -- the mark ------------------------------------------------------------------------------------


def test_admin_sets_and_removes_the_mark_with_htmx(app, login, htmx, past):
    page = login.get(f"/webinars/{past.id}").text
    assert "Attendance not recorded" in page
    assert f'hx-post="/webinars/{past.id}/attendance"' in page

    response = login.post(f"/webinars/{past.id}/attendance", data={"recorded": "1"}, headers=htmx)

    html = response.text
    assert response.status_code == 200 and "<html" not in html
    assert html.lstrip().startswith(f'<div class="attendees" id="attendee-list-{past.id}">')
    assert "Attendance is recorded for this webinar." in html
    assert "Attendance recorded" in html and "2 attended" in html and "0 no-shows" in html
    recorded_at = _event(app, past.id).attendance_recorded_at
    assert recorded_at is not None and abs(clock.now() - recorded_at) < timedelta(minutes=1)

    removed = login.post(f"/webinars/{past.id}/attendance", data={"recorded": "0"}, headers=htmx)

    assert "no longer counts as recorded" in removed.text
    assert _event(app, past.id).attendance_recorded_at is None
    assert _audit(app) == [
        (
            "attendance_recorded",
            {"webinar": past.calendly_id, "attended": 2, "no_shows": 0, "source": "manual"},
        ),
        ("attendance_unrecorded", {"webinar": past.calendly_id}),
    ]


def test_a_plain_form_post_redirects_to_the_webinar(app, login, csrf_token, past):
    response = login.post(
        f"/webinars/{past.id}/attendance",
        data={"recorded": "1", "csrf_token": csrf_token(f"/webinars/{past.id}")},
    )

    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/webinars/{past.id}")
    assert "Attendance is recorded for this webinar." in login.get(f"/webinars/{past.id}").text


def test_the_mark_needs_csrf(app, login, past):
    response = login.post(f"/webinars/{past.id}/attendance", data={"recorded": "1"})
    assert response.status_code == 400
    assert _event(app, past.id).attendance_recorded_at is None


def test_upcoming_webinars_offer_no_mark_and_refuse_it(app, login, htmx, add_webinar):
    upcoming = add_webinar()

    assert "Attendance" not in login.get(f"/webinars/{upcoming.id}").text
    refused = login.post(
        f"/webinars/{upcoming.id}/attendance", data={"recorded": "1"}, headers=htmx
    )

    assert "only be recorded once the webinar has ended" in refused.text
    assert _event(app, upcoming.id).attendance_recorded_at is None
    page = login.get(f"/webinars/{upcoming.id}/attendance/import")
    assert page.status_code == 409 and 'type="file"' not in page.text
    assert _upload(login, upcoming.id, b"Email\na@b.de\n").status_code == 409


def test_a_canceled_webinar_is_refused(app, login, htmx, add_webinar):
    canceled = add_webinar(status="canceled", start_time=clock.now() - timedelta(days=2))
    refused = login.post(
        f"/webinars/{canceled.id}/attendance", data={"recorded": "1"}, headers=htmx
    )
    assert "was canceled" in refused.text
    assert _event(app, canceled.id).attendance_recorded_at is None


def test_a_viewer_sees_the_mark_but_may_not_change_it(app, viewer, past):
    with app.app_context():
        db.session.get(CalendlyEvent, past.id).attendance_recorded_at = clock.now()
        db.session.commit()
    page = viewer.get(f"/webinars/{past.id}").text
    token = _token(page)

    assert "Attendance recorded" in page
    assert "/attendance" not in page and "Import participant list" not in page
    for path in ("attendance", "attendance/import", "attendance/import/confirm"):
        response = viewer.post(f"/webinars/{past.id}/{path}", data={"csrf_token": token})
        assert response.status_code == 403, path
    assert viewer.get(f"/webinars/{past.id}/attendance/import").status_code == 403
    assert _event(app, past.id).attendance_recorded_at is not None


# -- the import's preview -------------------------------------------------------------------------


def test_preview_matches_by_email_ignoring_case(app, login, past):
    listing = (
        "Name (Original Name),User Email,Join Time,Duration (Minutes)\n"
        "Jürgen,JUERGEN.GROSS@EXAMPLE.DE,18:00,60\n"
        "Aylin Demir,aylin@example.de,18:00,60\n"
        "<img src=x onerror=alert(2)>,gast@example.org,18:01,30\n"
    )

    response = _upload(login, past.id, listing.encode("utf-16"))

    html = response.text
    assert response.status_code == 200
    assert "Attended: 1 person" in html and "Did not attend: 1 person" in html
    attended = re.search(r'class="import-people is-attended">(.*?)</ul>', html, re.S)[1]
    missing = re.search(r'class="import-people is-missing">(.*?)</ul>', html, re.S)[1]
    unbooked = re.search(r'class="import-people is-unbooked">(.*?)</ul>', html, re.S)[1]
    assert "Jürgen Groß" in attended
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in missing  # escaped, never markup
    assert "<script>alert" not in html and "<img src=x" not in html
    assert "&lt;img src=x onerror=alert(2)&gt;" in unbooked
    assert "aylin@example.de" in unbooked and "booking canceled" in unbooked  # canceled: apart
    assert "Mark 1 person as a no-show and record attendance" in html
    assert 'name="token"' in html
    # Nothing changes before the confirmation.
    assert _event(app, past.id).attendance_recorded_at is None
    assert _audit(app) == []


def test_preview_as_htmx_part(app, login, past):
    response = _upload(
        login, past.id, b"Email\njuergen.gross@example.de\n", headers={"HX-Request": "true"}
    )
    assert response.status_code == 200
    assert response.text.lstrip().startswith('<div class="attendance-import"')
    assert "Attended: 1 person" in response.text


@pytest.mark.parametrize(
    ("data", "name", "says"),
    [
        (b"", "leer.csv", "The file is empty."),
        (b"PK\x03\x04\x14\x00\x06\x00", "liste.xlsx", "This is not a CSV file."),
        (b"Full Name,User Action,Timestamp\nA,Joined,1\n", "alt.csv", "No email column was found."),
        (b"Name,Email\nA,\n", "ohne.csv", "no email address in it"),
        (b"x" * (2 * 1024 * 1024 + 1), "gross.csv", "larger than 2 MB"),
    ],
)
def test_bad_files_say_what_is_wrong(app, login, past, data, name, says):
    response = _upload(login, past.id, data, name=name)

    assert response.status_code == 422
    assert says in response.text and 'type="file"' in response.text
    assert "Traceback" not in response.text


def test_no_file_chosen(app, login, past):
    token = _token(login.get(f"/webinars/{past.id}/attendance/import").text)
    response = login.post(
        f"/webinars/{past.id}/attendance/import",
        data={"csrf_token": token},
        content_type="multipart/form-data",
    )
    assert response.status_code == 422 and "Choose the participant list" in response.text


def test_a_forged_or_foreign_token_is_refused(app, login, past, add_webinar):
    other = add_webinar(start_time=clock.now() - timedelta(days=3))
    preview = _upload(login, other.id, b"Email\nnobody@example.org\n").text
    foreign = re.search(r'name="token" value="([^"]+)"', preview)[1]
    csrf = _token(preview)

    for token in (foreign, "forged", foreign[:-2] + "xx"):
        response = login.post(
            f"/webinars/{past.id}/attendance/import/confirm",
            data={"csrf_token": csrf, "token": token},
        )
        assert response.status_code == 400
        assert "upload the participant list again" in response.text
    assert _event(app, past.id).attendance_recorded_at is None
    with app.app_context():
        assert not db.session.scalars(
            select(CalendlyEventAttendee).where(CalendlyEventAttendee.no_show.is_(True))
        ).all()


def test_an_old_preview_has_expired(app, login, past, time_machine):
    preview = _upload(login, past.id, b"Email\njuergen.gross@example.de\n").text
    token = re.search(r'name="token" value="([^"]+)"', preview)[1]
    time_machine.move_to(clock.now() + timedelta(minutes=61), tick=False)

    response = login.post(
        f"/webinars/{past.id}/attendance/import/confirm",
        data={"csrf_token": _token(preview), "token": token},
    )

    assert response.status_code == 422 and "has expired" in response.text
    assert _event(app, past.id).attendance_recorded_at is None


def test_the_german_page(app, client, login, past):
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "de"
    page = client.get(f"/webinars/{past.id}").text
    assert "Anwesenheit nicht erfasst" in page and "Teilnehmerliste importieren" in page
    form = client.get(f"/webinars/{past.id}/attendance/import").text
    assert "Vorschau anzeigen" in form
