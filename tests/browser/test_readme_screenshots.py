"""The README's screenshots, taken from demo mode: what `scripts/run` shows on a fresh clone.

They land in docs/screenshots/ only with README_SCREENSHOTS=1 (see `save_screenshot`).
"""

import re

import pytest
from playwright.sync_api import expect

from devtools import demo


@pytest.fixture
def app(make_app, tmp_path):
    """The app in demo mode, as `scripts/run` starts it on a fresh clone."""
    app = make_app(
        event_types=None,  # the demo chooses its info-webinars, as on a fresh clone
        DEMO_MODE=True,
        DEMO_CREDENTIALS_PATH=str(tmp_path / "demo-credentials.txt"),
    )
    assert demo.init_demo(app)
    yield app
    with app.app_context():
        demo.leave_demo(app)


def test_demo_dashboard_and_attendee_list(strict_page, app, live_server, save_screenshot):
    page = strict_page
    credentials = app.config["DEMO_CREDENTIALS_PATH"]
    with open(credentials, encoding="utf-8") as printed:
        login = dict(line.split(": ", 1) for line in printed.read().splitlines())
    page.goto(live_server("/login"))
    page.fill("input[name=email]", login["email"])
    page.fill("input[name=password]", login["password"])
    page.click("main form button[type=submit]")
    page.wait_for_url(live_server("/"))

    expect(page.locator(".demo-banner")).to_be_visible()
    titles = page.locator("#webinar-list .webinar-title a")
    expect(titles.first).to_be_visible()
    assert titles.count() >= 10
    save_screenshot(page, "demo-dashboard.png")  # what one sees first

    # The first upcoming webinar with a handful of bookings (a picture, not a scroll).
    rows = page.locator("#webinar-list .webinar")
    index = next(
        (
            n
            for n in range(rows.count())
            if (m := re.search(r"(\d+) von \d+ gebucht", rows.nth(n).inner_text()))
            and 3 <= int(m.group(1)) <= 6
        ),
        None,
    )
    if index is None:
        pytest.fail("the demo's first page of upcoming webinars has none with 3 to 6 bookings")
    webinar = rows.nth(index)
    webinar.locator(".webinar-title a").click()
    expect(webinar.locator("table.attendee-table")).to_be_visible()
    webinar.locator("[data-details-toggle]").first.click()  # one person's answers open
    expect(webinar.locator(".attendee-details").first).to_be_visible()
    save_screenshot(webinar, "demo-attendees.png")

    # The sync panel after a run started here.
    panel = page.locator("#sync-panel")
    with page.expect_response(lambda r: r.request.method == "POST" and r.url.endswith("/sync")):
        panel.locator("button[type=submit]").click()
    expect(panel.locator(".sync-progress")).to_have_count(0, timeout=30_000)
    expect(page.locator("#sync-panel[hx-trigger]")).to_have_count(0, timeout=30_000)
    expect(panel.locator(".sync-message")).to_be_visible()
    save_screenshot(panel, "demo-sync-panel.png")

    # The insights page: this month's charts, the first screenful.
    page.goto(live_server("/insights"))
    expect(page.locator("#chart-bookings svg[role=img]")).to_be_visible()
    save_screenshot(page, "demo-insights.png")

    # A phone: the first screen of the dashboard, and a list as labelled cards.
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(live_server("/"))
    expect(titles.first).to_be_visible()
    save_screenshot(page, "demo-phone.png")
    page.goto(
        live_server(page.locator("#webinar-list .webinar-title a").nth(index).get_attribute("href"))
    )
    expect(page.locator("table.attendee-table")).to_be_visible()
    save_screenshot(page, "demo-phone-attendees.png")
