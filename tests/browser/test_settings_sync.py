"""Settings and Sync now in a real browser (fixtures from tests/browser/conftest.py)."""

from playwright.sync_api import expect

GOOD_TOKEN = "pat-browser-3f9c1d0e7a5b42c8b6e1f0a9d8c7b6a5e4d3c2b1a0f9e8d7"


def test_settings_refuse_a_bad_token_then_connect_a_good_one(admin_on, calendly_sim):
    calendly_sim.token = GOOD_TOKEN
    page = admin_on("/settings")
    section = page.locator("#calendly-settings")

    page.fill("#token", "not-a-valid-token-0000")
    page.get_by_role("button", name="Verify and save").click()
    expect(section.locator(".field-errors")).to_contain_text("Calendly did not accept the token")
    # Calendly's own words stay a detail, marked as English.
    expect(section.locator(".calendly-words [lang=en]")).to_contain_text(
        "The access token is invalid"
    )
    expect(section.locator(".token-mask")).to_have_count(0)

    page.fill("#token", GOOD_TOKEN)
    page.get_by_role("button", name="Verify and save").click()
    expect(section.locator(".flash-success.notice").first).to_contain_text("Token saved")
    expect(section.locator(".token-mask")).to_have_text(f"••••{GOOD_TOKEN[-4:]}")
    expect(section.locator(".account")).to_contain_text(calendly_sim.user["name"])
    expect(section.locator(".account")).to_contain_text(calendly_sim.user["email"])
    expect(section).not_to_contain_text(calendly_sim.user["current_organization"])
    # Nothing preselected (one more box: "all event types"), and nothing synced before a choice.
    checkboxes = section.locator("#event-types input[type=checkbox]")
    expect(checkboxes).to_have_count(len(calendly_sim.event_types) + 1)
    expect(section.locator("#event-types input:checked")).to_have_count(0)
    expect(section.locator(".no-choice")).to_contain_text("Nothing is synced until you save")

    page.get_by_label("Einzelberatung").check()
    page.get_by_label("TLr - Infowebinar", exact=True).check()
    page.get_by_role("button", name="Save choice").click()
    expect(section.locator(".event-types-form .flash-success.notice")).to_contain_text(
        "Event type choice saved. The first sync has started"
    )

    page.reload()
    expect(page.get_by_label("Einzelberatung")).to_be_checked()
    expect(page.get_by_label("TLr - Infowebinar", exact=True)).to_be_checked()
    expect(page.get_by_label("TLr - Infowebinar (English)")).not_to_be_checked()
    assert GOOD_TOKEN not in page.content()


def test_the_empty_states_button_starts_the_first_sync(admin_on, calendly_sim):
    page = admin_on("/", connected=True)
    rows = page.locator("#webinar-list .webinar-name")
    expect(rows).to_have_count(0)
    page.evaluate("window.notReloaded = true")
    page.locator(".empty-state").get_by_role("button", name="Start the first sync").click()
    expect(page.locator("#sync-panel .status")).to_have_text("Succeeded", timeout=20_000)
    expect(rows.first).to_be_visible()
    expect(page.locator(".empty-state")).to_have_count(0)
    assert page.evaluate("window.notReloaded") is True  # an htmx POST, not a page load


def test_sync_now_shows_progress_and_the_list_refreshes_itself(admin_on, calendly_sim):
    page = admin_on("/", CALENDLY_TOKEN="sim-token", CALENDLY_EVENT_TYPES="TLr - Infowebinar")
    rows = page.locator("#webinar-list .webinar-name")
    expect(rows).to_have_count(0)
    page.evaluate("window.notReloaded = true")

    calendly_sim.inject("slow", times=5, delay=0.3)
    page.get_by_role("button", name="Sync now").click()
    panel = page.locator("#sync-panel")
    expect(panel.locator(".sync-progress")).to_be_visible()
    expect(panel.locator(".sync-counts")).to_contain_text("Processed so far")

    expect(panel.locator(".sync-message")).to_contain_text("Sync finished", timeout=20_000)
    expect(panel.locator(".sync-progress")).to_have_count(0)
    expect(panel.locator(".status")).to_have_text("Succeeded")
    expect(rows.first).to_be_visible()
    assert rows.count() > 0
    assert page.evaluate("window.notReloaded") is True  # htmx swapped, no page load

    # While a sync runs, the button cannot start another one.
    calendly_sim.inject("slow", times=3, delay=0.5)
    page.get_by_role("button", name="Sync now").click()
    expect(panel.locator(".sync-progress")).to_be_visible()
    expect(page.get_by_role("button", name="Sync now")).to_be_disabled()
    expect(panel.locator(".sync-message")).to_contain_text("Sync finished", timeout=20_000)
    expect(page.get_by_role("button", name="Sync now")).to_be_enabled()
