"""`flask db upgrade` builds a fresh database that matches the models exactly."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import upgrade

from store.database import db


def test_upgrade_builds_the_schema_of_the_models(make_app):
    app = make_app()
    with app.app_context():
        db.drop_all()  # start from nothing: the fixture built the schema with create_all
        with db.engine.begin() as conn:
            conn.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")
        upgrade()
        with db.engine.connect() as conn:
            context = MigrationContext.configure(
                conn, opts={"compare_type": False, "render_as_batch": True}
            )
            diff = compare_metadata(context, db.metadata)
        assert diff == []
        with db.engine.begin() as conn:
            conn.exec_driver_sql("DROP TABLE alembic_version")


def test_search_text_is_backfilled_for_existing_attendees(make_app):
    from datetime import datetime

    from sqlalchemy import text

    app = make_app()
    with app.app_context():
        db.drop_all()
        with db.engine.begin() as conn:
            conn.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")
        upgrade(revision="93a54236eb87")  # before the search column existed
        with db.engine.begin() as conn:
            now = datetime(2026, 1, 1, 10, 0)
            conn.execute(
                text(
                    "INSERT INTO calendly_events (calendly_id, uri, status, start_time, end_time,"
                    " invitees_active, invitees_total, missing_upstream, synced_at)"
                    " VALUES ('E1', 'u', 'active', :t, :t, 0, 0, false, :t)"
                ),
                {"t": now},
            )
            conn.execute(
                text(
                    "INSERT INTO calendly_event_attendees (event_id, calendly_id, uri, name, email,"
                    " status, rescheduled, no_show, synced_at)"
                    " SELECT id, 'I1', 'u', 'Jürgen GROSS', 'J.Gross@Example.DE', 'active',"
                    " false, false, :t FROM calendly_events"
                ),
                {"t": now},
            )
        upgrade()
        with db.engine.connect() as conn:
            assert conn.scalar(text("SELECT search_text FROM calendly_event_attendees")) == (
                "jürgen gross j.gross@example.de"
            )
        db.drop_all()
        with db.engine.begin() as conn:
            conn.exec_driver_sql("DROP TABLE alembic_version")
