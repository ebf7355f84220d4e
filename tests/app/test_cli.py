"""`flask calendly verify|sync|simulate` against the simulator."""

import contextlib
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


def test_sync_without_an_event_type_choice_refuses_and_says_how_to_choose(make_app, calendly_sim):
    app = make_app(
        event_types=None, CALENDLY_API_BASE_URL=calendly_sim.base_url, CALENDLY_TOKEN="sim-token"
    )
    result = app.test_cli_runner().invoke(args=["calendly", "sync"])
    assert result.exit_code == 1
    for hint in ("Settings", "CALENDLY_EVENT_TYPES", "--all-types"):
        assert hint in result.output
    assert calendly_sim.request_count == 0
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(CalendlyEvent)) == 0

    result = app.test_cli_runner().invoke(args=["calendly", "sync", "--all-types"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        types = set(db.session.scalars(select(CalendlyEvent.event_type_uri).distinct()))
        assert len(types) > 1  # every type, not only the info-webinars
        assert settings.sync_event_types() is None  # a choice for this run only


def test_full_sync_exits_non_zero_with_the_error(sim_app, calendly_sim):
    calendly_sim.revoke_token()
    result = sim_app.test_cli_runner().invoke(args=["calendly", "sync", "--full"])
    assert result.exit_code == 1
    assert "HTTP 401" in result.output
    assert "Traceback" not in result.output


@contextlib.contextmanager
def simulator_process(tmp_path, *options):
    """`flask calendly simulate --port <free> OPTIONS` as a process; yields its base URL once it
    answers, and stops it afterwards."""
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
            *options,
        ],  # fmt: skip
        cwd=root,
        env={**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'sim.db'}"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while True:
            try:
                requests.get(f"{base}/users/me", timeout=5)
                break
            except requests.ConnectionError:
                if proc.poll() is not None:
                    raise AssertionError(f"simulate exited: {proc.stderr.read()[-2000:]}") from None
                assert time.monotonic() < deadline, "simulator did not start"
                time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.mark.subprocess
def test_simulate_serves_the_calendly_api(tmp_path):
    """`flask calendly simulate` answers like Calendly on the given port."""
    with simulator_process(tmp_path, "--events", "20", "--token", "demo-token") as base:
        me = requests.get(f"{base}/users/me", headers={"Authorization": "Bearer demo-token"})
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


@pytest.mark.subprocess
def test_simulate_offers_latency_and_faults_on_the_command_line(tmp_path):
    """An admin can try the app against a slow or failing Calendly: every answer comes late,
    and about the given share of them is one of the chosen faults."""
    options = ("--events", "20", "--latency-ms", "150", "--fail-rate", "0.5")
    faults = ("--fault", "503", "--fault", "429")
    with simulator_process(tmp_path, *options, *faults) as base:
        statuses, quickest = [], float("inf")
        for _ in range(24):
            started = time.monotonic()
            answer = requests.get(f"{base}/users/me", headers={"Authorization": "Bearer sim-token"})
            quickest = min(quickest, time.monotonic() - started)
            statuses.append(answer.status_code)
            if answer.status_code == 429:
                assert answer.headers["X-RateLimit-Remaining"] == "0"
    assert quickest >= 0.15  # even the quickest answer waited out the latency
    assert set(statuses) == {200, 503, 429}, statuses
    assert 4 <= statuses.count(200) <= 20, statuses


def test_simulate_refuses_a_fail_rate_outside_0_to_1(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "flask",
            "--app",
            "app",
            "calendly",
            "simulate",
            "--fail-rate",
            "1.5",
        ],  # fmt: skip
        cwd=Path(__file__).resolve().parents[2],
        env={**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'sim.db'}"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "'--fail-rate': 1.5 is not in the range 0<=x<=1" in result.stderr


def test_the_fault_choices_are_the_simulators():
    from cli import simulate_command
    from devtools.simulator import CHAOS_FAULTS

    option = next(p for p in simulate_command.params if p.name == "faults")
    assert tuple(option.type.choices) == CHAOS_FAULTS
