"""The probe that found the hang, in small: gunicorn with two workers on PostgreSQL, a table
locked by another connection. The dashboard answers 503 within the configured lock timeout
(set through the environment, as in production), the login page stays quick, and once the lock
is gone the dashboard is back."""

import os
import re
import time

import pytest
import requests

from services import accounts
from tests.app.gunicorn import start_gunicorn, wait_until_serving

PASSWORD = "correct horse battery"

pytestmark = pytest.mark.skipif(
    not os.environ.get("TEST_DATABASE_URL"), reason="the probe locked a PostgreSQL table"
)


def test_gunicorn_workers_answer_503_instead_of_hanging(make_app, database_url, lock_database):
    app = make_app(PASSWORD_HASH_METHOD="pbkdf2:sha256:1000")
    with app.app_context():
        accounts.create_admin("admin@example.org", PASSWORD)
    server, base = start_gunicorn(
        database_url,
        app.config["TOKEN_ENCRYPTION_KEY"],
        args=("--timeout", "30"),
        WEB_DB_LOCK_TIMEOUT_SECONDS="0.5",
    )
    try:
        browser = requests.Session()
        browser.headers["Accept-Language"] = "de"
        page = wait_until_serving(server, f"{base}/login", browser)
        token = re.search(r'name="csrf-token" content="([^"]+)"', page.text)[1]
        signed_in = browser.post(
            f"{base}/login",
            data={"email": "admin@example.org", "password": PASSWORD, "csrf_token": token},
            allow_redirects=False,
            timeout=10,
        )
        assert signed_in.status_code == 303

        with lock_database("calendly_events", hold_at_most=20):
            started = time.monotonic()
            answers = [browser.get(f"{base}/", timeout=25) for _ in range(4)]  # > workers
            elapsed = time.monotonic() - started
            login_started = time.monotonic()
            login_page = browser.get(f"{base}/login", allow_redirects=False, timeout=25)
            login_took = time.monotonic() - login_started
        assert [a.status_code for a in answers] == [503] * 4
        assert all(int(a.headers["Retry-After"]) > 0 for a in answers)
        assert "Die Datenbank ist gerade belegt" in answers[0].text
        assert elapsed < 8  # four times the 0.5 s limit and then some, not 4 x 30 s
        assert login_page.status_code == 302 and login_took < 2  # signed in: to the dashboard
        assert browser.get(f"{base}/", timeout=10).status_code == 200
    finally:
        server.terminate()
        _, log = server.communicate(timeout=30)
    busy_lines = [line for line in log.splitlines() if "database busy" in line]
    assert len(busy_lines) == 4, log[-3000:]
    assert "Traceback" not in log
