"""The accounts screen in a real browser: an admin adds a viewer (Ansicht) account, who then
signs in, sees the webinars and their attendees, and none of the admin's controls."""

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

PRESENTER = "vortrag@example.org"
PRESENTER_PASSWORD = "ein langes Passwort"


def test_an_admin_adds_a_viewer_who_sees_lists_but_changes_nothing(
    admin_page, live_server, seed_webinars
):
    page = admin_page
    live_server.app.config["CALENDLY_TOKEN"] = "configured"  # admins get "Sync now"
    ids = seed_webinars(live_server.app)
    page.goto(live_server("/"))
    expect(page.get_by_role("button", name="Jetzt synchronisieren")).to_be_visible()

    page.get_by_role("link", name="Konten").click()
    expect(page.locator("h1")).to_have_text("Konten")
    page.get_by_label("E-Mail").fill(PRESENTER)
    page.get_by_label("Passwort", exact=True).fill(PRESENTER_PASSWORD)
    page.get_by_label("Rolle", exact=True).select_option(label="Ansicht")
    page.get_by_role("button", name="Konto anlegen").click()
    expect(page.locator(".flash-success")).to_have_text(f"Konto {PRESENTER} angelegt.")
    expect(page.locator("table.account-table")).to_contain_text(PRESENTER)

    page.get_by_role("button", name="Abmelden", exact=True).click()
    page.get_by_label("E-Mail").fill(PRESENTER)
    page.get_by_label("Passwort").fill(PRESENTER_PASSWORD)
    page.get_by_role("button", name="Anmelden").click()
    expect(page).to_have_url(live_server("/"))

    titles = page.locator("#webinar-list .webinar-title a")
    expect(titles).to_have_count(5)
    titles.first.click()
    expect(page.locator(f"#attendees-{ids[0]} table.attendee-table")).to_contain_text("Jürgen Groß")
    expect(page.get_by_role("button", name="Jetzt synchronisieren")).to_have_count(0)
    nav = page.get_by_role("navigation", name="Hauptmenü")
    expect(nav.get_by_role("link", name="Einstellungen")).to_have_count(0)
    expect(nav.get_by_role("link", name="Konten")).to_have_count(0)

    response = page.goto(live_server("/settings"))
    assert response.status == 403
    expect(page.locator("main")).to_contain_text("Ihr Konto hat die Rolle Ansicht")
