"""Sync now, the self-polling status panel and the list of sync runs."""

import json
import re
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, update

from mirror.sync import running_run
from store import clock
from store.database import db
from store.models import CalendlyEvent, CalendlyEventAttendee, SyncRun
from store.outcomes import SyncTrigger

HX = {"HX-Request": "true"}
POLL = 'hx-trigger="every 1s"'


@pytest.fixture
def app(make_app, calendly_sim):
    """The simulator as Calendly, syncing the info-webinars; CSRF is checked in its own test."""
    return make_app(
        CALENDLY_API_BASE_URL=calendly_sim.base_url,
        CALENDLY_TOKEN="sim-token",
        CALENDLY_EVENT_TYPES="TLr - Infowebinar",
        WTF_CSRF_ENABLED=False,
    )


# English pages (the shared `login` fixture signs the client in).
pytestmark = [pytest.mark.language("en"), pytest.mark.dated]
# Runs show their times in the admin's time zone and the next scheduled run; tests of
# refusals, labels and what happens while a run goes are exempted with dated(False).
NOT_DATED = pytest.mark.dated(False)


@pytest.fixture(autouse=True)
def no_sync_left_running(app):
    """Never drop the tables under a sync thread that "Sync now" started."""
    yield
    wait_until_idle(app)


def wait_until_idle(app, timeout=30.0):
    deadline = time.monotonic() + timeout
    with app.app_context():
        while running_run() is not None:
            assert time.monotonic() < deadline, "the sync did not finish"
            time.sleep(0.05)
            db.session.remove()


def poll_until_finished(client, first, timeout=30.0):
    """Follow the panel's own polling until it stops; return every response seen."""
    responses = [first]
    deadline = time.monotonic() + timeout
    while POLL in responses[-1].text:
        assert time.monotonic() < deadline, "the panel kept polling"
        url = responses[-1].text.split('hx-get="', 1)[1].split('"', 1)[0].replace("&amp;", "&")
        time.sleep(0.1)
        responses.append(client.get(url, headers=HX))
    return responses


def add_runs(app, n, **values):
    with app.app_context():
        start = clock.now() - timedelta(hours=n)
        for i in range(n):
            began = start + timedelta(hours=i)
            defaults = {
                "trigger": "scheduler",
                "status": "succeeded",
                "started_at": began,
                "finished_at": began + timedelta(seconds=75),
                "events_created": i,
            }
            db.session.add(SyncRun(**{**defaults, **values}))
        db.session.commit()


def test_panel_before_any_sync_as_page_and_partial(login):
    page = login.get("/sync")
    assert page.status_code == 200
    assert "<html" in page.text
    assert 'id="sync-panel"' in page.text
    assert "No sync has run yet." in page.text
    assert "Sync now" in page.text
    assert POLL not in page.text

    partial = login.get("/sync", headers=HX)
    assert partial.text.lstrip().startswith("<section")
    assert "<html" not in partial.text
    assert 'id="sync-panel"' in partial.text
    assert "HX-Request" in partial.headers["Vary"]


def test_the_dashboard_shows_the_panel(login):
    html = login.get("/").text
    assert 'id="sync-panel"' in html
    assert "Sync now" in html


def test_sync_now_polls_while_running_then_reports_and_triggers_a_refresh(login, app, calendly_sim):
    calendly_sim.inject("slow", times=4, delay=0.3)
    started = login.post("/sync", headers=HX)
    assert started.status_code == 200
    assert "Sync started." in started.text
    assert POLL in started.text
    assert 'hx-target="this"' in started.text and 'hx-swap="outerHTML"' in started.text
    assert "HX-Trigger" not in started.headers

    responses = poll_until_finished(login, started)
    running = [r for r in responses[1:-1] if "Processed so far" in r.text]
    assert running, "progress was never shown"
    assert all("HX-Trigger" not in r.headers for r in responses[:-1])

    final = responses[-1]
    assert POLL not in final.text
    trigger = json.loads(final.headers["HX-Trigger"])
    with app.app_context():
        run = db.session.scalars(select(SyncRun)).one()
        assert run.status == "succeeded"
        assert run.events_created > 0
        assert trigger == {"syncFinished": {"run": run.id, "status": "succeeded"}}
        webinars = db.session.scalar(select(func.count()).select_from(CalendlyEvent))
        attendees = db.session.scalar(select(func.count()).select_from(CalendlyEventAttendee))
        assert webinars > 0
        assert (
            f"Sync finished. Stored: {webinars} webinars, {attendees} attendees. "
            f"Changed: {run.events_created} webinars, {run.attendees_created} attendees."
        ) in final.text
    assert "Succeeded" in final.text
    assert "last sync" in final.text and ", manual" in final.text

    # A plain reload afterwards shows the outcome but fires nothing.
    again = login.get("/sync", headers=HX)
    assert "HX-Trigger" not in again.headers
    assert "Sync finished" not in again.text
    assert "Succeeded" in again.text


@NOT_DATED
def test_a_second_click_while_running_starts_nothing(login, app, calendly_sim):
    calendly_sim.inject("slow", times=3, delay=0.4)
    first = login.post("/sync", headers=HX)
    second = login.post("/sync", headers=HX)
    assert "A sync is already running." in second.text
    assert POLL in second.text  # still showing the running one
    poll_until_finished(login, second)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(SyncRun)) == 1
    assert "Sync started." in first.text


def test_sync_now_without_htmx_redirects_to_the_dashboard(login, app):
    response = login.post("/sync")
    assert response.status_code == 303
    assert response.headers["Location"] == "/"
    wait_until_idle(app)
    page = login.get("/").text
    assert "Sync started." in page
    assert "Succeeded" in page


@NOT_DATED
def test_sync_now_without_a_token_says_where_to_add_one(make_app, admin_client):
    app = make_app(WTF_CSRF_ENABLED=False)
    admin = admin_client(app)
    panel = admin.get("/sync", headers=HX).text
    assert "Calendly is not connected yet." in panel
    assert "/settings" in panel
    response = admin.post("/sync", headers=HX)
    assert "Connect Calendly in Settings first." in response.text
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(SyncRun)) == 0


@NOT_DATED
def test_sync_now_with_no_event_type_choice_refuses_and_links_to_the_picker(
    make_app, calendly_sim, admin_client
):
    app = make_app(
        event_types=None,
        CALENDLY_API_BASE_URL=calendly_sim.base_url,
        CALENDLY_TOKEN="sim-token",
        WTF_CSRF_ENABLED=False,
    )
    admin = admin_client(app)
    poll_until_finished(admin, admin.post("/sync", headers=HX))
    wait_until_idle(app)
    final = admin.get("/sync", headers=HX).text
    assert "No event types are chosen yet, so nothing was synced." in final
    assert 'href="/settings#event-type-choice"' in final
    assert "Choose event types" in final
    with app.app_context():
        run = db.session.scalars(select(SyncRun)).one()
        assert (run.status, run.outcome, run.api_requests) == ("failed", "no_event_types", 0)
        assert db.session.scalar(select(func.count()).select_from(CalendlyEvent)) == 0
    assert calendly_sim.request_count == 0
    runs = admin.get("/sync/runs").text
    assert 'href="/settings#event-type-choice"' in runs
    german = admin.get("/sync", headers={**HX, "Accept-Language": "de"}).text
    assert "Es sind noch keine Ereignistypen gewählt" in german


def test_a_failed_run_shows_its_error(login, app):
    add_runs(app, 1, status="failed", outcome="token_refused", outcome_params={"status": 401})
    html = login.get("/sync").text
    assert "Failed" in html
    assert "Calendly did not accept the token (invalid or revoked)." in html


@NOT_DATED
def test_sync_post_needs_the_csrf_token(make_app, calendly_sim, admin_client):
    app = make_app(CALENDLY_API_BASE_URL=calendly_sim.base_url, CALENDLY_TOKEN="sim-token")
    admin = admin_client(app)
    assert 'name="csrf_token"' in admin.get("/sync").text
    assert admin.post("/sync", headers=HX).status_code == 400
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(SyncRun)) == 0


def test_next_scheduled_run_is_shown_only_when_a_scheduler_says_so(login, app):
    assert "Next scheduled sync" not in login.get("/sync").text
    app.extensions["scheduler_next_run"] = lambda: datetime(2030, 1, 2, 5, 0, tzinfo=UTC)
    html = login.get("/sync").text
    assert "Next scheduled sync" in html
    assert "6:00" in html  # 05:00 UTC in Europe/Berlin


def test_runs_list_is_paginated_as_page_and_partial(login, app):
    add_runs(app, 25)
    add_runs(app, 1, status="failed", trigger="manual", outcome="network")
    page = login.get("/sync/runs")
    assert page.status_code == 200
    assert "<html" in page.text
    assert page.text.count('<tr class="run-') == 20
    assert "Calendly could not be reached." in page.text
    assert re.search("<td[^>]*>manual</td>", page.text)  # the trigger of the failed manual run
    assert "1:15" in page.text  # its duration
    assert 'href="/sync/runs?page=2"' in page.text
    assert "Page 1 of 2" in page.text

    second = login.get("/sync/runs?page=2", headers=HX)
    assert second.text.lstrip().startswith("<section")
    assert "<html" not in second.text
    assert second.text.count('<tr class="run-') == 6
    assert 'href="/sync/runs?page=1"' in second.text
    assert 'hx-push-url="true"' in second.text


@NOT_DATED
def test_sync_pages_need_a_login(client):
    assert client.get("/sync/runs").status_code == 302
    response = client.post("/sync", headers=HX)
    assert response.status_code == 401
    assert "HX-Redirect" in response.headers


def test_runs_show_labelled_figures_with_each_cell_named(login, app):
    add_runs(app, 1, events_created=65, events_missing=2, attendees_created=528, api_requests=68)
    html = login.get("/sync/runs").text
    assert "65 new" in html and "2 no longer in Calendly" in html and "528 new" in html
    assert "0 unchanged" in html
    assert not re.search(r"\d+/\d+/\d+", html), "packed figures like 0/0/63/0"
    # On a phone each run is a card whose cells say what they are.
    row = html.split('<tr class="run-', 1)[1].split("</tr>", 1)[0]
    labels = re.findall(r'<td[^>]*data-label="([^"]+)"', row)
    assert labels == [
        "#",
        "Started",
        "Trigger",
        "Status",
        "Webinars",
        "Attendees",
        "API requests",
        "Skipped records",
        "Error",
    ]


# -- the panel in German: what the mirror holds and what a run changed, every trigger in words,
# the button disabled while a run goes, retries in words, and a list reload only after a change.

german = pytest.mark.language("de")


def sync(client):
    """Run "Sync now" to its end through the panel's polling; the last panel response."""
    # The panel reports a run's end as soon as its row says so; its thread releases the sync
    # lease a moment later, so a click right after may still meet "already running".
    deadline = time.monotonic() + 10
    started = client.post("/sync", headers=HX)
    while "Es läuft bereits" in started.text and time.monotonic() < deadline:
        time.sleep(0.05)
        started = client.post("/sync", headers=HX)
    return poll_until_finished(client, started)[-1]


def words(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).replace("&nbsp;", " ")


@german
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


@german
def test_a_run_that_changed_something_reloads_the_list(login, app, calendly_sim, pick_event):
    sync(login)
    calendly_sim.rename_event(
        pick_event(calendly_sim, ahead=True, event_type="TLr - Infowebinar"), "Neu"
    )
    changed = sync(login)
    assert "Geändert: 1 Webinar, " in words(changed.text)
    assert json.loads(changed.headers["HX-Trigger"])["syncFinished"]["status"] == "succeeded"


@german
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
@NOT_DATED
def test_every_trigger_is_named_in_words(login, app, trigger, label):
    add_runs(app, 1, trigger=trigger)
    panel = words(login.get("/sync", headers=HX).text)
    assert f", {label}" in panel
    assert "(Jetzt synchronisieren)" not in panel
    assert re.search(f"<td[^>]*>{label}</td>", login.get("/sync/runs").text)


@NOT_DATED
@german
def test_the_button_is_disabled_while_a_run_goes(login, calendly_sim):
    calendly_sim.inject("slow", times=3, delay=0.4)
    started = login.post("/sync", headers=HX)
    assert POLL in started.text
    assert re.search(r"<button type=\"submit\" disabled[^>]*>Jetzt synchronisieren", started.text)
    final = poll_until_finished(login, started)[-1]
    assert re.search(r"<button type=\"submit\">Jetzt synchronisieren", final.text)


@NOT_DATED
@german
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
