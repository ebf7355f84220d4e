"""The README's screenshots, taken from demo mode: what `scripts/run` shows on a fresh clone."""

import os
import re
import threading

import pytest
from playwright.sync_api import expect
from werkzeug.serving import make_server

from devtools import demo


@pytest.fixture
def demo_server(make_app, tmp_path):
    credentials = tmp_path / "demo-credentials.txt"
    app = make_app(DEMO_MODE=True, DEMO_CREDENTIALS_PATH=str(credentials))
    assert demo.init_demo(app)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    login = dict(line.split(": ", 1) for line in credentials.read_text().splitlines())
    yield f"http://127.0.0.1:{server.server_port}", login
    server.shutdown()
    thread.join(timeout=5)
    with app.app_context():
        demo.leave_demo(app)


SCREENSHOTS = os.path.join(os.path.dirname(__file__), "..", "..", "docs", "screenshots")


def test_demo_dashboard_and_attendee_list(strict_page, demo_server):
    page = strict_page
    url, login = demo_server
    page.goto(url + "/login")
    page.fill("input[name=email]", login["email"])
    page.fill("input[name=password]", login["password"])
    page.click("main form button[type=submit]")
    page.wait_for_url(url + "/")

    expect(page.locator(".demo-banner")).to_be_visible()
    titles = page.locator("#webinar-list .webinar-title a")
    expect(titles.first).to_be_visible()
    assert titles.count() >= 10
    page.screenshot(path=os.path.join(SCREENSHOTS, "demo-dashboard.png"))  # what one sees first

    # The first upcoming webinar with a handful of bookings (a picture, not a scroll).
    rows = page.locator("#webinar-list .webinar")
    index = next(
        n
        for n in range(rows.count())
        if (m := re.search(r"(\d+) von \d+ gebucht", rows.nth(n).inner_text()))
        and 3 <= int(m.group(1)) <= 6
    )
    webinar = rows.nth(index)
    webinar.locator(".webinar-title a").click()
    expect(webinar.locator("table.attendee-table")).to_be_visible()
    webinar.screenshot(path=os.path.join(SCREENSHOTS, "demo-attendees.png"))
