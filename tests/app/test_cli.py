"""`flask calendly verify|sync|simulate` against the simulator."""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from sqlalchemy import func, select

from services import settings
from store.database import db
from store.models import CalendlyEvent


def test_verify_prints_the_account_and_stores_it(sim_app, calendly_sim):
    result = sim_app.test_cli_runner().invoke(args=["calendly", "verify"])
    assert result.exit_code == 0, result.output
    assert calendly_sim.user["name"] in result.output
    assert calendly_sim.user["uri"] in result.output
    assert calendly_sim.organization_uri in result.output
    with sim_app.app_context():
        assert settings.account()["user_uri"] == calendly_sim.user["uri"]


def test_verify_with_a_bad_token_prints_the_clear_error(make_app, calendly_sim):
    app = make_app(CALENDLY_API_BASE_URL=calendly_sim.base_url, CALENDLY_TOKEN="wrong-token")
    result = app.test_cli_runner().invoke(args=["calendly", "verify"])
    assert result.exit_code != 0
    assert "Calendly API error (HTTP 401): The access token is invalid" in result.output
    assert "wrong-token" not in result.output
    assert "Traceback" not in result.output


def test_sync_prints_a_summary(sim_app):
    result = sim_app.test_cli_runner().invoke(args=["calendly", "sync"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("Sync #1 succeeded: events: ")
    with sim_app.app_context():
        assert db.session.scalar(select(func.count()).select_from(CalendlyEvent)) > 0


def test_full_sync_exits_non_zero_with_the_error(sim_app, calendly_sim):
    calendly_sim.revoke_token()
    result = sim_app.test_cli_runner().invoke(args=["calendly", "sync", "--full"])
    assert result.exit_code == 1
    assert "HTTP 401" in result.output
    assert "Traceback" not in result.output


@pytest.mark.subprocess
def test_simulate_serves_the_calendly_api(tmp_path):
    """`flask calendly simulate` answers like Calendly on the given port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "flask",
            "--app",
            "app",
            "calendly",
            "simulate",
            "--port",
            str(port),
            "--events",
            "20",
            "--token",
            "demo-token",
        ],  # fmt: skip
        cwd=root,
        env={**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'sim.db'}"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while True:
            try:
                me = requests.get(
                    f"{base}/users/me", headers={"Authorization": "Bearer demo-token"}
                )
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline, "simulator did not start"
                time.sleep(0.1)
        assert me.status_code == 200
        user_uri = me.json()["resource"]["uri"]
        events = requests.get(
            f"{base}/scheduled_events",
            params={"user": user_uri, "count": 100},
            headers={"Authorization": "Bearer demo-token"},
        ).json()
        assert len(events["collection"]) == 20
        bad = requests.get(f"{base}/users/me", headers={"Authorization": "Bearer nope"})
        assert bad.status_code == 401
    finally:
        proc.terminate()
        proc.wait(timeout=10)
