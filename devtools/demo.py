"""Demo mode: with no Calendly token at all, serve the bundled simulator in-process and sync it.

DEMO_MODE (env DEMO_MODE=1, as scripts/run sets it) asks for it; `init_demo(app)`, called by the
app factory, then starts the simulator on a free port in a daemon thread, points the Calendly
client at it (DEMO_API_BASE_URL, for the demo's own token only), runs a first sync so the
dashboard has webinars, and creates a demo admin whose login it prints (and writes to
instance/demo-credentials.txt). `config["DEMO_MODE"]` is True only while the demo runs. Saving a
real token on the Settings page ends it without a restart (`leave_demo`, on the connection's
`token_connected` signal), which also removes the made-up webinars from the database.

Leaving demo mode also ends the demo login, since the same account now opens real attendee
data: the printed password stops working, every demo session ends, and the credentials file is
deleted. The admin who connected the token, when signed in as the demo account, chooses their
own email and password next (the web layer sees `must_set_login`); when another admin connected
it, the demo account is deleted. A real token found at start-up (e.g. CALENDLY_TOKEN set after
a demo) ends a demo left over from an earlier run the same way.
"""

from __future__ import annotations

import logging
import os
import secrets
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import click
from flask import Flask
from sqlalchemy import delete, inspect, select
from sqlalchemy.exc import IntegrityError

from mirror import leases
from mirror.sync import SYNC_LEASE, SyncAlreadyRunning, counts_line
from services import accounts, connection, settings
from services.syncing import sync_from_settings
from store.database import db, start_write
from store.models import (
    AdminSession,
    CalendlyEvent,
    CalendlyEventAttendee,
    CalendlyEventType,
    SyncRun,
)
from store.outcomes import SyncTrigger

log = logging.getLogger(__name__)

DEMO_ADMIN_EMAIL = "demo@example.com"
DEMO_SEED = 42
DEMO_EVENTS = 120
DEMO_MAX_INVITEES = 30
# Set while the mirror holds the simulator's made-up data, so that it is removed on leaving and
# so that demo mode never starts on top of real synced data.
DEMO_DATA_KEY = "demo_data"
CREDENTIALS_FILE = "demo-credentials.txt"
# How long leaving demo mode waits for a running demo sync to give up the lease.
PURGE_WAIT_SECONDS = 15.0

_lock = threading.Lock()


@dataclass
class DemoState:
    """The running demo: its simulator."""

    simulator: object


def init_demo(app: Flask) -> bool:
    """Start demo mode when DEMO_MODE is on and no token is configured; True when it started.

    Otherwise, with a real token configured, it ends what an earlier demo run left behind (its
    login, its credentials file, its data). The app factory calls it only in a process that
    serves requests (not in `flask db upgrade`, nor in the reloader's watcher), and not under
    TESTING.
    """
    with app.app_context():
        if not app.config.get("DEMO_MODE"):
            _end_leftover_demo(app)
            return False
        reason = _why_not(app)
        if reason:
            log.warning("Demo mode not started: %s", reason)
            app.config["DEMO_MODE"] = False
            _end_leftover_demo(app)
            return False
        _start(app)
    return True


def leave_demo(app: Flask, connected_by: int | None = None, **_signal) -> None:
    """End demo mode (stop the simulator), remove the demo's data and end the demo login.

    `connected_by` is the account that connected the real token, when known (the
    `token_connected` signal sends it).
    """
    with _lock:
        state = app.extensions.pop("demo", None)
        app.config["DEMO_MODE"] = False
        app.config["DEMO_CALENDLY_TOKEN"] = ""
        app.config["DEMO_API_BASE_URL"] = ""
        app.config["DEMO_LOGIN"] = None
        if state is not None:
            # A demo sync still running now fails fast against the stopped simulator.
            state.simulator.stop()
            log.info("Demo mode ended")
    # The login first: the purge may wait for a running sync, and real data is coming in.
    _end_demo_login(app, connected_by)
    if settings.get_setting(DEMO_DATA_KEY):
        # The demo's event type choice named the simulator's types: the real account's admin
        # chooses anew before anything is synced.
        settings.delete_setting(settings.EVENT_TYPES_KEY)
        _purge_demo_data()


def _end_leftover_demo(app: Flask) -> None:
    """Leave a demo an earlier run did not leave, once a real token is configured."""
    if not inspect(db.engine).has_table(AdminSession.__tablename__):
        return  # no tables, or not yet upgraded to server-side sessions: nothing to end here
    if settings.token_from_environment() or settings.token_hint():
        leave_demo(app)


def _end_demo_login(app: Flask, connected_by: int | None) -> None:
    """The demo password stops working, its sessions end, and the credentials file goes."""
    credentials_path(app).unlink(missing_ok=True)
    user = accounts.require_new_login(DEMO_ADMIN_EMAIL)
    if user is None:  # no demo account (an existing admin was used), or already ended
        return
    log.info("Demo login ended")
    if connected_by != user.id and accounts.other_enabled_admins(user.id):
        # Someone with a login of their own connected the token: nobody will claim this one.
        accounts.delete_admin(DEMO_ADMIN_EMAIL)


def _why_not(app: Flask) -> str | None:
    """Why demo mode cannot start here, or None when it can."""
    if not inspect(db.engine).has_table(SyncRun.__tablename__):
        return "the database has no tables yet (run `flask --app app db upgrade`)"
    if settings.token_from_environment() or settings.token_hint():
        return "a Calendly token is configured"
    has_events = db.session.scalar(select(CalendlyEvent.id).limit(1)) is not None
    if has_events and not settings.get_setting(DEMO_DATA_KEY):
        return "the database already holds synced Calendly data"
    return None


def _start(app: Flask) -> None:
    # Imported here so that a process that never starts the demo never loads the simulator.
    from devtools.simulator import CalendlySimulator

    token = "demo-" + secrets.token_urlsafe(24)
    simulator = CalendlySimulator(token=token, seed=DEMO_SEED)
    simulator.seed_data(n_events=DEMO_EVENTS, max_invitees=DEMO_MAX_INVITEES)
    simulator.start()
    with _lock:
        app.extensions["demo"] = DemoState(simulator)
        app.config["DEMO_API_BASE_URL"] = simulator.base_url
        app.config["DEMO_CALENDLY_TOKEN"] = token
        app.config["DEMO_MODE"] = True
    settings.set_setting(DEMO_DATA_KEY, True)
    if not settings.event_types_chosen():
        # The demo chooses its info-webinars as an admin would on Settings, where the choice
        # can be tried and changed; leaving the demo forgets it.
        connection.save_event_types(connection.default_event_type_uris(simulator.event_types))
    log.info("Demo mode: Calendly simulator on %s", simulator.base_url)
    try:
        run = sync_from_settings(SyncTrigger.DEMO)
        log.info("Demo mode: first sync %s: %s", run.status, run.outcome or counts_line(run))
    except SyncAlreadyRunning:
        log.info("Demo mode: a sync is already running; skipping the first one")
    _ensure_admin(app)
    connection.token_connected.connect(leave_demo, sender=app, weak=False)
    app.before_request(_leave_when_token_stored)


def _leave_when_token_stored():
    # A token saved by another worker process (or before a restart of this one) ends the demo
    # here too; without this, only the process that handled the Settings form would notice.
    from flask import current_app

    if current_app.config.get("DEMO_MODE") and settings.token_hint():
        leave_demo(current_app._get_current_object())


def credentials_path(app: Flask) -> Path:
    """Where the demo admin's login is written (DEMO_CREDENTIALS_PATH overrides)."""
    return Path(
        app.config.get("DEMO_CREDENTIALS_PATH") or Path(app.instance_path) / CREDENTIALS_FILE
    )


def _ensure_admin(app: Flask) -> None:
    """Create the demo admin unless any admin exists, and tell the console how to log in."""
    path = credentials_path(app)
    if accounts.has_admin():
        where = f" (see {path})" if path.exists() else ""
        _say(f"Demo mode: log in with an existing admin account{where}.")
        _show_login_from_file(app, path)
        return
    password = secrets.token_urlsafe(12)
    try:
        accounts.create_admin(DEMO_ADMIN_EMAIL, password)
    except (accounts.AccountError, IntegrityError):  # another worker created it first
        db.session.rollback()
        _say(f"Demo mode: log in as {DEMO_ADMIN_EMAIL} (see {path}).")
        _show_login_from_file(app, path)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(f"email: {DEMO_ADMIN_EMAIL}\npassword: {password}\n")
    app.config["DEMO_LOGIN"] = {"email": DEMO_ADMIN_EMAIL, "password": password}
    _say(
        "\n".join(
            [
                "",
                "=" * 64,
                "  Webinar Sync is running in DEMO MODE (simulated Calendly data).",
                f"  Log in as:  {DEMO_ADMIN_EMAIL}",
                f"  Password:   {password}",
                f"  (also written to {path})",
                "  Paste a real Calendly token in Settings to leave demo mode.",
                "=" * 64,
                "",
            ]
        )
    )


def _show_login_from_file(app: Flask, path: Path) -> None:
    """Let the login page show the demo login another worker or an earlier run wrote, while
    it still opens the demo account."""
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return  # no file, or another worker is still writing it: the console says where it is
    login = dict(line.split(": ", 1) for line in lines if ": " in line)
    email, password = login.get("email"), login.get("password")
    if email and password and accounts.password_matches(email, password):
        app.config["DEMO_LOGIN"] = {"email": email, "password": password}


def _say(text: str) -> None:
    # The console, not the log: this is for the person who just started the app.
    click.echo(text, err=True)


def _purge_demo_data() -> None:
    """Delete the demo's events, attendees, sync runs and cached event types (only ever
    simulator data, or a cache that refills itself)."""
    owner = f"demo-purge:{uuid.uuid4().hex[:8]}"
    deadline = time.monotonic() + PURGE_WAIT_SECONDS
    while not leases.try_acquire(SYNC_LEASE, owner, PURGE_WAIT_SECONDS * 2):
        if time.monotonic() > deadline:
            log.warning("Demo data not removed: a sync is still running")
            return
        time.sleep(0.2)
    try:
        start_write(db.session)
        db.session.execute(delete(CalendlyEventAttendee))
        db.session.execute(delete(CalendlyEvent))
        db.session.execute(delete(SyncRun))
        # The simulator's event types; a real account's are listed again when next needed.
        db.session.execute(delete(CalendlyEventType))
        db.session.commit()
        settings.delete_setting(DEMO_DATA_KEY)
        log.info("Demo data removed")
    finally:
        leases.release(SYNC_LEASE, owner)
