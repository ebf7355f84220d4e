"""A run that skipped malformed records says so, on the panel and the runs page, in English and
German; the skipped records are named by their Calendly URI (or their place in Calendly's list)."""

from datetime import timedelta

import pytest

from store import clock
from store.database import db
from store.models import SyncRun

EVENT_URI = "https://api.calendly.com/scheduled_events/EVT123"
INVITEE_URI = f"{EVENT_URI}/invitees/INV456"


@pytest.fixture
def skipping_run(app):
    with app.app_context():
        began = clock.now() - timedelta(minutes=5)
        db.session.add(
            SyncRun(
                trigger="cli",
                status="succeeded",
                started_at=began,
                finished_at=began + timedelta(seconds=12),
                events_created=3,
                records_skipped=3,
                skipped_records=[
                    {
                        "code": "malformed_event",
                        "record": EVENT_URI,
                        "position": 2,
                        "fields": ["invitees_counter.limit"],
                        "errors": ["int_type"],
                    },
                    {
                        "code": "malformed_invitee",
                        "record": INVITEE_URI,
                        "position": 1,
                        "fields": ["no_show"],
                        "errors": ["model_type"],
                    },
                    {
                        "code": "malformed_event",
                        "record": None,
                        "position": 7,
                        "fields": ["uri"],
                        "errors": ["string_type"],
                    },
                ],
            )
        )
        db.session.commit()


def test_the_panel_says_a_succeeded_run_skipped_records(app, skipping_run, admin_client):
    html = admin_client(app).get("/sync").text
    assert "Succeeded" in html
    assert "3 records from Calendly could not be read and were skipped." in html


def test_the_runs_page_names_the_skipped_records(app, skipping_run, admin_client):
    html = admin_client(app).get("/sync/runs").text
    assert f"Skipped event {EVENT_URI}: invitees_counter.limit could not be read." in html
    assert f"Skipped invitee {INVITEE_URI}: no_show could not be read." in html
    assert (
        "Skipped event no. 7 of Calendly&#39;s list (no readable URI): uri could not be read."
        in html
    )


def test_both_pages_in_german(app, skipping_run, admin_client):
    client = admin_client(app)
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "de"
    panel = client.get("/sync").text
    assert "3 Datensätze von Calendly waren nicht lesbar und wurden übersprungen." in panel
    runs = client.get("/sync/runs").text
    assert f"Termin {EVENT_URI} übersprungen: invitees_counter.limit nicht lesbar." in runs
    assert f"Teilnehmer {INVITEE_URI} übersprungen: no_show nicht lesbar." in runs
    assert "Termin Nr. 7 aus Calendlys Liste übersprungen (keine lesbare URI)" in runs


def test_a_run_without_skipped_records_mentions_none(app, admin_client):
    with app.app_context():
        began = clock.now() - timedelta(minutes=5)
        db.session.add(
            SyncRun(trigger="cli", status="succeeded", started_at=began, finished_at=began)
        )
        db.session.commit()
    client = admin_client(app)
    assert "could not be read" not in client.get("/sync").text
    assert "could not be read" not in client.get("/sync/runs").text
