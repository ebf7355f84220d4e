"""A changed TOKEN_ENCRYPTION_KEY: every screen says, in the admin's language, what happened and
what to do, and "Sync now" starts nothing that could only fail."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from services import settings
from store.database import db
from store.models import SyncRun

HX = {"HX-Request": "true"}
GERMAN = "Der gespeicherte Calendly-Token lässt sich nicht entschlüsseln"
ENGLISH = "The stored Calendly token cannot be decrypted"


@pytest.fixture
def rotated(make_app, calendly_sim):
    """An app whose stored token was encrypted under a key it no longer has."""
    before = make_app(CALENDLY_API_BASE_URL=calendly_sim.base_url)
    with before.app_context():
        settings.save_calendly_token("sim-token")
        settings.save_account(calendly_sim.user)
    return make_app(CALENDLY_API_BASE_URL=calendly_sim.base_url, WTF_CSRF_ENABLED=False)  # new key


@pytest.fixture
def german_admin(rotated, admin_client):
    admin = admin_client(rotated)
    admin.environ_base["HTTP_ACCEPT_LANGUAGE"] = "de"
    return admin


def test_sync_now_starts_no_run_and_says_what_to_do(rotated, german_admin, calendly_sim):
    for headers in (HX, {}):
        response = german_admin.post("/sync", headers=headers, follow_redirects=True)
        assert response.status_code == 200
        assert GERMAN in response.text
        assert "TokenVaultError" not in response.text
    with rotated.app_context():
        assert db.session.scalar(select(func.count()).select_from(SyncRun)) == 0
    assert calendly_sim.request_count == 0


@pytest.mark.parametrize("path", ["/", "/settings", "/sync", "/sync/runs", "/settings/webhooks"])
def test_every_screen_explains_it_in_german(german_admin, path):
    response = german_admin.get(path)
    assert response.status_code == 200
    assert "TokenVaultError" not in response.text
    assert "TOKEN_ENCRYPTION_KEY has changed" not in response.text  # the vault's English
    if path in ("/settings", "/settings/webhooks"):
        assert GERMAN in response.text


def test_the_settings_page_explains_it_in_english(rotated, admin_client):
    page = admin_client(rotated).get("/settings").text
    assert ENGLISH in page
    assert "TOKEN_ENCRYPTION_KEY has changed" not in page
