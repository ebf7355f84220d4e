"""The Settings page: token verification and storage, token health, event types, preferences."""

import json
import logging
import re
import time

import pytest
from werkzeug import Response

from services import settings
from store.database import db
from store.models import Setting

# Long enough that finding it in a page cannot be a coincidence, and not the masked suffix.
GOOD_TOKEN = "pat-eyJraWQiOiIxY2UxZTEzNjE3ZGNmNzY2YjNjZWJjY2Y4ZGM1YmFmYThhNjVlNjg0MDIzZjdjMzJi"
HX = {"HX-Request": "true"}


# The simulator answers only to GOOD_TOKEN; pages in English (the shared `login` fixture signs
# the client in).
pytestmark = [pytest.mark.sim_account(token=GOOD_TOKEN), pytest.mark.language("en")]


@pytest.fixture
def app(make_app, calendly_sim):
    """An app with no token and no event type choice yet whose Calendly is the simulator (CSRF
    checked in its own test)."""
    return make_app(
        event_types=None, CALENDLY_API_BASE_URL=calendly_sim.base_url, WTF_CSRF_ENABLED=False
    )


def setting(app, key):
    with app.app_context():
        return settings.get_setting(key)


def checked_uris(html):
    return set(re.findall(r'name="event_types" value="([^"]+)" checked', html))


def test_without_token_the_page_asks_for_one(login):
    response = login.get("/settings")
    assert response.status_code == 200
    html = response.text
    assert 'name="token"' in html
    assert 'type="password"' in html
    assert "https://calendly.com/integrations/api_webhooks" in html
    assert "Token health" not in html
    assert 'name="event_types"' not in html


def test_bad_token_is_refused_with_calendlys_message_and_advice(login, app):
    response = login.post("/settings/token", data={"token": "not-a-valid-token-9999"})
    assert response.status_code == 422
    html = response.text
    # Calendly's words only as an English detail; the advice is to paste a new token here,
    # with the token page as a real link, not to go to Settings (this page).
    assert '<span lang="en">The access token is invalid</span>' in html
    assert (
        'Create a new Personal Access Token on <a href="https://calendly.com/integrations/'
        'api_webhooks" target="_blank" rel="noopener noreferrer">Calendly&#39;s API page</a> '
        "and paste it here."
    ) in html
    assert "save it in Settings" not in html and "Calendly connection</a>" not in html
    assert "Calendly API error" not in html
    assert "not-a-valid-token-9999" not in html
    assert setting(app, settings.TOKEN_KEY) is None

    partial = login.post("/settings/token", data={"token": "not-a-valid-token-9999"}, headers=HX)
    assert partial.status_code == 200  # htmx swaps the section with its errors
    assert partial.text.lstrip().startswith("<section")
    assert 'id="calendly-settings"' in partial.text
    assert "The access token is invalid" in partial.text


def test_empty_token_is_a_field_error(login):
    response = login.post("/settings/token", data={"token": "   "})
    assert response.status_code == 422
    assert "Paste the token." in response.text


def test_good_token_is_verified_stored_encrypted_and_only_its_last_four_shown(
    login, app, calendly_sim
):
    response = login.post("/settings/token", data={"token": GOOD_TOKEN})
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/settings")

    page = login.get("/settings").text
    assert "Token saved. Connected to Calendly as Katrin Böhm." in page
    assert f"••••{GOOD_TOKEN[-4:]}" in page
    assert calendly_sim.user["name"] in page
    assert calendly_sim.user["email"] in page
    assert calendly_sim.user["current_organization"] not in page  # an API address, no name
    assert calendly_sim.user["scheduling_url"] in page
    assert "The token works" in page
    for event_type in calendly_sim.event_types:
        assert event_type["uri"] in page
    assert GOOD_TOKEN not in page

    with app.app_context():
        row = db.session.get(Setting, settings.TOKEN_KEY)
        assert GOOD_TOKEN not in json.dumps(row.value)
        assert settings.calendly_token() == GOOD_TOKEN
        assert settings.account()["user_uri"] == calendly_sim.user["uri"]


def wait_for_runs(app) -> list:
    """Every sync run, once none is running (each is a background thread of this test)."""
    from store.models import SyncRun

    for _ in range(600):
        with app.app_context():
            runs = db.session.scalars(db.select(SyncRun).order_by(SyncRun.id)).all()
            if not any(run.is_running for run in runs):
                return [(run.trigger, run.status, run.outcome) for run in runs]
        time.sleep(0.05)
    pytest.fail("the sync did not finish")


def test_nothing_is_preselected_and_the_first_choice_starts_the_first_sync(
    login, app, calendly_sim
):
    login.post("/settings/token", data={"token": GOOD_TOKEN})
    page = login.get("/settings").text
    assert checked_uris(page) == set()
    assert 'name="all_types" value="y" checked' not in page
    assert "Nothing is synced until you save a choice" in page
    assert setting(app, settings.EVENT_TYPES_KEY) is None
    with app.app_context():
        assert settings.sync_event_types() is None
    assert wait_for_runs(app) == []  # connecting alone copies nothing

    # Nothing ticked is no choice.
    refused = login.post("/settings/event-types", data={}, headers=HX)
    assert "Tick at least one event type, or all event types." in refused.text
    assert setting(app, settings.EVENT_TYPES_KEY) is None

    chosen = [
        calendly_sim.event_type_uri("Einzelberatung"),
        calendly_sim.event_type_uri("TLr - Infowebinar"),
    ]
    response = login.post("/settings/event-types", data={"event_types": chosen}, headers=HX)
    assert response.status_code == 200
    assert "Event type choice saved. The first sync has started" in response.text
    assert checked_uris(response.text) == set(chosen)
    assert setting(app, settings.EVENT_TYPES_KEY) == chosen
    with app.app_context():
        assert settings.sync_event_types() == chosen
    assert wait_for_runs(app) == [("connected", "succeeded", None)]

    # A later change is only saved; the next sync follows it.
    response = login.post("/settings/event-types", data={"all_types": "y"}, headers=HX)
    assert "The first sync" not in response.text
    assert 'name="all_types" value="y" checked' in response.text
    assert checked_uris(response.text) == set()
    assert setting(app, settings.EVENT_TYPES_KEY) == ["*"]
    assert len(wait_for_runs(app)) == 1


def test_calendly_event_types_in_the_environment_are_the_choice(make_app, calendly_sim):
    wanted = calendly_sim.event_type_uri("TLr - Infowebinar")
    app = make_app(
        event_types=None,
        CALENDLY_API_BASE_URL=calendly_sim.base_url,
        CALENDLY_TOKEN=GOOD_TOKEN,
        CALENDLY_EVENT_TYPES=wanted,
    )
    with app.app_context():
        assert settings.event_types_chosen()
        assert settings.sync_event_types() == [wanted]


def test_an_unknown_event_type_is_refused(login, app):
    login.post("/settings/token", data={"token": GOOD_TOKEN})
    before = setting(app, settings.EVENT_TYPES_KEY)
    response = login.post(
        "/settings/event-types", data={"event_types": ["https://api.calendly.com/event_types/X"]}
    )
    assert response.status_code == 422
    assert "field-errors" in response.text
    assert setting(app, settings.EVENT_TYPES_KEY) == before


def test_replace_and_remove(login, app, calendly_sim):
    login.post("/settings/token", data={"token": GOOD_TOKEN})
    page = login.get("/settings").text
    assert "Replace" in page and "Remove" in page

    refused = login.post("/settings/token", data={"token": "wrong-token-abcd"}, headers=HX)
    assert "The access token is invalid" in refused.text
    assert f"••••{GOOD_TOKEN[-4:]}" in refused.text  # the stored token is untouched

    removed = login.post("/settings/token/remove", headers=HX)
    assert removed.status_code == 200
    assert "Token removed." in removed.text
    assert 'name="token"' in removed.text
    assert "••••" not in removed.text
    assert setting(app, settings.TOKEN_KEY) is None


def test_a_token_from_the_environment_cannot_be_replaced_or_removed(
    make_app, calendly_sim, admin_client
):
    app = make_app(
        CALENDLY_API_BASE_URL=calendly_sim.base_url,
        CALENDLY_TOKEN=GOOD_TOKEN,
        WTF_CSRF_ENABLED=False,
    )
    admin = admin_client(app)
    page = admin.get("/settings").text
    assert "CALENDLY_TOKEN" in page
    assert f"••••{GOOD_TOKEN[-4:]}" in page
    assert re.search(r"<button type=\"button\" disabled>\s*Replace", page)
    assert re.search(r"<button type=\"button\" disabled>\s*Remove", page)
    assert 'name="token"' not in page
    assert calendly_sim.user["name"] in page
    assert GOOD_TOKEN not in page

    assert admin.post("/settings/token/remove").status_code == 409
    assert admin.post("/settings/token", data={"token": "other-token-1234"}).status_code == 409
    with app.app_context():
        assert settings.calendly_token() == GOOD_TOKEN


def test_revoked_token_health_shows_the_error_advice_and_last_verified(login, calendly_sim):
    login.post("/settings/token", data={"token": GOOD_TOKEN})
    calendly_sim.revoke_token()
    page = login.get("/settings").text
    assert "The access token is invalid" in page
    assert "https://calendly.com/integrations/api_webhooks" in page
    assert "Last verified" in page
    assert 'class="verified-at">never' not in page
    assert "The token works" not in page


@pytest.fixture
def scoped_calendly(httpserver, calendly_sim):
    """A Calendly whose token may read the user but lacks the event scopes."""
    user = calendly_sim.user

    def insufficient(scope):
        body = {
            "title": "Insufficient scope",
            "message": "This operation requires the scopes listed in the 'required_scopes' array.",
            "required_scopes": [scope],
        }
        return Response(json.dumps(body), status=403, content_type="application/json")

    httpserver.expect_request("/users/me").respond_with_json({"resource": user})
    httpserver.expect_request("/event_types").respond_with_response(
        insufficient("event_types:read")
    )
    httpserver.expect_request("/scheduled_events").respond_with_response(
        insufficient("scheduled_events:read")
    )
    return httpserver


def test_insufficient_scope_lists_the_missing_scopes(make_app, scoped_calendly, admin_client):
    app = make_app(
        CALENDLY_API_BASE_URL=scoped_calendly.url_for("").rstrip("/"), WTF_CSRF_ENABLED=False
    )
    admin = admin_client(app)
    admin.post("/settings/token", data={"token": GOOD_TOKEN})
    page = admin.get("/settings").text
    assert "The Calendly token lacks the permission (scope) event_types:read." in page
    assert "required_scopes" not in page  # Calendly's words point at JSON nobody sees
    assert '<code class="scope">event_types:read</code>' in page
    assert '<code class="scope">scheduled_events:read</code>' in page
    assert "The token works" not in page
    assert 'name="event_types"' not in page


def test_a_token_without_users_read_is_refused_with_the_missing_scope(
    make_app, httpserver, admin_client
):
    body = {
        "title": "Insufficient scope",
        "message": "This operation requires the scopes listed in the 'required_scopes' array.",
        "required_scopes": ["users:read"],
    }
    httpserver.expect_request("/users/me").respond_with_json(body, status=403)
    app = make_app(CALENDLY_API_BASE_URL=httpserver.url_for("").rstrip("/"), WTF_CSRF_ENABLED=False)
    admin = admin_client(app)
    response = admin.post("/settings/token", data={"token": GOOD_TOKEN})
    assert response.status_code == 422
    assert '<code class="scope">users:read</code>' in response.text
    assert setting(app, settings.TOKEN_KEY) is None


def test_the_token_never_reaches_the_log(login, caplog):
    caplog.set_level(logging.DEBUG)
    login.post("/settings/token", data={"token": GOOD_TOKEN})
    login.get("/settings")
    login.post("/settings/token", data={"token": GOOD_TOKEN[:-1] + "X"})
    assert "Calendly token saved" in caplog.text
    assert GOOD_TOKEN not in caplog.text
    assert GOOD_TOKEN[:-1] not in caplog.text


def test_preferences_are_validated_next_to_their_fields(login, app):
    response = login.post(
        "/settings/preferences",
        data={
            "display_timezone": "Mars/Olympus_Mons",
            "lookback_days": "0",
            "daily_time": "25:00",
            "interval_minutes": "3",
        },
    )
    assert response.status_code == 422
    html = response.text
    assert 'id="display_timezone-errors"' in html and "Unknown time zone" in html
    assert 'id="lookback_days-errors"' in html and "from 1 to 365" in html
    assert 'id="daily_time-errors"' in html
    assert 'id="interval_minutes-errors"' in html and "from 5 to 1440" in html
    assert 'value="Mars/Olympus_Mons"' in html  # the input is kept for correcting
    with app.app_context():
        assert settings.display_timezone() == "Europe/Berlin"
        assert settings.lookback_days() == 14
        assert settings.sync_schedule() == {"daily_time": "06:00", "interval_minutes": 0}


def test_preferences_take_effect_at_once(login, app):
    page = login.get("/settings").text
    assert 'value="Europe/Berlin"' in page
    assert 'value="06:00"' in page

    data = {
        "display_timezone": "America/New_York",
        "lookback_days": "30",
        "daily_time": "07:30",
        "interval_minutes": "15",
    }
    response = login.post("/settings/preferences", data=data, headers=HX)
    assert response.status_code == 200
    assert response.text.lstrip().startswith("<section")
    assert 'id="preferences"' in response.text
    assert "Settings saved." in response.text
    with app.app_context():
        assert settings.display_timezone() == "America/New_York"
        assert settings.lookback_days() == 30
        assert settings.sync_schedule() == {"daily_time": "07:30", "interval_minutes": 0 + 15}

    response = login.post("/settings/preferences", data={**data, "interval_minutes": "0"})
    assert response.status_code == 303
    with app.app_context():
        assert settings.sync_schedule()["interval_minutes"] == 0


def test_forms_need_the_csrf_token(make_app, calendly_sim, admin_client):
    app = make_app(CALENDLY_API_BASE_URL=calendly_sim.base_url)
    admin = admin_client(app)
    page = admin.get("/settings").text
    assert 'name="csrf_token"' in page
    assert admin.post("/settings/token", data={"token": GOOD_TOKEN}).status_code == 400
    assert admin.post("/settings/preferences", data={}).status_code == 400
    assert setting(app, settings.TOKEN_KEY) is None


def test_settings_need_a_login(client):
    response = client.get("/settings")
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]
    assert client.post("/settings/token", data={"token": GOOD_TOKEN}).status_code in (302, 401)


def test_the_page_works_while_a_sync_writes(make_app, calendly_sim, admin_client):
    from mirror.sync import running_run

    app = make_app(CALENDLY_API_BASE_URL=calendly_sim.base_url, WTF_CSRF_ENABLED=False)
    admin = admin_client(app)
    admin.post("/settings/token", data={"token": GOOD_TOKEN})

    def running():
        with app.app_context():
            return running_run() is not None

    # The first choice starts the first sync; all types make it a longer one.
    admin.post("/settings/event-types", data={"all_types": "y"})
    pages = 0
    while running():
        assert admin.get("/settings").status_code == 200
        assert admin.post("/settings/event-types", data={"all_types": "y"}).status_code == 303
        pages += 1
    assert pages > 0


def test_a_token_stored_under_another_key_asks_to_enter_it_again(
    app, login, make_app, calendly_sim, admin_client
):
    login.post("/settings/token", data={"token": GOOD_TOKEN})
    rotated = make_app(
        CALENDLY_API_BASE_URL=calendly_sim.base_url, WTF_CSRF_ENABLED=False
    )  # new key
    admin = admin_client(rotated)
    response = admin.get("/settings")
    assert response.status_code == 200
    assert "cannot be decrypted" in response.text
    assert f"••••{GOOD_TOKEN[-4:]}" in response.text
    assert "Replace" in response.text and "Remove" in response.text
    assert admin.post("/settings/token", data={"token": GOOD_TOKEN}).status_code == 303
    assert "The token works" in admin.get("/settings").text
