"""Web requests wait for a busy database only briefly: past the limit they answer a translated
503 with Retry-After and one log line, instead of hanging until gunicorn kills the worker.

PostgreSQL: a table locked by another connection (LOCK TABLE ... ACCESS EXCLUSIVE, as in the
probe that hung all four workers) runs into the request's lock_timeout or statement_timeout.
SQLite: the database's write lock held by another connection runs a write into the busy timeout.
"""

import logging
import os
import time

import pytest

from store.outcomes import SyncStatus

postgres_only = pytest.mark.skipif(
    not os.environ.get("TEST_DATABASE_URL"),
    reason="PostgreSQL locks tables; SQLite readers never wait (WAL)",
)
BUSY_EN = "The database is busy right now – please try again in a moment."
BUSY_DE = "Die Datenbank ist gerade belegt – bitte gleich noch einmal versuchen."
# Far below the 8 s the lock is held at most: the request gave up on its own.
FAST = 3.0


@pytest.fixture
def app(make_app):
    return make_app(
        PROPAGATE_EXCEPTIONS=False,
        WEB_DB_LOCK_TIMEOUT_SECONDS=0.3,
        WEB_DB_STATEMENT_TIMEOUT_SECONDS=5,
    )


def busy_log_lines(caplog):
    return [r for r in caplog.records if r.levelno >= logging.WARNING]


def assert_busy_page(response, text=BUSY_EN):
    assert response.status_code == 503
    assert int(response.headers["Retry-After"]) > 0
    assert text in response.get_data(as_text=True)


@postgres_only
def test_the_dashboard_on_a_locked_table_answers_503_at_once(
    app, admin_client, lock_database, caplog, add_webinar
):
    add_webinar()
    client = admin_client(app)
    caplog.set_level(logging.INFO)
    with lock_database("calendly_events"):
        started = time.monotonic()
        response = client.get("/")
        elapsed = time.monotonic() - started
        german = client.get("/", headers={"Accept-Language": "de"})
        partial = client.get("/", headers={"HX-Request": "true"})
    assert elapsed < FAST
    assert_busy_page(response)
    assert_busy_page(german, BUSY_DE)
    assert partial.status_code == 503
    lines = busy_log_lines(caplog)
    assert len(lines) == 3, [r.getMessage() for r in lines]  # one per request
    assert all(r.levelno == logging.WARNING and r.exc_info is None for r in lines)
    assert "GET /" in lines[0].getMessage()
    # Once the lock is gone, the page is back.
    assert client.get("/").status_code == 200


@postgres_only
def test_a_statement_past_its_timeout_answers_503_but_downloads_may_take_longer(
    make_app, admin_client, lock_database, add_webinar
):
    # A long lock_timeout: here the statement_timeout is the limit that strikes.
    app = make_app(
        PROPAGATE_EXCEPTIONS=False,
        WEB_DB_LOCK_TIMEOUT_SECONDS=30,
        WEB_DB_STATEMENT_TIMEOUT_SECONDS=0.3,
        DOWNLOAD_DB_STATEMENT_TIMEOUT_SECONDS=20,
    )
    client = admin_client(app)
    with lock_database("calendly_events", hold_at_most=1.5):
        started = time.monotonic()
        page = client.get("/")
        elapsed = time.monotonic() - started
        download = client.get("/webinars.csv")  # waits for the lock to go (1.5 s)
        csv = download.get_data(as_text=True)  # to the end: the stream holds a transaction
    assert elapsed < FAST
    assert_busy_page(page)
    assert download.status_code == 200
    assert download.mimetype == "text/csv" and "Email" in csv


def test_a_write_while_the_database_is_locked_answers_503_at_once(
    app, client, admin_user, csrf_token, lock_database, caplog
):
    token = csrf_token("/login")
    caplog.set_level(logging.INFO)
    # A failed login writes (the failure is counted); the login table is what it waits for.
    with lock_database("login_failures"):
        started = time.monotonic()
        response = client.post(
            "/login",
            data={"email": admin_user.email, "password": "wrong", "csrf_token": token},
            headers={"Accept-Language": "en"},
        )
        elapsed = time.monotonic() - started
    assert elapsed < FAST
    assert_busy_page(response)
    assert len(busy_log_lines(caplog)) == 1


@postgres_only
def test_sync_now_and_the_cli_do_not_inherit_the_web_limits(
    make_app, calendly_sim, admin_client, lock_database
):
    """The web's short limits are for requests; a sync waits out a lock of a few seconds."""
    from mirror.sync import running_run
    from services.syncing import sync_from_settings
    from store.database import db
    from store.models import SyncRun

    app = make_app(
        WEB_DB_LOCK_TIMEOUT_SECONDS=0.2,
        CALENDLY_API_BASE_URL=calendly_sim.base_url,
        CALENDLY_TOKEN="sim-token",
        WTF_CSRF_ENABLED=False,  # CSRF has tests of its own
    )
    client = admin_client(app)
    with lock_database("calendly_events", hold_at_most=1.5):
        # Takes the lease and records the run (other tables), then syncs in a thread.
        assert client.post("/sync", headers={"HX-Request": "true"}).status_code == 200
    with app.app_context():
        deadline = time.monotonic() + 60
        while running_run() is not None and time.monotonic() < deadline:
            time.sleep(0.05)
        run = db.session.scalars(db.select(SyncRun)).one()
        assert run.status == SyncStatus.SUCCEEDED, (run.outcome, run.outcome_params)
    with lock_database("calendly_events", hold_at_most=1.5), app.app_context():
        assert sync_from_settings("cli").status == SyncStatus.SUCCEEDED
