"""The banner of open incidents in Chromium: German, then English after the header's switch
(which the account keeps, for its alert emails), its link to the fixing page, and gone once
the trouble is over."""

from __future__ import annotations

from datetime import timedelta

from playwright.sync_api import expect
from sqlalchemy import select

from store import clock
from store.database import db
from store.models import AdminUser, SyncRun
from store.outcomes import RunProblem, SyncStatus


def add_run(app, status: str, outcome: str | None = None) -> None:
    with app.app_context():
        started = clock.now() - timedelta(minutes=1)
        db.session.add(SyncRun(trigger="scheduler", status=status, outcome=outcome,
                               outcome_params={}, started_at=started,
                               finished_at=started + timedelta(seconds=20)))  # fmt: skip
        db.session.commit()


def test_the_banner_says_what_is_wrong_and_where_to_fix_it(strict_page, live_server, sign_in):
    page = strict_page
    live_server.app.config["CALENDLY_TOKEN"] = "a-revoked-token"
    add_run(live_server.app, SyncStatus.FAILED, RunProblem.TOKEN_REFUSED)
    live_server.create_admin()
    sign_in(page, live_server)

    banner = page.locator("#alerts")
    expect(banner).to_be_visible()
    expect(banner.get_by_role("alert")).to_contain_text("Calendly lehnt den Token ab.")

    page.click(".lang-switch button[value=en]")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(banner).to_contain_text("Calendly refuses the token.")
    with live_server.app.app_context():
        assert db.session.scalar(select(AdminUser.language)) == "en"

    banner.get_by_role("link", name="Open Settings to paste a token").click()
    page.wait_for_url(live_server("/settings"))
    expect(page.get_by_role("heading", name="Calendly connection")).to_be_visible()

    add_run(live_server.app, SyncStatus.SUCCEEDED)  # the new token works
    page.goto(live_server("/"))
    expect(page.get_by_role("heading", name="Info webinars")).to_be_visible()
    expect(page.locator("#alerts")).to_have_count(0)
