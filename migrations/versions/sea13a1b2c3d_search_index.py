"""attendee search by index: FTS5 trigram table (SQLite), pg_trgm GIN index (PostgreSQL);
indexes that let the dashboard count and page webinars from indexes alone; the mirror's totals
in one row kept by triggers

Revision ID: sea13a1b2c3d
Revises: ob1e2c3d4f5a
Create Date: 2026-11-28 00:10:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'sea13a1b2c3d'
down_revision = 'ob1e2c3d4f5a'
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


# The totals row (store/totals.py when this revision was written): filled from the events,
# then kept by triggers.
SQLITE_SECONDS = (
    "CAST(round((julianday({0}.end_time) - julianday({0}.start_time)) * 86400) AS INTEGER)"
)
POSTGRESQL_SECONDS = "CAST(ceil(extract(epoch FROM {0}.end_time - {0}.start_time)) AS INTEGER)"


def _totals_fill(seconds):
    return (
        "INSERT INTO mirror_totals (id, webinars, attendees, longest_seconds)"
        " SELECT 1, count(*), coalesce(sum(invitees_total), 0),"
        f" coalesce(max({seconds.format('calendly_events')}), 0) FROM calendly_events"
    )


TOTALS_SQLITE_UP = (
    _totals_fill(SQLITE_SECONDS),
    "CREATE TRIGGER IF NOT EXISTS mirror_totals_insert AFTER INSERT ON calendly_events BEGIN"
    " UPDATE mirror_totals SET webinars = webinars + 1,"
    " attendees = attendees + coalesce(new.invitees_total, 0),"
    f" longest_seconds = max(longest_seconds, coalesce({SQLITE_SECONDS.format('new')}, 0)); END",
    "CREATE TRIGGER IF NOT EXISTS mirror_totals_delete AFTER DELETE ON calendly_events BEGIN"
    " UPDATE mirror_totals SET webinars = webinars - 1,"
    " attendees = attendees - coalesce(old.invitees_total, 0); END",
    "CREATE TRIGGER IF NOT EXISTS mirror_totals_update AFTER UPDATE OF invitees_total"
    " ON calendly_events WHEN old.invitees_total IS NOT new.invitees_total BEGIN"
    " UPDATE mirror_totals SET attendees = attendees"
    " + coalesce(new.invitees_total, 0) - coalesce(old.invitees_total, 0); END",
    "CREATE TRIGGER IF NOT EXISTS mirror_totals_times AFTER UPDATE OF start_time, end_time"
    " ON calendly_events BEGIN UPDATE mirror_totals SET longest_seconds ="
    f" {SQLITE_SECONDS.format('new')}"
    f" WHERE longest_seconds < {SQLITE_SECONDS.format('new')}; END",
)
TOTALS_SQLITE_DOWN = (
    "DROP TRIGGER IF EXISTS mirror_totals_insert",
    "DROP TRIGGER IF EXISTS mirror_totals_delete",
    "DROP TRIGGER IF EXISTS mirror_totals_update",
    "DROP TRIGGER IF EXISTS mirror_totals_times",
)
TOTALS_POSTGRESQL_UP = (
    _totals_fill(POSTGRESQL_SECONDS),
    f"""CREATE OR REPLACE FUNCTION mirror_totals_count() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'INSERT' THEN
            UPDATE mirror_totals SET webinars = webinars + 1,
                attendees = attendees + coalesce(NEW.invitees_total, 0),
                longest_seconds = greatest(longest_seconds, {POSTGRESQL_SECONDS.format("NEW")});
        ELSIF TG_OP = 'DELETE' THEN
            UPDATE mirror_totals SET webinars = webinars - 1,
                attendees = attendees - coalesce(OLD.invitees_total, 0);
        ELSE
            IF NEW.invitees_total IS DISTINCT FROM OLD.invitees_total THEN
                UPDATE mirror_totals SET attendees = attendees
                    + coalesce(NEW.invitees_total, 0) - coalesce(OLD.invitees_total, 0);
            END IF;
            UPDATE mirror_totals SET longest_seconds = {POSTGRESQL_SECONDS.format("NEW")}
                WHERE longest_seconds < {POSTGRESQL_SECONDS.format("NEW")};
        END IF;
        RETURN NULL;
    END $$""",
    "CREATE TRIGGER mirror_totals_count AFTER INSERT OR DELETE"
    " OR UPDATE OF invitees_total, start_time, end_time"
    " ON calendly_events FOR EACH ROW EXECUTE FUNCTION mirror_totals_count()",
)
TOTALS_POSTGRESQL_DOWN = ("DROP FUNCTION IF EXISTS mirror_totals_count() CASCADE",)


def _run(statements):
    for statement in statements.get(op.get_bind().dialect.name, ()):
        op.execute(statement)


# (table, index, columns) of the dashboard's indexes.
INDEXES = (
    ("calendly_events", "ix_events_start_end_status", ["start_time", "end_time", "status"]),
    (
        "calendly_events",
        "ix_events_type_start_end_status",
        ["event_type_uri", "start_time", "end_time", "status"],
    ),
    ("calendly_event_hosts", "ix_event_hosts_user_name", ["user_uri", "name"]),
    ("calendly_event_hosts", "ix_event_hosts_user_email", ["user_uri", "email"]),
    (
        "calendly_event_attendees",
        "ix_attendees_booked_search_email",
        ["calendly_created_at", "search_text", "email"],
    ),
)


def upgrade():
    _run({"sqlite": SQLITE_UP, "postgresql": POSTGRESQL_UP})
    for table, name, columns in INDEXES:
        op.create_index(name, table, columns, unique=False)
    # (start, end, status) leads with the start time: it serves everything this one did.
    op.drop_index("ix_calendly_events_start_time", table_name="calendly_events")
    # With the email the walk of search is an index-only scan on PostgreSQL too.
    op.drop_index("ix_attendees_booked_search", table_name="calendly_event_attendees")
    op.create_table(
        "mirror_totals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("webinars", sa.Integer(), server_default="0", nullable=False),
        sa.Column("attendees", sa.Integer(), server_default="0", nullable=False),
        sa.Column("longest_seconds", sa.Integer(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mirror_totals")),
    )
    _run({"sqlite": TOTALS_SQLITE_UP, "postgresql": TOTALS_POSTGRESQL_UP})


def downgrade():
    _run({"sqlite": TOTALS_SQLITE_DOWN, "postgresql": TOTALS_POSTGRESQL_DOWN})
    op.drop_table("mirror_totals")
    op.create_index("ix_calendly_events_start_time", "calendly_events", ["start_time"], unique=False)
    op.create_index(
        "ix_attendees_booked_search",
        "calendly_event_attendees",
        ["calendly_created_at", "search_text"],
        unique=False,
    )
    for table, name, _columns in reversed(INDEXES):
        op.drop_index(name, table_name=table)
    _run({"sqlite": SQLITE_DOWN, "postgresql": POSTGRESQL_DOWN})
