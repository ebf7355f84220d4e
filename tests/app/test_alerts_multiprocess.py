"""Four processes, each with its own scheduler syncing every second and looking for trouble
every half second, against one database and one SMTP server: each admin gets exactly one email
when Calendly starts refusing the token and exactly one when it accepts it again."""

import collections
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from services import accounts
from store.database import db
from store.models import Incident, SyncRun

ROOT = Path(__file__).resolve().parents[2]
PROCESSES = 4

WORKER = """
import json, os, sys, time
from app import create_app
from services import scheduler as jobs

app = create_app(json.loads(sys.argv[1]))
scheduler = jobs.init_scheduler(app)
assert scheduler is not None, "no scheduler started"
deadline = time.monotonic() + 120
while not os.path.exists(sys.argv[2]) and time.monotonic() < deadline:
    time.sleep(0.1)
scheduler.shutdown(wait=True)
print("ok")
"""


def wait_for(condition, seconds: float = 60.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


# The workers are other processes: a clock moved by --at would not reach them.
@pytest.mark.subprocess
@pytest.mark.sim_account("small")
def test_one_email_per_admin_per_incident_phase_across_processes(
    make_app, make_sim, make_smtp, database_url, tmp_path
):
    app = make_app()  # creates the schema
    app.config["PASSWORD_HASH_METHOD"] = "pbkdf2:sha256:1000"
    with app.app_context():
        accounts.create_admin("chefin@example.org", "correct horse battery")
        english = accounts.create_admin("boss@example.org", "correct horse battery")
        accounts.set_language(english.id, "en")
    sim = make_sim(42)
    sim.revoke_token()
    smtp = make_smtp()
    config = {
        "TESTING": True,
        "SECRET_KEY": "test-secret",
        "TOKEN_ENCRYPTION_KEY": app.config["TOKEN_ENCRYPTION_KEY"],
        "SQLALCHEMY_DATABASE_URI": database_url,
        "CALENDLY_API_BASE_URL": sim.base_url,
        "CALENDLY_TOKEN": "sim-token",
        "SCHEDULER_ENABLED": True,
        "SCHEDULER_TEST_INTERVAL_SECONDS": 1,
        "SCHEDULER_WATCH_SECONDS": 0.5,
        "ALERT_CHECK_SECONDS": 0,
        "PUBLIC_BASE_URL": "https://webinare.example.org",
        **smtp.config(),
    }
    stop = tmp_path / "stop"
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, json.dumps(config), str(stop)],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(PROCESSES)
    ]
    try:
        assert wait_for(lambda: len(smtp.messages) >= 2), "no start emails"
        time.sleep(3)  # every process has looked again several times by now
        started = list(smtp.messages)
        sim.clear_faults()
        assert wait_for(lambda: len(smtp.messages) >= 4), "no end emails"
        time.sleep(3)
    finally:
        stop.touch()
        for worker in workers:
            out, err = worker.communicate(timeout=90)
            assert worker.returncode == 0 and out.strip() == "ok", err[-3000:]

    assert sorted(message["To"] for message in started) == ["boss@example.org",
                                                              "chefin@example.org"]  # fmt: skip
    subjects = collections.Counter((message["To"], message["Subject"]) for message in smtp.messages)
    assert subjects == {
        ("boss@example.org", "[Webinar Sync] Action needed: Calendly refuses the token."): 1,
        ("boss@example.org", "[Webinar Sync] Resolved: Calendly refuses the token."): 1,
        ("chefin@example.org", "[Webinar Sync] Handeln nötig: Calendly lehnt den Token ab."): 1,
        ("chefin@example.org", "[Webinar Sync] Erledigt: Calendly lehnt den Token ab."): 1,
    }
    with app.app_context():
        incidents = db.session.scalars(select(Incident)).all()
        owners = db.session.scalars(select(SyncRun.owner)).all()
    assert [(row.kind, row.is_open) for row in incidents] == [("token_refused", False)]
    # Every process was there the whole time, looking for trouble with the others.
    assert len({owner.rsplit(":", 1)[0] for owner in owners}) == PROCESSES
