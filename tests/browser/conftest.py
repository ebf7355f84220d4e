"""Browser fixtures: Debian's Chromium driven by Playwright, on the app's `live_server`
(tests/conftest.py).

`playwright install` cannot download browsers here, so the session's browser is launched from
/usr/bin/chromium (CHROMIUM_PATH overrides). Without it the browser tests are skipped locally
and fail under CI (env CI set), where .ci/run installs it.

Screenshots for the README are written to docs/screenshots/ only when README_SCREENSHOTS=1;
otherwise into the test's tmp_path, so that running the suite never changes tracked files.
"""

from __future__ import annotations

import os
import shutil
import time
from datetime import timedelta

import pytest
from flask import Flask
from playwright.sync_api import expect

from store import clock
from store.database import db
from store.models import CalendlyEvent, CalendlyEventAttendee, EventHost

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
SCREENSHOTS = os.path.join(os.path.dirname(__file__), "..", "..", "docs", "screenshots")


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/browser/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    """Launch Debian's Chromium instead of a Playwright download."""
    if not shutil.which(CHROMIUM) and not os.environ.get("CI"):
        pytest.skip(f"{CHROMIUM} not installed (apt-get install -y chromium)")
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_ARGS}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    """A German-speaking desktop browser (the team's default); tests switch language in-app."""
    return {
        **browser_context_args,
        "locale": "de-DE",
        "timezone_id": "Europe/Berlin",
        "viewport": {"width": 1280, "height": 860},
        "accept_downloads": True,
    }


@pytest.fixture
def strict_page(page):
    """`page` that fails the test if any script opens a dialog or the CSP blocks anything."""
    problems: list[str] = []

    def on_dialog(dialog):
        problems.append(f"dialog: {dialog.message}")
        dialog.dismiss()

    def on_console(message):
        if message.type == "error" and "Content Security Policy" in message.text:
            problems.append(f"CSP: {message.text}")

    page.on("dialog", on_dialog)
    page.on("console", on_console)
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    yield page
    assert not problems, problems


def _sign_in(page, server, then: str = "/") -> None:
    page.goto(server(f"/login?next={then}"))
    page.fill("input[name=email]", server.email)
    page.fill("input[name=password]", server.password)
    page.click("main form button[type=submit]")
    page.wait_for_url(server(then))


@pytest.fixture
def sign_in():
    """`sign_in(page, live_server, then="/")`: use the login form as the server's admin, wait for
    the page asked for."""
    return _sign_in


@pytest.fixture
def admin_page(strict_page, live_server):
    """A strict page signed in as the live server's admin, on the dashboard."""
    live_server.create_admin()
    _sign_in(strict_page, live_server)
    return strict_page


@pytest.fixture
def admin_on(strict_page, live_server, calendly_sim, sign_in):
    """`admin_on(path, connected=False, **config)`: the admin signed in (English) on `path` of an
    app whose Calendly is the simulator; `connected=True` gives the app the simulator's token
    and verified account, `config` sets more."""
    from services import settings

    def open_page(path, connected=False, **config):
        live_server.app.config.update(CALENDLY_API_BASE_URL=calendly_sim.base_url, **config)
        if connected:
            live_server.app.config["CALENDLY_TOKEN"] = calendly_sim.token
            with live_server.app.app_context():
                settings.save_account(calendly_sim.user)
        live_server.create_admin()
        sign_in(strict_page, live_server, path)
        strict_page.click(".lang-switch button[value=en]")
        expect(strict_page.locator("html")).to_have_attribute("lang", "en")
        return strict_page

    yield open_page
    with live_server.app.app_context():
        from mirror.sync import running_run

        while running_run() is not None:  # never drop the tables under a running sync
            time.sleep(0.05)


@pytest.fixture
def german_admin(admin_page, live_server, calendly_sim):
    """The admin on the German dashboard of an app that syncs the info-webinars from the
    simulator (its token in CALENDLY_TOKEN)."""
    live_server.app.config.update(
        CALENDLY_API_BASE_URL=calendly_sim.base_url,
        CALENDLY_TOKEN=calendly_sim.token,
        CALENDLY_EVENT_TYPES="TLr - Infowebinar",
    )
    expect(admin_page.locator("html")).to_have_attribute("lang", "de")
    yield admin_page
    with live_server.app.app_context():
        from mirror.sync import running_run

        while running_run() is not None:  # never drop the tables under a running sync
            time.sleep(0.05)


QUESTIONS = (
    "Welches Fach möchten Sie unterrichten?",
    "In welchem Bundesland?",
    "Wie haben Sie von uns erfahren?",
)
PEOPLE = [
    ("Jürgen Groß", "juergen.gross@example.de", ("Mathematik, Physik", "Sachsen", "Newsletter")),
    ("Aylin Demir", "aylin.demir@example.de", ("Deutsch", "Berlin", "Instagram")),
    ("Sören Müller-Lüdenscheidt", "soeren.ml@example.de", ("Informatik", "Bayern", "Kollegium")),
    ("Maria Schneider", "m.schneider@example.de", ("Englisch", "Hamburg", "Google")),
    ("Dr. Ilse Weiß", "ilse.weiss@example.de", ("Chemie", "Brandenburg", "Arbeitsagentur")),
    ("Mehmet Yılmaz", "mehmet.yilmaz@example.de", ("Sport, Biologie", "NRW", "Freunde")),
]
TEAMS_URL = "https://teams.microsoft.com/l/meetup-join/19%3ameeting_info"
# name, days from now, UTC hour, location type, location, invitee limit
PLANS = [
    ("Infowebinar Quereinstieg Lehramt", 2, 17, "zoom", "https://zoom.us/j/81234567890", 25),
    ("Infowebinar Referendariat", 4, 16, "google_conference", None, 30),
    ("Infoabend MINT-Fächer", 6, 18, "physical", "Bildungscampus, Schulstraße 12, Leipzig", 12),
    ("Offene Sprechstunde Onboarding", 8, 15, "zoom", "https://zoom.us/j/89876543210", 40),
    ("Infowebinar Grundschule", 11, 17, "microsoft_teams_conference", TEAMS_URL, 50),
    ("Infowebinar Quereinstieg Lehramt", 13, 17, "zoom", "https://zoom.us/j/81234567891", 25),
]
KATRIN = {
    "uri": "https://api.calendly.com/users/KATRIN",
    "name": "Katrin Böhm",
    "email": "katrin.boehm@tlr-akademie.de",
}
JONAS = {
    "uri": "https://api.calendly.com/users/JONAS",
    "name": "Jonas Albrecht",
    "email": "jonas.albrecht@tlr-akademie.de",
}
# Who hosts each of PLANS: mostly Katrin, one webinar the two together, one Jonas alone.
HOSTS = [[KATRIN], [KATRIN, JONAS], [KATRIN], [JONAS], [KATRIN], [KATRIN]]
HOSTILE_QA = [{"question": "<img src=x onerror=alert(2)>", "answer": "=1+2", "position": 0}]


@pytest.fixture
def seed_webinars():
    """`seed_webinars(app, hostile=False)`: insert German demo webinars; returns their ids."""
    return _seed_webinars


def _seed_webinars(app: Flask, hostile: bool = False) -> list[int]:
    """Realistic German info-webinars with attendees; returns the event ids, soonest first."""
    now = clock.now().replace(minute=0, second=0, microsecond=0)
    ids = []
    with app.app_context():
        for n, (name, days, hour, kind, location, limit) in enumerate(PLANS):
            start = (now + timedelta(days=days)).replace(hour=hour)
            people = PEOPLE if n != 2 else PEOPLE[:1]
            event = CalendlyEvent(
                calendly_id=f"browser-evt-{n}",
                uri=f"https://api.calendly.com/scheduled_events/browser-evt-{n}",
                name=name,
                status="canceled" if n == 5 else "active",
                start_time=start,
                end_time=start + timedelta(hours=1),
                event_type_uri="https://api.calendly.com/event_types/" + name.split()[-1].upper(),
                location_type=kind,
                location=location,
                invitees_active=limit if n == 2 else min(limit, len(people) + 9 * n),
                invitees_total=len(people),
                invitees_limit=12 if n == 2 else limit,
                missing_upstream=n == 4,
                cancel_reason="Referentin erkrankt" if n == 5 else None,
                hosts=HOSTS[n],
            )
            db.session.add(event)
            db.session.flush()
            for host in HOSTS[n]:
                db.session.add(
                    EventHost(
                        event_id=event.id,
                        user_uri=host["uri"],
                        name=host["name"],
                        email=host["email"],
                    )
                )
            for index, (person, email, answers) in enumerate(people):
                db.session.add(
                    CalendlyEventAttendee(
                        event_id=event.id,
                        calendly_id=f"browser-inv-{n}-{index}",
                        uri=f"{event.uri}/invitees/{index}",
                        name=person,
                        email=email,
                        status="canceled" if index == 3 else "active",
                        timezone="Europe/Berlin",
                        questions_and_answers=[
                            {"question": q, "answer": a, "position": i}
                            for i, (q, a) in enumerate(zip(QUESTIONS, answers, strict=True))
                        ],
                        rescheduled=index == 3,
                        cancel_reason="Neuer Termin gewählt" if index == 3 else None,
                        no_show=index == 5 and n == 0,
                        calendly_created_at=start - timedelta(days=10 - index, hours=3 * index),
                    )
                )
            ids.append(event.id)
        if hostile:
            db.session.add(
                CalendlyEventAttendee(
                    event_id=ids[0],
                    calendly_id="browser-inv-hostile",
                    uri="https://api.calendly.com/scheduled_events/x/invitees/hostile",
                    name="<script>alert(1)</script>",
                    email="hostile@example.org",
                    status="active",
                    questions_and_answers=HOSTILE_QA,
                    calendly_created_at=now,
                )
            )
        db.session.commit()
    return ids


@pytest.fixture
def save_screenshot(tmp_path):
    """`save_screenshot(page_or_locator, "name.png")`: a screenshot into docs/screenshots/ when
    README_SCREENSHOTS=1, else into tmp_path; returns its path after checking it is a PNG."""
    folder = SCREENSHOTS if os.environ.get("README_SCREENSHOTS") == "1" else str(tmp_path)

    def save(target, name: str, **options) -> str:
        os.makedirs(folder, exist_ok=True)
        path = os.path.normpath(os.path.join(folder, name))
        target.screenshot(path=path, **options)
        with open(path, "rb") as picture:
            assert picture.read(8) == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
        return path

    return save
