"""The sync panel in German: what the mirror holds and what a run changed, every trigger in
words, the button disabled while a run goes, retries in words, and a list refresh only after a
run that changed something."""

from __future__ import annotations

import json
import re
import time

import pytest
from sqlalchemy import func, select, update

from store.database import db
from store.models import CalendlyEvent, CalendlyEventAttendee, SyncRun
from store.outcomes import SyncTrigger
from tests.blueprints.test_sync_ui import HX, POLL, add_runs, poll_until_finished, wait_until_idle


@pytest.fixture
def app(make_app, calendly_sim):
    return make_app(
        CALENDLY_API_BASE_URL=calendly_sim.base_url,
        CALENDLY_TOKEN="sim-token",
        CALENDLY_EVENT_TYPES="TLr - Infowebinar",
        WTF_CSRF_ENABLED=False,
    )


@pytest.fixture(autouse=True)
def no_sync_left_running(app):
    yield
    wait_until_idle(app)


def sync(client):
    """Run "Sync now" to its end through the panel's polling; the last panel response."""
    return poll_until_finished(client, client.post("/sync", headers=HX))[-1]


def words(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).replace("&nbsp;", " ")


def test_after_a_sync_without_changes_the_panel_says_what_is_stored_and_nothing_changed(login, app):
    first = sync(login)
    assert "HX-Trigger" in first.headers  # the first run brought everything
    with app.app_context():
        webinars = db.session.scalar(select(func.count()).select_from(CalendlyEvent))
        attendees = db.session.scalar(select(func.count()).select_from(CalendlyEventAttendee))

    again = sync(login)

    text = words(again.text)
    assert (
        f"Synchronisierung beendet. Gespeichert: {webinars} Webinare, {attendees} Teilnehmende. "
        "Nichts geändert."
    ) in text
    assert "0 neu" not in text and "unverändert" not in text
    # Nothing changed, so the webinar list is not reloaded (open attendee lists stay open).
    assert "HX-Trigger" not in again.headers

    # The totals come from the events' own counters, not from counting attendee rows.
    with app.app_context():
        db.session.execute(
            update(CalendlyEvent)
            .where(CalendlyEvent.id == db.session.scalar(select(func.min(CalendlyEvent.id))))
            .values(invitees_total=CalendlyEvent.invitees_total + 1000)
        )
        db.session.commit()
    panel = words(login.get("/sync", headers=HX).text)
    assert f"Gespeichert: {webinars} Webinare, {attendees + 1000} Teilnehmende." in panel


def test_a_run_that_changed_something_reloads_the_list(login, app, calendly_sim, pick_event):
    sync(login)
    calendly_sim.rename_event(
        pick_event(calendly_sim, ahead=True, event_type="TLr - Infowebinar"), "Neu"
    )
    changed = sync(login)
    assert "Geändert: 1 Webinar, 0 Teilnehmende." in words(changed.text)
    assert json.loads(changed.headers["HX-Trigger"])["syncFinished"]["status"] == "succeeded"


@pytest.mark.parametrize(
    "trigger, label",
    [
        (SyncTrigger.CLI, "Befehlszeile"),
        (SyncTrigger.MANUAL, "manuell"),
        (SyncTrigger.SCHEDULER, "geplant"),
        (SyncTrigger.DEMO, "Demo-Start"),
        (SyncTrigger.CONNECTED, "nach dem Verbinden"),
    ],
)
def test_every_trigger_is_named_in_words(login, app, trigger, label):
    add_runs(app, 1, trigger=trigger)
    panel = words(login.get("/sync", headers=HX).text)
    assert f", {label}" in panel
    assert "(Jetzt synchronisieren)" not in panel
    assert f"<td>{label}</td>" in login.get("/sync/runs").text


def test_the_button_is_disabled_while_a_run_goes(login, calendly_sim):
    calendly_sim.inject("slow", times=3, delay=0.4)
    started = login.post("/sync", headers=HX)
    assert POLL in started.text
    assert re.search(r"<button type=\"submit\" disabled[^>]*>Jetzt synchronisieren", started.text)
    final = poll_until_finished(login, started)[-1]
    assert re.search(r"<button type=\"submit\">Jetzt synchronisieren", final.text)


def test_retries_are_said_in_words_while_they_last(login, app, calendly_sim):
    # Calendly asks to wait 3 s (a 429 with its reset), then answers again.
    calendly_sim.inject("429", times=1, reset=3.0)
    started = login.post("/sync", headers=HX)
    seen, deadline = [], time.monotonic() + 20
    response = started
    while POLL in response.text and time.monotonic() < deadline:
        text = words(response.text)
        if "neuer Versuch in" in text:
            seen.append(text)
        time.sleep(0.2)
        url = response.text.split('hx-get="', 1)[1].split('"', 1)[0].replace("&amp;", "&")
        response = login.get(url, headers=HX)
    assert seen, "the panel never said that Calendly was retried"
    assert re.search(
        r"Calendly bremst \(Anfragelimit erreicht\) – neuer Versuch in [0-3] s "
        r"\(Versuch 2 von \d\)\.",
        seen[0],
    ), seen[0]
    assert "Verarbeitet" not in seen[0]
    with app.app_context():
        run = db.session.scalars(select(SyncRun)).one()
        assert run.status == "succeeded"
        assert run.outcome_params is None  # the retry note ends with the run
