"""A restore does not bring erased people back: the tombstones of the database being replaced
are carried into the restored one and applied before anything serves it (SQLite and
PostgreSQL, with the real pg_dump/pg_restore)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import create_engine, select

from services import backups, person_data
from store import clock, erasures
from store.database import db
from store.models import CalendlyEventAttendee, PersonTombstone


@pytest.fixture
def database_url(solo_database_url):
    return solo_database_url


@pytest.fixture
def backup_dir(tmp_path):
    return tmp_path / "backups"


@pytest.fixture
def app(make_app, backup_dir, pg_bin_dir):
    return make_app(BACKUP_DIR=str(backup_dir), PG_BIN_DIR=pg_bin_dir)


def _emails(url: str) -> list[str]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            table = CalendlyEventAttendee.__table__
            return sorted(conn.scalars(select(table.c.email)))
    finally:
        engine.dispose()


def _close(app):
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def test_a_restore_over_the_database_keeps_the_people_erased_since_the_backup(
    app, add_webinar, add_attendee, backup_dir, database_url
):
    event = add_webinar()
    add_attendee(event, email="erased@example.de")
    add_attendee(event, email="stays@example.de")
    runner = app.test_cli_runner()
    assert runner.invoke(args=["backup", "create"]).exit_code == 0
    (made,) = backup_dir.iterdir()
    with app.app_context():
        person_data.erase_person("Erased@Example.de", None)
    _close(app)

    result = runner.invoke(args=["backup", "restore", str(made), "--force"])

    assert result.exit_code == 0, result.output
    assert _emails(database_url) == ["stays@example.de"]
    with app.app_context():
        [digest] = db.session.scalars(select(PersonTombstone.person_hmac)).all()
        assert digest == erasures.person_hmac("test-erasure-key", "erased@example.de")
    _close(app)


def test_a_restore_into_a_new_database_applies_the_configured_databases_tombstones(
    app, add_webinar, add_attendee, backup_dir, new_database
):
    event = add_webinar()
    add_attendee(event, email="erased@example.de")
    add_attendee(event, email="stays@example.de")
    runner = app.test_cli_runner()
    assert runner.invoke(args=["backup", "create"]).exit_code == 0
    (made,) = backup_dir.iterdir()
    with app.app_context():
        person_data.erase_person("erased@example.de", None)
    _close(app)
    target = new_database()

    result = app.test_cli_runner().invoke(args=["backup", "restore", str(made), "--into", target])

    assert result.exit_code == 0, result.output
    assert _emails(target) == ["stays@example.de"]


def test_applying_tombstones_keeps_bookings_made_after_the_erasure(
    app, add_webinar, add_attendee, database_url
):
    event = add_webinar()
    erased_at = clock.now()
    add_attendee(event, email="back@example.de", calendly_created_at=erased_at - timedelta(days=1))
    add_attendee(event, email="BACK@example.de", calendly_created_at=erased_at + timedelta(hours=1))
    add_attendee(event, email="other@example.de")
    _close(app)
    digest = erasures.person_hmac("test-erasure-key", "back@example.de")

    assert backups.apply_erasures(database_url, {digest: erased_at}, "test-erasure-key") == 1

    assert _emails(database_url) == ["BACK@example.de", "other@example.de"]


def test_tombstones_are_carried_into_a_backup_of_an_older_schema(tmp_path):
    # A backup from before the tombstones table: the restore makes the table.
    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = create_engine(url)
    with engine.begin() as conn:
        CalendlyEventAttendee.__table__.metadata.tables["calendly_events"].create(conn)
        CalendlyEventAttendee.__table__.create(conn)
    engine.dispose()
    digest = erasures.person_hmac("k", "a@example.de")

    assert backups.apply_erasures(url, {digest: clock.now()}, "k") == 0

    engine = create_engine(url)
    with engine.connect() as conn:
        assert conn.scalars(select(PersonTombstone.__table__.c.person_hmac)).all() == [digest]
    engine.dispose()
