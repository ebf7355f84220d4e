"""Erasing a person in a real browser: from the person page through the confirmation (the
email typed again) to the search, with the person gone from every webinar."""

import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

EMAIL = "aylin.demir@example.de"


def test_an_admin_erases_a_person_from_the_person_page(admin_page, live_server, seed_webinars):
    page = admin_page
    seed_webinars(live_server.app)
    page.goto(live_server(f"/people/{EMAIL}"))
    expect(page.locator("h1")).to_have_text("Aylin Demir")

    page.get_by_role("link", name="Person löschen").click()
    expect(page.locator("h1")).to_have_text(f"{EMAIL} löschen")
    expect(page.locator("main")).to_contain_text("Das lässt sich nicht rückgängig machen.")
    confirm = page.get_by_label("Zur Bestätigung die E-Mail-Adresse eingeben")
    erase = page.get_by_role("button", name="Person löschen")
    # Without the email typed again the browser does not send the form.
    erase.click()
    expect(page).to_have_url(re.compile(r"/person-data/erase\?email="))
    confirm.fill("jemand@example.de")
    erase.click()
    expect(page.locator(".flash-error")).to_contain_text("E-Mail-Adresse der Person ein")

    page.get_by_label("Zur Bestätigung die E-Mail-Adresse eingeben").fill(EMAIL.upper())
    page.get_by_role("button", name="Person löschen").click()
    expect(page).to_have_url(live_server("/search"))
    expect(page.locator(".flash-success")).to_contain_text(
        re.compile(r"Die Person ist hier gelöscht: \d+ Buchungen? entfernt\.")
    )

    page.goto(live_server(f"/people/{EMAIL}"))
    expect(page.locator(".empty-state")).to_be_visible()
    page.goto(live_server("/search?q=Aylin"))
    expect(page.locator("main")).not_to_contain_text("Aylin Demir")
