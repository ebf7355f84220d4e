"""Fixtures of the backup tests: where pg_dump lies, and databases to restore into."""

import glob
import os
import shutil

import pytest
from sqlalchemy import create_engine, make_url


def _pg_bin_dir() -> str:
    if shutil.which("pg_dump"):
        return ""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_dump"))
    return os.path.dirname(found[-1]) if found else ""


@pytest.fixture(scope="session")
def pg_bin_dir() -> str:
    """PG_BIN_DIR for the tests: empty when pg_dump is on PATH, else Debian's per-version
    directory of the newest PostgreSQL installed."""
    return _pg_bin_dir()


@pytest.fixture
def new_database(tmp_path, database_url):
    """`new_database(name="restored")`: the URL of a database to restore into, of the test
    database's kind: a SQLite file that does not exist yet, or an empty PostgreSQL database
    created beside the test database (named after it) and dropped afterwards."""
    made = []

    def create(name: str = "restored") -> str:
        if not database_url.startswith("postgresql"):
            return f"sqlite:///{tmp_path / (name + '.db')}"
        url = make_url(database_url)
        url = url.set(database=f"{url.database}_{name}")
        _admin(database_url, f'DROP DATABASE IF EXISTS "{url.database}" WITH (FORCE)')
        _admin(database_url, f'CREATE DATABASE "{url.database}"')
        made.append(url.database)
        return url.render_as_string(hide_password=False)

    yield create
    for name in made:
        _admin(database_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _admin(database_url: str, statement: str) -> None:
    engine = create_engine(database_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.exec_driver_sql(statement)
    engine.dispose()


@pytest.fixture
def solo_database_url(tmp_path, server_database_url):
    """The test database, but on PostgreSQL one of this test's own: a gunicorn or scheduler
    process another test of this worker started may still be ending, and the restore's checks
    would rightly count it as a user of the shared test database."""
    if not server_database_url:
        yield f"sqlite:///{tmp_path / 'test.db'}"
        return
    url = make_url(server_database_url)
    url = url.set(database=f"{url.database}_solo")
    _admin(server_database_url, f'DROP DATABASE IF EXISTS "{url.database}" WITH (FORCE)')
    _admin(server_database_url, f'CREATE DATABASE "{url.database}"')
    yield url.render_as_string(hide_password=False)
    _admin(server_database_url, f'DROP DATABASE IF EXISTS "{url.database}" WITH (FORCE)')
