"""Sync benchmark: 1,000 events x 25 invitees from the simulator (in its own process).

Prints, with medians over several rounds, for SQLite and (with --database-url) PostgreSQL:
- full-sync wall time / time to only download the same pages with the same client (target <= 1.25),
  with the CPU time the benchmark process spent on each (all its threads);
- PostgreSQL's full-sync wall time against SQLite's (target <= 1.2);
- API requests of a full sync, and of a no-change resync against the minimum (one per 100 events);
- the peak RSS of the process that synced (and with --memory the peak Python memory of a sync).

With --baseline-ref REF (e.g. b1f9a04) the same figures are measured for the code at that
commit (exported into a temporary folder with `git archive`) in the same run, against the same
simulator, the rounds of both alternating, and printed side by side ("before" and "after").

Run: .venv/bin/python bench/sync_bench.py [--events 1000] [--invitees 25] [--rounds 3]
        [--latency-ms 0] [--database-url postgresql://postgres@127.0.0.1/bench_sync]
        [--baseline-ref b1f9a04] [--memory]

Each measurement runs in a fresh process (`--worker`), which imports the code it measures. The
PostgreSQL database named in --database-url is dropped and created again for every full sync
(through the server's `postgres` database), so name one that holds nothing else.

On loopback the simulator answers in well under a millisecond, so both the download and the
database writes are CPU work in one Python process and the ratio shows the writes' full cost.
`--latency-ms 20` adds a network-like delay to every answer (real Calendly takes far longer),
which the sync's download/write pipeline hides the writes behind. On a shared machine, repeat
the run and compare ratios taken in the same run.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

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


# -- one measurement, in a process of its own (--worker) -------------------------------------


def fresh_postgres(url: str) -> None:
    """Drop and create the database `url` names, through the server's `postgres` database."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    target = make_url(url)
    engine = create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{target.database}"'))
        connection.execute(text(f'CREATE DATABASE "{target.database}"'))
    engine.dispose()


def worker(args) -> dict:
    """Download only, then a full sync and a no-change resync; figures as a dict."""
    sys.path.insert(0, args.code_root)
    from cryptography.fernet import Fernet

    from app import create_app
    from calendly.client import CalendlyClient, uuid_from_uri
    from services.syncing import sync_from_settings
    from store.database import db, normalise_database_url

    def download_only() -> tuple[float, float, int]:
        """Fetch every event page and every invitee list, as a full sync does, and nothing else."""
        started, cpu = time.perf_counter(), time.process_time()
        with CalendlyClient("bench-token", base_url=args.base_url) as client:
            user = client.get_current_user()
            for event in client.iter_scheduled_events(user=user["uri"]):
                client.list_invitees(uuid_from_uri(event["uri"]))
            requests_made = client.request_count
        return time.perf_counter() - started, time.process_time() - cpu, requests_made

    download, download_cpu, download_requests = download_only()
    workdir = tempfile.mkdtemp(prefix="sync-bench-")
    try:
        if args.database_url:
            url = normalise_database_url(args.database_url)
            fresh_postgres(url)
        else:
            url = f"sqlite:///{os.path.join(workdir, 'bench.db')}"
        app = create_app(
            {
                "SQLALCHEMY_DATABASE_URI": url,
                "SECRET_KEY": "bench",
                "TOKEN_ENCRYPTION_KEY": Fernet.generate_key().decode(),
                "CALENDLY_API_BASE_URL": args.base_url,
                "CALENDLY_TOKEN": "bench-token",
                "CALENDLY_EVENT_TYPES": "*",  # every type: a bench has no Settings page
                "SYNC_LOOKBACK_DAYS": 36500,  # the resync reads the same window (everything)
            }
        )
        with app.app_context():
            db.create_all()
            if args.memory:
                import tracemalloc

                tracemalloc.start()
            started, cpu = time.perf_counter(), time.process_time()
            run = sync_from_settings("cli", full=True)
            sync, sync_cpu = time.perf_counter() - started, time.process_time() - cpu
            peak = tracemalloc.get_traced_memory()[1] if args.memory else None
            if args.memory:
                tracemalloc.stop()
            assert run.status == "succeeded", run.outcome_params
            calm = sync_from_settings("cli")
            assert calm.status == "succeeded", calm.outcome_params
            figures = {
                "download": download,
                "download_cpu": download_cpu,
                "download_requests": download_requests,
                "sync": sync,
                "sync_cpu": sync_cpu,
                "sync_requests": run.api_requests,
                "attendees": run.attendees_created,
                "calm_requests": calm.api_requests,
                "calm_writes": calm.events_created
                + calm.events_updated
                + calm.attendees_created
                + calm.attendees_updated,
                "peak_python_mib": peak / 2**20 if peak is not None else None,
                "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            }
            db.engine.dispose()
        return figures
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


# -- the run: simulator, rounds, the table ----------------------------------------------------


def measure(code_root: str, base_url: str, database_url: str | None, memory: bool) -> dict:
    command = [sys.executable, __file__, "--worker", "--code-root", code_root]
    command += ["--base-url", base_url]
    if database_url:
        command += ["--database-url", database_url]
    if memory:
        command.append("--memory")
    # The worker imports the measured code from code_root: run it there (instance/ included).
    out = subprocess.run(command, cwd=code_root, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        sys.exit(f"a measurement failed ({code_root}):\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def baseline_tree(ref: str) -> str:
    """The files of commit `ref` in a temporary folder (`git archive`: no worktree to clean up)."""
    path = tempfile.mkdtemp(prefix="sync-bench-baseline-")
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", ref],
        check=True,
        capture_output=True,
    ).stdout
    subprocess.run(["tar", "-x", "-C", path], input=archive, check=True)
    return path


def median(results: list[dict], key: str) -> float:
    return statistics.median(result[key] for result in results)


def summary(label: str, results: list[dict], n_events: int) -> list[str]:
    if not results:
        return [f"{label}: -"]
    download, sync = median(results, "download"), median(results, "sync")
    download_cpu, sync_cpu = median(results, "download_cpu"), median(results, "sync_cpu")
    ratios = [r["sync"] / r["download"] for r in results]
    first = results[0]
    lines = [
        f"{label}:",
        f"  download only : median {download:6.2f} s wall, {download_cpu:6.2f} s CPU, "
        f"{first['download_requests']} requests",
        f"  full sync     : median {sync:6.2f} s wall, {sync_cpu:6.2f} s CPU, "
        f"{first['sync_requests']} requests, {first['attendees']} attendees written",
        f"  ratio full sync / download only: {sync / download:.3f} "
        f"(per round: {', '.join(f'{r:.2f}' for r in ratios)}; target <= 1.25); "
        f"CPU ratio {sync_cpu / download_cpu:.2f}",
        f"  no-change resync: {first['calm_requests']} requests "
        f"(minimum {math.ceil(n_events / 100)}), {first['calm_writes']} rows written",
        f"  peak RSS of the syncing process: {max(r['rss_mib'] for r in results):.0f} MiB",
    ]
    if first["peak_python_mib"] is not None:
        lines.append(f"  peak Python memory of a full sync: {first['peak_python_mib']:.1f} MiB")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--invitees", type=int, default=25)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--latency-ms", type=float, default=0.0, help="delay per API answer")
    parser.add_argument("--database-url", help="a PostgreSQL database to sync into as well")
    parser.add_argument("--baseline-ref", help="a commit to measure too, e.g. b1f9a04")
    parser.add_argument("--memory", action="store_true", help="trace Python memory (slower)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--code-root", default=str(ROOT), help=argparse.SUPPRESS)
    parser.add_argument("--base-url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args)))
        return

    proc, base_url, n_events, n_invitees = start_simulator(
        args.events, args.invitees, args.latency_ms / 1000.0
    )
    trees = {"after": str(ROOT)}
    try:
        if args.baseline_ref:
            trees = {"before": baseline_tree(args.baseline_ref), **trees}
        databases = {"SQLite": None}
        if args.database_url:
            databases["PostgreSQL"] = args.database_url
        results = {(db, code): [] for db in databases for code in trees}
        # Alternating, so that the load of a shared machine falls on every column alike.
        for _ in range(args.rounds):
            for db_name, url in databases.items():
                for code, tree in trees.items():
                    results[db_name, code].append(measure(tree, base_url, url, args.memory))
    finally:
        proc.stdin.close()
        proc.wait(timeout=10)
        if "before" in trees:
            shutil.rmtree(trees["before"], ignore_errors=True)

    load = os.getloadavg()
    lines = [
        f"simulator: {n_events} events, {n_invitees} invitees (separate process), "
        f"{args.latency_ms:g} ms added latency per answer; {args.rounds} rounds; "
        f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} at the end",
    ]
    for code in trees:
        label = f"{code} ({args.baseline_ref})" if code == "before" else code
        for db_name in databases:
            lines += summary(f"{db_name}, {label}", results[db_name, code], n_events)
        if "PostgreSQL" in databases:
            pg, lite = results["PostgreSQL", code], results["SQLite", code]
            lines.append(
                f"  PostgreSQL / SQLite full-sync wall: "
                f"{median(pg, 'sync') / median(lite, 'sync'):.2f} (target <= 1.2), "
                f"CPU {median(pg, 'sync_cpu') / median(lite, 'sync_cpu'):.2f}"
            )
    print("\n".join(lines))


if __name__ == "__main__":
    main()
