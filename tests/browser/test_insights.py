"""The insights page in a real browser, German and English, on the hand-counted mirror
(tests/services/insights_data.py): the figures match, numbers follow the language, the CSP
holds (the charts are SVG drawn on the server, no script), and a filter change swaps the charts."""

import pytest
from playwright.sync_api import expect

from tests.services import insights_data as data

pytestmark = [pytest.mark.browser, pytest.mark.dated]


def test_insights_page_in_german_and_english(strict_page, live_server, sign_in, time_machine):
    time_machine.move_to(data.NOW, tick=True)
    data.build(live_server.app)
    live_server.create_admin()
    page = strict_page
    sign_in(page, live_server, "/insights")
    expect(page.locator("h1")).to_have_text("Auswertung")
    expect(page.locator(".main-nav a[aria-current=page]")).to_have_text("Auswertung")

    bookings = page.locator("#chart-bookings")
    expect(bookings.locator("svg[role=img]")).to_be_visible()
    expect(bookings.locator(".chart-summary")).to_have_text(
        "Buchungen: 12, Stornierungen: 1, teilgenommen: 3, nicht erschienen: 2 (6 Wochen)."
    )
    expect(page.locator("#chart-show-up-weeks .chart-summary")).to_have_text(
        "Erscheinungsquote im Zeitraum: 60,0\u00a0% (3 von 5)."
    )
    # The table behind a chart: German dates and percentages.
    table = page.locator("#chart-show-up-webinars table")
    page.locator("#chart-show-up-webinars summary").click()
    expect(table.locator("tbody tr")).to_have_count(2)
    expect(table.locator("tbody tr").nth(1)).to_contain_text("66,7\u00a0%")
    expect(table.locator("tbody tr").nth(1)).to_contain_text("02.03.2026")
    lead = page.locator("#chart-lead-time")
    lead.locator("summary").click()
    cells = lead.locator("tbody tr td:nth-child(2)")
    expect(cells).to_have_text([str(n) for n in data.EXPECTED_LEAD])
    expect(page.locator("#chart-fill-weekday .chart-summary")).to_have_text(
        "Am vollsten: Mittwoch mit 75,0\u00a0%."
    )
    answers = page.locator("figure.chart", has_text=data.QUELLE_DE)
    answers.locator("summary").click()
    expect(answers.locator("tbody tr")).to_have_text(
        ["Google1", "Instagram1", "Newsletter1", "Sonstiges1"]
    )

    # One event type: the charts swap in place and the address says so.
    page.evaluate("window.stillTheSamePage = true")
    page.select_option("#type-filter", data.TYPE_EN)
    expect(bookings.locator(".chart-summary")).to_contain_text("Buchungen: 2,")
    assert page.evaluate("window.stillTheSamePage") is True
    assert "type=" in page.url

    page.click(".lang-switch button[value=en]")
    expect(page.locator("h1")).to_have_text("Insights")
    expect(page.locator("#chart-show-up-weeks .chart-summary")).to_have_text(
        "Show-up rate in the period: 60.0% (3 of 5)."
    )
    expect(page.locator("#chart-fill-weekday .chart-summary")).to_have_text(
        "Fullest: Wednesday with 75.0%."
    )
    with page.expect_download() as download:
        page.locator("#chart-lead-time a", has_text="Figures as CSV").click()
    assert download.value.suggested_filename == "insights-lead-time.csv"
