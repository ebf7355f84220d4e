"""Backups and restore (`flask backup create|restore`), the daily backup and the process
heartbeat that a restore over the configured database checks, on the test database (SQLite file
or TEST_DATABASE_URL's PostgreSQL) with the real pg_dump/pg_restore."""

from __future__ import annotations

import os
import stat
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import create_engine, func, select, update

from mirror import leases
from mirror.sync import SYNC_LEASE
from services import app_processes, backups, retention
from services.scheduler import SyncScheduler
from store import clock
from store.database import db
from store.models import AppProcess, CalendlyEvent, CalendlyEventAttendee
from tests.mirror.background import wait_for


def on_postgres(url: str) -> bool:
    return url.startswith("postgresql")


@pytest.fixture
def database_url(solo_database_url):
    """A database of the test's own on PostgreSQL (see solo_database_url)."""
    return solo_database_url


@pytest.fixture
def backup_dir(tmp_path):
    return tmp_path / "backups"


@pytest.fixture
def app(make_app, backup_dir, pg_bin_dir):
    return make_app(BACKUP_DIR=str(backup_dir), PG_BIN_DIR=pg_bin_dir)


def scalar(url: str, query):
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.scalar(query)
    finally:
        engine.dispose()


def rows(url: str, query) -> list:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.scalars(query).all()
    finally:
        engine.dispose()


def count(url: str, model) -> int:
    return scalar(url, select(func.count()).select_from(model))


def invoke(app, *args):
    return app.test_cli_runner().invoke(args=["backup", *args])


def close_connections(app):
    """Close the test's own pooled connections (PostgreSQL would list them as in use)."""
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


# -- create -----------------------------------------------------------------------------------


def test_create_writes_one_0600_backup_named_after_the_clock_and_no_leftovers(
    app, backup_dir, database_url
):
    before = clock.now().replace(microsecond=0)
    result = invoke(app, "create")

    assert result.exit_code == 0, result.output
    (made,) = backup_dir.iterdir()
    assert backups.BACKUP_NAME.match(made.name), made.name
    kind = "postgresql" if on_postgres(database_url) else "sqlite"
    assert made.suffix == backups.EXTENSIONS[kind]
    assert made.read_bytes().startswith(backups._MAGIC[kind])
    assert stat.S_IMODE(made.stat().st_mode) == 0o600
    stamp = clock.now().strptime(made.name.split(".")[0], "%Y%m%dT%H%M%SZ")
    assert before.replace(tzinfo=None) <= stamp <= clock.now().replace(tzinfo=None)
    assert str(made) in result.output


def test_create_refuses_an_existing_name_and_keeps_that_file(app, backup_dir):
    backup_dir.mkdir()
    taken = backup_dir / "mine.sqlite3"
    taken.write_text("not to be overwritten")

    result = invoke(app, "create", str(taken))

    assert result.exit_code == 1
    assert "exists already" in result.output
    assert taken.read_text() == "not to be overwritten"
    assert [p.name for p in backup_dir.iterdir()] == ["mine.sqlite3"]


def test_a_missing_pg_dump_is_named_and_leaves_no_file(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "no-tools"))
    config = backups.BackupConfig(
        database_url="postgresql+psycopg://postgres@127.0.0.1:5432/anything",
        directory=tmp_path / "backups",
    )

    with pytest.raises(backups.BackupError) as failed:
        backups.create_backup(config)

    assert "pg_dump was not found on PATH" in str(failed.value)
    assert "PG_BIN_DIR" in str(failed.value)
    assert list((tmp_path / "backups").iterdir()) == []  # not even a temporary file


# -- restore ----------------------------------------------------------------------------------


def test_restore_into_a_new_database_gives_the_rows_of_the_backup_time(
    app, add_webinar, add_attendee, backup_dir, new_database
):
    kept = add_webinar(name="Before the backup")
    add_attendee(kept, email="kept@example.org")
    assert invoke(app, "create").exit_code == 0
    add_webinar(name="After the backup")
    with app.app_context():  # a heartbeat row of this (backed-up) process is not restored
        app_processes.beat(db.engine, "web-1:4242:abcd", clock.now())
    (made,) = backup_dir.iterdir()
    target = new_database()

    result = invoke(app, "restore", str(made), "--into", target)

    assert result.exit_code == 0, result.output
    assert "Restored" in result.output
    assert rows(target, select(CalendlyEvent.name)) == ["Before the backup"]
    assert scalar(target, select(CalendlyEventAttendee.email)) == "kept@example.org"
    assert count(target, AppProcess) == 0

    again = invoke(app, "restore", str(made), "--into", target)
    assert again.exit_code == 1
    assert "not empty" in again.output or "has tables already" in again.output


def test_a_backup_restores_only_into_its_own_kind_of_database(app, backup_dir, database_url):
    assert invoke(app, "create").exit_code == 0
    (made,) = backup_dir.iterdir()
    other = (
        "sqlite:///" + str(backup_dir / "x.db")
        if on_postgres(database_url)
        else "postgresql+psycopg://postgres@127.0.0.1:5432/nothing"
    )

    result = invoke(app, "restore", str(made), "--into", other)

    assert result.exit_code == 1
    assert "restores into a" in result.output


def test_a_file_that_is_no_backup_is_refused(app, tmp_path, new_database):
    junk = tmp_path / "notes.txt"
    junk.write_text("hello")

    result = invoke(app, "restore", str(junk), "--into", new_database())

    assert result.exit_code == 1
    assert "is not a backup of this app" in result.output


def test_encrypted_backups_need_their_key_and_detect_damage(
    make_app, add_webinar, add_attendee, backup_dir, new_database, tmp_path, pg_bin_dir
):
    old_key, new_key = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    app = make_app(BACKUP_DIR=str(backup_dir), PG_BIN_DIR=pg_bin_dir, BACKUP_ENCRYPTION_KEY=old_key)
    add_attendee(add_webinar(), email="secret.person@example.org")

    result = invoke(app, "create")

    assert result.exit_code == 0, result.output
    assert "encrypted" in result.output
    (made,) = backup_dir.iterdir()
    assert made.name.endswith(".enc")
    assert stat.S_IMODE(made.stat().st_mode) == 0o600
    content = made.read_bytes()
    assert content.startswith(backups.ENCRYPTED_MAGIC)
    assert b"secret.person" not in content

    target = new_database()  # the refused restores stop before they touch it

    def restore(key, path=made):
        app.config["BACKUP_ENCRYPTION_KEY"] = key
        return invoke(app, "restore", str(path), "--into", target)

    assert "is encrypted: set BACKUP_ENCRYPTION_KEY" in restore("").output
    assert "made with another key" in restore(new_key).output
    cut = tmp_path / "cut.enc"
    cut.write_bytes(content[: len(content) - 10])
    assert "damaged or cut off" in restore(old_key, cut).output
    # Key rotation: the new key first, the old one after it still decrypts.
    result = restore(f"{new_key},{old_key}")
    assert result.exit_code == 0, result.output
    assert scalar(target, select(CalendlyEventAttendee.email)) == "secret.person@example.org"


def test_restore_over_the_configured_database_needs_force(app, backup_dir):
    assert invoke(app, "create").exit_code == 0
    (made,) = backup_dir.iterdir()

    result = invoke(app, "restore", str(made))

    assert result.exit_code == 1
    assert "--into URL" in result.output and "--force" in result.output


def test_force_is_refused_while_an_app_process_is_alive_and_not_after_it_died(
    app, add_webinar, backup_dir, database_url
):
    add_webinar(name="In the backup")
    assert invoke(app, "create").exit_code == 0
    (made,) = backup_dir.iterdir()
    add_webinar(name="Lost by the restore")
    with app.app_context():
        app_processes.beat(db.engine, "web-2:777:beef", clock.now())
    close_connections(app)

    refused = invoke(app, "restore", str(made), "--force")

    assert refused.exit_code == 1
    assert "app process web-2:777:beef (host web-2, pid 777)" in refused.output
    with app.app_context():  # its last beat was longer ago than a dead process's
        dead = clock.now() - timedelta(seconds=app_processes.DEAD_AFTER_SECONDS + 1)
        db.session.execute(update(AppProcess).values(last_seen=dead))
        db.session.commit()
    close_connections(app)

    result = invoke(app, "restore", str(made), "--force")

    assert result.exit_code == 0, result.output
    with app.app_context():
        assert db.session.scalars(select(CalendlyEvent.name)).all() == ["In the backup"]
        assert db.session.scalar(select(func.count()).select_from(AppProcess)) == 0


def test_force_is_refused_while_a_sync_holds_its_lease(app, backup_dir):
    assert invoke(app, "create").exit_code == 0
    (made,) = backup_dir.iterdir()
    with app.app_context():
        assert leases.try_acquire(SYNC_LEASE, leases.process_owner(), 60)
    close_connections(app)

    result = invoke(app, "restore", str(made), "--force")

    assert result.exit_code == 1
    assert "a sync is running" in result.output


@pytest.mark.postgres
def test_force_is_refused_while_another_connection_is_open(app, backup_dir, database_url):
    if not on_postgres(database_url):
        pytest.skip("pg_stat_activity is PostgreSQL's")
    assert invoke(app, "create").exit_code == 0
    (made,) = backup_dir.iterdir()
    close_connections(app)
    other = create_engine(database_url)
    try:
        with other.connect() as conn:
            conn.exec_driver_sql("SET application_name = 'someone-else'")
            refused = invoke(app, "restore", str(made), "--force")
    finally:
        other.dispose()

    assert refused.exit_code == 1
    assert "pg_stat_activity" in refused.output and "someone-else" in refused.output
    again = invoke(app, "restore", str(made), "--force")
    assert again.exit_code == 0, again.output


# -- the heartbeat ----------------------------------------------------------------------------


def test_a_serving_process_keeps_its_heartbeat_row_fresh_and_removes_it_on_exit(app):
    with app.app_context():
        engine = db.engine
    heartbeat = app_processes.ProcessHeartbeat(engine, every_seconds=0.05).start()
    try:

        def seen():
            with engine.connect() as conn:
                rows = app_processes.live_processes(conn)
            return [row for row in rows if row.owner == heartbeat.owner]

        (first,) = wait_for(seen)
        assert (first.host, first.pid) == (heartbeat.owner.split(":")[0], os.getpid())
        wait_for(lambda: seen() and seen()[0].last_seen > first.last_seen)
    finally:
        heartbeat.stop()
    assert seen() == []


def test_rows_of_dead_processes_do_not_count_and_are_dropped(app):
    with app.app_context():
        long_ago = clock.now() - timedelta(seconds=app_processes.DEAD_AFTER_SECONDS + 5)
        app_processes.beat(db.engine, "old:1:aaaa", long_ago)
        db.session.execute(update(AppProcess).values(last_seen=long_ago))
        db.session.commit()
        with db.engine.connect() as conn:
            assert app_processes.live_processes(conn) == []
        app_processes.beat(db.engine, "new:2:bbbb", clock.now())
        assert db.session.scalars(select(AppProcess.owner)).all() == ["new:2:bbbb"]


# -- the daily backup -------------------------------------------------------------------------


def test_the_daily_backup_runs_in_one_process_only_and_keeps_the_newest(
    make_app, backup_dir, database_url, pg_bin_dir
):
    zone = "Europe/Berlin"
    # A minute ago in the admin's time zone: due now, whatever the hour the suite runs at.
    at = (clock.now() - timedelta(minutes=1)).astimezone(ZoneInfo(zone))
    app = make_app(
        BACKUP_DIR=str(backup_dir),
        PG_BIN_DIR=pg_bin_dir,
        BACKUP_AT=f"{at:%H:%M}",
        BACKUP_KEEP=2,
        DISPLAY_TIMEZONE=zone,
    )
    ext = backups.EXTENSIONS["postgresql" if on_postgres(database_url) else "sqlite"]
    with app.app_context():  # no retention period: only BACKUP_KEEP prunes (by age: retention)
        retention.change_months(None, None)
    backup_dir.mkdir()
    older = [backup_dir / f"2020010{day}T060000Z{ext}" for day in (1, 2, 3)]
    for path in older:
        path.write_bytes(b"old")
    unrelated = backup_dir / "keep-me.txt"
    unrelated.write_text("not a backup of ours")

    made = [SyncScheduler(app).backup_if_due() for _ in range(3)]  # three processes

    assert made[0] is not None and made[1:] == [None, None]
    names = sorted(p.name for p in backup_dir.iterdir())
    assert names == sorted([older[-1].name, made[0].path.name, unrelated.name])


def test_no_daily_backup_without_backup_at(app, backup_dir):
    assert SyncScheduler(app).backup_if_due() is None
    assert not backup_dir.exists()


def test_an_unreadable_backup_at_stops_the_start(make_app):
    with pytest.raises(ValueError, match="BACKUP_AT must be a time HH:MM"):
        make_app(BACKUP_AT="six")
