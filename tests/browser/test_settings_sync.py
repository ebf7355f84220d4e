"""Settings and Sync now in a real browser (Playwright driving Debian's Chromium)."""

import os
import shutil
import threading

import pytest
from playwright.sync_api import expect
from werkzeug.serving import make_server

import accounts

pytestmark = pytest.mark.browser

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
EMAIL = "browser@example.org"
PASSWORD = "correct horse battery"
GOOD_TOKEN = "pat-browser-3f9c1d0e7a5b42c8b6e1f0a9d8c7b6a5e4d3c2b1a0f9e8d7"


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    """Debian's Chromium: `playwright install` cannot download browsers here."""
    if not shutil.which(CHROMIUM) and not os.environ.get("CI"):
        pytest.skip("Debian chromium not installed (apt-get install -y chromium)")
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_ARGS}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    return {**browser_context_args, "locale": "en-US"}


def serve(app):
    """Serve `app` on a free port in a thread; returns (base URL, server)."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_port}", server


@pytest.fixture
def live(make_app, calendly_sim):
    """`live(**config)`: the app (CSRF on) served over HTTP with an admin; yields its base URL."""
    servers = []

    def start(**config):
        app = make_app(CALENDLY_API_BASE_URL=calendly_sim.base_url, **config)
        app.config["PASSWORD_HASH_METHOD"] = "pbkdf2:sha256:1000"
        with app.app_context():
            accounts.create_admin(EMAIL, PASSWORD)
        base_url, server = serve(app)
        servers.append((app, server))
        return base_url

    yield start
    for app, server in servers:
        server.shutdown()
        with app.app_context():
            from calendly.sync import running_run

            while running_run() is not None:  # never drop the tables under a running sync
                threading.Event().wait(0.05)


def sign_in(page, base_url, then="/"):
    page.goto(f"{base_url}/login?next={then}")
    page.fill("input[name=email]", EMAIL)
    page.fill("input[name=password]", PASSWORD)
    page.click("main form button[type=submit]")
    page.wait_for_url(f"{base_url}{then}")


def test_settings_refuse_a_bad_token_then_connect_a_good_one(page, live, calendly_sim):
    calendly_sim.token = GOOD_TOKEN
    base_url = live()
    sign_in(page, base_url, "/settings")
    section = page.locator("#calendly-settings")

    page.fill("#token", "not-a-valid-token-0000")
    page.get_by_role("button", name="Verify and save").click()
    expect(section.locator(".field-error")).to_contain_text("The access token is invalid")
    expect(section.locator(".field-error")).to_contain_text(
        "https://calendly.com/integrations/api_webhooks"
    )
    expect(section.locator(".token-mask")).to_have_count(0)

    page.fill("#token", GOOD_TOKEN)
    page.get_by_role("button", name="Verify and save").click()
    expect(section.locator(".notice-success").first).to_contain_text("Token saved")
    expect(section.locator(".token-mask")).to_have_text(f"••••{GOOD_TOKEN[-4:]}")
    expect(section.locator(".account")).to_contain_text(calendly_sim.user["name"])
    expect(section.locator(".account")).to_contain_text(calendly_sim.user["email"])
    expect(section.locator(".organization")).to_have_text(calendly_sim.user["current_organization"])
    checkboxes = section.locator("#event-types input[type=checkbox]")
    expect(checkboxes).to_have_count(len(calendly_sim.event_types))
    expect(page.get_by_label("TLr - Infowebinar", exact=True)).to_be_checked()
    expect(page.get_by_label("Einzelberatung")).not_to_be_checked()

    page.get_by_label("Einzelberatung").check()
    page.get_by_label("TLr - Infowebinar (English)").uncheck()
    page.get_by_role("button", name="Save choice").click()
    expect(section.locator(".notice-success").first).to_contain_text("Event type choice saved.")

    page.reload()
    expect(page.get_by_label("Einzelberatung")).to_be_checked()
    expect(page.get_by_label("TLr - Infowebinar", exact=True)).to_be_checked()
    expect(page.get_by_label("TLr - Infowebinar (English)")).not_to_be_checked()
    assert GOOD_TOKEN not in page.content()


def test_sync_now_shows_progress_and_the_list_refreshes_itself(page, live, calendly_sim):
    base_url = live(CALENDLY_TOKEN="sim-token", CALENDLY_EVENT_TYPES="TLr - Infowebinar")
    sign_in(page, base_url)
    rows = page.locator("#webinar-list .webinar-name")
    expect(rows).to_have_count(0)
    page.evaluate("window.notReloaded = true")

    calendly_sim.inject("slow", times=5, delay=0.3)
    page.get_by_role("button", name="Sync now").click()
    panel = page.locator("#sync-panel")
    expect(panel.locator(".sync-progress")).to_be_visible()
    expect(panel.locator(".sync-counts")).to_contain_text("processed so far")

    expect(panel.locator(".sync-message")).to_contain_text("Sync finished", timeout=20_000)
    expect(panel.locator(".sync-progress")).to_have_count(0)
    expect(panel.locator(".status")).to_have_text("Succeeded")
    expect(rows.first).to_be_visible()
    assert rows.count() > 0
    assert page.evaluate("window.notReloaded") is True  # htmx swapped, no page load

    # A second click while a sync runs starts nothing.
    calendly_sim.inject("slow", times=3, delay=0.5)
    page.get_by_role("button", name="Sync now").click()
    expect(panel.locator(".sync-progress")).to_be_visible()
    page.get_by_role("button", name="Sync now").click()
    expect(panel.locator(".sync-message")).to_contain_text("A sync is already running")
    expect(panel.locator(".sync-message")).to_contain_text("Sync finished", timeout=20_000)
