"""What the screens read, at the level of the queries: search by index and by walk, the totals
kept by triggers, and the upcoming tab's walk that starts at the longest webinar."""

from datetime import timedelta

import pytest
from sqlalchemy import delete, select

from services import queries
from store import clock
from store.database import db
from store.models import CalendlyEvent, CalendlyEventAttendee


@pytest.fixture
def people(app_ctx, add_webinar, add_attendee):
    event = add_webinar()
    for n, name in enumerate(["Jürgen Groß", "Anna Müller", "Zoë 50%_Rabatt", "Ben Müllerson"]):
        add_attendee(event, name=name, email=f"p{n}@example.de")
    return event


def _emails(query: str) -> list[str]:
    return [hit.email for hit in queries.search_people(query).people]


@pytest.mark.parametrize(
    "query, expected",
    [
        ("müller", ["p1@example.de", "p3@example.de"]),  # the newest booking first
        ("MUELLER", ["p1@example.de", "p3@example.de"]),
        ("gross", ["p0@example.de"]),
        ("50%_r", ["p2@example.de"]),
        ("0%_", ["p2@example.de"]),  # the wildcards are literal, in the index as in LIKE
        ('"müller', []),  # no FTS5 syntax reaches the index: a stray quote is a character
        ("müller OR anna", []),
        ("p1@ex", ["p1@example.de"]),
        ("zz123", []),
    ],
)
def test_the_index_and_the_walk_find_the_same_people(people, monkeypatch, query, expected):
    assert _emails(query) == expected
    # A short stretch of the newest bookings first, then the index: the same answer.
    monkeypatch.setattr(queries, "SEARCH_WALK_FIRST", 1)
    assert _emails(query) == expected
    # One person: the walk of the newest bookings finds enough before the index is asked.
    assert [hit.email for hit in queries.search_people(query, limit=1).people] == expected[:1]
    # Above the cap the search walks from the newest booking instead: the same answer.
    monkeypatch.setattr(queries, "SEARCH_INDEX_MATCHES", 0)
    assert _emails(query) == expected


def test_the_index_follows_changes_and_deletes(people):
    row = db.session.scalars(
        select(CalendlyEventAttendee).where(CalendlyEventAttendee.email == "p0@example.de")
    ).one()
    row.name = "Jürgen Klein"
    db.session.commit()
    assert _emails("groß") == []
    assert _emails("klein") == ["p0@example.de"]
    db.session.delete(row)
    db.session.commit()
    assert _emails("klein") == []
    # Cascading deletes (a webinar removed with its attendees) leave nothing behind either.
    db.session.execute(delete(CalendlyEvent).where(CalendlyEvent.id == people.id))
    db.session.commit()
    assert _emails("müller") == []


def test_totals_follow_every_write_of_the_events(app_ctx, add_webinar):
    first = add_webinar(invitees_total=4)
    add_webinar(invitees_total=6)
    assert queries.mirror_totals() == queries.MirrorTotals(webinars=2, attendees=10)
    event = db.session.get(CalendlyEvent, first.id)
    event.invitees_total = 1
    db.session.commit()
    assert queries.mirror_totals() == queries.MirrorTotals(webinars=2, attendees=7)
    db.session.delete(event)
    db.session.commit()
    assert queries.mirror_totals() == queries.MirrorTotals(webinars=1, attendees=6)


def test_a_long_webinar_under_way_is_still_upcoming(app_ctx, add_webinar):
    now = clock.now()
    add_webinar(name="Tomorrow", start_time=now + timedelta(days=1))
    # Started three days ago, ends tomorrow: the walk must start early enough to meet it.
    long = add_webinar(name="Summer school", start_time=now - timedelta(days=3))
    event = db.session.get(CalendlyEvent, long.id)
    event.end_time = now + timedelta(days=1)
    db.session.commit()
    page = queries.list_webinars(queries.WebinarFilter(view="upcoming"))
    assert [e.name for e in page.items] == ["Summer school", "Tomorrow"]
    assert page.total == 2


def test_the_past_is_counted_from_the_totals(app_ctx, add_webinar):
    now = clock.now()
    for days in (-30, -20, -10):
        add_webinar(start_time=now + timedelta(days=days))
    add_webinar(start_time=now - timedelta(days=5), status="canceled")
    add_webinar(start_time=now + timedelta(days=2))
    add_webinar(start_time=now + timedelta(days=3), status="canceled")
    past = queries.list_webinars(queries.WebinarFilter(view="past"))
    assert past.total == 3 and len(past.items) == 3
    by_type = queries.list_webinars(
        queries.WebinarFilter(view="past", event_type="https://api.calendly.com/event_types/INFO")
    )
    assert by_type.total == 3
