"""The attendance import in a real browser: upload Zoom's participant CSV for a past webinar, read
the preview, confirm; the missing people become no-shows in Calendly and the webinar counts as
recorded; the mark can be removed again in the attendee list (htmx)."""

from datetime import timedelta

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from devtools.sample_data import uuid_of
from services.syncing import sync_from_settings
from store import clock
from store.database import db
from store.models import CalendlyEvent

# Which webinars have ended depends on the clock.
pytestmark = [pytest.mark.browser, pytest.mark.dated, pytest.mark.sim_account("small")]


def test_import_a_zoom_list_confirm_and_remove_the_mark(
    admin_on, live_server, calendly_sim, tmp_path
):
    app = live_server.app
    page = admin_on("/", connected=True, SYNC_LOOKBACK_DAYS=14)
    # A webinar that ended two hours ago with three bookings, whatever the seeded account holds.
    event = calendly_sim.add_event(start_time=clock.now() - timedelta(hours=3))
    emails = [f"person{n}@example.de" for n in range(1, 4)]
    for n, email in enumerate(emails, 1):
        calendly_sim.book(uuid_of(event["uri"]), name=f"Person {n}", email=email)
    with app.app_context():
        assert sync_from_settings("cli").status == "succeeded"
        event_id = db.session.scalar(
            select(CalendlyEvent.id).where(CalendlyEvent.uri == event["uri"])
        )
    listing = tmp_path / "participants.csv"
    listing.write_text(
        "Name (Original Name);User Email;Join Time;Duration (Minutes)\n"
        f"Erste Person;{emails[0].upper()};18:00;55\n"
        "<b>Gast</b>;gast@example.org;18:05;40\n",
        encoding="cp1252",
    )

    page.goto(live_server(f"/webinars/{event_id}"))
    expect(page.locator(".attendance-state")).to_contain_text("Attendance not recorded")
    page.get_by_role("link", name="Import participant list").click()
    page.get_by_label("Participant list (CSV)").set_input_files(listing)
    page.get_by_role("button", name="Show preview").click()

    preview = page.locator(".import-preview")
    expect(preview).to_contain_text("Attended: 1 person")
    expect(preview.locator(".is-missing li")).to_have_count(len(emails) - 1)
    expect(preview.locator(".is-unbooked")).to_contain_text("<b>Gast</b>")  # text, not markup
    page.get_by_role("button", name="and record attendance").click()

    page.wait_for_url(live_server(f"/webinars/{event_id}"))
    expect(page.locator(".flashes")).to_contain_text("were marked as no-shows in Calendly")
    expect(page.locator(".attendance-state")).to_contain_text("Attendance recorded")
    expect(page.locator(".attendee-line .badge-warning")).to_have_count(len(emails) - 1)
    marked = {
        inv["email"] for invs in calendly_sim.invitees.values() for inv in invs if inv["no_show"]
    }
    assert set(emails[1:]) <= marked and emails[0] not in marked

    page.get_by_role("button", name="Remove the “attendance recorded” mark").click()
    expect(page.locator(".attendance-state")).to_contain_text("Attendance not recorded")
    expect(page.locator(".attendees .flash")).to_contain_text("no longer counts as recorded")
    with app.app_context():
        assert db.session.get(CalendlyEvent, event_id).attendance_recorded_at is None
