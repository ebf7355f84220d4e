"""`flask backup restore --force` and real app processes: two gunicorn workers on the test
database each keep a heartbeat row, so the restore refuses while they serve; once gunicorn has
stopped (the workers delete their rows as they exit), it goes ahead."""

import pytest
import requests
from sqlalchemy import func, select

from services import app_processes, backups
from store.database import db
from store.models import AppProcess, CalendlyEvent
from tests.app.served import gunicorn
from tests.mirror.background import wait_for

pytestmark = pytest.mark.subprocess


def live_owners(app) -> list[str]:
    with app.app_context():
        try:
            with db.engine.connect() as conn:
                return [row.owner for row in app_processes.live_processes(conn)]
        finally:
            db.engine.dispose()  # PostgreSQL would count the pooled connection as in use


@pytest.fixture
def database_url(solo_database_url):
    """A database of the test's own on PostgreSQL (see solo_database_url)."""
    return solo_database_url


@pytest.fixture
def app(make_app, tmp_path, pg_bin_dir):
    return make_app(BACKUP_DIR=str(tmp_path / "backups"), PG_BIN_DIR=pg_bin_dir)


def test_restore_force_waits_for_the_serving_processes_to_stop(
    app, database_url, tmp_path, add_webinar
):
    add_webinar(name="In the backup")
    made = app.test_cli_runner().invoke(args=["backup", "create"])
    assert made.exit_code == 0, made.output
    (backup,) = (tmp_path / "backups").iterdir()
    add_webinar(name="After the backup")
    with gunicorn(app, database_url, 2) as served:
        wait_for(lambda: len(live_owners(app)) == 2, timeout=60)
        assert requests.get(f"{served.base}/login", timeout=30).status_code == 200
        owners = live_owners(app)

        refused = app.test_cli_runner().invoke(args=["backup", "restore", str(backup), "--force"])

        assert refused.exit_code == 1
        for owner in owners:
            assert f"app process {owner}" in refused.output
    assert "Traceback" not in served.log, served.log[-3000:]
    assert live_owners(app) == []  # deleted at a clean exit, not left to go stale
    with app.app_context():  # PostgreSQL: the workers' server processes end a moment later
        wait_for(lambda: not backups.replace_refusals(), timeout=30)

    result = app.test_cli_runner().invoke(args=["backup", "restore", str(backup), "--force"])

    assert result.exit_code == 0, result.output
    with app.app_context():
        assert db.session.scalars(select(CalendlyEvent.name)).all() == ["In the backup"]
        assert db.session.scalar(select(func.count()).select_from(AppProcess)) == 0
        db.session.remove()
