"""Read-only queries behind the dashboard, the attendee lists, the search, the person page and
the sync status panel.

Every list is paginated or bounded, counts come from the database (never len() of a list), and
related rows are loaded in one query each (no N+1).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy import func, select

from store import clock, search_index, totals
from store.database import db
from store.models import (
    CalendlyEvent,
    CalendlyEventAttendee,
    CalendlyEventType,
    EventHost,
    MirrorTotal,
    SyncRun,
)
from store.outcomes import RecordStatus, SyncStatus

VIEWS = ("upcoming", "past", "canceled")
PAGE_SIZE = 25
SEARCH_LIMIT = 25
SEARCH_MIN_LENGTH = 2
# Matching bookings read per person shown; people rarely book more often than this.
SEARCH_BOOKINGS_PER_PERSON = 8
# How many of the newest bookings a search walks before it asks the trigram index.
SEARCH_WALK_FIRST = 20_000
# SQLite: above this many matching bookings, a search walks all bookings from the newest
# instead of sorting every match.
SEARCH_INDEX_MATCHES = 5000
MAX_PAGE = 10_000
RUNS_PER_PAGE = 20


@dataclass(frozen=True)
class WebinarFilter:
    """Which webinars the dashboard lists: a tab, an optional event type, an optional host (a
    Calendly user URI) and a page number."""

    view: str = "upcoming"
    event_type: str | None = None
    page: int = 1
    host: str | None = None

    @classmethod
    def from_args(cls, args: Mapping[str, str]) -> WebinarFilter:
        """Read `view`, `type`, `host` and `page` from query arguments, ignoring anything
        malformed."""
        view = args.get("view", "upcoming")
        try:
            page = int(args.get("page", 1))
        except (TypeError, ValueError):
            page = 1
        return cls(
            view=view if view in VIEWS else "upcoming",
            event_type=(args.get("type") or "").strip()[:255] or None,
            page=min(max(page, 1), MAX_PAGE),
            host=(args.get("host") or "").strip()[:255] or None,
        )

    def args(self, **changes) -> dict:
        """Query arguments for url_for, defaults left out; `changes` override fields."""
        other = replace(self, **changes)
        out: dict = {}
        if other.view != "upcoming":
            out["view"] = other.view
        if other.event_type:
            out["type"] = other.event_type
        if other.host:
            out["host"] = other.host
        if other.page and other.page > 1:
            out["page"] = other.page
        return out


@dataclass(frozen=True)
class Page:
    """One page of results and enough to draw the pagination."""

    items: list
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.per_page))

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages

    @property
    def prev_num(self) -> int:
        return self.page - 1

    @property
    def next_num(self) -> int:
        return self.page + 1


def _count(query) -> int:
    return db.session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))


def paginate(query, page: int, per_page: int, total: int | None = None) -> Page:
    """Page `page` (from 1) of the rows `query` selects, with their total count (counted
    unless given)."""
    page = min(max(page, 1), MAX_PAGE)
    if total is None:
        total = _count(query)
    items = db.session.scalars(query.limit(per_page).offset((page - 1) * per_page)).all()
    return Page(items=list(items), total=total or 0, page=page, per_page=per_page)


@dataclass(frozen=True)
class PersonHit:
    """A search result: one email address and a summary of its bookings."""

    email: str
    name: str | None
    bookings: int
    last_start: datetime | None


def _webinar_conditions(f: WebinarFilter, now: datetime) -> tuple[list, list]:
    ev = CalendlyEvent
    if f.view == "canceled":
        where = [ev.status == RecordStatus.CANCELED]
        order = [ev.start_time.desc(), ev.id.desc()]
    elif f.view == "past":
        # start_time < now is implied by end_time < now; stating it lets the index bound the scan.
        where = [ev.status != RecordStatus.CANCELED, ev.end_time < now, ev.start_time < now]
        order = [ev.start_time.desc(), ev.id.desc()]
    else:
        where = [ev.status != RecordStatus.CANCELED, ev.end_time >= now]
        # No webinar that started before now minus the longest one ever mirrored is still on:
        # the walk of the start times begins there, not at the first webinar ever held.
        longest = db.session.scalar(
            select(MirrorTotal.longest_seconds).where(MirrorTotal.id == totals.ROW_ID)
        )
        if longest is not None:
            where.append(ev.start_time >= now - timedelta(seconds=longest + 1))
        order = [ev.start_time, ev.id]
    if f.event_type:
        where.append(ev.event_type_uri == f.event_type)
    if f.host:
        # Through the (user URI, event) index: never reads the events' JSON.
        hosted = select(EventHost.event_id).where(EventHost.user_uri == f.host)
        where.append(ev.id.in_(hosted))
    return where, order


def list_webinars(f: WebinarFilter, now: datetime | None = None) -> Page:
    """One page of webinars for the dashboard tab `f.view`."""
    now = now or clock.now()
    where, order = _webinar_conditions(f, now)
    total = None
    if f.view == "past" and not f.event_type and not f.host:
        # The past grows without end: it is counted as what is neither canceled nor upcoming
        # (both small) out of the webinars the totals row counts.
        upcoming, _order = _webinar_conditions(replace(f, view="upcoming"), now)
        canceled, _order = _webinar_conditions(replace(f, view="canceled"), now)
        ev = select(CalendlyEvent.id)
        total = mirror_totals().webinars - _count(ev.where(*upcoming)) - _count(ev.where(*canceled))
    query = select(CalendlyEvent).where(*where).order_by(*order)
    return paginate(query, f.page, PAGE_SIZE, total=total)


def has_webinars() -> bool:
    """True once any webinar has been mirrored."""
    return db.session.scalar(select(CalendlyEvent.id).limit(1)) is not None


def _distinct(column):
    """The distinct non-NULL values of the indexed `column`, as a CTE with a `value` column:
    one index seek per value (a loose index scan), where GROUP BY would read every row."""
    values = select(func.min(column).label("value")).cte(f"distinct_{column.name}", recursive=True)
    following = select(func.min(column)).where(column > values.c.value).scalar_subquery()
    return values.union_all(select(following).where(values.c.value.is_not(None)))


def event_types() -> list[tuple[str, str]]:
    """(event type URI, name) of every mirrored event type, by name."""
    ev = CalendlyEvent
    uris = _distinct(ev.event_type_uri)
    name = select(func.max(ev.name)).where(ev.event_type_uri == uris.c.value).scalar_subquery()
    rows = db.session.execute(select(uris.c.value, name).where(uris.c.value.is_not(None))).all()
    return sorted(((uri, name or uri) for uri, name in rows), key=lambda row: row[1].casefold())


def hosts() -> list[tuple[str, str]]:
    """(user URI, name) of everyone who hosts a mirrored webinar, by name."""
    uris = _distinct(EventHost.user_uri)
    of_user = EventHost.user_uri == uris.c.value
    name = select(func.max(EventHost.name)).where(of_user).scalar_subquery()
    email = select(func.max(EventHost.email)).where(of_user).scalar_subquery()
    rows = db.session.execute(
        select(uris.c.value, name, email).where(uris.c.value.is_not(None))
    ).all()
    named = ((uri, name or email or uri) for uri, name, email in rows)
    return sorted(named, key=lambda row: row[1].casefold())


def host_names(hosts: list | None) -> str:
    """The names of a webinar's stored hosts, in Calendly's order ("" when none is known)."""
    if not isinstance(hosts, list):
        return ""
    names = (host.get("name") or host.get("email") for host in hosts if isinstance(host, dict))
    return ", ".join(name for name in names if name)


def webinar_attendees(event_id: int) -> list[CalendlyEventAttendee]:
    """Every attendee of one webinar (canceled ones too), in booking order."""
    return list(
        db.session.scalars(
            select(CalendlyEventAttendee)
            .where(CalendlyEventAttendee.event_id == event_id)
            .order_by(CalendlyEventAttendee.calendly_created_at, CalendlyEventAttendee.id)
        )
    )


def _contains(column, text: str):
    """`column` contains `text`, with LIKE wildcards in `text` taken literally."""
    # ESCAPE costs time on every row, so it is only added when the text needs it. (LIKE beats
    # instr() on SQLite here, and both sides are case-folded already.)
    escape = "\\" if any(char in text for char in "\\%_") else None
    if escape:
        text = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return column.like(f"%{text}%", escape=escape)


@dataclass(frozen=True)
class PeopleFound:
    """The people a search shows, and whether more matched than it shows."""

    people: list[PersonHit]
    more: bool = False


def search_people(query: str, limit: int = SEARCH_LIMIT) -> PeopleFound:
    """People whose name or email contains `query` (ignoring case), most recent booking first;
    at most `limit`, and `more` says whether others matched too.

    Two ways find the newest matching bookings: the walk of the (booked at, search text,
    email) index from the newest booking stops as soon as it has enough, which is cheap when
    many match; the trigram index (store/search_index.py) finds every match to sort them by
    booking time, which is cheap when few do. A search walks a bounded stretch first and asks
    the index only when that was not enough. Queries shorter than three characters have no
    trigrams and always walk. The search text is case-folded when written, with umlaut-free
    variants, so "JÜRGEN", "juergen" and "jurgen" find "Jürgen" on SQLite as on PostgreSQL;
    the query is only case-folded, so that "e" still finds "Samuel".
    """
    query = (query or "").strip()
    if len(query) < SEARCH_MIN_LENGTH:
        return PeopleFound([])
    at = CalendlyEventAttendee
    # One person more than shown is read, to know whether there are more.
    wanted = (limit + 1) * SEARCH_BOOKINGS_PER_PERSON
    emails = [email for email in dict.fromkeys(_newest_matches(query.casefold(), wanted)) if email]
    more, emails = len(emails) > limit, emails[:limit]
    if not emails:
        return PeopleFound([])
    rows = db.session.execute(
        select(at.email, func.max(at.name), func.count(at.id), func.max(CalendlyEvent.start_time))
        .join(CalendlyEvent, CalendlyEvent.id == at.event_id)
        .where(at.email.in_(emails))
        .group_by(at.email)
    ).all()
    hits = {email: PersonHit(email, name, count, last) for email, name, count, last in rows}
    return PeopleFound([hits[email] for email in emails if email in hits], more)


def _newest_matches(folded: str, wanted: int) -> list[str | None]:
    """The emails of the `wanted` newest bookings whose search text contains `folded`."""
    at = CalendlyEventAttendee
    newest_first = select(at.email).order_by(at.calendly_created_at.desc()).limit(wanted)
    walk = newest_first.where(_contains(at.search_text, folded))
    if len(folded) < search_index.MIN_INDEXED_LENGTH:
        return list(db.session.scalars(walk))
    # A common text is found among the newest bookings (an index-only walk of a bounded
    # stretch); only a rarer one asks the trigram index, which then has few matches to sort.
    since = db.session.scalar(
        select(at.calendly_created_at)
        .order_by(at.calendly_created_at.desc())
        .offset(SEARCH_WALK_FIRST)
        .limit(1)
    )
    if since is None:  # a small mirror: the walk reads every booking anyway
        return list(db.session.scalars(walk))
    found = list(db.session.scalars(walk.where(at.calendly_created_at >= since)))
    if len(found) == wanted:
        return found
    if db.session.get_bind().dialect.name != "sqlite":
        # PostgreSQL's planner takes the trigram index for this LIKE when it expects few rows.
        return list(db.session.scalars(walk))
    fts = search_index.attendee_search
    # A quoted phrase: the text never reaches FTS5's query syntax.
    phrase = search_index.match_phrase(folded)
    ids = select(fts.c.rowid).where(fts.c.search_text.op("MATCH")(phrase))
    # FTS5 counts its matches without reading the table: few are sorted, many (spread over
    # older bookings) are walked to the end.
    if _count_up_to(ids, SEARCH_INDEX_MATCHES) < SEARCH_INDEX_MATCHES:
        return list(db.session.scalars(newest_first.where(at.id.in_(ids))))
    return list(db.session.scalars(walk))


def _count_up_to(ids, cap: int) -> int:
    """How many rows `ids` selects, counting no further than `cap`."""
    return db.session.scalar(select(func.count()).select_from(ids.limit(cap).subquery()))


def attendees_containing(folded: str) -> list[tuple[int, str | None]]:
    """(id, email) of every attendee whose search text contains the case-folded `folded`,
    found through the trigram index (a person's data: their candidate bookings)."""
    at = CalendlyEventAttendee
    if len(folded) < search_index.MIN_INDEXED_LENGTH:
        return [tuple(row) for row in db.session.execute(select(at.id, at.email))]
    if db.session.get_bind().dialect.name != "sqlite":
        where = _contains(at.search_text, folded)
    else:
        fts = search_index.attendee_search
        phrase = search_index.match_phrase(folded)
        where = at.id.in_(select(fts.c.rowid).where(fts.c.search_text.op("MATCH")(phrase)))
    return [tuple(row) for row in db.session.execute(select(at.id, at.email).where(where))]


def person_bookings(email: str) -> list[tuple[CalendlyEventAttendee, CalendlyEvent]]:
    """Every booking made with `email`, across webinars, newest webinar first."""
    return list(
        db.session.execute(
            select(CalendlyEventAttendee, CalendlyEvent)
            .join(CalendlyEvent, CalendlyEvent.id == CalendlyEventAttendee.event_id)
            .where(CalendlyEventAttendee.email == email)
            .order_by(CalendlyEvent.start_time.desc(), CalendlyEventAttendee.id)
        )
    )


def filtered_attendees(f: WebinarFilter) -> Iterator[tuple[CalendlyEventAttendee, CalendlyEvent]]:
    """Attendees of every webinar the filter `f` lists (all pages), streamed in list order."""
    where, order = _webinar_conditions(f, clock.now())
    rows = db.session.execute(
        select(CalendlyEventAttendee, CalendlyEvent)
        .join(CalendlyEvent, CalendlyEvent.id == CalendlyEventAttendee.event_id)
        .where(*where)
        .order_by(*order, CalendlyEventAttendee.calendly_created_at, CalendlyEventAttendee.id)
        .execution_options(yield_per=1000)
    )
    yield from rows


def filtered_answer_lists(f: WebinarFilter) -> Iterator[tuple[str | None, list | None]]:
    """(event type URI, raw booking answers) of the attendees `filtered_attendees(f)` yields."""
    where, _order = _webinar_conditions(f, clock.now())
    yield from db.session.execute(
        select(CalendlyEvent.event_type_uri, CalendlyEventAttendee.questions_and_answers)
        .join(CalendlyEvent, CalendlyEvent.id == CalendlyEventAttendee.event_id)
        .where(*where)
        .execution_options(yield_per=2000)
    )


def event_type_questions(uris: Iterable[str | None]) -> dict[str, tuple[str | None, dict]]:
    """Event type URI -> (name, {question text: question type}) from the event type cache."""
    wanted = {uri for uri in uris if uri}
    if not wanted:
        return {}
    rows = db.session.execute(
        select(
            CalendlyEventType.uri, CalendlyEventType.name, CalendlyEventType.custom_questions
        ).where(CalendlyEventType.uri.in_(wanted))
    )
    found = {}
    for uri, name, questions in rows:
        kinds = {
            str(item["name"]): str(item.get("type"))
            for item in questions or ()
            if isinstance(item, dict) and item.get("name") and item.get("type")
        }
        found[uri] = (name, kinds)
    return found


@dataclass(frozen=True)
class MirrorTotals:
    """What the mirror holds: webinars, and attendees by the events' own counters."""

    webinars: int
    attendees: int


def mirror_totals() -> MirrorTotals:
    """How many webinars and attendees the mirror holds: the per-event counters (Calendly's
    invitee total of each event) as summed by the triggers of store/totals.py, one row read."""
    row = db.session.execute(
        select(MirrorTotal.webinars, MirrorTotal.attendees).where(MirrorTotal.id == totals.ROW_ID)
    ).first()
    webinars, attendees = row or (0, 0)
    return MirrorTotals(webinars=webinars, attendees=attendees)


def last_finished_run() -> SyncRun | None:
    """The newest sync run that succeeded or failed (running and skipped ones do not count)."""
    return db.session.scalars(
        select(SyncRun)
        .where(SyncRun.status.in_((SyncStatus.SUCCEEDED, SyncStatus.FAILED)))
        .order_by(SyncRun.id.desc())
        .limit(1)
    ).first()


def last_success_at() -> datetime | None:
    """When the newest successful sync run ended (None before the first)."""
    return db.session.scalar(
        select(func.max(SyncRun.finished_at)).where(SyncRun.status == SyncStatus.SUCCEEDED)
    )


def sync_runs(page: int, per_page: int = RUNS_PER_PAGE) -> Page:
    """One page of sync runs, newest first."""
    return paginate(select(SyncRun).order_by(SyncRun.id.desc()), page, per_page)


# Questions without a position come after every positioned one, in the order they were stored.
UNPOSITIONED = 10_000


def ranked_answers(raw) -> list[tuple[int, str, str]]:
    """(rank, question, answer) from the stored questions_and_answers JSON, in form order.

    The JSON comes from Calendly: anything that is not a list of objects is ignored, and a
    question's rank is its `position` on the booking form.
    """
    if not isinstance(raw, list):
        return []
    items = []
    for index, item in enumerate(raw):
        if not isinstance(item, dict) or not item.get("question"):
            continue
        position = item.get("position")
        rank = position if isinstance(position, int) else UNPOSITIONED + index
        answer = item.get("answer")
        items.append((rank, str(item["question"]), "" if answer is None else str(answer)))
    items.sort(key=lambda row: row[0])
    return items


def booking_answers(raw) -> list[tuple[str, str]]:
    """(question, answer) pairs from the stored questions_and_answers JSON, in form order."""
    return [(question, answer) for _rank, question, answer in ranked_answers(raw)]
