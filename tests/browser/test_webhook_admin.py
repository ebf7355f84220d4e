"""Webhook subscriptions and no-shows in a real browser (fixtures from tests/browser/conftest.py),
against the Calendly simulator; the last test follows a booking from Calendly to the database."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from devtools.sample_data import uuid_of
from devtools.simulator import CalendlySimulator
from services import settings
from services.syncing import sync_from_settings
from store.database import db
from store.models import CalendlyEvent, CalendlyEventAttendee

BASE = "https://webinare.example.org"
HOOK_URL = BASE + "/api/infowebinar/webhook"


@pytest.fixture
def sim():
    with CalendlySimulator(token="sim-token", seed=5) as simulator:
        simulator.seed_data(n_events=8, max_invitees=3, past_days=5, future_days=20)
        yield simulator


@pytest.fixture
def admin_on(strict_page, live_server, sim, sign_in):
    """`admin_on(path)`: sign in (English) on an app connected to the simulator."""

    def open_page(path):
        live_server.app.config.update(
            CALENDLY_API_BASE_URL=sim.base_url, CALENDLY_TOKEN="sim-token"
        )
        with live_server.app.app_context():
            settings.save_account(sim.user)
        live_server.create_admin()
        sign_in(strict_page, live_server, path)
        strict_page.click(".lang-switch button[value=en]")
        expect(strict_page.locator("html")).to_have_attribute("lang", "en")
        return strict_page

    return open_page


def create_subscription(page):
    section = page.locator("#webhook-admin")
    page.get_by_label("Public address of this app").fill(BASE)
    page.get_by_role("button", name="Create subscription").click()
    expect(section.locator(".flash-success")).to_contain_text("Webhook subscription created")
    return section


def test_create_list_and_delete_a_subscription(admin_on, sim):
    sim.add_webhook_subscription("https://hooks.zapier.example/abc", ["invitee.created"])
    page = admin_on("/settings")
    section = page.locator("#webhook-admin")
    expect(section.locator("tr.webhook")).to_have_count(1)  # loaded by htmx after the page

    create_subscription(page)

    row = section.locator("tr.webhook", has_text=HOOK_URL)
    expect(row.locator(".badge-active")).to_have_text("active")
    expect(row).to_contain_text("invitee_no_show.created")
    expect(section.locator("tr.webhook")).to_have_count(2)
    assert sim.find_subscription(HOOK_URL)[1]["state"] == "active"

    row.get_by_text("Delete", exact=True).click()  # opens the confirmation
    row.get_by_role("button", name="Delete subscription").click()

    expect(section.locator(".flash-success")).to_have_text("Webhook subscription deleted.")
    expect(section.locator("tr.webhook")).to_have_count(1)
    with pytest.raises(KeyError):
        sim.find_subscription(HOOK_URL)


def test_plan_without_webhooks_is_explained(admin_on, sim):
    sim.set_plan_allows_webhooks(False)

    page = admin_on("/settings")

    note = page.locator("#webhook-admin .plan-note")
    expect(note).to_contain_text("Your Calendly plan does not include webhooks")
    expect(note).to_contain_text("the scheduled sync keeps fetching every change")
    expect(page.get_by_label("Public address of this app")).to_have_count(0)


def test_mark_a_no_show_in_the_attendee_list(admin_on, sim, live_server):
    with live_server.app.app_context():
        live_server.app.config.update(
            CALENDLY_API_BASE_URL=sim.base_url, CALENDLY_TOKEN="sim-token"
        )
        assert sync_from_settings("cli").status == "succeeded"
        event_id, attendee = db.session.execute(
            select(CalendlyEvent.id, CalendlyEventAttendee)
            .join(CalendlyEventAttendee.event)
            .where(
                CalendlyEvent.start_time <= datetime.now(UTC),
                CalendlyEvent.status == "active",
                CalendlyEventAttendee.status == "active",
                CalendlyEventAttendee.no_show.is_(False),
            )
        ).first()
        name, invitee_uuid = attendee.name, attendee.calendly_id

    page = admin_on(f"/webinars/{event_id}")
    page.get_by_role("button", name=f"Mark as no-show: {name}").click()

    expect(page.locator(".attendees .flash-success")).to_contain_text("marked as a no-show")
    expect(page.get_by_role("button", name=f"Undo no-show: {name}")).to_be_visible()
    assert sim.find_invitee(invitee_uuid)[1]["no_show"] is not None


def test_booking_in_calendly_arrives_by_webhook_end_to_end(admin_on, sim, live_server):
    page = admin_on("/settings")
    create_subscription(page)
    sim.deliver_to, sim.auto_deliver = live_server.url, True
    event = sim.add_event()

    invitee = sim.book(uuid_of(event["uri"]), name="Sören Müller", email="soeren@example.de")

    assert [(r.event, r.status) for r in sim.delivery_log] == [("invitee.created", 200)]
    with live_server.app.app_context():
        row = db.session.scalars(
            select(CalendlyEventAttendee).where(
                CalendlyEventAttendee.calendly_id == uuid_of(invitee["uri"])
            )
        ).one()
        assert row.name == "Sören Müller" and row.event.calendly_id == uuid_of(event["uri"])
    page.goto(live_server("/search?q=soeren"))
    expect(page.locator("main")).to_contain_text("Sören Müller")
