"""A sync running in a thread of the test process, and waiting for what it does: shared by the
tests of leases and of waits for a busy database."""

from __future__ import annotations

import threading
import time

from services.syncing import sync_from_settings
from store.database import db


def start_sync(app):
    """Run a sync in a thread, as the CLI would; the outcome lands in the returned dict."""
    result = {}

    def work():
        with app.app_context():
            run = sync_from_settings("cli")
            result.update(status=run.status, outcome=run.outcome, params=run.outcome_params)
            db.session.remove()

    thread = threading.Thread(target=work, name="test-sync", daemon=True)
    thread.start()
    return thread, result


def wait_for(condition, timeout=15.0):
    """Poll `condition` until it returns something true, and return that."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def stalled(sim) -> bool:
    """True while a request that the simulator was told to answer slowly is in flight."""
    return any(r.fault == "slow" and r.status is None for r in list(sim.request_log))
