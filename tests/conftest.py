"""Shared fixtures: a real app on a real database, a real Calendly simulator, a real HTTP server.

`TEST_DATABASE_URL` switches every database test from a fresh SQLite file to that server
(PostgreSQL in CI). Each test starts on an empty schema of the models, built cheaply: a copy of
a schema-only SQLite file made once per process, or on PostgreSQL the rows of the previous test
deleted (the schema rebuilt only when a test changed it, as the migration tests do).

Two options prove that the suite does not depend on the day or on the generated data:
`--at=<ISO instant>` runs the whole session with the clock moved there (and ticking), and
`--data-seed=<int>` changes the seed of every simulated account the fixtures build.
`--dated-only` keeps the tests marked `dated` (whose outcome can depend on the date or hour;
`dated(False)` exempts one test of a dated module), `--seeded-only` those whose outcome can
depend on the simulated data (dated ones, and the connector's, simulator's and mirror's).
"""

import os
import shutil
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
import time_machine
from cryptography.fernet import Fernet
from jinja2 import BytecodeCache
from sqlalchemy import create_engine, make_url, text
from werkzeug.routing import Rule

from app import create_app
from store import clock, totals
from store.database import db

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "")
_TRAVEL = pytest.StashKey[time_machine.travel]()


def _reuse_url_builders() -> None:
    """Most of create_app's time goes to Werkzeug compiling a URL builder (ast + compile) for
    every rule, and the suite builds an app per test. A builder depends only on the rule's
    text, its parsed parts and its defaults, and reads the rest from the rule it is bound to,
    so one compiled for an equal rule of an earlier app serves as it is (test processes only)."""
    compile_builder = getattr(Rule, "_compile_builder", None)
    if compile_builder is None:  # another Werkzeug: build them as it does
        return
    builders = {}

    def reused(self, append_unknown=True):
        key = (self.rule, tuple(self._trace), repr(sorted((self.defaults or {}).items())),
               append_unknown)  # fmt: skip
        if key not in builders:
            builders[key] = compile_builder(self, append_unknown)
        return builders[key]

    Rule._compile_builder = reused


_reuse_url_builders()


class _CompiledTemplates(BytecodeCache):
    """Jinja compiles every template of every app anew (a third of a page test's time, as the
    suite builds an app per test). What it compiles depends only on the template's source, which
    the cache checks by checksum, so one compilation serves every app of the process."""

    def __init__(self):
        self._code = {}

    def load_bytecode(self, bucket):
        code = self._code.get(bucket.key)
        if code is not None:
            bucket.bytecode_from_string(code)

    def dump_bytecode(self, bucket):
        self._code[bucket.key] = bucket.bytecode_to_string()


_COMPILED_TEMPLATES = _CompiledTemplates()
_SHARED_SQL: dict[tuple[str, str], tuple] = {}


def _share_compiled_sql(app) -> None:
    """SQLAlchemy caches compiled SQL per engine, keyed by the engine's dialect object, and every
    test's app has engines of its own, so each test compiled its statements anew (a quarter of a
    page test's time). The apps' engines differ only in where they connect: an app's engine gets
    the dialect, and with it the cache, of the first engine of the process for that driver."""
    with app.app_context():
        for engine in db.engines.values():
            key = (engine.dialect.name, engine.dialect.driver)
            engine.dialect, engine._compiled_cache = _SHARED_SQL.setdefault(
                key, (engine.dialect, engine._compiled_cache)
            )


# -- the clock and the data seed of the whole session ---------------------------------------------


def pytest_addoption(parser):
    group = parser.getgroup("webinar-sync")
    group.addoption(
        "--at",
        metavar="INSTANT",
        help="run the session with the clock moved to this aware ISO instant, ticking on "
        "from there (e.g. 2027-10-31T00:30:00Z)",
    )
    group.addoption(
        "--data-seed",
        type=int,
        default=0,
        metavar="N",
        help="offset the seed of every simulated Calendly account the fixtures build",
    )
    group.addoption(
        "--dated-only",
        action="store_true",
        help="run only the tests marked `dated` (those whose outcome can depend on the date "
        "or hour), as scripts/test does at its fixed instants",
    )
    group.addoption(
        "--seeded-only",
        action="store_true",
        help="run only the tests whose outcome can depend on the simulated data (those using "
        "the `data_seed` fixture, as every simulator fixture does, that are dated or test the "
        "connector, the simulator or the mirror), as scripts/test does with --data-seed",
    )


def _instant(value: str) -> datetime:
    try:
        instant = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise pytest.UsageError(f"--at={value}: not an ISO 8601 instant") from None
    if instant.tzinfo is None:
        raise pytest.UsageError(f"--at={value}: say which time zone (e.g. a trailing Z)")
    return instant


def pytest_configure(config):
    # Started here, before any test module is imported and long before any app, simulator or
    # thread exists: time-machine patches the clock for the whole process, threads included
    # (under xdist each worker runs this too). It does not reach subprocesses: tests that start
    # one are marked `subprocess` and skipped below.
    if config.getoption("--at"):
        travel = time_machine.travel(_instant(config.getoption("--at")), tick=True)
        travel.start()
        config.stash[_TRAVEL] = travel


def pytest_unconfigure(config):
    travel = config.stash.get(_TRAVEL, None)
    if travel is not None:
        travel.stop()


def is_dated(item) -> bool:
    """Marked `dated` (by the test, its class or its module) and not `dated(False)` closer."""
    marker = item.get_closest_marker("dated")
    return marker is not None and (not marker.args or bool(marker.args[0]))


# Where the generated data is what the code under test reads: the connector, the simulator,
# the mirror. Elsewhere simulated data is the background of a page or a process, and the tests
# that depend on which webinars exist are the dated ones (sync, dashboard, attendee lists).
_DATA_READING_DIRS = ("tests/calendly/", "tests/devtools/", "tests/mirror/")


def depends_on_the_data(item) -> bool:
    """Simulated data the outcome can depend on (what --data-seed is for): a dated test, or one
    of the connector, the simulator or the mirror, that builds a simulated account."""
    if not uses_simulated_data(item):
        return False
    path = item.nodeid.split("::", 1)[0]
    return is_dated(item) or path.startswith(_DATA_READING_DIRS)


def uses_simulated_data(item) -> bool:
    """Whether the test builds a simulated Calendly account through the fixtures (all of them
    take their seed from `data_seed`), so that --data-seed changes its data."""
    return "data_seed" in getattr(item, "fixturenames", ())


def pytest_collection_modifyitems(config, items):
    wanted = []
    if config.getoption("--dated-only"):
        wanted.append(is_dated)
    if config.getoption("--seeded-only"):
        wanted.append(depends_on_the_data)
    if wanted:
        kept = [item for item in items if all(check(item) for check in wanted)]
        config.hook.pytest_deselected(items=[item for item in items if item not in kept])
        items[:] = kept
    if not config.getoption("--at"):
        return
    skip = pytest.mark.skip(reason="--at: time-machine does not reach a subprocess's clock")
    for item in items:
        if item.get_closest_marker("subprocess"):
            item.add_marker(skip)


def pytest_report_header(config):
    lines = [f"database: {TEST_DATABASE_URL or 'SQLite file per test'}"]
    if config.getoption("--at"):
        lines.append(f"clock: moved to {config.getoption('--at')} (ticking)")
    if config.getoption("--data-seed"):
        lines.append(f"data seed offset: {config.getoption('--data-seed')}")
    return lines


@pytest.fixture(scope="session")
def server_database_url():
    """TEST_DATABASE_URL, with a database of its own per xdist worker (created on demand), its
    schema emptied first: tables an earlier, interrupted run left behind must not get in the way
    of dropping and creating this run's."""
    if not TEST_DATABASE_URL:
        return TEST_DATABASE_URL
    base = url = make_url(TEST_DATABASE_URL)
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker:
        url = base.set(database=f"{base.database}_{worker}")
        engine = create_engine(base, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            exists = conn.scalar(
                text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": url.database}
            )
            if not exists:
                conn.exec_driver_sql(f'CREATE DATABASE "{url.database}"')
        engine.dispose()
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.exec_driver_sql("DROP SCHEMA public CASCADE")
        conn.exec_driver_sql("CREATE SCHEMA public")
    engine.dispose()
    return url.render_as_string(hide_password=False)


@pytest.fixture
def database_url(tmp_path, server_database_url):
    """The database URL for one test."""
    if server_database_url:
        return server_database_url
    return f"sqlite:///{tmp_path / 'test.db'}"


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory):
    """A SQLite file holding the empty schema of the models (create_all once per process):
    copying it is much cheaper than creating the tables for every test."""
    path = tmp_path_factory.mktemp("schema") / "template.db"
    app = create_app(_test_config(f"sqlite:///{path}"))
    with app.app_context():
        db.create_all()
        db.session.remove()
        db.engine.dispose()  # the last connection's close folds the WAL into the file
    return path


# What the server schema looks like right after create_all, per database URL.
_BUILT_SCHEMA: dict[str, frozenset] = {}
_SCHEMA_SIGNATURE = """
SELECT 'column', concat_ws(' ', table_name, column_name, data_type, is_nullable, column_default)
  FROM information_schema.columns WHERE table_schema = 'public'
UNION ALL SELECT 'index', indexdef FROM pg_indexes WHERE schemaname = 'public'
UNION ALL SELECT 'constraint',
  concat_ws(' ', conrelid::regclass, conname, pg_get_constraintdef(oid))
  FROM pg_constraint WHERE connamespace = 'public'::regnamespace
UNION ALL SELECT 'type', typname FROM pg_type
  WHERE typnamespace = 'public'::regnamespace AND typtype NOT IN ('c', 'b')
"""


def _schema_signature(conn) -> frozenset:
    return frozenset(tuple(row) for row in conn.exec_driver_sql(_SCHEMA_SIGNATURE))


def _empty_server_schema() -> None:
    """Give the server database (the current app's) the models' empty schema: delete the rows
    the previous test left and restart the id sequences, as a new schema would have them.
    Rebuild it instead on the process's first test and whenever its tables, columns, indexes,
    constraints or types differ from those create_all made (a migration test changed them)."""
    url = db.engine.url.render_as_string(hide_password=False)
    with db.engine.begin() as conn:
        if _BUILT_SCHEMA.get(url) == _schema_signature(conn):
            deletes = "; ".join(
                f'DELETE FROM "{table.name}"' for table in reversed(db.metadata.sorted_tables)
            )
            conn.exec_driver_sql(deletes)
            # The totals row is part of an empty schema (create_all writes it): write it again.
            for statement in totals.refill_statements("postgresql"):
                conn.exec_driver_sql(statement)
            conn.exec_driver_sql(
                "SELECT setval(c.oid, 1, false) FROM pg_class c"
                " JOIN pg_namespace n ON n.oid = c.relnamespace"
                " WHERE c.relkind = 'S' AND n.nspname = 'public'"
            )
            return
        conn.exec_driver_sql("DROP SCHEMA public CASCADE")
        conn.exec_driver_sql("CREATE SCHEMA public")
    db.create_all()
    with db.engine.connect() as conn:
        _BUILT_SCHEMA[url] = _schema_signature(conn)


def _drop_server_schema(url: str) -> None:
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.exec_driver_sql("DROP SCHEMA public CASCADE")
        conn.exec_driver_sql("CREATE SCHEMA public")
    engine.dispose()


def _test_config(database_url: str) -> dict:
    return {
        "TESTING": True,
        "SECRET_KEY": "test-secret",
        "TOKEN_ENCRYPTION_KEY": Fernet.generate_key().decode(),
        "ERASURE_KEY": "test-erasure-key",
        "SQLALCHEMY_DATABASE_URI": database_url,
        "SCHEDULER_ENABLED": False,
        "CALENDLY_TOKEN": "",
        "CALENDLY_EVENT_TYPES": "",
    }


@pytest.fixture
def make_app(request, database_url):
    """Build apps on the test database; the first one finds the models' schema empty.

    Nothing is synced before the admin chooses event types, so the first app stores the choice
    "every type" (as "All event types" on Settings); `event_types` stores another choice, and
    None removes it (no choice yet).
    """
    from mirror.event_types import ALL_TYPES
    from services import settings

    apps = []

    def factory(*, event_types=..., **overrides):
        config = {**_test_config(database_url), **overrides}
        url = config["SQLALCHEMY_DATABASE_URI"]
        ours = not apps and url == database_url
        # With TESTING off the factory looks at the database (demo mode, the scheduler): let it
        # find no tables, as on a new installation, like every app did before the schema was
        # made once and reused.
        bare = ours and not config["TESTING"]
        if bare and not url.startswith("sqlite"):
            _drop_server_schema(url)
        app = create_app(config)
        app.jinja_env.bytecode_cache = _COMPILED_TEMPLATES
        _share_compiled_sql(app)
        with app.app_context():
            if not apps:
                path = make_url(url).database if url.startswith("sqlite:///") else None
                if ours and path and not bare and not os.path.exists(path):
                    # Nothing has opened the file yet (create_app does not, under TESTING).
                    shutil.copyfile(request.getfixturevalue("_sqlite_template"), path)
                elif ours and not path:
                    _empty_server_schema()
                else:
                    db.drop_all()
                    db.create_all()
                if event_types is ...:
                    event_types = [ALL_TYPES]
            if event_types is None:
                settings.delete_setting(settings.EVENT_TYPES_KEY)
            elif event_types is not ...:
                settings.set_setting(settings.EVENT_TYPES_KEY, list(event_types))
        apps.append(app)
        return app

    yield factory
    # The tables stay: a SQLite file is thrown away with tmp_path, and the next test on the
    # server database deletes the rows (_empty_server_schema).
    for app in apps:
        # An app built with TESTING off beats like a serving process: stop it (its row goes),
        # or it writes on into the next test's database from this process.
        heartbeat = app.extensions.get("app_heartbeat")
        if heartbeat is not None:
            heartbeat.stop()
        with app.app_context():
            db.session.remove()
            # Pooled connections of a finished test would count as "another connection" to a
            # later one (the restore's pg_stat_activity check) and hold server resources.
            db.engine.dispose()
            db.engine.dispose()


@pytest.fixture
def app(make_app):
    return make_app()


@pytest.fixture
def app_ctx(app):
    with app.app_context():
        yield app


@pytest.fixture
def client(request, app):
    """The Flask test client of `app`. Pages come in German (the default) unless the module or
    test is marked `@pytest.mark.language("en")`."""
    client = app.test_client()
    marker = request.node.get_closest_marker("language")
    if marker:
        client.environ_base["HTTP_ACCEPT_LANGUAGE"] = marker.args[0]
    return client


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


# -- the simulated Calendly: one family of fixtures ------------------------------------------------
#
# calendly_sim   a simulator of the test's own, serving the account below
# module_sim     one running simulator shared by a test module, reset to that account per test
# make_sim       `make_sim(seed)`: more simulators of the test's own (stopped afterwards)
#
# Every one runs on the session's clock (`now=clock.now()`), so app and simulator agree on what
# is past and what lies ahead, also under --at. The account is the generator's default (300
# events from 60 days back to 120 ahead) unless a module or test asks for another with
# `@pytest.mark.sim_account("small")` (SMALL_ACCOUNT), `sim_account("team")` (TEAM_ACCOUNT)
# and/or `sim_account(token=..., n_events=..., max_invitees=..., past_days=..., future_days=...)`.
# Tests never rely on where an event sits in the generated data: they pick events by what they
# need with `pick_event` / `pick_invitee`.

# Every event inside the sync's 14-day look-back. Large enough that every seed at every instant
# has started and coming webinars with active invitees (checked for 10,000 seeds and instants;
# at 8 to 16 events some had none).
SMALL_ACCOUNT = {"n_events": 30, "max_invitees": 5, "past_days": 10, "future_days": 20}
# An organization of three hosts (sample_data.add_team): the token's user, an admin and a
# member; "TLr - Infowebinar" is a round-robin team type, the English one a collective type.
# Every event inside the look-back, like SMALL_ACCOUNT, with enough for each host.
TEAM_ACCOUNT = {**SMALL_ACCOUNT, "n_events": 60, "team": True}


def _sim_account(request) -> tuple[str, dict]:
    """The (token, seed_data arguments) a test's `sim_account` marker asks for."""
    marker = request.node.get_closest_marker("sim_account")
    if marker is None:
        return "sim-token", {}
    named = {("small",): SMALL_ACCOUNT, ("team",): TEAM_ACCOUNT}
    account = dict(named.get(marker.args, {}))
    account.update(marker.kwargs)
    return account.pop("token", "sim-token"), account


@pytest.fixture(scope="session")
def data_seed(request):
    """`data_seed(n)`: the seed a fixture's account uses, offset by --data-seed."""
    return lambda n: n + request.config.getoption("--data-seed")


@pytest.fixture
def make_sim(request, data_seed):
    """`make_sim(seed=7, **seed_args)`: a started simulator on the session's clock, serving
    the marked account (or `seed_args`); stopped after the test."""
    from devtools.simulator import CalendlySimulator

    started = []

    def build(seed: int = 7, **seed_args):
        token, account = _sim_account(request)
        sim = CalendlySimulator(token=token, seed=data_seed(seed), now=clock.now())
        if account or seed_args:
            sim.seed_data(**{**account, **seed_args})
        started.append(sim.start())
        return sim

    yield build
    for sim in started:
        sim.stop()


@pytest.fixture
def calendly_sim(make_sim):
    """A seeded Calendly simulator of the test's own, on a free port."""
    return make_sim()


@pytest.fixture(scope="module")
def _module_simulator(data_seed):
    from devtools.simulator import CalendlySimulator

    with CalendlySimulator(seed=data_seed(21), now=clock.now()) as sim:
        yield sim


@pytest.fixture
def module_sim(request, _module_simulator):
    """The module's running simulator, reset for this test: a fresh account generated at the
    current time, no subscriptions, faults or request log."""
    token, account = _sim_account(request)
    _module_simulator.token = token
    return _module_simulator.reset(now=clock.now(), **account)


# -- picking data by what a test needs ----------------------------------------------------------

# How far an event must lie ahead (or behind) to still be ahead (or started) when the test
# looks again a little later, and whatever the minute the session started at.
PICK_MARGIN = timedelta(minutes=15)


@dataclass(frozen=True)
class Wanted:
    """What a test asks of an event; `str()` says it in words for the failure message."""

    ahead: bool | None = None
    min_active: int = 0
    min_invitees: int = 0
    room: int = 0
    event_type: str | None = None
    status: str | None = "active"

    def matches(self, sim, event: dict) -> bool:
        from devtools.sample_data import parse_time

        counter = event["invitees_counter"]
        if self.ahead is not None:
            start, now = parse_time(event["start_time"]), sim.now()
            if not (start > now + PICK_MARGIN if self.ahead else start < now - PICK_MARGIN):
                return False
        limit = counter["limit"] if counter["limit"] is not None else 10**6
        return (
            (self.status is None or event["status"] == self.status)
            and counter["active"] >= self.min_active
            and counter["total"] >= self.min_invitees
            and limit - counter["active"] >= self.room
            and self.event_type in (None, event["event_type"], event["name"])
        )

    def __str__(self) -> str:
        asked = [f"status {self.status}"] if self.status else []
        if self.ahead is not None:
            asked.append(
                "starting later than 15 minutes from now"
                if self.ahead
                else "started more than 15 minutes ago"
            )
        asked += [f"{value} {label}" for value, label in (
            (self.min_active, "active invitee(s) at least"),
            (self.min_invitees, "invitee(s) at least"),
            (self.room, "free seat(s) at least"),
        ) if value]  # fmt: skip
        if self.event_type:
            asked.append(f"of type {self.event_type}")
        return ", ".join(asked) or "any event"


def _matching(sim, want: Wanted, exclude=()) -> list[str]:
    """UUIDs of the account's events that are what `want` asks for, nearest to now first
    (started ones latest first: those inside the sync's look-back)."""
    by_start = sorted(
        sim.events.items(), key=lambda item: item[1]["start_time"], reverse=want.ahead is False
    )
    return [uuid for uuid, event in by_start if uuid not in exclude and want.matches(sim, event)]


def _account(sim) -> str:
    return f"the simulated account (seed {sim.seed}, now {sim.now():%Y-%m-%dT%H:%M:%SZ})"


@pytest.fixture(scope="session")
def pick_event():
    """`pick_event(sim, ahead=True, min_active=1, room=0, event_type=..., exclude=(...))`: the
    UUID of an event of the simulated account with those properties (the next one to start, or
    with ahead=False the last one started); `count=n` gives a list of n different ones,
    `count="all"` every one (in that order). Fails the test, saying what was asked, when there
    is none."""

    def pick(sim, *, count: int | str | None = None, exclude=(), **wanted):
        want = Wanted(**wanted)
        found = _matching(sim, want, exclude)
        if count == "all":
            count = max(len(found), 1)
        if len(found) < (count or 1):
            pytest.fail(
                f"{_account(sim)} has {len(found)} event(s), not {count or 1}, with {want}",
                pytrace=False,
            )
        return found[:count] if count is not None else found[0]

    return pick


@pytest.fixture(scope="session")
def pick_invitee():
    """`pick_invitee(sim, status="active", no_show=False, **event_properties)`: an invitee
    (the simulator's own dict) of an event with the properties `pick_event` takes. Fails the
    test, saying what was asked, when there is none."""

    def pick(sim, *, status: str = "active", no_show: bool = False, **wanted):
        want = Wanted(**wanted)
        for uuid in _matching(sim, want):
            for invitee in sim.invitees.get(uuid, ()):
                if invitee["status"] == status and bool(invitee["no_show"]) == no_show:
                    return invitee
        pytest.fail(
            f"{_account(sim)} has no {status} invitee (no-show: {no_show}) of an event with {want}",
            pytrace=False,
        )

    return pick


@pytest.fixture
def sim_app(make_app, calendly_sim):
    """An app whose Calendly backend is the simulator."""
    return make_app(CALENDLY_API_BASE_URL=calendly_sim.base_url, CALENDLY_TOKEN="sim-token")


@pytest.fixture
def connected_app(make_app):
    """`connected_app(sim, **config)`: an app whose Calendly is `sim`, with its token and account
    saved as after a verified connection, looking back 14 days."""
    from services import settings

    def factory(sim, **config):
        app = make_app(
            CALENDLY_API_BASE_URL=sim.base_url,
            CALENDLY_TOKEN=sim.token,
            SYNC_LOOKBACK_DAYS=14,
            **config,
        )
        with app.app_context():
            settings.save_account(sim.user)
        return app

    return factory


# -- admin accounts and signed-in clients (auth screen) ----------------------------------------

ADMIN_EMAIL = "admin@example.org"
ADMIN_PASSWORD = "correct horse battery"
# Fast hashing for tests; production uses werkzeug's default (scrypt).
TEST_PASSWORD_HASH = "pbkdf2:sha256:1000"


def _page_csrf_token(html: str) -> str:
    import re

    match = re.search(r'name="csrf-token" content="([^"]+)"', html)
    assert match, "page has no csrf-token meta tag"
    return match.group(1)


@pytest.fixture
def admin_user(app):
    """An admin account: `.email` admin@example.org, `.password` 'correct horse battery'."""
    from types import SimpleNamespace

    from services import accounts

    app.config["PASSWORD_HASH_METHOD"] = TEST_PASSWORD_HASH
    with app.app_context():
        user = accounts.create_admin(ADMIN_EMAIL, ADMIN_PASSWORD)
        return SimpleNamespace(id=user.id, email=user.email, password=ADMIN_PASSWORD)


@pytest.fixture
def csrf_token(client):
    """`csrf_token(path="/login")`: the CSRF token of the page at `path`, for the test client."""

    def read(path: str = "/login") -> str:
        return _page_csrf_token(client.get(path).get_data(as_text=True))

    return read


@pytest.fixture
def login(client, admin_user, csrf_token):
    """The test client, signed in as `admin_user` through the real login form (CSRF on)."""
    response = client.post(
        "/login",
        data={
            "email": admin_user.email,
            "password": admin_user.password,
            "csrf_token": csrf_token("/login"),
        },
    )
    assert response.status_code == 303, response.get_data(as_text=True)
    return client


@pytest.fixture
def htmx(login, csrf_token):
    """Headers of an htmx request from a page of the signed-in `login` client (CSRF token
    included, as the pages send it)."""
    return {"HX-Request": "true", "X-CSRFToken": csrf_token("/")}


def _insert(app, row):
    """Commit `row` in a short app context and hand it back detached, attributes loaded.

    Tests must not hold an app context while they make requests: Flask would reuse it, and
    with it `g` (Flask-Login's cached user, Flask-Babel's cached locale) across requests.
    """
    with app.app_context():
        db.session.add(row)
        db.session.commit()
        db.session.refresh(row)
        db.session.expunge(row)
    return row


@pytest.fixture
def add_webinar(app):
    """`add_webinar(**fields)`: insert a CalendlyEvent (an upcoming Zoom webinar by default);
    `hosts=[{uri, name, email}, ...]` fills the host filter's table too, as the writer does."""
    import itertools

    from store.models import CalendlyEvent, EventHost

    counter = itertools.count(1)

    def add(**fields):
        n = next(counter)
        start = fields.pop("start_time", clock.now() + timedelta(days=n))
        values = {
            "calendly_id": f"evt-{n:04d}",
            "uri": f"https://api.calendly.com/scheduled_events/evt-{n:04d}",
            "name": "Infowebinar Quereinstieg Lehramt",
            "status": "active",
            "start_time": start,
            "end_time": start + timedelta(hours=1),
            "event_type_uri": "https://api.calendly.com/event_types/INFO",
            "location_type": "zoom",
            "location": "https://zoom.us/j/123456789",
            "invitees_active": 0,
            "invitees_total": 0,
            "invitees_limit": 50,
        }
        values.update(fields)
        event = _insert(app, CalendlyEvent(**values))
        for host in values.get("hosts") or ():
            _insert(app, EventHost(event_id=event.id, user_uri=host["uri"], name=host["name"],
                                   email=host["email"]))  # fmt: skip
        return event

    return add


@pytest.fixture
def add_attendee(app):
    """`add_attendee(event, **fields)`: insert a CalendlyEventAttendee of `event`."""
    import itertools

    from store.models import CalendlyEventAttendee

    counter = itertools.count(1)

    def add(event, **fields):
        n = next(counter)
        values = {
            "event_id": event.id,
            "calendly_id": f"inv-{event.id}-{n:04d}",
            "uri": f"{event.uri}/invitees/inv-{n:04d}",
            "name": f"Person {n}",
            "email": f"person{n}@example.org",
            "status": "active",
            "timezone": "Europe/Berlin",
            "questions_and_answers": [],
            "calendly_created_at": clock.now() - timedelta(days=3, minutes=n),
        }
        values.update(fields)
        return _insert(app, CalendlyEventAttendee(**values))

    return add


# -- admins of apps other than `app`, and `app` on a live HTTP server -----------------------------


@pytest.fixture
def admin_client():
    """`admin_client(app)`: an English test client signed in through the login form as an admin
    of `app` (created on first use), for apps configured unlike the `app` fixture."""
    from sqlalchemy import select

    from services import accounts
    from store.models import AdminUser

    def sign_in(app):
        app.config["PASSWORD_HASH_METHOD"] = TEST_PASSWORD_HASH
        with app.app_context():
            known = select(AdminUser.id).where(AdminUser.email == "other@example.org")
            if db.session.scalar(known) is None:
                accounts.create_admin("other@example.org", ADMIN_PASSWORD)
        client = app.test_client()
        client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
        token = _page_csrf_token(client.get("/login").get_data(as_text=True))
        response = client.post(
            "/login",
            data={"email": "other@example.org", "password": ADMIN_PASSWORD, "csrf_token": token},
        )
        assert response.status_code == 303, response.get_data(as_text=True)
        return client

    return sign_in


@dataclass
class LiveServer:
    """`app` served over HTTP; `live_server("/path")` is a full URL."""

    app: object
    url: str
    # The admin `create_admin()` makes, to sign in with through the pages.
    email: str = ADMIN_EMAIL
    password: str = ADMIN_PASSWORD

    def __call__(self, path: str = "/") -> str:
        return self.url + path

    def create_admin(self) -> None:
        """The admin account `email`/`password` (hashed quickly: this is a test)."""
        from services import accounts

        self.app.config["PASSWORD_HASH_METHOD"] = TEST_PASSWORD_HASH
        with self.app.app_context():
            accounts.create_admin(self.email, self.password)


@pytest.fixture
def live_server(app):
    """The test's `app` behind werkzeug's threaded HTTP server on a free port, for browsers and
    for Calendly's webhook deliveries (the simulator posts to `live_server.url`)."""
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    yield LiveServer(app, f"http://127.0.0.1:{server.server_port}")
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


# -- a database someone else keeps busy ----------------------------------------------------------


@pytest.fixture
def lock_database(database_url):
    """`with lock_database(table, hold_at_most=8.0):` another connection holds a lock until the
    block ends (or `hold_at_most` seconds have passed, so that a hung test still ends).

    PostgreSQL: `LOCK TABLE <table> IN ACCESS EXCLUSIVE MODE`, which blocks even reads of it.
    SQLite: the write lock of the whole database (BEGIN IMMEDIATE); reads go on (WAL).
    """
    import contextlib
    import sqlite3
    import threading

    @contextlib.contextmanager
    def locked(table: str = "calendly_events", hold_at_most: float = 8.0):
        held, release = threading.Event(), threading.Event()
        failure = []

        def hold():
            try:
                if database_url.startswith("sqlite"):
                    conn = sqlite3.connect(make_url(database_url).database, isolation_level=None)
                    conn.execute("BEGIN IMMEDIATE")
                    held.set()
                    release.wait(hold_at_most)
                    conn.rollback()
                    conn.close()
                    return
                engine = create_engine(database_url)
                with engine.connect() as conn:
                    conn.exec_driver_sql(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
                    held.set()
                    release.wait(hold_at_most)
                    conn.rollback()
                engine.dispose()
            except Exception as exc:  # reported by the test's thread below
                failure.append(exc)
                held.set()

        holder = threading.Thread(target=hold, name="lock-holder", daemon=True)
        holder.start()
        assert held.wait(30), "the lock was not taken"
        assert not failure, failure
        try:
            yield
        finally:
            release.set()
            holder.join(30)

    return locked


# -- a real SMTP server (aiosmtpd) for the alert emails ----------------------------------------


@dataclass
class SmtpServer:
    """A running aiosmtpd server that keeps what it receives: `messages` (parsed, with
    `rcpt_tos`), `config()` the app settings that send to it."""

    host: str
    port: int
    security: str
    messages: list
    cert_file: str | None = None
    controller: object = None

    def config(self, **more) -> dict:
        return {
            "SMTP_HOST": self.host,
            "SMTP_PORT": self.port,
            "SMTP_SECURITY": self.security,
            "SMTP_SENDER": "webinar-sync@example.org",
            "SMTP_TIMEOUT_SECONDS": 5,
            **more,
        }

    def to(self, email: str) -> list:
        """The messages sent to `email`."""
        return [message for message in self.messages if message["To"] == email]

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _self_signed_certificate(folder) -> tuple[str, str]:
    """A certificate for 127.0.0.1 and localhost, and its key: (cert file, key file)."""
    import ipaddress
    from datetime import UTC
    from datetime import datetime as real_datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    # Valid around the real time: OpenSSL checks it against the system clock, not ours.
    start = real_datetime.now(UTC) - timedelta(days=1)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=3))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "smtp-cert.pem", folder / "smtp-key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return str(cert_file), str(key_file)


@pytest.fixture
def make_smtp(tmp_path, monkeypatch):
    """`make_smtp(security="none", port=None, login=None)`: a started SMTP server on 127.0.0.1.

    `starttls` and `tls` use a self-signed certificate that this test's processes trust (its
    file in SSL_CERT_FILE); `login=(user, password)` requires that login (over TLS). Stopped
    after the test.
    """
    import email
    import ssl
    from email import policy

    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword

    servers = []

    class Keep:
        def __init__(self, messages):
            self.messages = messages

        async def handle_DATA(self, server, session, envelope):
            message = email.message_from_bytes(envelope.content, policy=policy.default)
            message.rcpt_tos = list(envelope.rcpt_tos)
            self.messages.append(message)
            return "250 OK"

    def start(security: str = "none", port: int | None = None, login=None) -> SmtpServer:
        server = SmtpServer("127.0.0.1", port or free_port(), security, [])
        options = {}
        if security != "none":
            server.cert_file, key_file = _self_signed_certificate(tmp_path)
            monkeypatch.setenv("SSL_CERT_FILE", server.cert_file)
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(server.cert_file, key_file)
            if security == "tls":
                options["ssl_context"] = context
            else:
                options.update(tls_context=context, require_starttls=True)
        if login is not None:
            expected = LoginPassword(login[0].encode(), login[1].encode())

            def authenticator(_server, _session, _envelope, _mechanism, auth_data):
                return AuthResult(success=auth_data == expected)

            # aiosmtpd counts only STARTTLS as TLS; under `tls` every byte is encrypted anyway.
            options.update(authenticator=authenticator, auth_required=True,
                           auth_require_tls=security == "starttls")  # fmt: skip
        server.controller = Controller(
            Keep(server.messages), hostname=server.host, port=server.port, **options
        )
        server.controller.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()
