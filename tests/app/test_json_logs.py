"""Logs that machines can read: LOG_FORMAT=json writes one JSON object per line, and each line
says which request, sync run and webhook delivery it belongs to. The default stays readable."""

from __future__ import annotations

import json
import logging
import os
import re
import socket
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest
import requests
from cryptography.fernet import Fernet

from mirror.problems import log_failure
from services.scheduler import run_tick
from services.webhook_subscriptions import WEBHOOK_PATH
from store import clock, log_context
from tests.app.log_capture import json_log
from tests.mirror.background import wait_for

ROOT = Path(__file__).resolve().parents[2]
GUNICORN = Path(sys.executable).with_name("gunicorn")
HEX_ID = re.compile(r"[0-9a-f]{32}")
PERSON = "Zacharias Quellenfeld <z@example.org>"
FIELDS = {"time", "level", "logger", "message", "request_id", "sync_run_id", "delivery_id"}


def unsigned_delivery(client, **headers):
    """A webhook delivery that is refused (no signing key): one warning, no login needed."""
    return client.post(WEBHOOK_PATH, data=b'{"event": "invitee.created"}', headers=headers)


# -- the format ---------------------------------------------------------------------------------


def test_each_record_is_one_json_object_with_every_field():
    log = logging.getLogger("mirror.sync")
    with json_log() as written:
        with log_context.bound(request_id="req-1", sync_run_id=7):
            log.warning("sync #%s (%s) failed: %s", 7, "manual", "network")
        try:
            raise RuntimeError("broken\nacross lines")
        except RuntimeError:
            log.exception("a crash")
    first, crash = written.lines()  # two records, two lines: the traceback is inside one
    assert set(first) == FIELDS
    assert first["message"] == "sync #7 (manual) failed: network"
    assert (first["level"], first["logger"]) == ("WARNING", "mirror.sync")
    assert (first["request_id"], first["sync_run_id"], first["delivery_id"]) == ("req-1", 7, None)
    stamped = datetime.fromisoformat(first["time"])
    assert first["time"].endswith("Z") and stamped.utcoffset().total_seconds() == 0
    assert abs((stamped - clock.now()).total_seconds()) < 60
    # Outside the block the ids are gone again.
    assert (crash["request_id"], crash["sync_run_id"]) == (None, None)
    assert crash["level"] == "ERROR" and crash["message"] == "a crash"
    assert "Traceback" in crash["exception"] and "RuntimeError: broken" in crash["exception"]


def test_a_failure_logged_without_its_text_keeps_its_traceback_in_the_exception_field():
    log = logging.getLogger("mirror.webhooks")
    with json_log() as written:
        try:
            raise RuntimeError(f"disk on fire while writing {PERSON}")
        except RuntimeError as exc:
            log_failure(log, "webhook %s failed", "invitee.created", exc=exc)
    (line,) = written.lines()
    assert line["message"] == "webhook invitee.created failed: RuntimeError"
    assert "test_json_logs.py" in line["exception"] and "Zacharias" not in written.text


def test_an_unknown_log_format_stops_the_start(make_app):
    with pytest.raises(ValueError, match="LOG_FORMAT"):
        make_app(LOG_FORMAT="xml")


# -- request ids --------------------------------------------------------------------------------


@pytest.mark.parametrize("trusted", [0, 1])
def test_a_request_id_from_the_header_counts_only_behind_a_trusted_proxy(make_app, trusted):
    client = make_app(TRUSTED_PROXIES=trusted).test_client()
    with json_log() as written:
        response = unsigned_delivery(client, **{"X-Request-ID": "proxy-4711.a:b"})
    assert response.status_code == 403
    echoed = response.headers["X-Request-ID"]
    if trusted:
        assert echoed == "proxy-4711.a:b"
    else:
        assert HEX_ID.fullmatch(echoed)
    (line,) = written.of("services.deliveries", "no signing key")
    assert line["request_id"] == echoed


@pytest.mark.parametrize(
    "sent",
    ["x" * 129, "two words", "zacharias.quellenfeld@example.org", "id\u00e9", ""],
    ids=["too long", "space", "an email", "not ASCII", "empty"],
)
def test_an_unusable_request_id_is_replaced(make_app, sent):
    client = make_app(TRUSTED_PROXIES=1).test_client()
    with json_log() as written:
        response = unsigned_delivery(client, **{"X-Request-ID": sent})
    echoed = response.headers["X-Request-ID"]
    assert HEX_ID.fullmatch(echoed)
    assert sent not in written.text or not sent
    assert written.of("services.deliveries")[0]["request_id"] == echoed


def test_every_request_gets_an_id_of_its_own_even_a_refused_one(client):
    ids = {
        client.get("/login").headers["X-Request-ID"],
        client.get("/login").headers["X-Request-ID"],
        client.get("/no-such-page").headers["X-Request-ID"],
        client.get("/").headers["X-Request-ID"],  # redirected to the login
    }
    assert len(ids) == 4 and all(HEX_ID.fullmatch(value) for value in ids)


# -- the sync thread a request starts, and the scheduler's ---------------------------------------


@pytest.fixture
def app(make_app, calendly_sim):
    """Behind one trusted proxy, Calendly simulated; retries wait next to nothing."""
    return make_app(
        CALENDLY_API_BASE_URL=calendly_sim.base_url,
        CALENDLY_TOKEN="sim-token",
        TRUSTED_PROXIES=1,
        CALENDLY_BACKOFF_BASE=0.01,
    )


@pytest.mark.sim_account("small")
def test_the_sync_a_click_starts_logs_the_clicks_request_id_and_its_run_id(
    app, login, htmx, calendly_sim
):
    # Calendly fails the first listing once: the connector's retry line comes from the thread
    # that downloads, which the sync starts in turn.
    calendly_sim.inject("503", times=1, path="/scheduled_events")
    with json_log() as written:
        response = login.post("/sync", headers={**htmx, "X-Request-ID": "click-1"})
        assert response.headers["X-Request-ID"] == "click-1"
        (done,) = wait_for(lambda: written.of("mirror.sync", "succeeded"), timeout=60)
    run_id = int(re.search(r"sync #(\d+)", done["message"])[1])
    (retry,) = written.of("calendly.client", "503")
    for line in (done, retry):
        assert (line["request_id"], line["sync_run_id"]) == ("click-1", run_id), line


@pytest.mark.sim_account("small")
def test_a_scheduled_sync_logs_its_run_id(app):
    with json_log() as written:
        run = run_tick(app, clock.now().replace(second=0, microsecond=0), "test-host:1:tick")
    (done,) = written.of("mirror.sync", "succeeded")
    assert (done["sync_run_id"], done["request_id"]) == (run.id, None)


# -- webhook deliveries ---------------------------------------------------------------------------


def test_each_webhook_delivery_logs_an_id_of_its_own(make_app):
    client = make_app(CALENDLY_WEBHOOK_SIGNING_KEY="whsec-test").test_client()
    with json_log() as written:
        for _ in range(2):
            bad = unsigned_delivery(client, **{"Calendly-Webhook-Signature": "t=1,v1=00"})
            assert bad.status_code == 401
    lines = written.of("mirror.webhooks", "webhook refused")
    assert len(lines) == 2
    ids = {line["delivery_id"] for line in lines}
    assert len(ids) == 2 and all(HEX_ID.fullmatch(value) for value in ids)
    assert all(line["sync_run_id"] is None and line["request_id"] for line in lines)


# -- the app as started: create_app and gunicorn -------------------------------------------------


def _environment(database_url: str, **settings) -> dict:
    return {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "DATABASE_URL": database_url,
        "SECRET_KEY": "test-secret",
        "TOKEN_ENCRYPTION_KEY": Fernet.generate_key().decode(),
        **settings,
    }


@pytest.mark.subprocess
@pytest.mark.parametrize("log_format", [None, "json"])
def test_create_app_writes_readable_lines_unless_json_is_asked_for(tmp_path, log_format):
    settings = {"LOG_FORMAT": log_format} if log_format else {}
    code = (
        "import logging; from app import create_app; create_app();"
        " logging.getLogger('mirror.sync').warning('sync #7 (cli) failed: network')"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=_environment(f"sqlite:///{tmp_path / 'app.db'}", **settings),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    (line,) = [line for line in done.stderr.splitlines() if "sync #7" in line]
    if log_format is None:
        # As it has always been: time, level, logger, message.
        assert re.fullmatch(
            r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} WARNING mirror.sync: sync #7 \(cli\) failed:"
            r" network",
            line,
        ), line
    else:
        entry = json.loads(line)
        assert set(entry) == FIELDS
        assert (entry["logger"], entry["message"]) == (
            "mirror.sync",
            "sync #7 (cli) failed: network",
        )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.subprocess
@pytest.mark.parametrize("own_lines", ["another config file", "JSON"])
def test_gunicorn_workers_write_the_apps_lines_as_json(make_app, database_url, tmp_path, own_lines):
    make_app()  # the tables
    port, out, errors = free_port(), tmp_path / "gunicorn.out", tmp_path / "gunicorn.err"
    command = [str(GUNICORN), "-w", "2", "-b", f"127.0.0.1:{port}"]
    if own_lines != "JSON":  # the project's gunicorn.conf.py is read unless another is given
        (tmp_path / "other.conf.py").write_text("workers = 2\n")
        command += ["-c", str(tmp_path / "other.conf.py")]
    env = _environment(database_url, LOG_FORMAT="json", TRUSTED_PROXIES="1")
    with errors.open("w") as stderr, out.open("w") as stdout:
        server = subprocess.Popen(
            [*command, "wsgi:app"], cwd=ROOT, env=env, stdout=stdout, stderr=stderr
        )
    try:
        url, sent = f"http://127.0.0.1:{port}{WEBHOOK_PATH}", {"X-Request-ID": "lb-77"}
        deadline = time.monotonic() + 30
        while True:
            try:
                # A loaded machine may take seconds over a worker's first request.
                answer = requests.post(url, data=b"{}", headers=sent, timeout=60)
                break
            except requests.ConnectionError:
                assert server.poll() is None, errors.read_text()
                assert time.monotonic() < deadline, "gunicorn did not start"
                time.sleep(0.1)
        assert answer.status_code == 403
        assert answer.headers["X-Request-ID"] == "lb-77"
    finally:
        server.terminate()
        server.wait(30)
    # Written by the worker as it handled the request, before it answered.
    lines = [line for line in errors.read_text().splitlines() if "lb-77" in line]
    entries = [json.loads(line) for line in lines]
    assert [entry["logger"] for entry in entries] == ["services.deliveries"], lines
    assert HEX_ID.fullmatch(entries[0]["delivery_id"])
    if own_lines == "JSON":
        # Every line of master and workers is JSON, none twice; the access line names the id.
        written = errors.read_text().splitlines() + out.read_text().splitlines()
        parsed = [json.loads(line) for line in written]
        assert {"gunicorn.error", "gunicorn.access"} <= {entry["logger"] for entry in parsed}
        (access,) = [entry for entry in parsed if entry["logger"] == "gunicorn.access"]
        assert "request_id=lb-77" in access["message"] and "403" in access["message"]
        assert len(written) == len(set(written))
