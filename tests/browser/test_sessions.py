"""Sessions in a real browser: leaving demo mode as a new user would, and signing in with a
second factor (the QR code is a data: image the CSP allows)."""

import re
import threading

import pyotp
import pytest
from playwright.sync_api import expect
from werkzeug.serving import make_server

from devtools import demo


@pytest.fixture
def demo_server(make_app, tmp_path, calendly_sim):
    """Demo mode behind a live server; calendly_sim plays the real Calendly."""
    credentials = tmp_path / "demo-credentials.txt"
    app = make_app(
        DEMO_MODE=True,
        DEMO_CREDENTIALS_PATH=str(credentials),
        CALENDLY_API_BASE_URL=calendly_sim.base_url,
    )
    assert demo.init_demo(app)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", credentials
    server.shutdown()
    thread.join(timeout=5)
    with app.app_context():
        demo.leave_demo(app)


def _sign_in(page, url, email, password):
    page.goto(url + "/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", password)
    page.click("main form button[type=submit]")


def test_a_new_user_leaves_demo_mode_with_their_own_login(strict_page, demo_server):
    page = strict_page
    url, credentials = demo_server
    login = dict(line.split(": ", 1) for line in credentials.read_text().splitlines())
    _sign_in(page, url, login["email"], login["password"])
    page.wait_for_url(url + "/")
    expect(page.locator(".demo-banner")).to_be_visible()

    page.goto(url + "/settings")
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


def test_two_factor_set_up_and_sign_in(signed_in):
    page, server = signed_in
    page.locator(".account-menu summary").click()
    page.locator(".account-menu").get_by_role("link").first.click()
    page.wait_for_url(server("/account"))
    page.get_by_role("button", name="Einrichten").click()
    qr = page.locator("img.qr")
    expect(qr).to_be_visible()
    assert qr.evaluate("img => img.naturalWidth") > 0  # the data: SVG rendered under the CSP
    secret = re.sub(r"\s", "", page.locator(".totp-secret").inner_text())
    page.fill("input[name=code]", pyotp.TOTP(secret).now())
    page.get_by_role("button", name="Einschalten").click()
    expect(page.locator(".recovery-code")).to_have_count(10)
    code = page.locator(".recovery-code").first.inner_text()

    page.get_by_role("button", name="Abmelden", exact=True).click()
    page.wait_for_url(server("/login"))
    _sign_in(page, server(""), "team@example.org", "correct horse battery")
    page.wait_for_url(server("/login/code"))
    page.fill("input[name=code]", code)
    page.click("main form button[type=submit]")
    page.wait_for_url(server("/"))
