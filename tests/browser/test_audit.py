"""The audit log in a real browser: choosing an action in the filter swaps the list in place
(htmx) and puts the filter in the address bar."""

from playwright.sync_api import expect


def test_filtering_the_audit_log_by_action(admin_page, live_server):
    page, server = admin_page, live_server
    page.get_by_role("link", name="Protokoll").click()
    page.wait_for_url(server("/audit"))
    expect(page.locator("tr[data-action=signed_in]")).to_have_count(1)
    expect(page.locator("tr[data-action=account_created]")).to_have_count(1)

    with page.expect_response(lambda r: "/audit?" in r.url and r.request.headers.get("hx-request")):
        page.select_option("#audit-action", "signed_in")
    expect(page.locator("tr[data-action=account_created]")).to_have_count(0)
    expect(page.locator("tr[data-action=signed_in]")).to_have_count(1)
    expect(page.locator("#audit-entries td").nth(2)).to_have_text("Angemeldet.")
    assert "action=signed_in" in page.url
