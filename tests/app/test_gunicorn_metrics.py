"""/metrics under gunicorn with four workers: webhook deliveries handled by different workers
add up in every scrape, whichever worker serves it, also after a worker was replaced; the
metrics directory starts empty (gunicorn.conf.py)."""

import concurrent.futures
import json
import os
import re
import signal
from pathlib import Path

import pytest
import requests
from prometheus_client.mmap_dict import MmapedDict
from prometheus_client.parser import text_string_to_metric_families

from calendly.signature import SIGNATURE_HEADER, sign
from services.webhook_subscriptions import WEBHOOK_PATH
from tests.app.served import gunicorn, wait_until

WORKERS = 4
TOKEN = "scrape-token-4-workers"
KEY = "whsec-gunicorn-metrics"
IGNORED, REJECTED = 24, 16
DELIVERIES = "webinar_sync_webhook_deliveries_total"


def deliveries_by_outcome(base: str) -> dict[str, float]:
    response = requests.get(
        f"{base}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30
    )
    assert response.status_code == 200, response.text[-2000:]
    return {
        sample.labels["outcome"]: sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
        if sample.name == DELIVERIES
    }


def deliveries_per_process(directory: Path) -> dict[int, float]:
    """{pid: deliveries it counted}, read from each worker's own counter file."""
    counted = {}
    for path in directory.glob("counter_*.db"):
        pid = int(re.fullmatch(r"counter_(\d+)\.db", path.name)[1])
        counted[pid] = sum(
            value
            for key, value, _timestamp, _pos in MmapedDict.read_all_values_from_file(str(path))
            if json.loads(key)[1] == DELIVERIES
        )
    return counted


def post(base: str, n: int) -> int:
    if n < IGNORED:  # signed, of an event the app does not handle: ignored
        body = json.dumps({"event": "routing_form_submission.created", "payload": {}}).encode()
        headers = {SIGNATURE_HEADER: sign(body, KEY), "Content-Type": "application/json"}
    else:  # unsigned: rejected
        body, headers = b'{"event": "invitee.created"}', {"Content-Type": "application/json"}
    answer = requests.post(f"{base}{WEBHOOK_PATH}", data=body, headers=headers, timeout=30)
    return answer.status_code


@pytest.mark.subprocess
def test_counters_add_up_across_gunicorn_workers(make_app, database_url, tmp_path):
    app = make_app()  # creates the schema
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    # Left by an earlier run, and unreadable: a scrape would fail if it were not cleared.
    (metrics_dir / "counter_1.db").write_bytes(b"\xff" * 64)
    environment = {
        "CALENDLY_WEBHOOK_SIGNING_KEY": KEY,
        "METRICS_TOKEN": TOKEN,
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
    }
    with gunicorn(app, database_url, WORKERS, **environment) as served:
        base = served.base
        assert not (metrics_dir / "counter_1.db").exists()
        wait_until(
            lambda: len(deliveries_per_process(metrics_dir)) == WORKERS, "all workers loading"
        )
        # Sync workers serve one request at a time: concurrent posts spread over them.
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            statuses = list(pool.map(lambda n: post(base, n), range(IGNORED + REJECTED)))
        assert statuses == [200] * IGNORED + [401] * REJECTED

        per_process = deliveries_per_process(metrics_dir)
        assert sum(per_process.values()) == IGNORED + REJECTED
        assert sum(1 for counted in per_process.values() if counted) >= 2, per_process
        for _ in range(2 * WORKERS):  # whichever worker answers, it adds up all of them
            counts = deliveries_by_outcome(base)
            assert (counts["ignored"], counts["rejected"]) == (IGNORED, REJECTED)

        # A worker that ends is replaced; what it counted still counts.
        busiest = max(per_process, key=per_process.get)
        os.kill(busiest, signal.SIGTERM)
        wait_until(
            lambda: set(deliveries_per_process(metrics_dir)) - set(per_process), "a new worker"
        )
        counts = deliveries_by_outcome(base)
        assert (counts["ignored"], counts["rejected"]) == (IGNORED, REJECTED)
    assert "Traceback" not in served.log, served.log[-3000:]
