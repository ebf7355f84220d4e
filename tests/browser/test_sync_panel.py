"""The sync panel in a real browser: compact enough that the first webinar shows without
scrolling on a laptop and on a phone, and a sync that changed nothing leaves open lists open."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.sim_account("small")

FIRST_WEBINAR_TOP = (
    "() => document.querySelector('#webinar-list .webinar').getBoundingClientRect().top"
)


def sync_now(page) -> None:
    page.get_by_role("button", name="Jetzt synchronisieren").click()
    expect(page.locator("#sync-panel .sync-message")).to_contain_text(
        "Synchronisierung beendet", timeout=20_000
    )


@pytest.fixture
def synced_dashboard(german_admin, live_server):
    """The German dashboard after one sync from the simulator."""
    german_admin.goto(live_server("/"))
    sync_now(german_admin)
    expect(german_admin.locator("#webinar-list .webinar").first).to_be_visible()
    return german_admin


@pytest.mark.parametrize("width, height", [(1366, 900), (390, 844)])
def test_the_first_webinar_shows_without_scrolling_after_a_sync(synced_dashboard, width, height):
    page = synced_dashboard
    page.set_viewport_size({"width": width, "height": height})
    page.evaluate("window.scrollTo(0, 0)")
    top = page.evaluate(FIRST_WEBINAR_TOP)
    assert top < page.evaluate("innerHeight"), f"first webinar starts at {top}px"


def test_a_sync_that_changed_nothing_leaves_an_open_list_open(synced_dashboard):
    page = synced_dashboard
    page.evaluate("window.notReloaded = true")
    toggle = page.locator("#webinar-list [data-attendees-toggle]").first
    toggle.click()
    expect(toggle).to_have_attribute("aria-expanded", "true")
    slot = page.locator("#webinar-list .attendees-slot").first
    expect(slot.locator(".attendees")).to_be_visible()

    sync_now(page)

    expect(page.locator("#sync-panel .sync-message")).to_contain_text("Nichts geändert.")
    expect(toggle).to_have_attribute("aria-expanded", "true")
    expect(slot.locator(".attendees")).to_be_visible()
    assert page.evaluate("window.notReloaded") is True


def test_a_sync_that_changed_something_reopens_the_open_list(
    synced_dashboard, calendly_sim, pick_event
):
    page = synced_dashboard
    toggle = page.locator("#webinar-list [data-attendees-toggle]").first
    slot_id = toggle.get_attribute("aria-controls")
    toggle.click()
    expect(toggle).to_have_attribute("aria-expanded", "true")
    calendly_sim.rename_event(
        pick_event(calendly_sim, ahead=True, event_type="TLr - Infowebinar"), "Umbenannt"
    )

    sync_now(page)

    expect(page.locator("#sync-panel .sync-message")).to_contain_text("Geändert: 1 Webinar")
    expect(page.locator("#webinar-list .webinar-name", has_text="Umbenannt")).to_have_count(1)
    reopened = page.locator(f'[data-attendees-toggle][aria-controls="{slot_id}"]')
    expect(reopened).to_have_attribute("aria-expanded", "true")
    expect(page.locator(f"#{slot_id} .attendees")).to_be_visible()
