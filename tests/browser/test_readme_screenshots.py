"""The README's screenshots, taken from demo mode: what `scripts/run` shows on a fresh clone."""

import threading

import pytest
from playwright.sync_api import expect
from werkzeug.serving import make_server

import demo


@pytest.fixture
def demo_server(make_app, tmp_path):
    credentials = tmp_path / "demo-credentials.txt"
    app = make_app(DEMO_MODE=True, DEMO_CREDENTIALS_PATH=str(credentials))
    assert demo.init_demo(app, force=True)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    login = dict(line.split(": ", 1) for line in credentials.read_text().splitlines())
    yield f"http://127.0.0.1:{server.server_port}", login
    server.shutdown()
    thread.join(timeout=5)
    with app.app_context():
        demo.leave_demo(app)


def test_demo_dashboard_and_attendee_list(strict_page, demo_server, save_screenshot):
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
    save_screenshot(page, "demo-dashboard.png")

    # The first upcoming webinar with bookings, expanded in place.
    rows = page.locator("#webinar-list .webinar")
    for index in range(rows.count()):
        if not rows.nth(index).locator("text=/^0 von/").count():
            break
    rows.nth(index).locator(".webinar-title a").click()
    expect(page.locator("table.attendee-table").first).to_be_visible()
    save_screenshot(page, "demo-attendees.png")
