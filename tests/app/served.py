"""The app served by real gunicorn workers for a test, configured through the environment as in
production (shared by the tests that start gunicorn)."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]
GUNICORN = Path(sys.executable).with_name("gunicorn")
# Generous: several workers loading the app at once take long on a busy machine.
START_SECONDS = 120


@dataclass
class Served:
    base: str
    process: subprocess.Popen
    log: str = ""  # gunicorn's output, once it has stopped


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(check, what: str, seconds: float = START_SECONDS):
    """Call `check` until it returns something true (connection errors count as not yet)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            result = check()
            if result:
                return result
        except requests.RequestException:
            pass
        assert time.monotonic() < deadline, f"{what} did not happen"
        time.sleep(0.1)


@contextlib.contextmanager
def gunicorn(app, database_url: str, workers: int, *args: str, **environment: str):
    """`with gunicorn(app, url, 4, **env) as served:` gunicorn serving `wsgi:app` from the
    project directory (so with gunicorn.conf.py) on `app`'s database and keys; `served.log`
    holds its output afterwards."""
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "DATABASE_URL": database_url,
        "SECRET_KEY": "test-secret",
        "TOKEN_ENCRYPTION_KEY": app.config["TOKEN_ENCRYPTION_KEY"],
        **environment,
    }
    command = [str(GUNICORN), "-w", str(workers), "-b", f"127.0.0.1:{port}", *args, "wsgi:app"]
    process = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    served = Served(f"http://127.0.0.1:{port}", process)
    try:
        wait_until(lambda: _answers(served), "gunicorn start")
        yield served
    finally:
        process.terminate()
        _, served.log = process.communicate(timeout=90)


def _answers(served: Served) -> bool:
    assert served.process.poll() is None, "gunicorn exited"
    return requests.get(f"{served.base}/healthz", timeout=30).ok
