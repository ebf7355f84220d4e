"""Four processes, each with its own scheduler ticking every second, against one database:
exactly one sync per tick, never two at once, and every tick accounted for in every process."""

import collections
import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from store.database import db
from store.models import SyncRun
from store.outcomes import SkipReason, SyncStatus

ROOT = Path(__file__).resolve().parents[2]
PROCESSES = 4
SECONDS = float(os.environ.get("MULTIPROCESS_TEST_SECONDS", "20"))
TICK = timedelta(seconds=1)

WORKER = """
import json, sys, time
from app import create_app
from services import scheduler as jobs

app = create_app(json.loads(sys.argv[1]))
scheduler = jobs.init_scheduler(app)  # the running one if the app factory started it already
assert scheduler is not None, "no scheduler started"
time.sleep(float(sys.argv[2]))
scheduler.shutdown(wait=True)
print("ok")
"""

RAN = {SyncStatus.SUCCEEDED, SyncStatus.FAILED}
# Skips of a process too busy to even try to claim the tick.
TOO_BUSY = {SkipReason.STILL_RUNNING, SkipReason.COALESCED, SkipReason.MISSED}
NOT_CLAIMED = TOO_BUSY | {SkipReason.RAN_ELSEWHERE}


def process_of(row: SyncRun) -> str:
    """ "<host>:<pid>" of the process that recorded `row` (its owner adds an id per run)."""
    return row.owner.rsplit(":", 1)[0]


# The workers are other processes: a clock moved by --at would not reach them.
@pytest.mark.subprocess
def test_one_sync_per_tick_across_processes(make_app, make_sim, database_url):
    app = make_app()  # creates the schema
    sim = make_sim(42, n_events=50, max_invitees=5)
    # The first syncs are slow (longer than a tick), so later ticks find one running.
    sim.inject("slow", times=4, path="/scheduled_events", delay=1.6)
    config = {
        "TESTING": True,
        "SECRET_KEY": "test-secret",
        "TOKEN_ENCRYPTION_KEY": app.config["TOKEN_ENCRYPTION_KEY"],
        "SQLALCHEMY_DATABASE_URI": database_url,
        "CALENDLY_API_BASE_URL": sim.base_url,
        "CALENDLY_TOKEN": "sim-token",
        "CALENDLY_EVENT_TYPES": "",
        "SCHEDULER_ENABLED": True,
        "SCHEDULER_TEST_INTERVAL_SECONDS": 1,
    }
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, json.dumps(config), str(SECONDS)],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(PROCESSES)
    ]
    for worker in workers:
        out, err = worker.communicate(timeout=SECONDS + 90)
        assert worker.returncode == 0 and out.strip() == "ok", err[-3000:]

    with app.app_context():
        rows = db.session.scalars(select(SyncRun).order_by(SyncRun.id)).all()

    assert rows and all(row.trigger == "scheduler" for row in rows)
    assert not [row for row in rows if row.status == "running"]
    by_process = collections.defaultdict(list)
    by_tick = collections.defaultdict(list)
    for row in rows:
        tick = row.tick
        assert tick is not None, row.owner
        by_process[process_of(row)].append(tick)
        by_tick[tick].append(row)

    # Every process accounted for every tick it saw, once, with no gaps in between.
    assert len(by_process) == PROCESSES
    for process, ticks in by_process.items():
        ticks.sort()
        assert len(ticks) == len(set(ticks)), f"{process} recorded a tick twice"
        assert ticks[-1] - ticks[0] >= timedelta(seconds=SECONDS * 0.6)
        gaps = [b - a for a, b in zip(ticks, ticks[1:], strict=False) if b - a != TICK]
        assert not gaps, f"{process} lost ticks: {gaps}"

    # Exactly one process claimed each tick (ran it, or found a sync running); at most one ran.
    everyone = max(t[0] for t in by_process.values()), min(t[-1] for t in by_process.values())
    for tick, tick_rows in by_tick.items():
        claims = [row for row in tick_rows if row.status in RAN or row.outcome not in NOT_CLAIMED]
        assert len(claims) <= 1, [(r.owner, r.status, r.outcome) for r in tick_rows]
        assert len([row for row in tick_rows if row.status in RAN]) <= 1
        if everyone[0] <= tick <= everyone[1]:
            assert len(tick_rows) == PROCESSES
            if any(row.status in RAN or row.outcome not in TOO_BUSY for row in tick_rows):
                assert len(claims) == 1, [(r.owner, r.status, r.outcome) for r in tick_rows]

    # Runs never overlapped, across all processes.
    runs = sorted((row for row in rows if row.status in RAN), key=lambda row: row.started_at)
    for earlier, later in zip(runs, runs[1:], strict=False):
        assert earlier.finished_at <= later.started_at, (earlier.owner, later.owner)
    assert len([run for run in runs if run.status == "succeeded"]) >= SECONDS / 4
    assert len({process_of(run) for run in runs}) >= 2  # not one process's job
    reasons = collections.Counter(row.outcome for row in rows if row.status == "skipped")
    assert reasons[SkipReason.RAN_ELSEWHERE] > 0
    assert reasons[SkipReason.SYNC_RUNNING] + reasons[SkipReason.STILL_RUNNING] > 0
