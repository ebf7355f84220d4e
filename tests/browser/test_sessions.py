"""Signing in with a second factor in a real browser (the QR code is a data: image the CSP
allows)."""

import re

import pyotp
from playwright.sync_api import expect


def _fill_login(page, url, email, password):
    page.goto(url + "/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", password)
    page.click("main form button[type=submit]")


def test_two_factor_set_up_and_sign_in(admin_page, live_server):
    page, server = admin_page, live_server
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
    _fill_login(page, server(""), server.email, server.password)
    page.wait_for_url(server("/login/code"))
    page.fill("input[name=code]", code)
    page.click("main form button[type=submit]")
    page.wait_for_url(server("/"))
