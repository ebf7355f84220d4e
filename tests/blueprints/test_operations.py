"""Monitoring endpoints: /healthz and /readyz (cheap, public, telling nothing), the verbose
readiness for admins, and who may scrape /metrics. On SQLite and, with TEST_DATABASE_URL, on
PostgreSQL."""

import re
import sqlite3
import threading

import pytest
from sqlalchemy import event, make_url
from sqlalchemy.engine import Engine

from services import accounts, operations
from services.syncing import sync_from_settings
from store.database import db

VIEWER, VIEWER_PASSWORD = "viewer@example.org", "viewer password 1"
METRICS_TOKEN = "scrape-me-0123456789"


@pytest.fixture
def statements():
    """Every SQL statement any engine of this process sends while the test runs."""
    seen = []

    def note(conn, cursor, statement, parameters, context, executemany):
        seen.append(statement)

    event.listen(Engine, "before_cursor_execute", note)
    yield seen
    event.remove(Engine, "before_cursor_execute", note)


def sign_in(app, email, password):
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf-token" content="([^"]+)"', page)[1]
    response = client.post(
        "/login", data={"email": email, "password": password, "csrf_token": token}
    )
    assert response.status_code == 303
    return client


@pytest.fixture
def viewer(app, admin_user):
    with app.app_context():
        accounts.create_admin(VIEWER, VIEWER_PASSWORD, "viewer")
    return sign_in(app, VIEWER, VIEWER_PASSWORD)


# -- cheap enough to poll every 10 s ---------------------------------------------------------------


def test_healthz_answers_without_a_login_and_runs_no_sql(client, statements):
    for _ in range(3):
        response = client.get("/healthz")
        assert response.status_code == 200
        assert response.get_json() == {"status": "ok"}
    assert statements == []


def test_readyz_runs_exactly_one_statement_per_poll(client, statements):
    for _ in range(3):
        statements.clear()
        response = client.get("/readyz")
        assert response.status_code == 200
        assert response.get_json() == {"status": "ok"}
        assert statements == [operations.READINESS_QUERY]


def test_readyz_and_healthz_need_no_login_and_tell_nothing(app, client, add_webinar):
    add_webinar(name="Infowebinar Lehrkräfte")
    for path in ("/healthz", "/readyz", "/readyz?verbose=1"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert response.get_json() == {"status": "ok"}, path
        assert "Location" not in response.headers


def test_healthz_answers_even_when_the_database_is_gone(make_app, tmp_path):
    make_app()
    app = make_app(SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'no' / 'such' / 'dir.db'}")
    client = app.test_client()
    assert client.get("/healthz").status_code == 200
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.get_json() == {"status": "unavailable"}


@pytest.fixture
def hold_database(app, database_url, lock_database):
    """`with hold_database(release_after):` no reader gets through to the probe's table until
    the block ends or `release_after` seconds have passed, whichever is first.

    PostgreSQL: LOCK TABLE ... ACCESS EXCLUSIVE. SQLite (WAL lets readers pass a writer): a
    connection in exclusive locking mode with an exclusive transaction, which it can take only
    while no other connection is open (WAL's shared memory): the app's are closed first, so
    the probe meets the lock when it connects.
    """
    if not database_url.startswith("sqlite"):
        return lambda release_after: lock_database("leases", hold_at_most=release_after)

    import contextlib

    @contextlib.contextmanager
    def held(release_after):
        with app.app_context():
            db.engine.dispose()
        app.extensions[operations.PROBE_ENGINE].dispose()
        path = make_url(database_url).database
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA locking_mode=EXCLUSIVE")
        conn.execute("BEGIN EXCLUSIVE")
        conn.execute("SELECT count(*) FROM leases").fetchall()
        closing = threading.Lock()

        def release():
            with closing:
                if conn.in_transaction:
                    conn.rollback()
                    conn.close()  # and with the connection goes its exclusive lock

        timer = threading.Timer(release_after, release)
        timer.start()
        try:
            yield
        finally:
            timer.cancel()
            release()

    return held


def test_readyz_answers_503_when_the_database_does_not_answer_within_a_second(
    client, hold_database
):
    assert client.get("/readyz").status_code == 200  # the probe's connection is open
    # Held for 6 s: a probe that waited longer than its second would get through, and say 200.
    with hold_database(6.0):
        response = client.get("/readyz")
        healthy = client.get("/healthz")
    assert response.status_code == 503
    assert response.get_json() == {"status": "unavailable"}
    assert healthy.status_code == 200
    assert client.get("/readyz").status_code == 200  # back once the lock is gone


# -- verbose: for admins only ----------------------------------------------------------------------


def test_verbose_readiness_tells_an_admin_the_state_without_secrets(login):
    response = login.get("/readyz?verbose=1")
    assert response.status_code == 200
    assert response.get_json() == {
        "database": True,
        "last_success_at": None,
        "last_success_age_seconds": None,
        "last_run_status": None,
        "last_run_outcome": None,
        "token": "missing",
        "webhook": "unknown",
        "webhook_checked_at": None,
    }
    # Without verbose=1 an admin gets the plain answer too.
    assert login.get("/readyz").get_json() == {"status": "ok"}


def test_a_viewer_gets_the_plain_readiness(viewer):
    response = viewer.get("/readyz?verbose=1")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


@pytest.mark.sim_account("small")
def test_verbose_readiness_follows_syncs_and_the_token(connected_app, calendly_sim):
    app = connected_app(calendly_sim)
    with app.app_context():
        sync_from_settings("cli")
    client = sign_in_admin(app)
    state = client.get("/readyz?verbose=1").get_json()
    assert state["database"] is True and state["token"] == "ok"
    assert state["last_run_status"] == "succeeded" and state["last_run_outcome"] is None
    assert state["last_success_at"] is not None and state["last_success_age_seconds"] >= 0
    assert calendly_sim.token not in str(state)

    calendly_sim.revoke_token()
    with app.app_context():
        sync_from_settings("cli")
    state = client.get("/readyz?verbose=1").get_json()
    assert state["token"] == "refused"
    assert (state["last_run_status"], state["last_run_outcome"]) == ("failed", "token_refused")
    assert state["last_success_at"] is not None  # the earlier success still counts


def sign_in_admin(app):
    app.config["PASSWORD_HASH_METHOD"] = "pbkdf2:sha256:1000"
    with app.app_context():
        accounts.create_admin("admin@example.org", "correct horse battery")
    return sign_in(app, "admin@example.org", "correct horse battery")


# -- /metrics: off by default, then only with the bearer token -------------------------------------


def test_metrics_are_off_without_a_token(client):
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", headers={"Authorization": "Bearer "}).status_code == 404


@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer", "Bearer wrong", f"Basic {METRICS_TOKEN}", f"Bearer {METRICS_TOKEN}x"],
)
def test_metrics_need_the_bearer_token(make_app, authorization):
    client = make_app(METRICS_TOKEN=METRICS_TOKEN).test_client()
    headers = {} if authorization is None else {"Authorization": authorization}
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert "webinar_sync" not in response.get_data(as_text=True)


def test_metrics_with_the_token_in_the_text_format(make_app):
    app = make_app(METRICS_TOKEN=METRICS_TOKEN)
    response = app.test_client().get(
        "/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}
    )
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=")
    assert "# TYPE webinar_sync_sync_runs_total counter" in response.get_data(as_text=True)
