"""Real gunicorn processes serving `wsgi:app` on the test database, for tests of what several
processes do."""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]
GUNICORN = Path(sys.executable).with_name("gunicorn")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_gunicorn(
    database_url: str, token_key: str, *, workers: int = 2, args=(), **environment
) -> tuple[subprocess.Popen, str]:
    """gunicorn with `workers` workers on `database_url` (settings in `environment`); returns
    the process (stderr piped, as text) and its base URL."""
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "DATABASE_URL": database_url,
        "SECRET_KEY": "test-secret",
        "TOKEN_ENCRYPTION_KEY": token_key,
        **environment,
    }
    server = subprocess.Popen(
        [str(GUNICORN), "-w", str(workers), "-b", f"127.0.0.1:{port}", *args, "wsgi:app"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    return server, f"http://127.0.0.1:{port}"


def wait_until_serving(server: subprocess.Popen, url: str, session=requests, timeout=60.0):
    """GET `url` until gunicorn answers (its workers may take a while to boot on a busy
    machine); returns that response."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return session.get(url, timeout=10)
        except (requests.ConnectionError, requests.Timeout):
            assert server.poll() is None, "gunicorn exited"
            assert time.monotonic() < deadline, "gunicorn did not start"
            time.sleep(0.1)
