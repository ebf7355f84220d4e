"""`flask db upgrade` builds a fresh database that matches the models exactly."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import upgrade

from extensions import db


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
