"""attendee search by index: FTS5 trigram table (SQLite), pg_trgm GIN index (PostgreSQL)

Revision ID: sea13a1b2c3d
Revises: a9e1f0c3d2b4
Create Date: 2026-11-28 00:10:00

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = 'sea13a1b2c3d'
down_revision = 'a9e1f0c3d2b4'
branch_labels = None
depends_on = None

# The statements of store/search_index.py when this revision was written: a migration keeps its
# own copy, so that later changes there do not rewrite history.
SQLITE_UP = (
    "CREATE VIRTUAL TABLE IF NOT EXISTS attendee_search USING fts5(search_text,"
    " content='calendly_event_attendees', content_rowid='id',"
    " tokenize='trigram case_sensitive 1')",
    "CREATE TRIGGER IF NOT EXISTS attendee_search_insert AFTER INSERT ON calendly_event_attendees"
    " BEGIN INSERT INTO attendee_search(rowid, search_text) VALUES (new.id, new.search_text); END",
    "CREATE TRIGGER IF NOT EXISTS attendee_search_delete AFTER DELETE ON calendly_event_attendees"
    " BEGIN INSERT INTO attendee_search(attendee_search, rowid, search_text)"
    " VALUES ('delete', old.id, old.search_text); END",
    "CREATE TRIGGER IF NOT EXISTS attendee_search_update"
    " AFTER UPDATE OF search_text ON calendly_event_attendees"
    " WHEN old.search_text IS NOT new.search_text"
    " BEGIN INSERT INTO attendee_search(attendee_search, rowid, search_text)"
    " VALUES ('delete', old.id, old.search_text);"
    " INSERT INTO attendee_search(rowid, search_text) VALUES (new.id, new.search_text); END",
    # Backfill: every existing attendee's text into the index.
    "INSERT INTO attendee_search(attendee_search) VALUES ('rebuild')",
)
SQLITE_DOWN = (
    "DROP TRIGGER IF EXISTS attendee_search_insert",
    "DROP TRIGGER IF EXISTS attendee_search_delete",
    "DROP TRIGGER IF EXISTS attendee_search_update",
    "DROP TABLE IF EXISTS attendee_search",
)
# Building the index reads every existing row: that is the backfill. The extension stays on
# downgrade: other databases' objects may use it.
POSTGRESQL_UP = (
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "CREATE INDEX IF NOT EXISTS ix_attendees_search_trgm ON calendly_event_attendees"
    " USING gin (search_text gin_trgm_ops)",
)
POSTGRESQL_DOWN = ("DROP INDEX IF EXISTS ix_attendees_search_trgm",)


def _run(statements):
    for statement in statements.get(op.get_bind().dialect.name, ()):
        op.execute(statement)


def upgrade():
    _run({"sqlite": SQLITE_UP, "postgresql": POSTGRESQL_UP})


def downgrade():
    _run({"sqlite": SQLITE_DOWN, "postgresql": POSTGRESQL_DOWN})
