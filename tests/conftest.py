"""Shared fixtures: a real app on a real database, and a real Calendly simulator.

`TEST_DATABASE_URL` switches every database test from a fresh SQLite file to that server
(PostgreSQL in CI); the schema is dropped and rebuilt around each test.
"""

import os

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import create_engine, make_url, text

from app import create_app
from store.database import db

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "")


def pytest_report_header(config):
    return f"database: {TEST_DATABASE_URL or 'SQLite file per test'}"


@pytest.fixture(scope="session")
def server_database_url():
    """TEST_DATABASE_URL, with a database of its own per xdist worker (created on demand)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not TEST_DATABASE_URL or not worker:
        return TEST_DATABASE_URL
    url = make_url(TEST_DATABASE_URL)
    name = f"{url.database}_{worker}"
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        exists = conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name})
        if not exists:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    engine.dispose()
    return url.set(database=name).render_as_string(hide_password=False)


@pytest.fixture
def database_url(tmp_path, server_database_url):
    """The database URL for one test."""
    if server_database_url:
        return server_database_url
    return f"sqlite:///{tmp_path / 'test.db'}"


@pytest.fixture
def make_app(tmp_path, database_url):
    """Build apps on the test database; the schema is created once and dropped afterwards."""
    apps = []

    def factory(**overrides):
        config = {
            "TESTING": True,
            "SECRET_KEY": "test-secret",
            "TOKEN_ENCRYPTION_KEY": Fernet.generate_key().decode(),
            "SQLALCHEMY_DATABASE_URI": database_url,
            "SCHEDULER_ENABLED": False,
            "CALENDLY_TOKEN": "",
            "CALENDLY_EVENT_TYPES": "",
        }
        config.update(overrides)
        app = create_app(config)
        if not apps:
            with app.app_context():
                db.drop_all()
                db.create_all()
        apps.append(app)
        return app

    yield factory
    if apps:
        with apps[0].app_context():
            db.session.remove()
            db.drop_all()
            db.engine.dispose()
        for other in apps[1:]:
            with other.app_context():
                db.engine.dispose()


@pytest.fixture
def app(make_app):
    return make_app()


@pytest.fixture
def app_ctx(app):
    with app.app_context():
        yield app


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def calendly_sim():
    """A seeded Calendly simulator on a free port (300 events, up to 40 invitees)."""
    from devtools.simulator import CalendlySimulator

    with CalendlySimulator(token="sim-token", seed=7) as sim:
        yield sim


@pytest.fixture(scope="module")
def module_sim():
    """One running simulator for a test module; its tests `reset()` it to the data they need."""
    from devtools.simulator import CalendlySimulator

    with CalendlySimulator(token="sim-token", seed=21) as sim:
        yield sim


@pytest.fixture
def sim_app(make_app, calendly_sim):
    """An app whose Calendly backend is the simulator."""
    return make_app(CALENDLY_API_BASE_URL=calendly_sim.base_url, CALENDLY_TOKEN="sim-token")


@pytest.fixture
def connected_app(make_app):
    """`connected_app(sim, **config)`: an app whose Calendly is `sim`, with its token and account
    saved as after a verified connection, looking back 14 days."""
    from services import settings

    def factory(sim, **config):
        app = make_app(
            CALENDLY_API_BASE_URL=sim.base_url,
            CALENDLY_TOKEN=sim.token,
            SYNC_LOOKBACK_DAYS=14,
            **config,
        )
        with app.app_context():
            settings.save_account(sim.user)
        return app

    return factory


# -- admin accounts and signed-in clients (auth screen) ----------------------------------------

ADMIN_EMAIL = "admin@example.org"
ADMIN_PASSWORD = "correct horse battery"
# Fast hashing for tests; production uses werkzeug's default (scrypt).
TEST_PASSWORD_HASH = "pbkdf2:sha256:1000"


def _page_csrf_token(html: str) -> str:
    import re

    match = re.search(r'name="csrf-token" content="([^"]+)"', html)
    assert match, "page has no csrf-token meta tag"
    return match.group(1)


@pytest.fixture
def admin_user(app):
    """An admin account: `.email` admin@example.org, `.password` 'correct horse battery'."""
    from types import SimpleNamespace

    from services import accounts

    app.config["PASSWORD_HASH_METHOD"] = TEST_PASSWORD_HASH
    with app.app_context():
        user = accounts.create_admin(ADMIN_EMAIL, ADMIN_PASSWORD)
        return SimpleNamespace(id=user.id, email=user.email, password=ADMIN_PASSWORD)


@pytest.fixture
def csrf_token(client):
    """`csrf_token(path="/login")`: the CSRF token of the page at `path`, for the test client."""

    def read(path: str = "/login") -> str:
        return _page_csrf_token(client.get(path).get_data(as_text=True))

    return read


@pytest.fixture
def login(client, admin_user, csrf_token):
    """The test client, signed in as `admin_user` through the real login form (CSRF on)."""
    response = client.post(
        "/login",
        data={
            "email": admin_user.email,
            "password": admin_user.password,
            "csrf_token": csrf_token("/login"),
        },
    )
    assert response.status_code == 303, response.get_data(as_text=True)
    return client


def _insert(app, row):
    """Commit `row` in a short app context and hand it back detached, attributes loaded.

    Tests must not hold an app context while they make requests: Flask would reuse it, and
    with it `g` (Flask-Login's cached user, Flask-Babel's cached locale) across requests.
    """
    with app.app_context():
        db.session.add(row)
        db.session.commit()
        db.session.refresh(row)
        db.session.expunge(row)
    return row


@pytest.fixture
def add_webinar(app):
    """`add_webinar(**fields)`: insert a CalendlyEvent (an upcoming Zoom webinar by default)."""
    import itertools
    from datetime import UTC, datetime, timedelta

    from store.models import CalendlyEvent

    counter = itertools.count(1)

    def add(**fields):
        n = next(counter)
        start = fields.pop("start_time", datetime.now(UTC) + timedelta(days=n))
        values = {
            "calendly_id": f"evt-{n:04d}",
            "uri": f"https://api.calendly.com/scheduled_events/evt-{n:04d}",
            "name": "Infowebinar Quereinstieg Lehramt",
            "status": "active",
            "start_time": start,
            "end_time": start + timedelta(hours=1),
            "event_type_uri": "https://api.calendly.com/event_types/INFO",
            "location_type": "zoom",
            "location": "https://zoom.us/j/123456789",
            "invitees_active": 0,
            "invitees_total": 0,
            "invitees_limit": 50,
        }
        values.update(fields)
        return _insert(app, CalendlyEvent(**values))

    return add


@pytest.fixture
def add_attendee(app):
    """`add_attendee(event, **fields)`: insert a CalendlyEventAttendee of `event`."""
    import itertools
    from datetime import UTC, datetime, timedelta

    from store.models import CalendlyEventAttendee

    counter = itertools.count(1)

    def add(event, **fields):
        n = next(counter)
        values = {
            "event_id": event.id,
            "calendly_id": f"inv-{event.id}-{n:04d}",
            "uri": f"{event.uri}/invitees/inv-{n:04d}",
            "name": f"Person {n}",
            "email": f"person{n}@example.org",
            "status": "active",
            "timezone": "Europe/Berlin",
            "questions_and_answers": [],
            "calendly_created_at": datetime.now(UTC) - timedelta(days=3, minutes=n),
        }
        values.update(fields)
        return _insert(app, CalendlyEventAttendee(**values))

    return add


# -- English clients, and admins of apps other than `app` ---------------------------------------


@pytest.fixture
def english_client(app):
    """The test client of `app`, asking for English pages (German is the default)."""
    client = app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    return client


@pytest.fixture
def signed_in():
    """`signed_in(app)`: an English client signed in as a new admin of `app` (for apps
    configured unlike the `app` fixture)."""
    from services import accounts

    def sign_in(app):
        app.config["PASSWORD_HASH_METHOD"] = TEST_PASSWORD_HASH
        with app.app_context():
            user_id = str(accounts.create_admin("other@example.org", ADMIN_PASSWORD).id)
        client = app.test_client()
        client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
        with client.session_transaction() as session:
            session["_user_id"] = user_id
            session["_fresh"] = True
        return client

    return sign_in


# -- a database someone else keeps busy ----------------------------------------------------------


@pytest.fixture
def lock_database(database_url):
    """`with lock_database(table, hold_at_most=8.0):` another connection holds a lock until the
    block ends (or `hold_at_most` seconds have passed, so that a hung test still ends).

    PostgreSQL: `LOCK TABLE <table> IN ACCESS EXCLUSIVE MODE`, which blocks even reads of it.
    SQLite: the write lock of the whole database (BEGIN IMMEDIATE); reads go on (WAL).
    """
    import contextlib
    import sqlite3
    import threading

    @contextlib.contextmanager
    def locked(table: str = "calendly_events", hold_at_most: float = 8.0):
        held, release = threading.Event(), threading.Event()
        failure = []

        def hold():
            try:
                if database_url.startswith("sqlite"):
                    conn = sqlite3.connect(make_url(database_url).database, isolation_level=None)
                    conn.execute("BEGIN IMMEDIATE")
                    held.set()
                    release.wait(hold_at_most)
                    conn.rollback()
                    conn.close()
                    return
                engine = create_engine(database_url)
                with engine.connect() as conn:
                    conn.exec_driver_sql(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
                    held.set()
                    release.wait(hold_at_most)
                    conn.rollback()
                engine.dispose()
            except Exception as exc:  # reported by the test's thread below
                failure.append(exc)
                held.set()

        holder = threading.Thread(target=hold, name="lock-holder", daemon=True)
        holder.start()
        assert held.wait(30), "the lock was not taken"
        assert not failure, failure
        try:
            yield
        finally:
            release.set()
            holder.join(30)

    return locked
