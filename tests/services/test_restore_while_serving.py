"""`flask backup restore --force` and real app processes: two gunicorn workers on the test
database each keep a heartbeat row, so the restore refuses while they serve; once gunicorn has
stopped (the workers delete their rows as they exit), it goes ahead."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from sqlalchemy import func, select

from services import app_processes
from store.database import db
from store.models import AppProcess, CalendlyEvent
from tests.app.test_gunicorn_busy import free_port
from tests.mirror.background import wait_for

ROOT = Path(__file__).resolve().parents[2]
GUNICORN = Path(sys.executable).with_name("gunicorn")

pytestmark = pytest.mark.subprocess


def live_owners(app) -> list[str]:
    with app.app_context():
        try:
            with db.engine.connect() as conn:
                return [row.owner for row in app_processes.live_processes(conn)]
        finally:
            db.engine.dispose()  # PostgreSQL would count the pooled connection as in use


def test_restore_force_waits_for_the_serving_processes_to_stop(
    make_app, database_url, tmp_path, add_webinar, pg_bin_dir
):
    app = make_app(BACKUP_DIR=str(tmp_path / "backups"), PG_BIN_DIR=pg_bin_dir)
    add_webinar(name="In the backup")
    made = app.test_cli_runner().invoke(args=["backup", "create"])
    assert made.exit_code == 0, made.output
    (backup,) = (tmp_path / "backups").iterdir()
    add_webinar(name="After the backup")
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "DATABASE_URL": database_url,
        "SECRET_KEY": "test-secret",
        "TOKEN_ENCRYPTION_KEY": app.config["TOKEN_ENCRYPTION_KEY"],
    }
    server = subprocess.Popen(
        [str(GUNICORN), "-w", "2", "-b", f"127.0.0.1:{port}", "wsgi:app"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(lambda: len(live_owners(app)) == 2, timeout=30)
        assert requests.get(f"http://127.0.0.1:{port}/login", timeout=10).status_code == 200
        owners = live_owners(app)

        refused = app.test_cli_runner().invoke(args=["backup", "restore", str(backup), "--force"])

        assert refused.exit_code == 1
        for owner in owners:
            assert f"app process {owner}" in refused.output
    finally:
        server.terminate()
        _, log = server.communicate(timeout=30)
    assert "Traceback" not in log, log[-3000:]
    assert live_owners(app) == []  # deleted at a clean exit, not left to go stale

    result = app.test_cli_runner().invoke(args=["backup", "restore", str(backup), "--force"])

    assert result.exit_code == 0, result.output
    with app.app_context():
        assert db.session.scalars(select(CalendlyEvent.name)).all() == ["In the backup"]
        assert db.session.scalar(select(func.count()).select_from(AppProcess)) == 0
        db.session.remove()
