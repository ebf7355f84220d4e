"""Backups of the database and their restore, while the app runs.

A backup is one file: SQLite's own database file (made with the online backup API, a
consistent snapshot that never blocks the writers), or a `pg_dump` custom-format archive
(one repeatable-read snapshot). It is written under a temporary name in the target directory,
with mode 0600, flushed to disk and only then renamed: a file with a backup's name is always
complete. With a key (BACKUP_ENCRYPTION_KEY), the file is encrypted in chunks (see `_encrypt`),
so that neither making nor restoring it holds the whole backup in memory.

A restore writes into a new database, or replaces the configured one when the caller has made
sure that no app process runs (`replace_refusals`): the CLI asks for `--force` and checks.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import sqlite3
import struct
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import BinaryIO
from zoneinfo import ZoneInfo

from cryptography.fernet import InvalidToken
from sqlalchemy import create_engine, delete, inspect, make_url, select, text
from sqlalchemy.engine import URL, Connection

from mirror import leases
from mirror.sync import SYNC_LEASE
from services import app_processes
from services.secrets import fernet_for
from store import clock, erasures
from store.database import db
from store.models import AppProcess, Lease, PersonTombstone

SQLITE = "sqlite"
POSTGRESQL = "postgresql"
EXTENSIONS = {SQLITE: ".sqlite3", POSTGRESQL: ".dump"}
ENCRYPTED_SUFFIX = ".enc"
_MAGIC = {SQLITE: b"SQLite format 3\x00", POSTGRESQL: b"PGDMP"}
# An encrypted backup: this line, then chunks, each a 4-byte length and a Fernet token of
# (8-byte index, 1-byte "last" flag, data). Index and flag are inside the authenticated token,
# so chunks cannot be dropped, reordered or cut off unnoticed.
ENCRYPTED_MAGIC = b"WEBINAR-SYNC-BACKUP fernet-chunks 1\n"
_CHUNK = 1 << 20
_LENGTH = struct.Struct(">I")
_HEADER = struct.Struct(">QB")
# The names `flask backup create` and the daily job give; only these are pruned.
BACKUP_NAME = re.compile(r"^\d{8}T\d{6}Z\.(sqlite3|dump)(\.enc)?$")
SCHEDULED_LEASE_PREFIX = "backup:"
# A daily backup that no process ran at its time is made up for within this long (a restart).
SCHEDULED_CATCH_UP = timedelta(hours=23)
# Held past the next daily time, so that no process runs the same day's backup again.
SCHEDULED_LEASE_SECONDS = 2 * 24 * 3600


class BackupError(Exception):
    """A backup or restore that cannot be done; the message says why and what to do."""


@dataclass(frozen=True)
class BackupConfig:
    """What backups need from the app's config (no Flask below this point)."""

    database_url: str
    directory: Path
    key: str = ""
    pg_bin_dir: str = ""
    keep: int = 7
    daily_at: str = ""
    # ERASURE_KEY: a restore applies the erased people's tombstones with it.
    erasure_key: str = ""

    @classmethod
    def from_config(cls, config, instance_path: str) -> BackupConfig:
        """The settings from a Flask config mapping."""
        return cls(
            database_url=config["SQLALCHEMY_DATABASE_URI"],
            directory=Path(config.get("BACKUP_DIR") or os.path.join(instance_path, "backups")),
            key=config.get("BACKUP_ENCRYPTION_KEY") or "",
            pg_bin_dir=config.get("PG_BIN_DIR") or "",
            keep=int(config.get("BACKUP_KEEP") or 0),
            daily_at=(config.get("BACKUP_AT") or "").strip(),
            erasure_key=config.get("ERASURE_KEY") or "",
        )


@dataclass(frozen=True)
class Backup:
    """A backup file that was written."""

    path: Path
    kind: str
    encrypted: bool
    size: int


def kind_of(url: str) -> str:
    """SQLITE or POSTGRESQL for a database URL; BackupError for anything else."""
    backend = make_url(url).get_backend_name()
    if backend not in (SQLITE, POSTGRESQL):
        raise BackupError(f"Backups support SQLite and PostgreSQL, not {backend}.")
    return backend


def default_path(config: BackupConfig, now: datetime | None = None) -> Path:
    """BACKUP_DIR/<UTC time>.<sqlite3|dump>[.enc], named after the app clock's now."""
    now = now or clock.now()
    name = f"{now:%Y%m%dT%H%M%SZ}{EXTENSIONS[kind_of(config.database_url)]}"
    return config.directory / (name + (ENCRYPTED_SUFFIX if config.key else ""))


# -- create ---------------------------------------------------------------------------------------


def create_backup(config: BackupConfig, path: Path | None = None) -> Backup:
    """Write a consistent backup of the database to `path` (default: `default_path`).

    Raises:
        BackupError: `path` exists, pg_dump is missing or failed, the key is not a Fernet key.
    """
    kind = kind_of(config.database_url)
    fernet = _fernet(config.key) if config.key else None
    path = Path(path) if path is not None else default_path(config)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        raise BackupError(f"{path} exists already; choose another name.")
    with _temporary(path) as plain:
        if kind == SQLITE:
            _sqlite_backup(_sqlite_path(config.database_url), plain)
        else:
            _pg_dump(config, plain)
        if fernet is None:
            _publish(plain, path)
        else:
            with _temporary(path) as sealed:
                with open(plain, "rb") as source, open(sealed, "r+b") as target:
                    _encrypt(fernet, source, target)
                _publish(sealed, path)
    return Backup(path, kind, fernet is not None, path.stat().st_size)


@contextlib.contextmanager
def _temporary(beside: Path) -> Iterator[Path]:
    """An empty file of mode 0600 next to `beside`, named so that it is no backup; gone
    afterwards (renamed by `_publish`, or removed)."""
    temp = beside.with_name(f".{beside.name}.{uuid.uuid4().hex[:12]}.partial")
    os.close(os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    try:
        yield temp
    finally:
        temp.unlink(missing_ok=True)


def _publish(temp: Path, path: Path, overwrite: bool = False) -> None:
    """Give the complete file `temp` its final name, on disk before and after the rename;
    unless `overwrite`, never in place of a file that appeared meanwhile."""
    _fsync(temp)
    if overwrite:
        os.replace(temp, path)
    else:
        try:
            os.link(temp, path)  # a rename that fails when `path` exists
        except FileExistsError:
            raise BackupError(f"{path} exists already; choose another name.") from None
        temp.unlink()
    _fsync_directory(path.parent)


def _sqlite_path(url: str) -> str:
    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        raise BackupError("Only a SQLite database in a file can be backed up.")
    return database


def _sqlite_backup(source_path: str, target: Path) -> None:
    if not os.path.exists(source_path):
        raise BackupError(f"The database file {source_path} does not exist.")
    source = sqlite3.connect(source_path, timeout=30)
    copy = sqlite3.connect(target)
    try:
        # One step (pages=-1): a single read transaction, so one consistent state; in WAL mode
        # the writers go on meanwhile.
        source.backup(copy)
        # A single self-contained file, without a -wal beside it.
        copy.execute("PRAGMA journal_mode=DELETE")
    except sqlite3.Error as exc:
        raise BackupError(f"SQLite could not copy the database: {exc}") from exc
    finally:
        copy.close()
        source.close()


def _pg_tool(name: str, bin_dir: str) -> str:
    found = (
        shutil.which(name, path=bin_dir) if bin_dir else shutil.which(name)  # PATH
    )
    if found is None:
        where = f"in PG_BIN_DIR ({bin_dir})" if bin_dir else "on PATH"
        raise BackupError(
            f"{name} was not found {where}. Install PostgreSQL's client programs in the "
            "server's major version or newer (Debian: apt-get install postgresql-client), or "
            f"set PG_BIN_DIR to the directory that holds {name}."
        )
    return found


def _libpq(url: str) -> tuple[str, dict]:
    """A libpq connection URL for the PostgreSQL tools, and the environment that carries its
    password (never on a command line, which `ps` shows)."""
    parsed = make_url(url)
    env = dict(os.environ)
    if parsed.password is not None:
        env["PGPASSWORD"] = str(parsed.password)
    plain = URL.create(
        "postgresql",
        username=parsed.username,
        host=parsed.host,
        port=parsed.port,
        database=parsed.database,
        query=parsed.query,
    )
    return plain.render_as_string(hide_password=False), env


def _pg_dump(config: BackupConfig, target: Path) -> None:
    tool = _pg_tool("pg_dump", config.pg_bin_dir)
    dsn, env = _libpq(config.database_url)
    _run([tool, "--format=custom", f"--file={target}", f"--dbname={dsn}"], env, "pg_dump")


def _run(command: list[str], env: dict, name: str, stdin: BinaryIO | None = None) -> None:
    result = subprocess.run(command, env=env, stdin=stdin, capture_output=True, check=False)
    if result.returncode != 0:
        detail = result.stderr.decode("utf-8", "replace").strip()
        raise BackupError(f"{name} failed (exit status {result.returncode}): {detail}")


def _fsync(path: Path) -> None:
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())


def _fsync_directory(directory: Path) -> None:
    with contextlib.suppress(OSError):  # not every platform opens directories
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


# -- encryption -----------------------------------------------------------------------------------


def _fernet(keys: str):
    try:
        return fernet_for(keys, "backup encryption")
    except ValueError as exc:
        raise BackupError(
            "BACKUP_ENCRYPTION_KEY is not a Fernet key (32 url-safe base64-encoded bytes; make "
            "one with `python -c 'from cryptography.fernet import Fernet; "
            "print(Fernet.generate_key().decode())'`)."
        ) from exc


def _encrypt(fernet, source: BinaryIO, target: BinaryIO) -> None:
    target.write(ENCRYPTED_MAGIC)
    index, chunk = 0, source.read(_CHUNK)
    while True:
        following = source.read(_CHUNK)
        last = not following
        token = fernet.encrypt(_HEADER.pack(index, last) + chunk)
        target.write(_LENGTH.pack(len(token)) + token)
        if last:
            return
        index, chunk = index + 1, following


def _decrypt(fernet, source: BinaryIO) -> Iterator[bytes]:
    """The plain chunks of an encrypted backup (after its magic line), checked as they come."""
    broken = BackupError("The encrypted backup is damaged or cut off.")
    index = 0
    while True:
        length = source.read(_LENGTH.size)
        if len(length) < _LENGTH.size:
            raise broken
        size = _LENGTH.unpack(length)[0]
        token = source.read(size)
        if len(token) < size:
            raise broken
        try:
            plain = fernet.decrypt(token)
        except InvalidToken as exc:
            if index == 0:
                raise BackupError(
                    "The backup cannot be decrypted with BACKUP_ENCRYPTION_KEY: it was made "
                    "with another key (give the old one, comma-separated after the new one)."
                ) from exc
            raise broken from exc
        got, last = _HEADER.unpack_from(plain)
        if got != index:
            raise broken
        yield plain[_HEADER.size :]
        if last:
            if source.read(1):
                raise broken
            return
        index += 1


# -- restore --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Source:
    path: Path
    kind: str
    encrypted: bool


def _open_source(path: Path, key: str) -> _Source:
    if not path.is_file():
        raise BackupError(f"{path} is not a file.")
    with open(path, "rb") as fh:
        head = fh.read(len(ENCRYPTED_MAGIC))
    if head.startswith(ENCRYPTED_MAGIC):
        # The kind is inside: decrypt the first chunk to see it.
        if not key:
            raise BackupError(
                f"{path} is encrypted: set BACKUP_ENCRYPTION_KEY to the key it was made with."
            )
        with open(path, "rb") as fh:
            fh.seek(len(ENCRYPTED_MAGIC))
            first = next(_decrypt(_fernet(key), fh), b"")
        return _Source(path, _kind_of_bytes(path, first), True)
    return _Source(path, _kind_of_bytes(path, head), False)


def _kind_of_bytes(path: Path, head: bytes) -> str:
    for kind, magic in _MAGIC.items():
        if head.startswith(magic):
            return kind
    raise BackupError(f"{path} is not a backup of this app (neither SQLite nor pg_dump).")


def _plain_chunks(source: _Source, key: str) -> Iterator[bytes]:
    with open(source.path, "rb") as fh:
        if not source.encrypted:
            while chunk := fh.read(_CHUNK):
                yield chunk
            return
        fh.seek(len(ENCRYPTED_MAGIC))
        yield from _decrypt(_fernet(key), fh)


def restore_backup(
    path: Path,
    into_url: str,
    *,
    key: str = "",
    pg_bin_dir: str = "",
    replace: bool = False,
    erasure_key: str = "",
    tombstones_from: str | None = None,
) -> str:
    """Restore the backup at `path` into the database `into_url`; returns its kind.

    The target must be new (a SQLite file that does not exist or is empty, a PostgreSQL
    database without tables) unless `replace`, which the caller allows only after
    `replace_refusals` found no app process. Rows of `app_processes` are not restored: they
    describe the processes of the database the backup came from.

    People erased since the backup was made stay erased: the tombstones of `tombstones_from`
    (default: `into_url`, the database being replaced), read before the restore, are carried
    into the restored database and applied with `erasure_key` before anything serves it.

    Raises:
        BackupError: unreadable or undecryptable backup, a backup of the other kind of database,
            a target that is not empty, pg_restore missing or failing.
    """
    source = _open_source(Path(path), key)
    target = kind_of(into_url)
    if source.kind != target:
        raise BackupError(
            f"{path} is a {source.kind} backup; it restores into a {source.kind} database only."
        )
    tombstones = _read_tombstones(tombstones_from or into_url)
    if target == SQLITE:
        _restore_sqlite(source, key, Path(_sqlite_path(into_url)), replace)
    else:
        _restore_postgresql(source, key, into_url, pg_bin_dir, replace)
    apply_erasures(into_url, tombstones, erasure_key)
    _forget_processes(into_url)
    return source.kind


def _read_tombstones(url: str) -> dict:
    """The tombstones of the database `url` ({} when it does not exist or has none)."""
    if kind_of(url) == SQLITE and not Path(_sqlite_path(url)).exists():
        return {}
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            if not inspect(conn).has_table(PersonTombstone.__tablename__):
                return {}
            return erasures.read_tombstones(conn)
    except Exception as exc:
        raise BackupError(f"Cannot read the erasures of {make_url(url).database}: {exc}") from exc
    finally:
        engine.dispose()


def apply_erasures(url: str, tombstones: dict, erasure_key: str) -> int:
    """Carry `tombstones` into the restored database `url` and delete every attendee its
    tombstones erase (ERASURE_KEY); returns how many. A backup of an older schema gets the
    tombstones table here (its migration then finds it)."""
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            PersonTombstone.__table__.create(conn, checkfirst=True)
            erasures.add_tombstones(conn, tombstones)
            if not erasure_key:
                return 0
            return erasures.apply_tombstones(conn, erasure_key)
    finally:
        engine.dispose()


def _restore_sqlite(source: _Source, key: str, target: Path, replace: bool) -> None:
    if not replace and target.exists() and target.stat().st_size > 0:
        raise BackupError(f"{target} exists and is not empty: restore into a new file.")
    target.parent.mkdir(parents=True, exist_ok=True)
    with _temporary(target) as temp:
        with open(temp, "wb") as fh:
            for chunk in _plain_chunks(source, key):
                fh.write(chunk)
        _check_sqlite(temp)
        if replace and target.exists():
            # Through SQLite's own locking (and its -wal file), not by swapping files under it.
            restored, current = sqlite3.connect(temp), sqlite3.connect(target, timeout=30)
            try:
                restored.backup(current)
            finally:
                current.close()
                restored.close()
        else:
            _publish(temp, target, overwrite=True)  # an empty file, if any


def _check_sqlite(path: Path) -> None:
    conn = sqlite3.connect(path)
    try:
        verdict = conn.execute("PRAGMA quick_check").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"The backup is no readable SQLite database: {exc}") from exc
    finally:
        conn.close()
    if verdict != "ok":
        raise BackupError(f"The backup is a damaged SQLite database: {verdict}")


_OWN_FUNCTIONS = """
SELECT p.oid::regprocedure::text FROM pg_proc p
  JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE n.nspname = current_schema()
   AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e')
"""


def _restore_postgresql(
    source: _Source, key: str, url: str, pg_bin_dir: str, replace: bool
) -> None:
    tool = _pg_tool("pg_restore", pg_bin_dir)
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            tables = inspect(conn).get_table_names()
            if tables and not replace:
                raise BackupError(
                    f"The database {make_url(url).database} has tables already: restore into "
                    "a new, empty database (createdb NAME)."
                )
            if tables:
                # Tables the backup does not know (a newer schema) must go too.
                conn.exec_driver_sql(
                    "DROP TABLE IF EXISTS "
                    + ", ".join(conn.dialect.identifier_preparer.quote(t) for t in tables)
                    + " CASCADE"
                )
            # So must the app's own functions (the mirror totals' trigger function), which the
            # backup creates again; an extension's functions (pg_trgm) stay with it.
            for (function,) in conn.exec_driver_sql(_OWN_FUNCTIONS).all():
                conn.exec_driver_sql(f"DROP FUNCTION IF EXISTS {function} CASCADE")
    except BackupError:
        raise
    except Exception as exc:
        raise BackupError(f"Cannot open the database {make_url(url).database}: {exc}") from exc
    finally:
        engine.dispose()
    dsn, env = _libpq(url)
    command = [
        tool,
        "--no-owner",
        "--no-privileges",
        "--exit-on-error",
        "--single-transaction",
        f"--dbname={dsn}",
    ]
    if not source.encrypted:
        _run([*command, str(source.path)], env, "pg_restore")
        return
    # Decrypted straight into pg_restore: the plain dump never lies on disk.
    with tempfile.TemporaryFile() as errors:
        process = subprocess.Popen(
            command, env=env, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=errors
        )
        try:
            for chunk in _plain_chunks(source, key):
                process.stdin.write(chunk)
        except (BrokenPipeError, BackupError):
            process.kill()
            raise
        finally:
            with contextlib.suppress(BrokenPipeError):
                process.stdin.close()
            process.wait()
        if process.returncode != 0:
            errors.seek(0)
            detail = errors.read().decode("utf-8", "replace").strip()
            raise BackupError(f"pg_restore failed (exit status {process.returncode}): {detail}")


def _forget_processes(url: str) -> None:
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            if inspect(conn).has_table(AppProcess.__tablename__):
                conn.execute(delete(AppProcess.__table__))
    finally:
        engine.dispose()


# -- replacing the configured database ----------------------------------------------------------


def replace_refusals() -> list[str]:
    """Why the configured database must not be replaced now: running app processes (their
    heartbeat rows), a sync holding its lease, and on PostgreSQL any other connection to the
    database (pg_stat_activity). Empty when none. Needs an app context; leaves no connection
    of this process open."""
    db.session.remove()
    db.engine.dispose()  # only the connection below may count as this process's
    reasons = []
    try:
        with db.engine.connect() as conn:
            names = set(inspect(conn).get_table_names())
            if AppProcess.__tablename__ in names:
                reasons += [
                    f"app process {row.owner} (host {row.host}, pid {row.pid}) was alive at "
                    f"{row.last_seen:%Y-%m-%d %H:%M:%S} UTC"
                    for row in app_processes.live_processes(conn)
                ]
            if Lease.__tablename__ in names:
                holder = _sync_lease_holder(conn)
                if holder:
                    reasons.append(f"a sync is running ({holder} holds its lease)")
            if conn.dialect.name == "postgresql":
                reasons += _other_connections(conn)
    finally:
        db.engine.dispose()
    return reasons


def _sync_lease_holder(conn: Connection) -> str | None:
    row = conn.execute(
        select(Lease.owner, Lease.expires_at).where(Lease.name == SYNC_LEASE)
    ).first()
    if row is None or row.expires_at < clock.now() or leases.owner_process_is_gone(row.owner):
        return None
    return row.owner


def _other_connections(conn: Connection) -> list[str]:
    rows = conn.execute(
        text(
            "SELECT pid, usename, application_name, client_addr, state FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            " AND backend_type = 'client backend' ORDER BY pid"
        )
    ).all()
    return [
        f"another connection to the database (pg_stat_activity: pid {row.pid}, user "
        f"{row.usename}, application {row.application_name or '-'}, client "
        f"{row.client_addr or 'local'}, {row.state})"
        for row in rows
    ]


# -- the daily backup -------------------------------------------------------------------------


def daily_time(value: str) -> time | None:
    """BACKUP_AT ("HH:MM") as a time, None when empty; ValueError when unreadable."""
    if not value:
        return None
    hour, minute = (int(part) for part in value.split(":"))
    return time(hour, minute)


def due_daily_tick(at: time, timezone: str, now: datetime) -> datetime:
    """The latest daily time `at` (in `timezone`) at or before `now`, in UTC."""
    zone = ZoneInfo(timezone)
    local = now.astimezone(zone)
    for day in (local.date(), local.date() - timedelta(days=1)):
        tick = datetime.combine(day, at, tzinfo=zone).astimezone(now.tzinfo)
        if tick <= now:
            return tick
    raise AssertionError("unreachable")


def run_daily_backup(
    config: BackupConfig, timezone: str, owner: str, expired_before: datetime | None = None
) -> Backup | None:
    """Make today's scheduled backup if it is due and no other process made it, and keep the
    newest BACKUP_KEEP, none made before `expired_before` (the retention period's cutoff); None
    when there is nothing to do. Needs an app context."""
    at = daily_time(config.daily_at)
    if at is None:
        return None
    now = clock.now()
    tick = due_daily_tick(at, timezone, now)
    if now - tick > SCHEDULED_CATCH_UP:
        return None
    name = SCHEDULED_LEASE_PREFIX + tick.isoformat()
    # Claimed once, by the first process (a lease's owner could take it again: not here).
    if leases.current_holder(name) is not None:
        return None
    if not leases.try_acquire(name, owner, SCHEDULED_LEASE_SECONDS):
        return None
    made = create_backup(config)
    prune_backups(config.directory, config.keep, expired_before=expired_before)
    return made


def made_at(path: Path) -> datetime | None:
    """When a backup named by this app was made (its name is the UTC time), else None."""
    if not BACKUP_NAME.match(path.name):
        return None
    return datetime.strptime(path.name[:16], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)


def prune_backups(directory: Path, keep: int, expired_before: datetime | None = None) -> list[Path]:
    """Delete all but the newest `keep` backups named by this app in `directory` (keep < 1:
    none deleted for their number), and every one made before `expired_before` (it holds
    attendee data past the retention period); returns the deleted paths."""
    if not directory.is_dir():
        return []
    named = sorted(
        (p for p in directory.iterdir() if BACKUP_NAME.match(p.name) and p.is_file()),
        key=lambda p: p.name,
    )
    doomed = named[:-keep] if keep >= 1 else []
    if expired_before is not None:
        doomed += [p for p in named if p not in doomed and made_at(p) < expired_before]
    for path in doomed:
        path.unlink(missing_ok=True)
    return doomed
