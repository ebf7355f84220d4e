"""Leaving demo mode in a real browser, as a new user would: the demo login ends and the
admin who connected the token signs in with their own."""

from pathlib import Path

import pytest
from playwright.sync_api import expect

from devtools import demo


@pytest.fixture
def app(make_app, tmp_path, calendly_sim):
    """Demo mode; calendly_sim plays the real Calendly at the configured address."""
    app = make_app(
        event_types=None,  # the demo chooses its own, as on a fresh clone
        DEMO_MODE=True,
        DEMO_CREDENTIALS_PATH=str(tmp_path / "demo-credentials.txt"),
        CALENDLY_API_BASE_URL=calendly_sim.base_url,
    )
    assert demo.init_demo(app)
    yield app
    with app.app_context():
        demo.leave_demo(app)


def _sign_in(page, url, email, password):
    page.goto(url + "/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", password)
    page.click("main form button[type=submit]")


def test_a_new_user_leaves_demo_mode_with_their_own_login(strict_page, app, live_server):
    page = strict_page
    url, credentials = live_server.url, Path(app.config["DEMO_CREDENTIALS_PATH"])
    login = dict(line.split(": ", 1) for line in credentials.read_text().splitlines())
    _sign_in(page, url, login["email"], login["password"])
    page.wait_for_url(url + "/")
    expect(page.locator(".demo-banner")).to_be_visible()

    # The event type picker can be tried: the demo's choice is ticked, and a change is saved.
    page.goto(url + "/settings")
    picker = page.locator("#event-type-choice")
    expect(picker.locator("fieldset")).to_be_enabled()
    expect(picker).not_to_contain_text("CALENDLY_EVENT_TYPES")
    expect(picker.get_by_label("TLr - Infowebinar", exact=True)).to_be_checked()
    expect(picker.get_by_label("Einzelberatung")).not_to_be_checked()
    picker.get_by_label("Einzelberatung").check()
    picker.get_by_role("button", name="Auswahl speichern").click()
    expect(page.locator("#calendly-settings [role=status].flash-success")).to_contain_text(
        "Auswahl der Ereignistypen gespeichert."
    )
    expect(picker.get_by_label("Einzelberatung")).to_be_checked()

    page.fill("#token", "sim-token")
    page.get_by_role("button", name="Prüfen und speichern").click()
    page.wait_for_url(url + "/account/claim")
    assert not credentials.exists()
    page.get_by_label("E-Mail").fill("leitung@schule.example")
    page.get_by_label("Passwort", exact=True).fill("unser eigenes Passwort")
    page.get_by_label("Passwort wiederholen").fill("unser eigenes Passwort")
    page.get_by_role("button", name="Speichern").click()
    page.wait_for_url(url + "/")
    expect(page.locator(".demo-banner")).to_have_count(0)

    page.get_by_role("button", name="Abmelden", exact=True).click()
    _sign_in(page, url, login["email"], login["password"])
    expect(page.locator(".form-error")).to_contain_text("E-Mail-Adresse oder Passwort")
