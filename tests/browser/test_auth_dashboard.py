"""First run, signing in and out, the dashboard, the search, CSV and languages in a real browser."""

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def test_first_run_setup_then_login_and_logout(strict_page, live_server, sign_in):
    page = strict_page
    page.goto(live_server("/"))
    expect(page).to_have_url(live_server("/setup"))
    expect(page.locator("h1")).to_have_text("Willkommen bei Webinar Sync")

    page.get_by_label("E-Mail").fill("team@example.org")
    page.get_by_label("Passwort", exact=True).fill("correct horse battery")
    page.get_by_label("Passwort wiederholen").fill("correct horse battery")
    page.get_by_role("button", name="Konto anlegen").click()
    expect(page).to_have_url(live_server("/"))
    expect(page.locator(".flash-success")).to_contain_text("Ihr Konto ist eingerichtet")
    expect(page.locator(".empty-state")).to_contain_text("Noch kein Token")

    assert page.goto(live_server("/setup")).status == 404

    page.goto(live_server("/"))
    page.get_by_role("button", name="Abmelden").click()
    expect(page).to_have_url(live_server("/login"))
    expect(page.locator(".flash-success")).to_contain_text("Sie sind abgemeldet")
    page.goto(live_server("/search"))
    expect(page).to_have_url(live_server("/login?next=/search"))

    page.get_by_label("E-Mail").fill("team@example.org")
    page.get_by_label("Passwort").fill("wrong password")
    page.get_by_role("button", name="Anmelden").click()
    expect(page.locator(".form-error")).to_have_text("E-Mail-Adresse oder Passwort falsch.")
    page.get_by_label("Passwort").fill("correct horse battery")
    page.get_by_role("button", name="Anmelden").click()
    expect(page).to_have_url(live_server("/search"))


def test_dashboard_expands_attendees_in_place(
    admin_page, live_server, seed_webinars, save_screenshot
):
    page = admin_page
    ids = seed_webinars(live_server.app)
    page.goto(live_server("/"))
    titles = page.locator("#webinar-list .webinar-title a")
    expect(titles).to_have_count(5)  # the canceled one is on its own tab
    expect(page.locator("#webinar-list")).to_contain_text("Google Meet: Link folgt noch")
    expect(page.locator(".badge-full")).to_have_count(1)
    expect(page.locator(".badge-missing")).to_have_count(1)
    save_screenshot(page, "dashboard.png", full_page=True)

    page.evaluate("window.stillTheSamePage = true")
    first = titles.first
    first.click()
    slot = page.locator(f"#attendees-{ids[0]}")
    expect(slot.locator("table.attendee-table")).to_be_visible()
    expect(slot).to_contain_text("Jürgen Groß")
    expect(slot).to_contain_text("Welches Fach möchten Sie unterrichten?")
    expect(slot).to_contain_text("Neuer Termin gewählt")
    expect(first).to_have_attribute("aria-expanded", "true")
    assert page.evaluate("window.stillTheSamePage") is True
    assert page.url == live_server("/")
    save_screenshot(page, "attendees.png", full_page=True)

    first.click()  # a second click closes the list again
    expect(slot.locator("table")).to_have_count(0)
    expect(first).to_have_attribute("aria-expanded", "false")
    assert page.evaluate("window.stillTheSamePage") is True

    # The same address opened directly is a whole page.
    page.goto(live_server(f"/webinars/{ids[0]}"))
    expect(page.locator("h1")).to_have_text("Infowebinar Quereinstieg Lehramt")
    expect(page.locator("table.attendee-table")).to_contain_text("Jürgen Groß")


def test_tabs_and_pages_swap_the_list_and_push_the_url(admin_page, live_server, seed_webinars):
    page = admin_page
    seed_webinars(live_server.app)
    page.goto(live_server("/"))
    page.evaluate("window.stillTheSamePage = true")
    page.get_by_role("link", name="Abgesagt").click()
    expect(page).to_have_url(live_server("/?view=canceled"))
    expect(page.locator("#webinar-list .webinar-title a")).to_have_count(1)
    expect(page.locator("#webinar-list .badge-canceled").first).to_be_visible()
    assert page.evaluate("window.stillTheSamePage") is True

    page.get_by_label("Ereignistyp").select_option(label="Offene Sprechstunde Onboarding")
    onboarding = "https%3A%2F%2Fapi.calendly.com%2Fevent_types%2FONBOARDING"
    expect(page).to_have_url(live_server(f"/?view=canceled&type={onboarding}"))
    expect(page.locator(".empty-state")).to_contain_text("Keine abgesagten Webinare.")


def test_search_as_you_type_and_the_person_page(admin_page, live_server, seed_webinars):
    page = admin_page
    seed_webinars(live_server.app)
    page.goto(live_server("/search"))
    page.evaluate("window.stillTheSamePage = true")
    page.get_by_label("Name oder E-Mail-Adresse").press_sequentially("Groß", delay=60)
    results = page.locator("#search-results")
    expect(results.locator(".person-name")).to_have_text(["Jürgen Groß"])
    expect(results).to_contain_text("6 Buchungen")
    expect(page).to_have_url(live_server("/search?q=Gro%C3%9F"))
    assert page.evaluate("window.stillTheSamePage") is True

    page.get_by_label("Name oder E-Mail-Adresse").fill("")
    page.get_by_label("Name oder E-Mail-Adresse").press_sequentially("example.de", delay=20)
    expect(results.locator(".person-name")).to_have_count(6)

    page.get_by_role("link", name="Aylin Demir").click()
    expect(page).to_have_url(live_server("/people/aylin.demir@example.de"))
    expect(page.locator("h1")).to_have_text("Aylin Demir")
    expect(page.locator("table.bookings tbody tr")).to_have_count(5)
    expect(page.get_by_role("link", name="aylin.demir@example.de")).to_have_attribute(
        "href", "mailto:aylin.demir@example.de"
    )


def test_csv_download_keeps_umlauts(admin_page, live_server, seed_webinars):
    page = admin_page
    ids = seed_webinars(live_server.app)
    page.goto(live_server(f"/webinars/{ids[0]}"))
    with page.expect_download() as info:
        page.locator(".attendees-head").get_by_role("link", name="CSV").click()
    download = info.value
    assert download.suggested_filename.endswith(f"-{ids[0]}.csv")
    with open(download.path(), "rb") as fh:
        data = fh.read()
    assert data.startswith(b"\xef\xbb\xbf")
    text = data.decode("utf-8-sig")
    assert "Jürgen Groß" in text
    assert "Sören Müller-Lüdenscheidt" in text
    assert text.splitlines()[0].endswith("Wie haben Sie von uns erfahren?")


def test_language_switch(admin_page, live_server, seed_webinars):
    page = admin_page
    seed_webinars(live_server.app)
    page.goto(live_server("/?view=past"))
    expect(page.locator("html")).to_have_attribute("lang", "de")
    expect(page.get_by_role("link", name="Anstehend")).to_be_visible()

    page.get_by_role("button", name="EN", exact=True).click()
    expect(page).to_have_url(live_server("/?view=past"))
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_role("link", name="Upcoming")).to_be_visible()
    page.get_by_role("link", name="Upcoming").click()
    expect(page.locator(".webinar-when").first).to_contain_text(",")
    expect(page.locator("#webinar-list")).to_contain_text("Google Meet: link pending")

    page.get_by_role("button", name="DE", exact=True).click()
    expect(page.get_by_role("link", name="Anstehend")).to_be_visible()


def test_hostile_names_stay_text_and_no_script_runs(admin_page, live_server, seed_webinars):
    page = admin_page
    ids = seed_webinars(live_server.app, hostile=True)
    page.goto(live_server("/"))
    page.locator("#webinar-list .webinar-title a").first.click()
    slot = page.locator(f"#attendees-{ids[0]}")
    expect(slot.get_by_role("link", name="<script>alert(1)</script>")).to_be_visible()
    expect(slot).to_contain_text("<img src=x onerror=alert(2)>")

    page.goto(live_server("/search"))
    page.get_by_label("Name oder E-Mail-Adresse").press_sequentially("script", delay=30)
    expect(page.locator("#search-results .person-name")).to_have_text(["<script>alert(1)</script>"])
    page.locator("#search-results .person-link").click()
    expect(page.locator("h1")).to_have_text("<script>alert(1)</script>")
    # strict_page fails the test if any dialog opened or the CSP blocked anything.


def test_expired_session_sends_htmx_requests_to_login(admin_page, live_server, seed_webinars):
    page = admin_page
    seed_webinars(live_server.app)
    page.goto(live_server("/"))
    page.context.clear_cookies()
    page.locator("#webinar-list .webinar-title a").first.click()
    expect(page).to_have_url(live_server("/login?next=/"))
    expect(page.get_by_role("button", name="Anmelden")).to_be_visible()


def test_phone_layout(admin_page, live_server, seed_webinars, save_screenshot):
    page = admin_page
    ids = seed_webinars(live_server.app)
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(live_server(f"/webinars/{ids[0]}"))
    expect(page.locator("table.attendee-table")).to_be_visible()
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"page is {overflow}px wider than a phone screen"
    save_screenshot(page, "attendees-phone.png", full_page=True)
