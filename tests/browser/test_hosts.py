"""The host filter and the host column in a real browser, in German and in English (issue 10):
choosing a host narrows the list in place (htmx), the address and the export links follow, and
every row names its hosts in the admin's language."""

import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

JONAS_URI = "https://api.calendly.com/users/JONAS"


def test_the_host_filter_and_the_host_column_in_german_and_english(
    admin_page, live_server, seed_webinars
):
    page = admin_page
    live_server.app.config["CALENDLY_TOKEN"] = "configured"  # exports are offered
    seed_webinars(live_server.app)
    page.goto(live_server("/"))
    rows = page.locator("#webinar-list .webinar")
    expect(rows).to_have_count(5)
    expect(rows.nth(1).locator(".hosts")).to_have_text("Gastgeber: Katrin Böhm, Jonas Albrecht")

    host_filter = page.get_by_label("Gastgeber", exact=True)
    expect(host_filter.locator("option").first).to_have_text("Alle Gastgeber")
    host_filter.select_option(label="Jonas Albrecht")
    # Swapped in place: the page stays, the list and the address follow the choice.
    expect(rows).to_have_count(2)
    expect(page).to_have_url(re.compile(r"host=https"))
    expect(rows.locator(".hosts")).to_have_text(
        ["Gastgeber: Katrin Böhm, Jonas Albrecht", "Gastgeber: Jonas Albrecht"]
    )
    for name in ("Teilnehmende als CSV", "Teilnehmende als XLSX"):
        href = page.get_by_role("link", name=name).get_attribute("href")
        assert f"host={JONAS_URI}" in href, href

    page.click(".lang-switch button[value=en]")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    page.goto(page.url.split("?")[0] + f"?host={JONAS_URI}")
    host_filter = page.get_by_label("Host", exact=True)
    expect(host_filter).to_have_value(JONAS_URI)
    expect(rows.locator(".hosts")).to_have_text(
        ["Hosts: Katrin Böhm, Jonas Albrecht", "Host: Jonas Albrecht"]
    )
    host_filter.select_option(label="All hosts")
    expect(page).to_have_url(live_server("/"))  # no filter left in the address
    expect(rows).to_have_count(5)
    expect(rows.first.locator(".hosts")).to_have_text("Host: Katrin Böhm")
