"""How fast the admin screens answer on a big mirror: 10,000 webinars and 250,000 attendees.

Builds a SQLite file (bulk insert through SQLAlchemy Core, about ten seconds; reused when it
exists), signs in through the real login form, then times each screen through the Flask test
client: warm-up requests first, then N timed requests, and prints median, p95 and max.

    .venv/bin/python bench/ui_bench.py                  # defaults: 10k / 250k / 200 requests
    .venv/bin/python bench/ui_bench.py --db /tmp/big.db --requests 500

Target: p95 below 30 ms for every row. Exits 1 when a row misses it (unless --no-fail).

The bench calls gc.freeze() once the app is warm, as production workers should (in wsgi.py,
after create_app()): the cyclic garbage collector then stops re-scanning the long-lived objects
of Flask, SQLAlchemy, Jinja and Babel on every full collection, which otherwise shows up as
20-60 ms outliers. --no-gc-freeze measures without it.

The "no match" search row is the worst case: a substring search reads the whole (booked at,
email, name) index, about 25 ms for 250,000 attendees on SQLite.
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cryptography.fernet import Fernet  # noqa: E402
from sqlalchemy import func, insert, select  # noqa: E402

TARGET_P95_MS = 30.0


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
ADMIN = ("bench@example.org", "bench password 123")


def build_database(app, n_events: int, n_attendees: int, seed: int) -> None:
    """Fill an empty database with realistic German webinar data via Core bulk inserts."""
    from store import clock
    from store.database import db
    from store.models import CalendlyEvent, CalendlyEventAttendee, attendee_search_text

    rng = random.Random(seed)
    now = clock.now().replace(minute=0, second=0, microsecond=0)
    first_start = now - timedelta(days=int(n_events * 0.6 / 7))
    events = []
    for n in range(n_events):
        start = first_start + timedelta(hours=n * 24 / 7 + rng.choice((0, 1, 2)))
        uri, name = rng.choice(EVENT_TYPES)
        canceled = rng.random() < 0.04
        kind = rng.random()
        if kind < 0.8:
            location_type, location = "zoom", f"https://zoom.us/j/{rng.randrange(10**9, 10**10)}"
        elif kind < 0.95:
            location_type, location = "google_conference", None
        else:
            location_type, location = "physical", "Schulstraße 1, 10115 Berlin"
        events.append(
            {
                "calendly_id": f"bench-evt-{n:06d}",
                "uri": f"https://api.calendly.com/scheduled_events/bench-evt-{n:06d}",
                "name": name,
                "status": "canceled" if canceled else "active",
                "start_time": start,
                "end_time": start + timedelta(hours=1),
                "event_type_uri": uri,
                "location_type": location_type,
                "location": location,
                "invitees_active": 0,
                "invitees_total": 0,
                "invitees_limit": 40,
                "missing_upstream": rng.random() < 0.01,
                "synced_at": now,
            }
        )
    with db.engine.begin() as conn:
        conn.execute(insert(CalendlyEvent), events)
        ids = conn.execute(
            select(CalendlyEvent.id, CalendlyEvent.start_time).order_by(CalendlyEvent.id)
        ).all()

    start_of = dict(ids)
    batch: list[dict] = []
    people = max(1, int(n_attendees * 0.8))
    with db.engine.begin() as conn:
        for n in range(n_attendees):
            event_id = rng.choice(ids)[0]
            person = rng.randrange(people)  # some people book more than once
            first = FIRST_NAMES[person % len(FIRST_NAMES)]
            last = LAST_NAMES[(person // len(FIRST_NAMES)) % len(LAST_NAMES)]
            email = f"{first}.{last}.{person}@example.de".lower()
            canceled = rng.random() < 0.08
            batch.append(
                {
                    "event_id": event_id,
                    "calendly_id": f"bench-inv-{n:07d}",
                    "uri": f"https://api.calendly.com/scheduled_events/x/invitees/bench-inv-{n:07d}",
                    "name": f"{first} {last}",
                    "first_name": first,
                    "last_name": last,
                    "email": email,
                    "search_text": attendee_search_text(f"{first} {last}", email),
                    "status": "canceled" if canceled else "active",
                    "timezone": "Europe/Berlin",
                    "questions_and_answers": [
                        {
                            "question": "Welches Fach?",
                            "answer": rng.choice(SUBJECTS),
                            "position": 0,
                        },
                        {"question": "Bundesland?", "answer": rng.choice(STATES), "position": 1},
                    ],
                    "rescheduled": canceled and rng.random() < 0.3,
                    "no_show": rng.random() < 0.03,
                    "cancel_reason": "Terminkonflikt" if canceled else None,
                    "calendly_created_at": start_of[event_id]
                    - timedelta(days=rng.randrange(1, 40)),
                    "synced_at": now,
                }
            )
            if len(batch) == 10_000:
                conn.execute(insert(CalendlyEventAttendee), batch)
                batch.clear()
        if batch:
            conn.execute(insert(CalendlyEventAttendee), batch)
        attendees = CalendlyEventAttendee.__table__
        of_event = attendees.c.event_id == CalendlyEvent.__table__.c.id
        active = select(func.count()).where(of_event, attendees.c.status == "active")
        total = select(func.count()).where(of_event)
        conn.execute(
            CalendlyEvent.__table__.update().values(
                invitees_active=active.scalar_subquery(), invitees_total=total.scalar_subquery()
            )
        )


def timed(client, url: str, headers: dict | None = None) -> float:
    """Milliseconds for one request; fails loudly on anything but 200."""
    start = time.perf_counter()
    response = client.get(url, headers=headers or {})
    elapsed = (time.perf_counter() - start) * 1000
    if response.status_code != 200:
        raise SystemExit(f"{url}: HTTP {response.status_code}")
    response.close()
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--attendees", type=int, default=250_000)
    parser.add_argument("--requests", type=int, default=200, help="timed requests per row")
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--db", help="SQLite file to build or reuse (default: a temporary file)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-fail", action="store_true", help="exit 0 even when slow")
    parser.add_argument("--no-gc-freeze", action="store_true", help="leave the GC as it is")
    args = parser.parse_args()

    tmpdir = None
    if args.db:
        db_path = Path(args.db).resolve()
    else:
        tmpdir = tempfile.TemporaryDirectory(prefix="ui-bench-")
        db_path = Path(tmpdir.name) / "bench.db"

    from app import create_app
    from store.database import db
    from store.models import AdminUser, CalendlyEvent

    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{db_path}",
            "SECRET_KEY": "bench",
            "TOKEN_ENCRYPTION_KEY": Fernet.generate_key().decode(),
            "SCHEDULER_ENABLED": False,
            "CALENDLY_TOKEN": "",
            "WTF_CSRF_ENABLED": False,
            "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
        }
    )
    with app.app_context():
        db.create_all()
        existing = db.session.scalar(select(func.count()).select_from(CalendlyEvent))
        db.session.commit()  # on SQLite every transaction holds the write lock (BEGIN IMMEDIATE)
        if not existing:
            started = time.perf_counter()
            build_database(app, args.events, args.attendees, args.seed)
            print(f"built {db_path} in {time.perf_counter() - started:.1f} s")
        if db.session.scalar(select(AdminUser.id).limit(1)) is None:
            from services import accounts

            accounts.create_admin(*ADMIN)
        event_ids = db.session.scalars(select(CalendlyEvent.id)).all()
        counts = db.session.execute(
            select(func.count(CalendlyEvent.id), func.sum(CalendlyEvent.invitees_total))
        ).one()

    client = app.test_client()
    login = client.post("/login", data={"email": ADMIN[0], "password": ADMIN[1]})
    if login.status_code != 303:
        raise SystemExit(f"login failed: HTTP {login.status_code}")

    rng = random.Random(args.seed)
    hx = {"HX-Request": "true"}
    for url in ("/", "/?view=past", f"/webinars/{event_ids[0]}", "/search?q=ab"):
        timed(client, url)  # compile templates, load catalogs and time zones
    if not args.no_gc_freeze:
        gc.collect()
        gc.freeze()

    def search_url(text: str) -> str:
        return "/search?q=" + quote(text)

    rows = [
        ("dashboard page (upcoming)", lambda: ("/", None)),
        ("dashboard list partial (past, page 7)", lambda: ("/?view=past&page=7", hx)),
        ("dashboard filtered by type", lambda: (f"/?type={quote(EVENT_TYPES[2][0])}", hx)),
        ("attendee partial", lambda: (f"/webinars/{rng.choice(event_ids)}", hx)),
        ("webinar page", lambda: (f"/webinars/{rng.choice(event_ids)}", None)),
        ("search partial (last name)", lambda: (search_url(rng.choice(LAST_NAMES)), hx)),
        ("search partial (no match)", lambda: (search_url(f"zz{rng.randrange(10**6)}"), hx)),
        ("search page (first name)", lambda: (search_url(rng.choice(FIRST_NAMES)), None)),
        ("person page", lambda: ("/people/" + quote(_some_email(app, rng)), None)),
    ]

    print(f"\n{counts[0]:,} webinars, {counts[1] or 0:,} attendees; SQLite {db_path.name}; "
          f"{args.warmup} warm-up + {args.requests} timed requests per row; "
          f"gc.freeze() {'off' if args.no_gc_freeze else 'on'}")  # fmt: skip
    print(f"{'screen':40} {'median ms':>10} {'p95 ms':>8} {'max ms':>8}  target p95 < 30 ms")
    print("-" * 82)
    slow = False
    for label, make in rows:
        for _ in range(args.warmup):
            timed(client, *make())
        samples = sorted(timed(client, *make()) for _ in range(args.requests))
        p95 = samples[min(len(samples) - 1, int(len(samples) * 0.95))]
        verdict = "ok" if p95 < TARGET_P95_MS else "SLOW"
        slow = slow or verdict == "SLOW"
        median = statistics.median(samples)
        print(f"{label:40} {median:10.1f} {p95:8.1f} {samples[-1]:8.1f}  {verdict}")

    if tmpdir is not None:
        with app.app_context():
            db.engine.dispose()
        tmpdir.cleanup()
    return 1 if slow and not args.no_fail else 0


_emails: list[str] = []


def _some_email(app, rng: random.Random) -> str:
    if not _emails:
        from store.database import db
        from store.models import CalendlyEventAttendee

        with app.app_context():
            _emails.extend(
                db.session.scalars(
                    select(CalendlyEventAttendee.email).order_by(func.random()).limit(500)
                )
            )
    return rng.choice(_emails)


if __name__ == "__main__":
    os.environ.setdefault("FLASK_DEBUG", "0")
    raise SystemExit(main())
