"""How fast the admin screens answer on a big mirror, on SQLite or PostgreSQL.

Builds the mirror with bulk SQL (INSERT ... SELECT over a recursive CTE on SQLite,
generate_series on PostgreSQL), once per size: a SQLite file under instance/bench/ named by the
sizes, or on PostgreSQL a database named by the sizes next to the one --database-url names
(created when missing). Then it signs in through the real login form and times each screen
through the Flask test client: warm-up requests first, then N timed requests; it prints median,
p95 and max per screen.

    .venv/bin/python bench/ui_bench.py                                  # 10k / 250k, SQLite
    .venv/bin/python bench/ui_bench.py --webinars 100000 --attendees 2500000
    .venv/bin/python bench/ui_bench.py --database-url postgresql://postgres@127.0.0.1/bench_ui
    .venv/bin/python bench/ui_bench.py --compare-ref main               # before and after

--compare-ref REF also measures the code of git REF on the same data, in the same run (a
subprocess importing an export of REF), with the indexes this code adds removed while it runs,
and prints both side by side.

Targets: p95 below 15 ms up to 250,000 attendees and below 30 ms above, for every screen.
Exits 1 when a screen misses (unless --no-fail). The list exports of every attendee are left
out: they are downloads whose size grows with the mirror; the exports of one webinar are in.

The bench calls gc.freeze() once the app is warm, as production workers should (in wsgi.py,
after create_app()): the cyclic garbage collector then stops re-scanning the long-lived objects
of Flask, SQLAlchemy, Jinja and Babel on every full collection, which otherwise shows up as
20-60 ms outliers. --no-gc-freeze measures without it.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parents[1]


def _words(text: str) -> list[str]:
    return text.split()


FIRST_NAMES = _words(
    "Anna Ben Clara David Elif Felix Greta Hannah Ilse Jonas Jürgen Katrin Lena Lukas Maria Mehmet "
    "Nina Oliver Paula Quirin Rosa Sören Tim Ulrike Vera Wolfgang Yasemin Zoe Aylin Björn Chiara "
    "Dominik Emma Finn Gül Henrik Ida Jan Karla Leon Mia Niklas Olga Peter Sophie Theo"
)
LAST_NAMES = _words(
    "Müller Schmidt Schneider Fischer Weber Meyer Wagner Becker Schulz Hoffmann Schäfer Koch "
    "Bauer Richter Klein Wolf Schröder Neumann Schwarz Zimmermann Braun Krüger Hofmann Hartmann "
    "Lange Schmitt Werner Krause Meier Lehmann Schmid Schulze Maier Köhler Herrmann König Walter "
    "Mayer Huber Kaiser Fuchs Peters Lang Scholz Möller Weiß Jung Hahn Schubert Vogel Friedrich "
    "Keller Günther Frank Berger Winkler Roth Beck Lorenz Baumann Franke Albrecht Schuster Simon "
    "Ludwig Böhm Winter Kraus Martin Schumacher Krämer Vogt Stein Jäger Otto Sommer Groß Seidel "
    "Heinrich Brandt Haas Schreiber Graf Schulte Dietrich Ziegler Kuhn Kühn Pohl Engel Horn Busch"
)
EVENT_TYPES = [
    ("https://api.calendly.com/event_types/INFO-LEHRAMT", "Infowebinar Quereinstieg Lehramt"),
    ("https://api.calendly.com/event_types/INFO-REF", "Infowebinar Referendariat"),
    ("https://api.calendly.com/event_types/INFO-MINT", "Infoabend MINT-Fächer"),
    ("https://api.calendly.com/event_types/SPRECHSTUNDE", "Offene Sprechstunde Onboarding"),
    ("https://api.calendly.com/event_types/INFO-GS", "Infowebinar Grundschule"),
]
SUBJECTS = ["Mathematik", "Deutsch", "Englisch", "Physik", "Chemie", "Biologie", "Informatik"]
STATES = ["Berlin", "Brandenburg", "Sachsen", "Bayern", "Hamburg", "Nordrhein-Westfalen"]
HOSTS = 24
# The booking questions of every bench event type: both are choice questions, charted on the
# insights page.
BENCH_QUESTIONS = [
    {"name": "Welches Fach?", "type": "single_select", "position": 0, "enabled": True,
     "answer_choices": SUBJECTS, "include_other": False},
    {"name": "Bundesland?", "type": "single_select", "position": 1, "enabled": True,
     "answer_choices": STATES, "include_other": False},
]  # fmt: skip
SYNC_RUNS = 300
ADMIN = ("bench@example.org", "bench password 123")
INVITEE_URI = "https://api.calendly.com/scheduled_events/x/invitees/bench-inv-"
# Where a person's number goes in the precomputed search text of a name.
NUMBER_MARK = "#"


def target_ms(attendees: int, label: str = "") -> float:
    """The issue's p95 target for a screen on a mirror of `attendees`."""
    if label in SCREEN_TARGETS_MS:
        return SCREEN_TARGETS_MS[label]
    return 15.0 if attendees <= 250_000 else 30.0


# Screens with a target of their own (issue 12: the insights page, default period, 50 ms).
SCREEN_TARGETS_MS = {"insights page (this month)": 50.0, "insights partial (this year)": 50.0}


# -- building the data with bulk SQL -------------------------------------------------------------


def _search_template(first: str, last: str) -> tuple[str, str, str]:
    """(name, email prefix, search text with NUMBER_MARK for the person's number), as the model
    computes them: every variant of attendee_search_text holds the number once."""
    from store.models import attendee_search_text

    name = f"{first} {last}"
    prefix = f"{first}.{last}.".lower()
    text = attendee_search_text(name, f"{prefix}{NUMBER_MARK}@example.de")
    return name, prefix, text


def _case(expr: str, values: list[str]) -> str:
    """SQL: the value of `values` at position `expr` (0-based)."""
    whens = " ".join(f"WHEN {i} THEN '{v}'" for i, v in enumerate(values))
    return f"(CASE {expr} {whens} END)"


class Dialect:
    """The few spellings that differ between SQLite and PostgreSQL in the build."""

    def __init__(self, name: str):
        self.name = name

    def series(self, n: int) -> str:
        """A CTE prefix `WITH ... seq(n)` holding 0 .. n-1."""
        if self.name == "sqlite":
            return (
                "WITH RECURSIVE seq(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM seq"
                f" WHERE n + 1 < {n})"
            )
        return f"WITH seq(n) AS (SELECT generate_series(0::bigint, {n - 1}))"

    def padded(self, prefix: str, expr: str, width: int) -> str:
        if self.name == "sqlite":
            return f"printf('{prefix}%0{width}d', {expr})"
        return f"'{prefix}' || lpad(({expr})::text, {width}, '0')"

    def plus_minutes(self, base: str, minutes: str) -> str:
        """`base` (a timestamp literal or column) plus `minutes` (an integer expression)."""
        if self.name == "sqlite":
            # SQLAlchemy's SQLite DATETIME text, microseconds included, so that order holds.
            return f"strftime('%Y-%m-%d %H:%M:%S', {base}, ({minutes}) || ' minutes') || '.000000'"
        return f"({base})::timestamp + ({minutes}) * interval '1 minute'"

    def run(self, conn, sql: str) -> None:
        """Execute `sql` as written (psycopg reads a bare % as a placeholder)."""
        conn.exec_driver_sql(sql.replace("%", "%%") if self.name == "postgresql" else sql)

    def json(self, expr: str) -> str:
        return expr if self.name == "sqlite" else f"({expr})::json"

    def text(self, expr: str) -> str:
        return f"({expr})" if self.name == "sqlite" else f"({expr})::text"

    def answer_at(self, column: str, position: int) -> str:
        """The `answer` of the `position`-th entry of a questions_and_answers JSON column."""
        if self.name == "sqlite":
            return f"json_extract({column}, '$[{position}].answer')"
        return f"({column} -> {position} ->> 'answer')"


# Odd multipliers, one per draw, so that draws of the same row do not move in step.
_MULTIPLIERS = (1103515245, 69069, 1664525, 22695477, 134775813, 214013, 16807, 48271,
                1140671485, 65539, 747796405, 1013904223, 1566083941, 1812433253, 1597334677,
                2027808485)  # fmt: skip


def _mix(expr: str, salt: int) -> str:
    """SQL: a deterministic pseudo-random non-negative integer from `expr` (below 2**31)."""
    multiplier = _MULTIPLIERS[salt % len(_MULTIPLIERS)]
    return f"((CAST({expr} AS BIGINT) * {multiplier} + {salt * 40503}) % 2147483648)"


def build_database(db, n_events: int, n_attendees: int) -> None:
    """Fill an empty schema with realistic German webinar data, in a handful of statements."""
    from flask import current_app
    from sqlalchemy import insert, text

    from store import clock, search_index
    from store.choices import question_key
    from store.models import CalendlyEventType, SyncRun

    d = Dialect(db.engine.dialect.name)
    now = clock.now().replace(minute=0, second=0, microsecond=0, tzinfo=None)
    # 60 % of the webinars lie in the past, one every 24/7 hours.
    first_minutes = -int(n_events * 0.6 * 24 * 60 / 7)
    base = f"'{now:%Y-%m-%d %H:%M:%S}.000000'"
    pairs = [(f, last) for last in LAST_NAMES for f in FIRST_NAMES]
    people = max(1, int(n_attendees * 0.8))  # some people book more than once

    with db.engine.begin() as conn:
        # The trigram index is built once at the end: far faster than row by row.
        for statement in search_index.drop_statements(d.name):
            conn.exec_driver_sql(statement)
        conn.exec_driver_sql("DROP TABLE IF EXISTS bench_names")
        conn.exec_driver_sql(
            "CREATE TABLE bench_names (id INTEGER PRIMARY KEY, first_name VARCHAR(255),"
            " last_name VARCHAR(255), name VARCHAR(255), email_prefix VARCHAR(255),"
            " search_text TEXT)"
        )
        rows = []
        for i, (first, last) in enumerate(pairs):
            name, prefix, search = _search_template(first, last)
            rows.append(dict(id=i, f=first, l=last, n=name, p=prefix, s=search))
        conn.execute(
            text("INSERT INTO bench_names VALUES (:id, :f, :l, :n, :p, :s)"),
            rows,
        )
        conn.execute(
            insert(CalendlyEventType),
            [
                dict(
                    uri=uri,
                    name=name,
                    active=True,
                    kind="group",
                    listed=True,
                    cached_at=clock.now(),
                    custom_questions=BENCH_QUESTIONS,
                )
                for uri, name in EVENT_TYPES
            ],
        )
        start = d.plus_minutes(base, f"{first_minutes} + n * 1440 / 7 + 60 * ({_mix('n', 1)} % 3)")
        end = d.plus_minutes(
            base, f"{first_minutes} + n * 1440 / 7 + 60 * ({_mix('n', 1)} % 3) + 60"
        )
        host = f"({_mix('n', 2)} % {HOSTS})"
        host_json = (
            """'[{"uri": "https://api.calendly.com/users/HOST-' || """
            + d.text(host)
            + """ || '", "name": "Moderatorin ' || """
            + d.text(host)
            + """ || '", "email": "host' || """
            + d.text(host)
            + """ || '@example.org"}]'"""
        )
        d.run(
            conn,
            f"""{d.series(n_events)}
            INSERT INTO calendly_events (calendly_id, uri, name, status, start_time, end_time,
                event_type_uri, location_type, location, invitees_active, invitees_total,
                invitees_limit, missing_upstream, hosts, attendees_synced_at, synced_at)
            SELECT {d.padded("bench-evt-", "n", 7)},
                {d.padded("https://api.calendly.com/scheduled_events/bench-evt-", "n", 7)},
                {_case(f"{_mix('n', 3)} % {len(EVENT_TYPES)}", [t[1] for t in EVENT_TYPES])},
                CASE WHEN {_mix("n", 4)} % 100 < 4 THEN 'canceled' ELSE 'active' END,
                {start}, {end},
                {_case(f"{_mix('n', 3)} % {len(EVENT_TYPES)}", [t[0] for t in EVENT_TYPES])},
                CASE WHEN {_mix("n", 5)} % 100 < 80 THEN 'zoom' ELSE 'google_conference' END,
                CASE WHEN {_mix("n", 5)} % 100 < 80
                     THEN 'https://zoom.us/j/' || {d.text(_mix("n", 6))} END,
                0, 0, 40, ({_mix("n", 7)} % 100 = 0), {d.json(host_json)},
                {base}, {base}
            FROM seq""",
        )
        host_of_id = d.text(f"{_mix('id - 1', 2)} % {HOSTS}")
        d.run(
            conn,
            f"""INSERT INTO calendly_event_hosts (event_id, user_uri, name, email)
            SELECT id, 'https://api.calendly.com/users/HOST-' || {host_of_id},
                'Moderatorin ' || {host_of_id}, 'host' || {host_of_id} || '@example.org'
            FROM calendly_events""",
        )
        answers = (
            """'[{"question": "Welches Fach?", "answer": "' || """
            + _case(f"{_mix('p.n', 11)} % {len(SUBJECTS)}", SUBJECTS)
            + """ || '", "position": 0}, {"question": "Bundesland?", "answer": "' || """
            + _case(f"{_mix('p.n', 12)} % {len(STATES)}", STATES)
            + """ || '", "position": 1}]'"""
        )
        booked = d.plus_minutes("e.start_time", f"-1440 * (1 + {_mix('p.n', 13)} % 40)")
        d.run(
            conn,
            f"""{d.series(n_attendees)}
            INSERT INTO calendly_event_attendees (event_id, calendly_id, uri, name, first_name,
                last_name, email, search_text, status, timezone, questions_and_answers,
                rescheduled, no_show, cancel_reason, calendly_created_at, synced_at)
            SELECT e.id, {d.padded("bench-inv-", "p.n", 8)},
                {d.padded(INVITEE_URI, "p.n", 8)},
                b.name, b.first_name, b.last_name,
                b.email_prefix || {d.text("p.person")} || '@example.de',
                replace(b.search_text, '{NUMBER_MARK}', {d.text("p.person")}),
                CASE WHEN p.canceled THEN 'canceled' ELSE 'active' END,
                'Europe/Berlin', {d.json(answers)},
                (p.canceled AND {_mix("p.n", 14)} % 10 < 3),
                ({_mix("p.n", 15)} % 100 < 3),
                CASE WHEN p.canceled THEN 'Terminkonflikt' END,
                {booked}, {base}
            FROM (SELECT n, {_mix("n", 8)} % {people} AS person,
                         1 + {_mix("n", 9)} % {n_events} AS event_id,
                         ({_mix("n", 10)} % 100 < 8) AS canceled
                  FROM seq) AS p
            JOIN calendly_events e ON e.id = p.event_id
            JOIN bench_names b ON b.id = p.person % {len(pairs)}""",
        )
        # Every event's counters, as the sync stores Calendly's.
        conn.exec_driver_sql(
            """UPDATE calendly_events SET
                invitees_total = (SELECT count(*) FROM calendly_event_attendees a
                                  WHERE a.event_id = calendly_events.id),
                invitees_active = (SELECT count(*) FROM calendly_event_attendees a
                                   WHERE a.event_id = calendly_events.id AND a.status = 'active')"""
        )
        conn.exec_driver_sql("DROP TABLE bench_names")
        # Attendance recorded for every webinar that is over (the show-up charts count them).
        d.run(
            conn,
            f"UPDATE calendly_events SET attendance_recorded_at = end_time WHERE end_time < {base}",
        )
        conn.execute(
            insert(SyncRun),
            [
                dict(
                    trigger="scheduled",
                    status="succeeded",
                    started_at=clock.now(),
                    finished_at=clock.now(),
                    events_seen=n_events,
                    api_requests=n_events // 100 + 1,
                )
                for _ in range(SYNC_RUNS)
            ],
        )
        # The choice answers the writer would keep: one row per attendee and question.
        for question in BENCH_QUESTIONS:
            key = question_key(question["position"], question["type"], question["answer_choices"])
            d.run(
                conn,
                f"""INSERT INTO choice_answers (event_id, attendee_id, question_key, answer)
                SELECT event_id, id, '{key}', {d.answer_at("questions_and_answers",
                                                          question["position"])}
                FROM calendly_event_attendees WHERE NOT rescheduled""",
            )  # fmt: skip
        for statement in search_index.create_statements(d.name):
            conn.exec_driver_sql(statement)
    # Each webinar's local start in the admin's time zone (the configured default), as the
    # writer stamps it.
    from mirror.writer import restamp_local_times

    restamp_local_times(current_app.config["DISPLAY_TIMEZONE"])
    db.session.commit()
    analyze(db)


def analyze(db) -> None:
    analyze_engine(db.engine)


def analyze_engine(engine) -> None:
    """Statistics for the planner (and PostgreSQL's visibility map for index-only scans)."""
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
    else:
        with engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")


# -- where the data lives -----------------------------------------------------------------------


def database_url(url: str | None, n_events: int, n_attendees: int) -> str:
    """The URL of the database of this size: a file under instance/bench/ (SQLite), or a
    database named by the sizes on the server of `url` (PostgreSQL), created when missing."""
    from sqlalchemy import create_engine, make_url

    from store.database import normalise_database_url

    if not url or url.startswith("sqlite"):
        folder = ROOT / "instance" / "bench"
        folder.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{folder / f'ui-{n_events}-{n_attendees}.db'}"
    base = make_url(normalise_database_url(url))
    name = f"{base.database or 'bench_ui'}_{n_events}_{n_attendees}"
    server = create_engine(base.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with server.connect() as conn:
        exists = conn.exec_driver_sql("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
        if exists.first() is None:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    server.dispose()
    return base.set(database=name).render_as_string(hide_password=False)


def make_app(url: str):
    from cryptography.fernet import Fernet

    from app import create_app

    return create_app(
        {
            "SQLALCHEMY_DATABASE_URI": url,
            "SECRET_KEY": "bench",
            "TOKEN_ENCRYPTION_KEY": Fernet.generate_key().decode(),
            "SCHEDULER_ENABLED": False,
            "CALENDLY_TOKEN": "",
            "WTF_CSRF_ENABLED": False,
            "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
        }
    )


def prepare(url: str, n_events: int, n_attendees: int) -> None:
    """Create the schema and the data unless they exist; an admin to sign in with."""
    from sqlalchemy import text

    from store.database import db

    app = make_app(url)
    with app.app_context():
        db.create_all()
        existing = db.session.scalar(text("SELECT count(*) FROM calendly_events"))
        db.session.commit()  # on SQLite every transaction holds the write lock (BEGIN IMMEDIATE)
        if not existing:
            started = time.perf_counter()
            build_database(db, n_events, n_attendees)
            print(f"built {n_events:,} webinars, {n_attendees:,} attendees "
                  f"in {time.perf_counter() - started:.0f} s")  # fmt: skip
        else:
            with db.engine.begin() as conn:
                schema_of(conn, after=True)
        if db.session.scalar(text("SELECT id FROM admin_users LIMIT 1")) is None:
            from services import accounts

            accounts.create_admin(*ADMIN)
        db.engine.dispose()


# -- measuring ----------------------------------------------------------------------------------


def timed(client, url: str, headers: dict | None = None) -> tuple[float, float]:
    """Milliseconds of wall and of this process's CPU time for one request; fails loudly on
    anything but 200. On a busy machine the CPU time is the steadier figure (on SQLite it
    includes the database's work; on PostgreSQL the server's is not in it)."""
    start, cpu = time.perf_counter(), time.process_time()
    response = client.get(url, headers=headers or {})
    response.get_data()
    elapsed = (time.perf_counter() - start) * 1000
    cpu_ms = (time.process_time() - cpu) * 1000
    if response.status_code != 200:
        raise SystemExit(f"{url}: HTTP {response.status_code}")
    response.close()
    return elapsed, cpu_ms


def measure(url: str, requests: int, warmup: int, seed: int, gc_freeze: bool) -> dict:
    """{screen: [median, p95, max, CPU median, CPU p95]} (ms) of the code importable as `app`,
    on the database `url`."""
    from sqlalchemy import text

    from store.database import db

    app = make_app(url)
    with app.app_context():
        event_ids = db.session.scalars(text("SELECT id FROM calendly_events")).all()
        emails = db.session.scalars(
            text("SELECT email FROM calendly_event_attendees ORDER BY random() LIMIT 500")
        ).all()
        db.session.commit()
    client = app.test_client()
    login = client.post("/login", data={"email": ADMIN[0], "password": ADMIN[1]})
    if login.status_code != 303:
        raise SystemExit(f"login failed: HTTP {login.status_code}")

    rng = random.Random(seed)
    hx = {"HX-Request": "true"}
    warm = ("/", "/?view=past", f"/webinars/{event_ids[0]}", "/search?q=ab", "/sync/runs",
            "/insights")  # fmt: skip
    for page in warm:
        timed(client, page)  # compile templates, load catalogs and time zones
    if gc_freeze:
        gc.collect()
        gc.freeze()

    def search(text_: str) -> str:
        return "/search?q=" + quote(text_)

    def fragment() -> str:
        # Part of one person's address: "ller.1234" style, found by few.
        email = rng.choice(emails)
        local = email.split("@")[0]
        cut = rng.randrange(max(1, len(local) - 9), max(2, len(local) - 5))
        return local[cut:]

    host = quote(f"https://api.calendly.com/users/HOST-{rng.randrange(HOSTS)}")
    rows = [
        ("dashboard page (upcoming)", lambda: ("/", None)),
        ("dashboard list partial (past, page 7)", lambda: ("/?view=past&page=7", hx)),
        ("dashboard canceled tab", lambda: ("/?view=canceled", hx)),
        ("dashboard filtered by type", lambda: (f"/?type={quote(EVENT_TYPES[2][0])}", hx)),
        ("dashboard filtered by host", lambda: (f"/?host={host}", hx)),
        ("attendee partial", lambda: (f"/webinars/{rng.choice(event_ids)}", hx)),
        ("webinar page", lambda: (f"/webinars/{rng.choice(event_ids)}", None)),
        ("webinar CSV", lambda: (f"/webinars/{rng.choice(event_ids)}/attendees.csv", None)),
        ("webinar XLSX", lambda: (f"/webinars/{rng.choice(event_ids)}/attendees.xlsx", None)),
        ("search partial (last name)", lambda: (search(rng.choice(LAST_NAMES)), hx)),
        ("search partial (no match)", lambda: (search(f"zz{rng.randrange(10**6)}"), hx)),
        ("search partial (email fragment)", lambda: (search(fragment()), hx)),
        ("search partial (2 characters)", lambda: (search(rng.choice(("mü", "er", "qx"))), hx)),
        ("search page (first name)", lambda: (search(rng.choice(FIRST_NAMES)), None)),
        ("person page", lambda: ("/people/" + quote(rng.choice(emails)), None)),
        ("sync status panel", lambda: ("/sync", hx)),
        ("sync runs page", lambda: ("/sync/runs", None)),
        ("settings page", lambda: ("/settings", None)),
        ("insights page (this month)", lambda: ("/insights", None)),
        ("insights partial (this year)", lambda: ("/insights?period=year", hx)),
    ]
    results = {}
    for label, make in rows:
        for _ in range(warmup):
            timed(client, *make())
        pairs = [timed(client, *make()) for _ in range(requests)]
        results[label] = _figures([w for w, _c in pairs]) + _figures([c for _w, c in pairs])[:2]
    with app.app_context():
        db.engine.dispose()
    return results


def _figures(samples: list[float]) -> list[float]:
    """[median, p95, max] of `samples`."""
    samples = sorted(samples)
    p95 = samples[min(len(samples) - 1, int(len(samples) * 0.95))]
    return [statistics.median(samples), p95, samples[-1]]


# -- before and after ---------------------------------------------------------------------------


# The indexes this code adds, and the one it replaces: dropped and restored around a run of
# the code of before, so that it meets the schema it was written for.
NEW_INDEXES = (
    "ix_events_start_end_status",
    "ix_events_type_start_end_status",
    "ix_event_hosts_user_name",
    "ix_event_hosts_user_email",
    "ix_attendees_booked_search_email",
)
OLD_INDEXES = {
    "ix_calendly_events_start_time": "calendly_events (start_time)",
    "ix_attendees_booked_search": "calendly_event_attendees (calendly_created_at, search_text)",
}


def schema_of(conn, after: bool) -> None:
    """Bring the indexes to the schema of this code (`after`) or of the code before it."""
    from sqlalchemy import Index

    from store import search_index
    from store.database import db

    dialect = conn.dialect.name
    if not after:
        for name in NEW_INDEXES:
            conn.exec_driver_sql(f"DROP INDEX IF EXISTS {name}")
        for name, columns in OLD_INDEXES.items():
            conn.exec_driver_sql(f"CREATE INDEX IF NOT EXISTS {name} ON {columns}")
        if dialect == "postgresql":  # the FTS5 table is invisible to code that does not ask it
            for statement in search_index.drop_statements(dialect):
                conn.exec_driver_sql(statement)
        return
    for table in db.metadata.sorted_tables:
        for index in table.indexes:
            if isinstance(index, Index):
                index.create(conn, checkfirst=True)
    for name in OLD_INDEXES:
        conn.exec_driver_sql(f"DROP INDEX IF EXISTS {name}")
    fts = (
        dialect == "sqlite"
        and conn.exec_driver_sql(
            f"SELECT 1 FROM sqlite_master WHERE name = '{search_index.FTS_TABLE}'"
        ).first()
    )
    if not fts:
        for statement in search_index.create_statements(dialect):
            conn.exec_driver_sql(statement)


def measure_ref(ref: str, url: str, args) -> dict:
    """Run `measure` with the code of git `ref` (exported to a temporary folder)."""
    from sqlalchemy import create_engine

    engine = create_engine(url)
    with tempfile.TemporaryDirectory(prefix="ui-bench-ref-") as folder:
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", ref], check=True, capture_output=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", folder], input=archive, check=True)
        with engine.begin() as conn:
            schema_of(conn, after=False)
        analyze_engine(engine)
        try:
            out = Path(folder) / "results.json"
            command = [sys.executable, str(Path(__file__).resolve()), "--measure-only", str(out),
                       "--code", folder, "--url", url, "--requests", str(args.requests),
                       "--warmup", str(args.warmup), "--seed", str(args.seed)]  # fmt: skip
            if args.no_gc_freeze:
                command.append("--no-gc-freeze")
            subprocess.run(command, check=True, cwd=folder)
            return json.loads(out.read_text())
        finally:
            started = time.perf_counter()
            with engine.begin() as conn:
                schema_of(conn, after=True)
            analyze_engine(engine)
            print(f"(indexes restored in {time.perf_counter() - started:.0f} s)")
            engine.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--webinars", type=int, default=10_000)
    parser.add_argument("--attendees", type=int, default=250_000)
    parser.add_argument("--database-url", help="SQLite (default) or PostgreSQL server and name")
    parser.add_argument("--requests", type=int, default=200, help="timed requests per row")
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--compare-ref", metavar="REF", help="also measure git REF (before)")
    parser.add_argument("--no-fail", action="store_true", help="exit 0 even when slow")
    parser.add_argument("--no-gc-freeze", action="store_true", help="leave the GC as it is")
    # Internal: measure the code in --code on --url and write the figures to a JSON file.
    parser.add_argument("--measure-only", help=argparse.SUPPRESS)
    parser.add_argument("--code", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()

    sys.path.insert(0, args.code or str(ROOT))
    if args.measure_only:
        results = measure(args.url, args.requests, args.warmup, args.seed, not args.no_gc_freeze)
        Path(args.measure_only).write_text(json.dumps(results))
        return 0

    url = database_url(args.database_url, args.webinars, args.attendees)
    prepare(url, args.webinars, args.attendees)
    before = measure_ref(args.compare_ref, url, args) if args.compare_ref else None
    after = measure(url, args.requests, args.warmup, args.seed, not args.no_gc_freeze)

    from sqlalchemy import create_engine, make_url

    engine = create_engine(url)
    with engine.connect() as conn:
        events, attendees = conn.exec_driver_sql(
            "SELECT count(*), sum(invitees_total) FROM calendly_events"
        ).one()
    engine.dispose()
    target = target_ms(attendees or 0)
    where = make_url(url)
    print(f"\n{events:,} webinars, {attendees or 0:,} attendees; {where.get_backend_name()} "
          f"{Path(where.database).name}; {args.warmup} warm-up + {args.requests} timed requests "
          f"per row; gc.freeze() {'off' if args.no_gc_freeze else 'on'}; "
          f"load average {os.getloadavg()[0]:.2f}")  # fmt: skip
    head = f"{'screen':38} {'median':>6} {'p95':>6} {'max':>6} {'cpu p50':>7} {'p95':>6}"
    if before:
        head += f"  |  {'before p50':>10} {'p95':>6} {'cpu p50':>7} {'p95':>6}"
    print(f"{head}  (ms; target p95 < {target:g} ms)")
    print("-" * (len(head) + 30))
    slow = False
    for label, (median, p95, top, cpu50, cpu95) in after.items():
        verdict = "ok" if p95 < target_ms(attendees or 0, label) else "SLOW"
        slow = slow or verdict == "SLOW"
        line = f"{label:38} {median:6.1f} {p95:6.1f} {top:6.1f} {cpu50:7.1f} {cpu95:6.1f}"
        if before:
            old = before.get(label)
            line += (
                f"  |  {old[0]:10.1f} {old[1]:6.1f} {old[3]:7.1f} {old[4]:6.1f}"
                if old
                else f"  |  {'-':>10} {'-':>6} {'-':>7} {'-':>6}"
            )
        print(f"{line}  {verdict}")
    return 1 if slow and not args.no_fail else 0


if __name__ == "__main__":
    os.environ.setdefault("FLASK_DEBUG", "0")
    raise SystemExit(main())
