"""Writing Calendly events and invitees into the local mirror (used by the sync and webhooks).

Rows are upserted by `calendly_id` with INSERT ... ON CONFLICT, so two writers (a sync and a
webhook delivery) never collide on the UNIQUE key, and an update only lands when its
`calendly_updated_at` is not older than the stored one: an older copy never overwrites newer data.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

import orjson
from pydantic import TypeAdapter
from sqlalchemy import JSON, bindparam, delete, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from calendly.client import uuid_from_uri
from calendly.locations import parse_location
from calendly.records import (
    Cancellation,
    EventMembership,
    Invitee,
    MalformedRecordError,
    QuestionAndAnswer,
    ScheduledEvent,
)
from mirror.columns import fit, free_text
from store import choices
from store.database import db
from store.erasures import without_erased
from store.models import (
    LOCAL_TIME_FIELDS,
    CalendlyEvent,
    CalendlyEventAttendee,
    CalendlyEventType,
    ChoiceAnswer,
    EventHost,
    UTCDateTime,
    attendee_search_text,
    local_time_fields,
)

EVENT_FIELDS = (
    "uri", "name", "status", "start_time", "end_time", "event_type_uri", "location_type",
    "location", "location_status", "location_info", "invitees_active", "invitees_total",
    "invitees_limit", "cancel_reason", "canceled_by", "canceler_type", "canceled_at",
    "calendly_created_at", "calendly_updated_at", "missing_upstream", "hosts",
)  # fmt: skip
ATTENDEE_FIELDS = (
    "event_id", "uri", "name", "first_name", "last_name", "email", "search_text", "status",
    "timezone", "questions_and_answers", "rescheduled", "old_invitee_uri", "new_invitee_uri",
    "no_show", "no_show_uri", "cancel_reason", "canceled_by", "canceler_type", "canceled_at",
    "calendly_created_at", "calendly_updated_at",
)  # fmt: skip
# Columns of free text: cut to size and freed of NUL characters (see mirror.columns); every
# other text column identifies or codes something and must fit as it is.
EVENT_FREE_TEXT = frozenset({"name", "location", "location_info", "cancel_reason", "canceled_by"})
ATTENDEE_FREE_TEXT = frozenset({"name", "first_name", "last_name", "cancel_reason", "canceled_by"})


# One call for all of an invitee's answers: a model_dump per answer costs several times more.
_ANSWERS = TypeAdapter(list[QuestionAndAnswer])


# Read only; building an empty model for every record that has no cancellation costs more.
_NO_CANCELLATION = Cancellation()


def _cancellation(cancellation: Cancellation | None) -> dict:
    cancellation = cancellation or _NO_CANCELLATION
    return {
        "cancel_reason": cancellation.reason,
        "canceled_by": cancellation.canceled_by,
        "canceler_type": cancellation.canceler_type,
        "canceled_at": cancellation.created_at,
    }


def event_hosts(memberships: list[EventMembership], uri: str) -> list[dict] | None:
    """The hosts stored for the memberships of the event `uri`: [{uri, name, email}, ...] in
    Calendly's order, each user once, fitted to the host columns; None when there are none.

    Raises:
        MalformedRecordError: a host's URI or email does not fit its column.
    """
    hosts: dict[str, dict] = {}
    for position, member in enumerate(memberships):
        values = {"user_uri": member.user, "name": member.user_name, "email": member.user_email}
        try:
            fit(EventHost.__table__, values, "event_membership", frozenset({"name"}))
        except MalformedRecordError as exc:
            raise exc.within("scheduled_event", f"event_memberships.{position}", uri) from None
        hosts.setdefault(
            values["user_uri"],
            {"uri": values["user_uri"], "name": values["name"], "email": values["email"]},
        )
    return list(hosts.values()) or None


def event_values(event: ScheduledEvent) -> dict:
    """Column values for a validated scheduled event, fitted to the columns.

    Raises:
        MalformedRecordError: an identity or code field does not fit its column.
    """
    counter = event.invitees_counter
    raw_location = event.location.model_dump() if event.location is not None else None
    location = parse_location(raw_location)
    values = {
        "calendly_id": uuid_from_uri(event.uri),
        "uri": event.uri,
        "name": event.name,
        "status": event.status,
        "start_time": event.start_time,
        "end_time": event.end_time,
        "event_type_uri": event.event_type,
        "location_type": location.type,
        "location": location.location,
        "location_status": location.status,
        "location_info": location.info,
        "invitees_active": counter.active,
        "invitees_total": counter.total,
        "invitees_limit": counter.limit,
        "calendly_created_at": event.created_at,
        "calendly_updated_at": event.updated_at,
        "missing_upstream": False,
    }
    values.update(_cancellation(event.cancellation))
    values["hosts"] = event_hosts(event.event_memberships, event.uri)
    return fit(CalendlyEvent.__table__, values, "scheduled_event", EVENT_FREE_TEXT)


def attendee_values(invitee: Invitee, event_id: int | None) -> dict:
    """Column values for a validated invitee of local event `event_id`, fitted to the columns
    (`event_id` may be filled in later, once the event is written).

    Raises:
        MalformedRecordError: an identity or code field does not fit its column.
    """
    no_show = invitee.no_show
    values = {
        "calendly_id": uuid_from_uri(invitee.uri),
        "event_id": event_id,
        "uri": invitee.uri,
        "name": invitee.name,
        "first_name": invitee.first_name,
        "last_name": invitee.last_name,
        "email": invitee.email,
        "status": invitee.status,
        "timezone": invitee.timezone,
        # Kept as Calendly sent them; readers order them by position (queries.ranked_answers).
        "questions_and_answers": free_text(
            _ANSWERS.dump_python(invitee.questions_and_answers, mode="json", exclude_unset=True)
        ),
        "rescheduled": invitee.rescheduled,
        "old_invitee_uri": invitee.old_invitee,
        "new_invitee_uri": invitee.new_invitee,
        "no_show": no_show is not None,
        "no_show_uri": no_show.uri if no_show is not None else None,
        "calendly_created_at": invitee.created_at,
        "calendly_updated_at": invitee.updated_at,
    }
    values.update(_cancellation(invitee.cancellation))
    fit(CalendlyEventAttendee.__table__, values, "invitee", ATTENDEE_FREE_TEXT)
    values["search_text"] = attendee_search_text(values["name"], values["email"])
    return values


@functools.cache
def _upsert_statement(dialect_name: str, table, fields: tuple[str, ...], returning: bool = True):
    """INSERT ... ON CONFLICT (calendly_id) DO UPDATE unless the stored row is newer.

    Built once per table and dialect: building the statement costs more than running it.
    """
    module = postgresql if dialect_name == "postgresql" else sqlite
    # Inline: no RETURNING of the new ids unless asked (PostgreSQL adds one otherwise).
    stmt = module.insert(table) if returning else module.insert(table).inline()
    columns = [*fields, "synced_at"]
    stmt = stmt.on_conflict_do_update(
        index_elements=[table.c.calendly_id],
        set_={name: stmt.excluded[name] for name in columns},
        where=or_(
            table.c.calendly_updated_at.is_(None),
            stmt.excluded.calendly_updated_at.is_(None),
            table.c.calendly_updated_at <= stmt.excluded.calendly_updated_at,
        ),
    )
    return stmt.returning(table.c.id, table.c.calendly_id) if returning else stmt


def _upsert(model, rows: list[dict], fields: tuple[str, ...], now: datetime) -> list:
    """INSERT rows, or UPDATE the existing row unless it holds newer Calendly data.

    Returns (id, calendly_id) of every row written; a row the guard kept is not among them.
    """
    if not rows:
        return []
    for row in rows:
        row["synced_at"] = now
    connection = db.session.connection()
    # With RETURNING, SQLAlchemy sends the rows as one multi-row INSERT instead of one
    # statement per row: on SQLite that is one trip into the engine (and one GIL hand-off
    # while the download thread runs) instead of dozens.
    statement = _upsert_statement(connection.dialect.name, model.__table__, fields)
    return connection.execute(statement, rows).all()


@dataclass(frozen=True)
class _BulkUpsert:
    """An upsert as the driver's SQL, with the order of its parameters and how each value is
    encoded for the driver."""

    sql: str
    names: tuple[str, ...]
    encoders: tuple
    named: bool  # the driver takes a dict per row (psycopg) rather than a tuple (sqlite3)


@functools.cache
def _bulk_upsert(dialect, table, fields: tuple[str, ...]) -> _BulkUpsert:
    """The upsert of `_upsert_statement`, without RETURNING, compiled once for `dialect`."""
    statement = _upsert_statement(dialect.name, table, fields, returning=False)
    keys = ["calendly_id", *fields, "synced_at"]
    compiled = statement.compile(dialect=dialect, column_keys=keys)
    names = tuple(compiled.positiontup or compiled.bind_names.values())
    encoders = tuple(bulk_encoder(table.c[name].type, dialect.name) for name in names)
    return _BulkUpsert(str(compiled), names, encoders, dialect.paramstyle == "pyformat")


def _identity(value):
    return value


def bulk_encoder(column_type, dialect_name: str):
    """How a value goes to the driver in a bulk write, done here once per value instead of by
    SQLAlchemy's per-row bind processing (the larger part of a big sync's CPU): the same
    values the column type stores."""
    if isinstance(column_type, UTCDateTime):
        return UTCDateTime.encoder(dialect_name)
    if isinstance(column_type, JSON):
        # SQLAlchemy's JSON stores None as JSON null too (none_as_null is off).
        return lambda value: orjson.dumps(value).decode()
    return _identity


def _bulk_write(model, rows: list[dict], fields: tuple[str, ...], now: datetime) -> None:
    """Upsert `rows` like `_upsert`, in one executemany of pre-encoded values (no RETURNING).

    sqlite3 runs it as one prepared statement; psycopg 3 sends it in pipeline mode, without a
    round trip per row.
    """
    if not rows:
        return
    connection = db.session.connection()
    bulk = _bulk_upsert(connection.dialect, model.__table__, fields)
    pairs = tuple(zip(bulk.names, bulk.encoders, strict=True))
    for row in rows:
        row["synced_at"] = now
    if bulk.named:
        params = [{name: encode(row[name]) for name, encode in pairs} for row in rows]
    else:
        params = [tuple([encode(row[name]) for name, encode in pairs]) for row in rows]
    connection.exec_driver_sql(bulk.sql, params)


@dataclass
class WriteCounts:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    # Invitees of an erased person, created before the erasure: not stored (store/erasures.py).
    erased: int = 0

    def record(self, outcome: str) -> None:
        """Count one 'created', 'updated' or 'unchanged' row."""
        setattr(self, outcome, getattr(self, outcome) + 1)

    def add(self, other: WriteCounts) -> None:
        self.created += other.created
        self.updated += other.updated
        self.unchanged += other.unchanged
        self.erased += other.erased


def _outcome(stored, values: dict, fields: Iterable[str]) -> str:
    """'created', 'updated', or 'unchanged' (same values, or an older copy than the stored row)."""
    if stored is None:
        return "created"
    incoming_at, stored_at = values["calendly_updated_at"], stored.calendly_updated_at
    older = incoming_at is not None and stored_at is not None and incoming_at < stored_at
    if older or not any(getattr(stored, name) != values[name] for name in fields):
        return "unchanged"
    return "updated"


# Bound on values in one IN (...) lookup: far below SQLite's and PostgreSQL's parameter limits.
LOOKUP_CHUNK = 500


def _stored_rows(table, calendly_ids: list[str]) -> dict:
    connection = db.session.connection()
    stored = {}
    for start in range(0, len(calendly_ids), LOOKUP_CHUNK):
        chunk = calendly_ids[start : start + LOOKUP_CHUNK]
        for row in connection.execute(select(table).where(table.c.calendly_id.in_(chunk))):
            stored[row.calendly_id] = row
    return stored


def _last_per_id(rows: list[dict]) -> list[dict]:
    # One statement may not touch a row twice (PostgreSQL refuses): the last copy wins.
    return list({row["calendly_id"]: row for row in rows}.values())


def write_events(
    values_list: list[dict],
    now: datetime,
    *,
    new_ids: frozenset[str] | set[str] = frozenset(),
    complete_ids: frozenset[str] | set[str] = frozenset(),
    incomplete_ids: frozenset[str] | set[str] = frozenset(),
    zone: str | ZoneInfo = "UTC",
) -> dict[str, tuple[int, str]]:
    """Write a batch of events inside the caller's transaction.

    Args:
        values_list: from `event_values`.
        now: the sync time stamped on the rows.
        new_ids: calendly_ids the caller knows are not stored yet, which saves lookups (a
            concurrent insert by another writer is still handled by the upsert).
        complete_ids: events whose invitees the caller writes in full in this transaction.
        incomplete_ids: events whose invitees the caller read but could not write in full (a
            malformed invitee): the next sync must read them again.
        zone: the admin's time zone, in which the local_* columns give the start.

    Returns:
        calendly_id -> (local id, 'created' | 'updated' | 'unchanged').
    """
    connection = db.session.connection()
    table = CalendlyEvent.__table__
    zone = zone if isinstance(zone, ZoneInfo) else ZoneInfo(zone)
    values_list = _last_per_id(values_list)
    stored = _stored_rows(
        table, [v["calendly_id"] for v in values_list if v["calendly_id"] not in new_ids]
    )
    results: dict[str, tuple[int, str]] = {}
    outcomes: dict[str, str] = {}
    outcomes_values: dict[str, dict] = {}
    writes: dict[bool, list[dict]] = {False: [], True: []}
    mark_complete = []
    for values in values_list:
        calendly_id = values["calendly_id"]
        complete = calendly_id in complete_ids
        row = stored.get(calendly_id)
        outcome = _outcome(row, values, EVENT_FIELDS)
        if outcome == "unchanged":
            results[calendly_id] = (row.id, outcome)
            if complete and row.attendees_synced_at is None:
                mark_complete.append(row.id)
            continue
        outcomes[calendly_id] = outcome
        outcomes_values[calendly_id] = values
        row = dict(values, **local_time_fields(values["start_time"], zone))
        writes[complete].append(dict(row, attendees_synced_at=now) if complete else row)
    for complete, rows in writes.items():
        fields = (*EVENT_FIELDS, *LOCAL_TIME_FIELDS)
        fields = (*fields, "attendees_synced_at") if complete else fields
        for row in _upsert(CalendlyEvent, rows, fields, now):
            results[row.calendly_id] = (row.id, outcomes[row.calendly_id])
    # Only the rows the upserts wrote: a row the guard kept keeps its hosts too.
    written = {cid: values for cid, values in outcomes_values.items() if cid in results}
    _write_hosts({results[cid][0]: values["hosts"] for cid, values in written.items()})
    # An upsert the guard skipped (a newer copy was stored meanwhile) returns no row.
    skipped = [calendly_id for calendly_id in outcomes if calendly_id not in results]
    for calendly_id, row in _stored_rows(table, skipped).items():
        results[calendly_id] = (row.id, "unchanged")
    if mark_complete:
        connection.execute(
            update(table).where(table.c.id.in_(mark_complete)).values(attendees_synced_at=now)
        )
    incomplete = [results[cid][0] for cid in incomplete_ids if cid in results]
    if incomplete:
        connection.execute(
            update(table).where(table.c.id.in_(incomplete)).values(attendees_synced_at=None)
        )
    return results


def _write_hosts(hosts_by_event: dict[int, list[dict] | None]) -> None:
    """Replace the EventHost rows of the events just written with their `hosts`."""
    if not hosts_by_event:
        return
    connection = db.session.connection()
    table = EventHost.__table__
    ids = list(hosts_by_event)
    for start in range(0, len(ids), LOOKUP_CHUNK):
        chunk = ids[start : start + LOOKUP_CHUNK]
        connection.execute(delete(table).where(table.c.event_id.in_(chunk)))
    rows = [
        {
            "event_id": event_id,
            "user_uri": host["uri"],
            "name": host["name"],
            "email": host["email"],
        }
        for event_id, hosts in hosts_by_event.items()
        for host in hosts or ()
    ]
    if rows:
        connection.execute(insert(table), rows)


def upsert_event(values: dict, now: datetime, zone: str | ZoneInfo = "UTC") -> tuple[int, str]:
    """Write one event inside the caller's transaction (see `write_events`)."""
    return write_events([values], now, zone=zone)[values["calendly_id"]]


def restamp_local_times(zone: str | ZoneInfo) -> int:
    """Set every webinar's local_* columns for the time zone `zone` (after the admin changed
    it), inside the caller's transaction; returns how many webinars there are."""
    zone = zone if isinstance(zone, ZoneInfo) else ZoneInfo(zone)
    table = CalendlyEvent.__table__
    connection = db.session.connection()
    rows = connection.execute(select(table.c.id, table.c.start_time)).all()
    statement = (
        update(table)
        .where(table.c.id == bindparam("event_id"))
        .values({name: bindparam(name) for name in LOCAL_TIME_FIELDS})
    )
    for start in range(0, len(rows), LOOKUP_CHUNK * 10):
        chunk = rows[start : start + LOOKUP_CHUNK * 10]
        params = [dict(local_time_fields(begins, zone), event_id=id_) for id_, begins in chunk]
        connection.execute(statement, params)
    return len(rows)


def write_attendees(
    rows: list[dict],
    now: datetime,
    *,
    new_event_ids: frozenset[int] | set[int] = frozenset(),
    erasure_key: str | None = None,
) -> WriteCounts:
    """Write invitees (of any events) inside the caller's transaction and count outcomes.

    `new_event_ids` are events created in this transaction: none of their invitees is stored.
    With `erasure_key` (ERASURE_KEY), the invitees of an erased person created before the
    erasure are left out (one tombstone lookup per batch); without it none are.
    """
    counts = WriteCounts()
    table = CalendlyEventAttendee.__table__
    rows = _last_per_id(rows)
    # Attendees of a webinar the retention purge anonymised are never stored again (a sync
    # that read them before the purge, a late webhook).
    removed = _personal_data_removed({row["event_id"] for row in rows})
    if removed:
        rows = [row for row in rows if row["event_id"] not in removed]
    if erasure_key is not None:
        rows, counts.erased = without_erased(db.session.connection(), erasure_key, rows)
    stored = _stored_rows(
        table, [r["calendly_id"] for r in rows if r["event_id"] not in new_event_ids]
    )
    to_write = []
    for values in rows:
        outcome = _outcome(stored.get(values["calendly_id"]), values, ATTENDEE_FIELDS)
        counts.record(outcome)
        if outcome != "unchanged":
            to_write.append(values)
    _bulk_write(CalendlyEventAttendee, to_write, ATTENDEE_FIELDS, now)
    write_choice_answers([values["calendly_id"] for values in to_write])
    return counts


def purged_event_ids(since: datetime | None = None) -> set[str]:
    """The Calendly ids of the events (starting at `since` or later) whose attendees the
    retention purge anonymised (ends the read transaction: the sync writes with this session
    next)."""
    query = select(CalendlyEvent.calendly_id).where(
        CalendlyEvent.personal_data_removed_at.is_not(None)
    )
    if since is not None:
        query = query.where(CalendlyEvent.start_time >= since)
    ids = set(db.session.scalars(query))
    db.session.commit()
    return ids


def is_personal_data_removed(calendly_id: str) -> bool:
    """True when the retention purge anonymised the attendees of the event `calendly_id`."""
    return (
        db.session.scalar(
            select(CalendlyEvent.id).where(
                CalendlyEvent.calendly_id == calendly_id,
                CalendlyEvent.personal_data_removed_at.is_not(None),
            )
        )
        is not None
    )


def _personal_data_removed(event_ids: set) -> set[int]:
    event_ids.discard(None)
    if not event_ids:
        return set()
    return set(
        db.session.scalars(
            select(CalendlyEvent.id).where(
                CalendlyEvent.id.in_(event_ids),
                CalendlyEvent.personal_data_removed_at.is_not(None),
            )
        )
    )


def write_choice_answers(calendly_ids: list[str]) -> None:
    """Replace the ChoiceAnswer rows of the attendees `calendly_ids` with those of their stored
    answers, inside the caller's transaction (the insights page counts them). The old half of
    a reschedule has none: the person's answers count once, with the new booking."""
    if not calendly_ids:
        return
    connection = db.session.connection()
    attendees, events = CalendlyEventAttendee.__table__, CalendlyEvent.__table__
    answers = ChoiceAnswer.__table__
    stored = []
    for start in range(0, len(calendly_ids), LOOKUP_CHUNK):
        chunk = calendly_ids[start : start + LOOKUP_CHUNK]
        stored.extend(
            connection.execute(
                select(
                    attendees.c.id,
                    attendees.c.event_id,
                    attendees.c.questions_and_answers,
                    attendees.c.rescheduled,
                    events.c.event_type_uri,
                )
                .join(events, events.c.id == attendees.c.event_id)
                .where(attendees.c.calendly_id.in_(chunk))
            ).all()
        )
    questions = _choice_questions_of({row.event_type_uri for row in stored})
    rows = []
    for row in stored:
        of_type = questions.get(row.event_type_uri)
        if of_type and not row.rescheduled:
            rows.extend(
                choices.answer_rows(of_type, row.questions_and_answers, row.event_id, row.id)
            )
    ids = [row.id for row in stored]
    for start in range(0, len(ids), LOOKUP_CHUNK):
        chunk = ids[start : start + LOOKUP_CHUNK]
        connection.execute(delete(answers).where(answers.c.attendee_id.in_(chunk)))
    if rows:
        connection.execute(insert(answers), rows)


def _choice_questions_of(type_uris: set) -> dict[str, dict]:
    """event type URI -> its choice questions by position, from the cached event types."""
    uris = [uri for uri in type_uris if uri]
    if not uris:
        return {}
    table = CalendlyEventType.__table__
    found = db.session.connection().execute(
        select(table.c.uri, table.c.custom_questions).where(table.c.uri.in_(uris))
    )
    return {uri: choices.choice_questions(questions) for uri, questions in found}


def write_no_show(
    which, *, marked: bool, mark_uri: str | None, stamp: datetime, now: datetime
) -> bool:
    """Set or clear the no-show mark of the invitee `which` selects (a condition on the
    attendees table), inside the caller's transaction.

    A no-show has no `updated_at` of its own: `stamp` (when Calendly made the change) stands
    in for it. The change lands only when it is not older than the stored invitee, and then
    advances the invitee's `calendly_updated_at`, so neither an older mark nor a sync that read
    the invitee before the change undoes it. One guarded statement, so it is atomic against a
    concurrent sync or delivery. Returns True when a row changed.
    """
    table = CalendlyEventAttendee.__table__
    result = db.session.execute(
        update(table)
        .where(
            which,
            or_(table.c.calendly_updated_at.is_(None), table.c.calendly_updated_at <= stamp),
        )
        .values(no_show=marked, no_show_uri=mark_uri, calendly_updated_at=stamp, synced_at=now)
    )
    return bool(result.rowcount)
