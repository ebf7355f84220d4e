"""Backups and retention: a restore removes the attendee data past the retention period before
the app serves the database, and backups older than the period are deleted. On the test
database (SQLite file or TEST_DATABASE_URL's PostgreSQL) with the real pg_dump/pg_restore."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from services import backups, retention, settings
from services.scheduler import SyncScheduler
from store.models import CalendlyEvent, CalendlyEventAttendee
from tests.services.test_backups import close_connections, invoke, on_postgres, rows

pytestmark = pytest.mark.dated

NOW = datetime(2026, 6, 15, 10, 0, tzinfo=UTC)


@pytest.fixture
def database_url(solo_database_url):
    return solo_database_url


@pytest.fixture
def backup_dir(tmp_path):
    return tmp_path / "backups"


@pytest.fixture
def frozen(time_machine):
    time_machine.move_to(NOW, tick=False)


@pytest.fixture
def app(frozen, make_app, backup_dir, pg_bin_dir):
    return make_app(BACKUP_DIR=str(backup_dir), PG_BIN_DIR=pg_bin_dir)


@pytest.fixture
def backup_of_two_years(app, add_webinar, add_attendee, backup_dir):
    """A backup of a database that kept attendee data for 24 months: one person of a webinar
    400 days ago, one of last week."""
    with app.app_context():
        retention.change_months(24, None)
    add_attendee(add_webinar(start_time=NOW - timedelta(days=400)), email="old@example.org")
    add_attendee(add_webinar(start_time=NOW - timedelta(days=7)), email="new@example.org")
    assert invoke(app, "create").exit_code == 0
    (made,) = backup_dir.iterdir()
    return made


def emails(url: str) -> list:
    return sorted(rows(url, select(CalendlyEventAttendee.email)), key=lambda email: email or "")


def test_a_restore_applies_the_backups_own_period(app, backup_of_two_years, new_database):
    target = new_database()

    result = invoke(app, "restore", str(backup_of_two_years), "--into", target)

    assert result.exit_code == 0, result.output
    assert emails(target) == ["new@example.org", "old@example.org"]  # within 24 months
    assert "0 Personen aus 0 Webinaren vor dem 15.06.2024" in result.output


def test_a_restore_over_the_configured_database_applies_the_stricter_period(
    app, backup_of_two_years, database_url
):
    with app.app_context():
        retention.change_months(12, None)  # shortened after the backup was made
    close_connections(app)

    result = invoke(app, "restore", str(backup_of_two_years), "--force")

    assert result.exit_code == 0, result.output
    assert "1 Person aus 1 Webinar vor dem 15.06.2025" in result.output
    assert emails(database_url) == [None, "new@example.org"]
    removed = rows(database_url, select(CalendlyEvent.personal_data_removed_at))
    assert sorted(at is not None for at in removed) == [False, True]


def test_the_daily_run_deletes_backups_older_than_the_period(app, backup_dir, database_url):
    ext = backups.EXTENSIONS["postgresql" if on_postgres(database_url) else "sqlite"]
    backup_dir.mkdir()
    # 12 months: backups made before 15.06.2025 00:00 Berlin (14.06.2025 22:00 UTC) go.
    expired = [backup_dir / f"20250614T215959Z{ext}", backup_dir / f"20240101T060000Z{ext}"]
    young = [backup_dir / f"20250614T220000Z{ext}", backup_dir / f"20260614T060000Z{ext}"]
    other = backup_dir / "my-copy.sqlite3"
    for path in [*expired, *young, other]:
        path.write_bytes(b"backup")

    assert SyncScheduler(app).retention_if_due() is not None

    assert sorted(p.name for p in backup_dir.iterdir()) == sorted(
        [p.name for p in young] + [other.name]
    )
    with app.app_context():
        retention.change_months(None, None)
        assert retention.expired_before(settings.retention_months()) is None


def test_the_daily_backup_prunes_by_count_and_by_age(tmp_path):
    directory = tmp_path / "backups"
    directory.mkdir()
    names = ["20240101T060000Z.dump", "20260610T060000Z.dump", "20260611T060000Z.dump",
             "20260612T060000Z.dump"]  # fmt: skip
    for name in names:
        (directory / name).write_bytes(b"x")

    gone = backups.prune_backups(
        directory, 2, expired_before=datetime(2025, 6, 14, 22, 0, tzinfo=UTC)
    )

    assert sorted(p.name for p in gone) == names[:2]
    assert sorted(p.name for p in directory.iterdir()) == names[2:]
