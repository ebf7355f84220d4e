"""The retention period in a real browser: keeping attendee data without limit is a folded-away
choice that needs its confirmation, and the preview follows the saved choice (htmx)."""

from playwright.sync_api import expect


def test_keeping_data_without_limit_takes_a_confirmed_choice(admin_on):
    page = admin_on("/settings")
    section = page.locator("#retention")
    expect(section.locator(".retention-preview")).to_contain_text(
        "The next run removes the personal data of 0 people from 0 webinars before"
    )
    expect(
        section.get_by_label("Delete attendee data this many months after the webinar")
    ).to_have_value("12")
    page.evaluate("window.notReloaded = true")

    section.get_by_text("Keep attendee data without a time limit", exact=True).first.click()
    section.get_by_role("checkbox", name="Keep attendee data without a time limit").check()
    section.get_by_role("button", name="Save").click()
    expect(section.locator(".field-errors")).to_contain_text("Tick the confirmation")

    page.locator("#retention").get_by_role("checkbox", name="I confirm").check()
    page.locator("#retention").get_by_role("button", name="Save").click()
    expect(page.locator("#retention .notice")).to_contain_text("Retention period saved.")
    expect(page.locator("#retention .retention-preview")).to_contain_text(
        "kept without a time limit"
    )
    assert page.evaluate("window.notReloaded") is True  # htmx, not a page load
