"""Webhook subscriptions and no-shows in a real browser (fixtures from tests/browser/conftest.py),
against the Calendly simulator; the last test follows a booking from Calendly to the database."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from devtools.sample_data import uuid_of
from services.syncing import sync_from_settings
from store.database import db
from store.models import CalendlyEventAttendee

BASE = "https://webinare.example.org"
HOOK_URL = BASE + "/api/infowebinar/webhook"


# `admin_on` (tests/browser/conftest.py) signs in on an app connected to this account.
pytestmark = pytest.mark.sim_account("small")


def create_subscription(page):
    section = page.locator("#webhook-admin")
    page.get_by_label("Public address of this app").fill(BASE)
    page.get_by_role("button", name="Create subscription").click()
    expect(section.locator(".flash-success")).to_contain_text("Webhook subscription created")
    expect(section.locator(".flash-success")).to_be_focused()
    return section


def test_create_list_and_delete_a_subscription(admin_on, calendly_sim):
    calendly_sim.add_webhook_subscription("https://hooks.zapier.example/abc", ["invitee.created"])
    page = admin_on("/settings", connected=True)
    section = page.locator("#webhook-admin")
    expect(section.locator("tr.webhook")).to_have_count(1)  # loaded by htmx after the page

    create_subscription(page)

    row = section.locator("tr.webhook", has_text=HOOK_URL)
    expect(row.locator(".badge-active")).to_have_text("active")
    expect(row).to_contain_text("invitee_no_show.created")
    expect(section.locator("tr.webhook")).to_have_count(2)
    assert calendly_sim.find_subscription(HOOK_URL)[1]["state"] == "active"

    row.get_by_text("Delete", exact=True).click()  # opens the confirmation
    row.get_by_role("button", name="Delete subscription").click()

    expect(section.locator(".flash-success")).to_have_text("Webhook subscription deleted.")
    expect(section.locator("tr.webhook")).to_have_count(1)
    with pytest.raises(KeyError):
        calendly_sim.find_subscription(HOOK_URL)


def test_plan_without_webhooks_is_explained(admin_on, calendly_sim):
    calendly_sim.set_plan_allows_webhooks(False)

    page = admin_on("/settings", connected=True)

    note = page.locator("#webhook-admin .plan-note")
    expect(note).to_contain_text("Your Calendly plan does not include webhooks")
    expect(note).to_contain_text("the scheduled sync keeps fetching every change")
    expect(page.get_by_label("Public address of this app")).to_have_count(0)


def test_mark_a_no_show_in_the_attendee_list(admin_on, calendly_sim, live_server, pick_invitee):
    invitee = pick_invitee(calendly_sim, ahead=False)  # booked for a webinar that has started
    name, invitee_uuid = invitee["name"], uuid_of(invitee["uri"])
    with live_server.app.app_context():
        live_server.app.config.update(
            CALENDLY_API_BASE_URL=calendly_sim.base_url, CALENDLY_TOKEN=calendly_sim.token
        )
        assert sync_from_settings("cli").status == "succeeded"
        event_id = db.session.scalar(
            select(CalendlyEventAttendee.event_id).where(
                CalendlyEventAttendee.calendly_id == invitee_uuid
            )
        )

    page = admin_on(f"/webinars/{event_id}", connected=True)
    page.get_by_role("button", name=f"Mark as no-show: {name}").click()

    expect(page.locator(".attendees .flash-success")).to_contain_text("marked as a no-show")
    expect(page.locator(".attendees .flash-success")).to_be_focused()  # not lost on the body
    expect(page.get_by_role("button", name=f"Undo no-show: {name}")).to_be_visible()
    assert calendly_sim.find_invitee(invitee_uuid)[1]["no_show"] is not None


def test_booking_in_calendly_arrives_by_webhook_end_to_end(admin_on, calendly_sim, live_server):
    page = admin_on("/settings", connected=True)
    create_subscription(page)
    calendly_sim.deliver_to, calendly_sim.auto_deliver = live_server.url, True
    event = calendly_sim.add_event()

    invitee = calendly_sim.book(
        uuid_of(event["uri"]), name="Sören Müller", email="soeren@example.de"
    )

    assert [(r.event, r.status) for r in calendly_sim.delivery_log] == [("invitee.created", 200)]
    with live_server.app.app_context():
        row = db.session.scalars(
            select(CalendlyEventAttendee).where(
                CalendlyEventAttendee.calendly_id == uuid_of(invitee["uri"])
            )
        ).one()
        assert row.name == "Sören Müller" and row.event.calendly_id == uuid_of(event["uri"])
    page.goto(live_server("/search?q=soeren"))
    expect(page.locator("main")).to_contain_text("Sören Müller")
