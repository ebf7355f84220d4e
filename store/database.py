"""The database: the `db` and `migrate` objects, and engine settings that make SQLite safe
under concurrent writers.

pysqlite does not BEGIN before a SELECT, so read-modify-write transactions could interleave and
lose updates, or fail at once with "database is locked" when a read snapshot turns out stale at
the first write. A writing transaction therefore takes the write lock up front (BEGIN IMMEDIATE,
waiting up to the busy timeout); reads stay plain BEGIN so that they never block one another
and WAL keeps them from blocking on the writer. PostgreSQL needs none of this.

How long a transaction may wait for a busy database is set per thread with `wait_limits`: web
requests wait a few seconds (blueprints/waits.py), the sync slices its waits to report them
(mirror/waits.py), and everything else waits as long as before. `busy_reason` tells the error a
transaction gets when its limit runs out. Health probes use an engine of their own
(`probe_engine`), whose statements autocommit under a limit set when the connection opens.
"""

import contextlib
import sqlite3
from contextvars import ContextVar
from dataclasses import dataclass

from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import MetaData, create_engine, event, make_url
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


# SQLite's busy timeout where no limit is set: long, as the writers it waits for are short.
DEFAULT_BUSY_TIMEOUT_MS = 30_000
# PostgreSQL's errors for a statement that ran into lock_timeout or statement_timeout.
_PG_BUSY = {"55P03": "lock_timeout", "57014": "statement_timeout"}
_SQLITE_BUSY = ("database is locked", "database table is locked", "database is busy")


@dataclass(frozen=True)
class WaitLimits:
    """How long a transaction may wait, in seconds (None: no limit of ours)."""

    # For a lock: PostgreSQL's lock_timeout, SQLite's busy timeout.
    lock_seconds: float | None = None
    # For each statement, waits included: PostgreSQL's statement_timeout (SQLite has none).
    statement_seconds: float | None = None


_wait_limits: ContextVar[WaitLimits | None] = ContextVar("database_wait_limits", default=None)


def set_wait_limits(limits: WaitLimits | None) -> None:
    """Limit the waits of the transactions this thread (context) begins from now on."""
    _wait_limits.set(limits)


@contextlib.contextmanager
def wait_limits(lock_seconds: float | None = None, statement_seconds: float | None = None):
    """`with wait_limits(...)`: the limits for transactions begun inside the block."""
    token = _wait_limits.set(WaitLimits(lock_seconds, statement_seconds))
    try:
        yield
    finally:
        _wait_limits.reset(token)


def busy_reason(exc: BaseException) -> str | None:
    """Why `exc` (a SQLAlchemy DBAPIError) ended a wait for the database, or None when it is
    another error: "lock_timeout" or "statement_timeout" (PostgreSQL), "locked" (SQLite)."""
    orig = getattr(exc, "orig", None)
    if isinstance(orig, sqlite3.OperationalError):
        return "locked" if str(orig).startswith(_SQLITE_BUSY) else None
    return _PG_BUSY.get(getattr(orig, "sqlstate", None) or "")


def _milliseconds(seconds: float) -> int:
    return max(1, round(seconds * 1000))


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_conn, record):
    if isinstance(dbapi_conn, sqlite3.Connection):
        dbapi_conn.isolation_level = None  # SQLAlchemy emits BEGIN itself (see below)
        record.info["busy_timeout_ms"] = DEFAULT_BUSY_TIMEOUT_MS
        cur = dbapi_conn.cursor()
        for pragma in (
            "journal_mode=WAL",
            f"busy_timeout={DEFAULT_BUSY_TIMEOUT_MS}",
            "foreign_keys=ON",
            "synchronous=NORMAL",
            # Read through the OS page cache without copying: index scans (search) get faster.
            "mmap_size=268435456",
        ):
            cur.execute(f"PRAGMA {pragma}")
        cur.close()


IMMEDIATE = {"sqlite_immediate": True}


AUTOCOMMIT = "AUTOCOMMIT"


@event.listens_for(Engine, "begin")
def _begin(conn):
    if conn.get_execution_options().get("isolation_level") == AUTOCOMMIT:
        return  # each statement is its own transaction: nothing to begin, no SET LOCAL to last
    limits = _wait_limits.get()
    if conn.dialect.name == "sqlite":
        # The busy timeout belongs to the connection, which the pool hands to any thread:
        # set it for each transaction, when it differs (BEGIN IMMEDIATE already waits by it).
        busy_ms = DEFAULT_BUSY_TIMEOUT_MS
        if limits is not None and limits.lock_seconds is not None:
            busy_ms = _milliseconds(limits.lock_seconds)
        info = conn.connection.info
        if info.get("busy_timeout_ms") != busy_ms:
            conn.exec_driver_sql(f"PRAGMA busy_timeout={busy_ms}")
            info["busy_timeout_ms"] = busy_ms
        immediate = conn.get_execution_options().get("sqlite_immediate")
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
    elif conn.dialect.name == "postgresql" and limits is not None:
        # SET LOCAL: the limits end with the transaction, so a pooled connection keeps none.
        settings = []
        if limits.lock_seconds is not None:
            settings.append(("lock_timeout", _milliseconds(limits.lock_seconds)))
        if limits.statement_seconds is not None:
            settings.append(("statement_timeout", _milliseconds(limits.statement_seconds)))
        if settings:
            calls = ", ".join(f"set_config('{name}', '{ms}ms', true)" for name, ms in settings)
            conn.exec_driver_sql(f"SELECT {calls}")


def start_write(session) -> None:
    """Begin `session`'s next transaction as a writer (ending any transaction still open)."""
    if session().in_transaction():  # a scoped_session: call it for the current Session
        session.commit()
    session.connection(execution_options=IMMEDIATE)


def write_connection(engine):
    """A connection whose transactions take the write lock up front: `with ... as c, c.begin()`."""
    return engine.connect().execution_options(**IMMEDIATE)


def probe_engine(url: str, seconds: float) -> Engine:
    """An engine of its own for health probes: every statement autocommits (no BEGIN, no
    SET LOCAL around it) and waits at most `seconds`, a limit set when the connection opens, so
    that a probe is exactly one statement.

    PostgreSQL: `statement_timeout` and `lock_timeout` as connection options (opening a
    connection may take 2 s, libpq's least `connect_timeout`). SQLite: the busy timeout.
    """
    milliseconds = _milliseconds(seconds)
    if make_url(url).get_backend_name() == "postgresql":
        limits = f"-c statement_timeout={milliseconds} -c lock_timeout={milliseconds}"
        connect_args = {"options": limits, "connect_timeout": max(1, round(seconds))}
    else:
        connect_args = {"timeout": seconds}
    engine = create_engine(
        url,
        connect_args=connect_args,
        execution_options={"isolation_level": AUTOCOMMIT},
        # One connection, reused: a probe asks nothing else (no pre-ping, no reset on return).
        pool_size=1,
        max_overflow=2,
        pool_timeout=seconds,
        pool_reset_on_return=None,
        hide_parameters=True,
    )
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine, "connect")
        def _probe_busy_timeout(dbapi_conn, record):
            # After _sqlite_pragmas (listeners on Engine run first), which sets the long default.
            dbapi_conn.execute(f"PRAGMA busy_timeout={milliseconds}")
            record.info["busy_timeout_ms"] = milliseconds

    return engine
