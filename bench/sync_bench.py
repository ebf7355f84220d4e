"""Sync benchmark: 1,000 events x 25 invitees from the simulator (in its own process).

Prints, with medians over several rounds:
- full-sync wall time / time to only download the same pages with the same client (target <= 1.25),
- API requests of a no-change resync against the minimum (one per 100 events),
- peak Python memory of a full sync (tracemalloc) and the process's peak RSS.

Run: .venv/bin/python bench/sync_bench.py [--events 1000] [--invitees 25] [--rounds 3]
                                          [--latency-ms 0]

On loopback the simulator answers in well under a millisecond, so both the download and the
database writes are CPU work in one Python process and the ratio shows the writes' full cost.
`--latency-ms 20` adds a network-like delay to every answer (real Calendly takes far longer),
which the sync's download/write pipeline hides the writes behind.
"""

from __future__ import annotations

import argparse
import math
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cryptography.fernet import Fernet  # noqa: E402

from app import create_app  # noqa: E402
from calendly.client import CalendlyClient, uuid_from_uri  # noqa: E402
from services.syncing import sync_from_settings  # noqa: E402
from store.database import db  # noqa: E402

SIMULATOR = """
import sys, time
from devtools.simulator import CalendlySimulator
sim = CalendlySimulator(token="bench-token", seed=3)
sim.seed_data(n_events={events}, max_invitees={invitees}, exact_invitees=True)
if {latency}:
    sim.inject("slow", times=None, delay={latency})
sim.start()
print(sim.base_url, len(sim.events), sum(len(v) for v in sim.invitees.values()), flush=True)
sys.stdin.read()
"""


def start_simulator(events: int, invitees: int, latency: float = 0.0):
    code = SIMULATOR.format(events=events, invitees=invitees, latency=latency)
    proc = subprocess.Popen(
        [sys.executable, "-c", code],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    base_url, n_events, n_invitees = proc.stdout.readline().split()
    return proc, base_url, int(n_events), int(n_invitees)


def download_only(base_url: str) -> tuple[float, int]:
    """Fetch every event page and every invitee list, as a full sync does, and nothing else."""
    started = time.perf_counter()
    with CalendlyClient("bench-token", base_url=base_url) as client:
        user = client.get_current_user()
        for event in client.iter_scheduled_events(user=user["uri"]):
            client.list_invitees(uuid_from_uri(event["uri"]))
        requests_made = client.request_count
    return time.perf_counter() - started, requests_made


def make_app(base_url: str, db_path: str, lookback_days: int = 14):
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{db_path}",
            "SECRET_KEY": "bench",
            "TOKEN_ENCRYPTION_KEY": Fernet.generate_key().decode(),
            "CALENDLY_API_BASE_URL": base_url,
            "CALENDLY_TOKEN": "bench-token",
            "CALENDLY_EVENT_TYPES": "*",  # every type: a bench has no Settings page to choose on
            "SYNC_LOOKBACK_DAYS": lookback_days,
        }
    )
    with app.app_context():
        db.create_all()
    return app


def full_sync(base_url: str, workdir: str, trace: bool = False):
    db_path = os.path.join(workdir, f"bench-{time.monotonic_ns()}.db")
    app = make_app(base_url, db_path, lookback_days=36500)
    with app.app_context():
        if trace:
            tracemalloc.start()
        started = time.perf_counter()
        run = sync_from_settings("cli", full=True)
        elapsed = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1] if trace else None
        if trace:
            tracemalloc.stop()
        assert run.status == "succeeded", run.error
        attendees = run.attendees_created
        requests_made = run.api_requests
        # The no-change resync reads the same window (everything) without --full.
        calm = sync_from_settings("cli")
        assert calm.status == "succeeded", calm.error
        db.engine.dispose()
    return elapsed, requests_made, attendees, calm, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--invitees", type=int, default=25)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--latency-ms", type=float, default=0.0, help="delay per API answer")
    args = parser.parse_args()

    proc, base_url, n_events, n_invitees = start_simulator(
        args.events, args.invitees, args.latency_ms / 1000.0
    )
    try:
        with tempfile.TemporaryDirectory() as workdir:
            download_only(base_url)  # warm-up: server caches, connection setup, imports
            downloads, syncs = [], []
            for _ in range(args.rounds):
                seconds, download_requests = download_only(base_url)
                downloads.append(seconds)
                elapsed, sync_requests, attendees, calm, _ = full_sync(base_url, workdir)
                syncs.append(elapsed)
            _, _, _, _, peak = full_sync(base_url, workdir, trace=True)
    finally:
        proc.stdin.close()
        proc.wait(timeout=10)

    download, sync = statistics.median(downloads), statistics.median(syncs)
    minimum = math.ceil(n_events / 100)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    lines = [
        f"simulator: {n_events} events, {n_invitees} invitees (separate process), "
        f"{args.latency_ms:g} ms added latency per answer",
        f"download only : median {download:.2f} s over {args.rounds} rounds, "
        f"{download_requests} requests",
        f"full sync     : median {sync:.2f} s, {sync_requests} requests, "
        f"{attendees} attendees written",
        f"ratio full sync / download only: {sync / download:.3f}  (target <= 1.25)",
        f"no-change resync: {calm.api_requests} requests (minimum {minimum}), "
        f"{calm.events_created + calm.events_updated} events and "
        f"{calm.attendees_created + calm.attendees_updated} attendees written",
        f"peak Python memory during a full sync (tracemalloc): {peak / 2**20:.1f} MiB",
        f"peak RSS of the benchmark process: {rss:.0f} MiB",
    ]
    print("\n".join(lines))


if __name__ == "__main__":
    main()
