"""Engine-level settings that make SQLite safe under concurrent writers.

pysqlite does not BEGIN before a SELECT, so read-modify-write transactions could interleave and
lose updates. Taking the write lock up front (BEGIN IMMEDIATE) with a generous busy timeout makes
every transaction serialisable; WAL keeps readers from blocking on the writer.
"""

import sqlite3

from sqlalchemy import event
from sqlalchemy.engine import Engine


def normalise_database_url(url: str) -> str:
    """Map the common `postgres://` spellings to the psycopg 3 driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_conn, _record):
    if isinstance(dbapi_conn, sqlite3.Connection):
        dbapi_conn.isolation_level = None  # SQLAlchemy emits BEGIN itself (see below)
        cur = dbapi_conn.cursor()
        for pragma in (
            "journal_mode=WAL",
            "busy_timeout=30000",
            "foreign_keys=ON",
            "synchronous=NORMAL",
        ):
            cur.execute(f"PRAGMA {pragma}")
        cur.close()


@event.listens_for(Engine, "begin")
def _sqlite_begin(conn):
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("BEGIN IMMEDIATE")
