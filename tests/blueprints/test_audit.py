"""The audit log page ("Protokoll"): admins only, newest first, filtered by admin and action with
htmx, every entry a sentence in the admin's language and time zone, nothing unescaped."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from flask_babel import force_locale

from blueprints.audit import ACTION_LABELS, entry_sentence
from services import accounts
from store.database import db
from store.models import AuditEntry
from store.outcomes import AuditAction

OTHER = "zweite@example.org"
HX = {"HX-Request": "true"}
# Every action with the parameters its code documents (store/outcomes.AuditAction).
SAMPLES = {
    "signed_in": {},
    "signed_out": {},
    "account_created": {"account": 2, "role": "viewer"},
    "account_disabled": {"account": 2},
    "account_enabled": {"account": 2},
    "account_deleted": {"account": 2},
    "role_changed": {"account": 2, "old": "viewer", "new": "admin"},
    "two_factor_changed": {"account": 2, "enabled": True},
    "token_connected": {},
    "token_replaced": {},
    "token_removed": {},
    "setting_changed": {"setting": "sync_lookback_days", "old": 7, "new": 14},
    "sync_started": {"full": False, "run": 5},
    "no_show_marked": {"webinar": "EV1", "invitee": "INV1"},
    "no_show_undone": {"webinar": "EV1", "invitee": "INV1"},
    "webhook_created": {"subscription": "https://api.calendly.com/webhook_subscriptions/W1"},
    "webhook_deleted": {"subscription": "W1"},
    "export_downloaded": {"list": "webinars", "format": "csv", "view": "past", "filtered": False},
    "person_exported": {"person": "P-7f3a", "format": "json"},
    "person_erased": {"person": "P-7f3a", "bookings": 3, "at_calendly": True},
    "retention_run": {"attendees": 40, "webinars": 2, "cutoff": "2024-11-28"},
    "attendance_recorded": {"webinar": "EV1", "attended": 12, "no_shows": 3},
    "attendance_unrecorded": {"webinar": "EV1"},
}


def add(app, action, actor: str | None = None, at: datetime | None = None, **params) -> None:
    with app.app_context():
        db.session.add(
            AuditEntry(
                action=str(action),
                actor_email=actor,
                params=params or None,
                **({"at": at} if at else {}),
            )
        )
        db.session.commit()


def rows(html: str) -> list[str]:
    """The action codes of the listed entries, top to bottom."""
    return re.findall(r'<tr data-action="([a-z_]+)"', html)


@pytest.fixture
def viewer(app, admin_user):
    app.config["PASSWORD_HASH_METHOD"] = "pbkdf2:sha256:1000"
    with app.app_context():
        accounts.create_admin("ansicht@example.org", "a viewer's password", "viewer")
    client = app.test_client()
    token = re.search(r'name="csrf-token" content="([^"]+)"', client.get("/login").text)[1]
    data = {"email": "ansicht@example.org", "password": "a viewer's password", "csrf_token": token}
    assert client.post("/login", data=data).status_code == 303
    return client


def test_the_page_lists_entries_newest_first_in_german_and_is_in_the_nav(app, login, admin_user):
    add(app, AuditAction.SETTING_CHANGED, OTHER, setting="sync_lookback_days", old=7, new=14)
    page = login.get("/audit")
    assert page.status_code == 200
    assert "<h1>Protokoll</h1>" in page.text
    assert 'href="/audit" aria-current="page">Protokoll</a>' in page.text
    # The fixture's account, the login, then the change: newest first.
    assert rows(page.text) == ["setting_changed", "signed_in", "account_created"]
    assert "Einstellung „Rückblick der Synchronisierung (Tage)“ von 7 auf 14 geändert." in page.text
    assert "Angemeldet." in page.text
    assert "Die App" in page.text  # the fixture's account was made by no admin
    assert page.headers["Vary"].count("HX-Request") == 1


def test_filter_by_admin_and_action_as_page_and_as_htmx_partial(app, login, admin_user):
    add(app, AuditAction.SIGNED_IN, OTHER)
    add(app, AuditAction.TOKEN_REMOVED, OTHER)
    page = login.get("/audit", query_string={"actor": OTHER})
    assert rows(page.text) == ["token_removed", "signed_in"]
    assert f'<option value="{OTHER}" selected>' in page.text

    partial = login.get("/audit", query_string={"actor": OTHER, "action": "signed_in"}, headers=HX)
    assert partial.text.lstrip().startswith('<section id="audit-entries"')
    assert "<html" not in partial.text
    assert rows(partial.text) == ["signed_in"]
    assert 'hx-get="/audit"' in partial.text and 'hx-push-url="true"' in partial.text

    mine = login.get("/audit", query_string={"actor": admin_user.email.upper()}, headers=HX)
    assert rows(mine.text) == ["signed_in"]
    none = login.get("/audit", query_string={"actor": OTHER, "action": "role_changed"})
    assert "Keine Einträge passen zu diesem Filter." in none.text
    # An unknown action filters nothing out rather than failing.
    assert len(rows(login.get("/audit?action=%3Cx%3E").text)) == 4


def test_pages_keep_the_filter(app, login):
    for _ in range(55):
        add(app, AuditAction.SIGNED_OUT, OTHER)
    first = login.get("/audit", query_string={"action": "signed_out"})
    assert len(rows(first.text)) == 50
    assert "/audit?page=2&amp;action=signed_out" in first.text
    second = login.get("/audit?page=2&action=signed_out", headers=HX)
    assert rows(second.text) == ["signed_out"] * 5


def test_times_are_in_the_admins_time_zone(app, login):
    add(app, AuditAction.TOKEN_CONNECTED, OTHER, at=datetime(2026, 1, 15, 12, 0, 5, tzinfo=UTC))
    page = login.get("/audit", query_string={"action": "token_connected"}).text
    assert "15.01.2026, 13:00:05" in page  # Europe/Berlin in winter


def test_a_viewer_is_refused_and_does_not_see_the_link(viewer):
    assert viewer.get("/audit").status_code == 403
    assert 'href="/audit"' not in viewer.get("/").text


def test_signing_in_comes_first(client):
    response = client.get("/audit")
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


def test_entries_are_escaped(app, login):
    script = "<script>alert(1)</script>"
    add(app, AuditAction.SETTING_CHANGED, f"{script}@x.org", setting=script, old=script, new="n")
    add(app, AuditAction.WEBHOOK_CREATED, None, subscription='"><img src=x onerror=alert(1)>')
    page = login.get("/audit").text
    assert script not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;@x.org" in page
    assert "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;" in page


@pytest.mark.parametrize("language", ["en", "de"])
def test_every_action_is_a_sentence_in_both_languages(app, language):
    assert set(SAMPLES) == set(AuditAction) == set(ACTION_LABELS)
    with app.test_request_context(), force_locale(language):
        for code, params in SAMPLES.items():
            sentence = entry_sentence(AuditEntry(action=code, params=params or None))
            assert sentence and code not in sentence and "%(" not in sentence, (code, sentence)
            # Sentences of an older entry lacking a parameter still read.
            assert entry_sentence(AuditEntry(action=code, params=None))


def test_sentences_of_the_other_helpers_actions(app):
    with app.test_request_context(), force_locale("en"):
        said = {
            code: entry_sentence(AuditEntry(action=code, params=p)) for code, p in SAMPLES.items()
        }
    assert said["person_erased"] == (
        "Erased the data of person P-7f3a (3 bookings), in Calendly too."
    )
    assert said["retention_run"] == (
        "Retention: removed the personal data of 40 attendees of 2 webinars from before "
        "Nov 28, 2024."
    )
    assert said["attendance_recorded"] == (
        "Recorded the attendance of webinar EV1: 12 attended, 3 no-shows."
    )
    assert said["person_exported"] == "Exported the data of person P-7f3a as JSON."
    with app.test_request_context(), force_locale("en"):
        for at_calendly, ending in [
            ("requested", ", in Calendly too."),
            ("refused_plan", "; Calendly did not erase it."),
            ("failed", "; Calendly did not erase it."),
            ("not_asked", "."),
        ]:
            params = {"person": "P-1", "bookings": 2, "at_calendly": at_calendly}
            sentence = entry_sentence(AuditEntry(action="person_erased", params=params))
            assert sentence == "Erased the data of person P-1 (2 bookings)" + ending
    assert said["role_changed"] == "Changed the role of account #2 from Viewer to Admin."


def test_a_webinar_named_by_an_entry_links_to_its_page(app, login, add_webinar):
    event = add_webinar(name="Infowebinar März")
    add(app, AuditAction.NO_SHOW_MARKED, OTHER, webinar=event.calendly_id, invitee="INV1")
    page = login.get("/audit").text
    assert f'<a href="/webinars/{event.id}">Infowebinar März</a>' in page


def test_downloads_record_which_list_and_format_without_attendee_data(
    app, login, admin_user, add_webinar, add_attendee
):
    from tests.services.audit_log import logged, whole_log

    event = add_webinar()
    add_attendee(event, name="Erika Mustermann", email="erika@example.org")
    assert login.get(f"/webinars/{event.id}/attendees.csv").status_code == 200
    assert login.get(f"/webinars/{event.id}/attendees.xlsx").status_code == 200
    assert login.get("/webinars.csv", query_string={"view": "past"}).status_code == 200
    filtered = {"type": "https://api.calendly.com/event_types/INFO"}
    assert login.get("/webinars.xlsx", query_string=filtered).status_code == 200
    assert logged(app, AuditAction.EXPORT_DOWNLOADED) == [
        (
            "export_downloaded",
            admin_user.email,
            {"list": "webinar", "format": "csv", "webinar": event.calendly_id},
        ),
        (
            "export_downloaded",
            admin_user.email,
            {"list": "webinar", "format": "xlsx", "webinar": event.calendly_id},
        ),
        (
            "export_downloaded",
            admin_user.email,
            {"list": "webinars", "format": "csv", "view": "past", "filtered": False},
        ),
        (
            "export_downloaded",
            admin_user.email,
            {"list": "webinars", "format": "xlsx", "view": "upcoming", "filtered": True},
        ),
    ]
    assert "erika" not in whole_log(app).lower() and "Mustermann" not in whole_log(app)
    page = login.get("/audit", query_string={"action": "export_downloaded"}).text
    assert "Teilnehmende des Reiters „Vergangen“ als CSV heruntergeladen." in page
