"""The substring index behind attendee search, over the folded `search_text` column.

SQLite: an FTS5 table with the trigram tokenizer, holding no copy of the text (external
content: the attendee table) and kept in step by triggers, so that every writer (the sync's bulk
upserts, webhooks, ORM writes, cascading deletes) updates it in its own transaction.
PostgreSQL: pg_trgm with a GIN index on the same column, which LIKE '%...%' uses by itself.

Neither is part of the SQLAlchemy metadata (SQLAlchemy cannot describe a virtual table or an
operator-class index on one database only): the table's DDL events create them with the schema,
migrations create them on upgrade, and `is_search_index` keeps Alembic's comparison away from
them.
"""

from __future__ import annotations

from sqlalchemy import column, table

FTS_TABLE = "attendee_search"
PG_INDEX = "ix_attendees_search_trgm"
# Trigrams: a shorter query has none to look up, and is matched by a scan instead.
MIN_INDEXED_LENGTH = 3

# The FTS5 table as queries see it (not in the metadata: create_all must not create it).
attendee_search = table(FTS_TABLE, column("rowid"), column("search_text"))

# case_sensitive 1: the column is case-folded already, so the index compares it unchanged,
# exactly as LIKE did.
SQLITE_CREATE = (
    f"CREATE VIRTUAL TABLE IF NOT EXISTS {FTS_TABLE} USING fts5(search_text,"
    " content='calendly_event_attendees', content_rowid='id',"
    " tokenize='trigram case_sensitive 1')",
    f"CREATE TRIGGER IF NOT EXISTS {FTS_TABLE}_insert AFTER INSERT ON calendly_event_attendees"
    f" BEGIN INSERT INTO {FTS_TABLE}(rowid, search_text) VALUES (new.id, new.search_text); END",
    f"CREATE TRIGGER IF NOT EXISTS {FTS_TABLE}_delete AFTER DELETE ON calendly_event_attendees"
    f" BEGIN INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, search_text)"
    " VALUES ('delete', old.id, old.search_text); END",
    # Only when the text changed: a sync rewrites every column of every attendee it sees.
    f"CREATE TRIGGER IF NOT EXISTS {FTS_TABLE}_update"
    " AFTER UPDATE OF search_text ON calendly_event_attendees"
    " WHEN old.search_text IS NOT new.search_text"
    f" BEGIN INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, search_text)"
    " VALUES ('delete', old.id, old.search_text);"
    f" INSERT INTO {FTS_TABLE}(rowid, search_text) VALUES (new.id, new.search_text); END",
)
# Reads every attendee's text into the index: for rows written before the index existed.
SQLITE_BACKFILL = (f"INSERT INTO {FTS_TABLE}({FTS_TABLE}) VALUES ('rebuild')",)
SQLITE_DROP = (
    f"DROP TRIGGER IF EXISTS {FTS_TABLE}_insert",
    f"DROP TRIGGER IF EXISTS {FTS_TABLE}_delete",
    f"DROP TRIGGER IF EXISTS {FTS_TABLE}_update",
    f"DROP TABLE IF EXISTS {FTS_TABLE}",
)

# pg_trgm is a trusted extension (PostgreSQL 13+): the database's owner may create it.
PG_EXTENSION = ("CREATE EXTENSION IF NOT EXISTS pg_trgm",)
PG_CREATE = (
    f"CREATE INDEX IF NOT EXISTS {PG_INDEX} ON calendly_event_attendees"
    " USING gin (search_text gin_trgm_ops)",
)
PG_DROP = (f"DROP INDEX IF EXISTS {PG_INDEX}",)


def create_statements(dialect: str) -> tuple[str, ...]:
    """The statements that create the index (and fill it from the existing rows)."""
    if dialect == "sqlite":
        return SQLITE_CREATE + SQLITE_BACKFILL
    if dialect == "postgresql":
        return PG_EXTENSION + PG_CREATE
    return ()


def drop_statements(dialect: str) -> tuple[str, ...]:
    """The statements that remove the index (the pg_trgm extension stays)."""
    return {"sqlite": SQLITE_DROP, "postgresql": PG_DROP}.get(dialect, ())


def is_search_index(name: str | None, type_: str) -> bool:
    """True for the FTS5 table (and its shadow tables) and the trigram index, which Alembic's
    comparison with the models must leave alone."""
    if type_ == "table":
        return bool(name) and (name == FTS_TABLE or name.startswith(FTS_TABLE + "_"))
    return type_ == "index" and name == PG_INDEX


def match_phrase(text: str) -> str:
    """`text` as one FTS5 phrase: with the trigram tokenizer it matches `text` as a substring,
    and nothing in it is read as query syntax."""
    return '"' + text.replace('"', '""') + '"'
