"""The database: the `db` and `migrate` objects, and engine settings that make SQLite safe
under concurrent writers.

pysqlite does not BEGIN before a SELECT, so read-modify-write transactions could interleave and
lose updates, or fail at once with "database is locked" when a read snapshot turns out stale at
the first write. A writing transaction therefore takes the write lock up front (BEGIN IMMEDIATE,
waiting up to the busy timeout); reads stay plain BEGIN so that they never block one another
and WAL keeps them from blocking on the writer. PostgreSQL needs none of this.
"""

import sqlite3

from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import MetaData, event
from sqlalchemy.engine import Engine

# Stable constraint names keep Alembic batch migrations identical on SQLite and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

db = SQLAlchemy(metadata=MetaData(naming_convention=NAMING_CONVENTION))
migrate = Migrate(render_as_batch=True, compare_type=True)


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
            # Read through the OS page cache without copying: index scans (search) get faster.
            "mmap_size=268435456",
        ):
            cur.execute(f"PRAGMA {pragma}")
        cur.close()


IMMEDIATE = {"sqlite_immediate": True}


@event.listens_for(Engine, "begin")
def _sqlite_begin(conn):
    if conn.dialect.name == "sqlite":
        immediate = conn.get_execution_options().get("sqlite_immediate")
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def start_write(session) -> None:
    """Begin `session`'s next transaction as a writer (ending any transaction still open)."""
    if session().in_transaction():  # a scoped_session: call it for the current Session
        session.commit()
    session.connection(execution_options=IMMEDIATE)


def write_connection(engine):
    """A connection whose transactions take the write lock up front: `with ... as c, c.begin()`."""
    return engine.connect().execution_options(**IMMEDIATE)
