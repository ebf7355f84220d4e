"""The dashboard's banner of open incidents (services/alerts.py), for admins, in German and
English, linking to the page that fixes each, until it is over; and the account's language,
which the header's switch sets and the alert emails follow."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from services import accounts
from store import clock
from store.database import db
from store.models import AdminUser, Incident, SyncRun
from store.outcomes import RunProblem, SyncStatus
from tests.conftest import ADMIN_PASSWORD, TEST_PASSWORD_HASH, _insert, _page_csrf_token

HX = {"HX-Request": "true"}


@pytest.fixture
def app(make_app):
    """An app with a token (trouble is watched only once one is connected)."""
    return make_app(CALENDLY_TOKEN="a-token")


def add_run(app, status: str, outcome: str | None = None, hours_ago: float = 0.0) -> None:
    started = clock.now() - timedelta(hours=hours_ago, minutes=1)
    _insert(app, SyncRun(trigger="scheduler", status=status, outcome=outcome,
                         outcome_params={}, started_at=started,
                         finished_at=started + timedelta(seconds=30)))  # fmt: skip


def open_kinds(app) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(select(Incident.kind).where(Incident.ended_at.is_(None))))


def test_the_banner_shows_an_open_incident_until_it_is_over(app, login):
    add_run(app, SyncStatus.FAILED, RunProblem.TOKEN_REFUSED)
    page = login.get("/").get_data(as_text=True)
    assert 'id="alerts"' in page
    assert "Calendly lehnt den Token ab." in page
    assert "401 Unauthorized" in page
    assert '<a href="/settings">Einstellungen öffnen und einen Token einfügen</a>' in page
    assert open_kinds(app) == ["token_refused"]

    add_run(app, SyncStatus.SUCCEEDED)  # a new token was pasted and a sync worked
    page = login.get("/").get_data(as_text=True)
    assert 'id="alerts"' not in page
    assert open_kinds(app) == []


@pytest.mark.language("en")
def test_the_banner_in_english_links_to_the_sync_history(app, login):
    add_run(app, SyncStatus.SUCCEEDED, hours_ago=30)
    page = login.get("/").get_data(as_text=True)
    assert "No sync has succeeded for 26 hours." in page
    assert '<a href="/sync/runs">Open the sync history</a>' in page


@pytest.mark.language("en")
def test_the_banner_escapes_what_it_shows(app, login):
    _insert(app, Incident(kind="webhook_disabled", open_kind="webhook_disabled",
                          params={"callback_url": "https://x.example/<b>hook</b>"}))  # fmt: skip
    with app.app_context():
        from services import settings
        from services import webhook_subscriptions as hooks

        # The stored webhook health says so too, so the check leaves the incident open.
        disabled = [{"uuid": "S1", "callback_url": "https://x.example/<b>hook</b>"}]
        settings.set_setting(hooks.HEALTH_KEY, {"checked_at": clock.now().isoformat(),
                                                "disabled": disabled})  # fmt: skip
    page = login.get("/").get_data(as_text=True)
    assert "https://x.example/&lt;b&gt;hook&lt;/b&gt;" in page
    assert "<b>hook</b>" not in page
    assert '<a href="/settings/webhooks">Open the webhook settings</a>' in page


def test_no_banner_without_trouble_nor_in_the_htmx_list(app, login):
    assert 'id="alerts"' not in login.get("/").get_data(as_text=True)
    add_run(app, SyncStatus.FAILED, RunProblem.TOKEN_REFUSED)
    assert 'id="alerts"' not in login.get("/", headers=HX).get_data(as_text=True)


def test_viewers_see_no_banner(app, client, admin_user):
    add_run(app, SyncStatus.FAILED, RunProblem.TOKEN_REFUSED)
    with app.app_context():
        accounts.create_admin("viewer@example.org", ADMIN_PASSWORD, "viewer")
    token = _page_csrf_token(client.get("/login").get_data(as_text=True))
    client.post("/login", data={"email": "viewer@example.org", "password": ADMIN_PASSWORD,
                                "csrf_token": token})  # fmt: skip
    page = client.get("/").get_data(as_text=True)
    assert "Info-Webinare" in page and 'id="alerts"' not in page
    assert open_kinds(app) == []  # a viewer's page does not even look


def test_the_language_switch_is_kept_with_the_account(app, login, admin_user, csrf_token):
    token = csrf_token("/")
    login.post("/language", data={"lang": "en", "next": "/", "csrf_token": token})
    with app.app_context():
        assert db.session.scalar(select(AdminUser.language)) == "en"

    # Another browser, which prefers German: after signing in, the account's English.
    other = app.test_client()
    other.environ_base["HTTP_ACCEPT_LANGUAGE"] = "de"
    app.config["PASSWORD_HASH_METHOD"] = TEST_PASSWORD_HASH
    token = _page_csrf_token(other.get("/login").get_data(as_text=True))
    assert 'lang="de"' in other.get("/login").get_data(as_text=True)
    form = {"email": admin_user.email, "password": admin_user.password, "csrf_token": token}
    response = other.post("/login", data=form)
    assert response.status_code == 303
    assert '<html lang="en">' in other.get("/").get_data(as_text=True)


def test_switching_before_signing_in_changes_no_account(app, client, admin_user, csrf_token):
    client.post("/language", data={"lang": "en", "next": "/login", "csrf_token": csrf_token()})
    with app.app_context():
        assert db.session.scalar(select(AdminUser.language)) is None
