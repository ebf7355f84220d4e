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

from sqlalchemy import or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from calendly.client import uuid_from_uri
from calendly.locations import parse_location
from extensions import db
from models import CalendlyEvent, CalendlyEventAttendee

EVENT_FIELDS = (
    "uri", "name", "status", "start_time", "end_time", "event_type_uri", "location_type",
    "location", "location_status", "location_info", "invitees_active", "invitees_total",
    "invitees_limit", "cancel_reason", "canceled_by", "canceler_type", "canceled_at",
    "calendly_created_at", "calendly_updated_at", "missing_upstream",
)  # fmt: skip
ATTENDEE_FIELDS = (
    "event_id", "uri", "name", "first_name", "last_name", "email", "status", "timezone",
    "questions_and_answers", "rescheduled", "old_invitee_uri", "new_invitee_uri", "no_show",
    "no_show_uri", "cancel_reason", "canceled_by", "canceler_type", "canceled_at",
    "calendly_created_at", "calendly_updated_at",
)  # fmt: skip


class MalformedRecordError(ValueError):
    """A Calendly record lacks a field the mirror cannot do without."""


def parse_time(value) -> datetime | None:
    """Calendly's ISO-8601 UTC timestamps (`...000000Z`) as aware datetimes."""
    if value in (None, ""):
        return None
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError as exc:
        raise MalformedRecordError(f"unreadable timestamp {value!r}") from exc


def _required(record: dict, key: str):
    value = record.get(key)
    if value in (None, ""):
        raise MalformedRecordError(f"record without {key!r}")
    return value


def _calendly_id(uri: str) -> str:
    try:
        return uuid_from_uri(uri)
    except ValueError as exc:
        raise MalformedRecordError(str(exc)) from exc


def _cancellation(record: dict) -> dict:
    cancellation = record.get("cancellation") or {}
    return {
        "cancel_reason": cancellation.get("reason"),
        "canceled_by": cancellation.get("canceled_by"),
        "canceler_type": cancellation.get("canceler_type"),
        "canceled_at": parse_time(cancellation.get("created_at")),
    }


def event_values(event: dict) -> dict:
    """Column values for a Calendly scheduled-event resource."""
    uri = _required(event, "uri")
    counter = event.get("invitees_counter") or {}
    location = parse_location(event.get("location"))
    values = {
        "calendly_id": _calendly_id(uri),
        "uri": uri,
        "name": event.get("name"),
        "status": _required(event, "status"),
        "start_time": parse_time(_required(event, "start_time")),
        "end_time": parse_time(_required(event, "end_time")),
        "event_type_uri": event.get("event_type"),
        "location_type": location.type,
        "location": location.location,
        "location_status": location.status,
        "location_info": location.info,
        "invitees_active": int(counter.get("active") or 0),
        "invitees_total": int(counter.get("total") or 0),
        "invitees_limit": counter.get("limit"),
        "calendly_created_at": parse_time(event.get("created_at")),
        "calendly_updated_at": parse_time(event.get("updated_at")),
        "missing_upstream": False,
    }
    values.update(_cancellation(event))
    return values


def attendee_values(invitee: dict, event_id: int) -> dict:
    """Column values for a Calendly invitee resource belonging to local event `event_id`."""
    uri = _required(invitee, "uri")
    no_show = invitee.get("no_show") or {}
    answers = invitee.get("questions_and_answers") or []
    values = {
        "calendly_id": _calendly_id(uri),
        "event_id": event_id,
        "uri": uri,
        "name": invitee.get("name"),
        "first_name": invitee.get("first_name"),
        "last_name": invitee.get("last_name"),
        "email": invitee.get("email"),
        "status": _required(invitee, "status"),
        "timezone": invitee.get("timezone"),
        "questions_and_answers": sorted(answers, key=lambda qa: qa.get("position") or 0),
        "rescheduled": bool(invitee.get("rescheduled")),
        "old_invitee_uri": invitee.get("old_invitee"),
        "new_invitee_uri": invitee.get("new_invitee"),
        "no_show": bool(no_show),
        "no_show_uri": no_show.get("uri"),
        "calendly_created_at": parse_time(invitee.get("created_at")),
        "calendly_updated_at": parse_time(invitee.get("updated_at")),
    }
    values.update(_cancellation(invitee))
    return values


@functools.cache
def _upsert_statement(dialect_name: str, table, fields: tuple[str, ...], returning: bool = False):
    """INSERT ... ON CONFLICT (calendly_id) DO UPDATE unless the stored row is newer.

    Built once per table and dialect: building the statement costs more than running it.
    """
    module = postgresql if dialect_name == "postgresql" else sqlite
    stmt = module.insert(table)
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
    return stmt.returning(table.c.id) if returning else stmt


def _upsert(model, rows: list[dict], fields: tuple[str, ...], now: datetime) -> None:
    """INSERT rows, or UPDATE the existing row unless it holds newer Calendly data."""
    if not rows:
        return
    for row in rows:
        row["synced_at"] = now
    connection = db.session.connection()
    connection.execute(_upsert_statement(connection.dialect.name, model.__table__, fields), rows)


@dataclass
class WriteCounts:
    created: int = 0
    updated: int = 0
    unchanged: int = 0


def _differs(row, values: dict, fields: Iterable[str]) -> bool:
    return any(getattr(row, name) != values[name] for name in fields)


def _is_older(stored_updated_at, incoming_updated_at) -> bool:
    return (
        stored_updated_at is not None
        and incoming_updated_at is not None
        and incoming_updated_at < stored_updated_at
    )


def upsert_event(
    values: dict, now: datetime, *, is_new: bool = False, attendees_complete: bool = False
) -> tuple[int, str]:
    """Write one event inside the caller's transaction.

    Args:
        values: from `event_values`.
        now: the sync time stamped on the row.
        is_new: the caller knows the event is not stored yet, which saves a lookup (a
            concurrent insert by another writer is still handled by the upsert).
        attendees_complete: the caller writes all the event's invitees in this transaction.

    Returns:
        The local id and 'created', 'updated' or 'unchanged'.
    """
    connection = db.session.connection()
    table = CalendlyEvent.__table__
    existing = None
    if not is_new:
        existing = connection.execute(
            select(table).where(table.c.calendly_id == values["calendly_id"])
        ).first()
    if existing is not None and (
        not _differs(existing, values, EVENT_FIELDS)
        or _is_older(existing.calendly_updated_at, values["calendly_updated_at"])
    ):
        if attendees_complete and existing.attendees_synced_at is None:
            connection.execute(
                update(table).where(table.c.id == existing.id).values(attendees_synced_at=now)
            )
        return existing.id, "unchanged"
    row = dict(values, synced_at=now)
    fields = EVENT_FIELDS
    if attendees_complete:
        row["attendees_synced_at"] = now
        fields = (*EVENT_FIELDS, "attendees_synced_at")
    statement = _upsert_statement(connection.dialect.name, table, fields, returning=True)
    event_id = connection.execute(statement, row).scalar()
    if event_id is None:  # a newer copy was stored meanwhile; the guard kept it
        event_id = connection.scalar(
            select(table.c.id).where(table.c.calendly_id == values["calendly_id"])
        )
        return event_id, "unchanged"
    return event_id, "updated" if existing is not None else "created"


def upsert_attendees(
    event_id: int, rows: list[dict], now: datetime, *, is_new: bool = False
) -> WriteCounts:
    """Write the invitees of one event (inside the caller's transaction) and count outcomes.

    `is_new` says the event was created in this transaction, so none of them is stored yet.
    """
    counts = WriteCounts()
    if not rows:
        return counts
    table = CalendlyEventAttendee.__table__
    existing = {}
    if not is_new:
        ids = [row["calendly_id"] for row in rows]
        existing = {
            row.calendly_id: row
            for row in db.session.connection().execute(
                select(table).where(table.c.calendly_id.in_(ids))
            )
        }
    to_write = []
    for values in rows:
        stored = existing.get(values["calendly_id"])
        if stored is None:
            counts.created += 1
        elif not _differs(stored, values, ATTENDEE_FIELDS) or _is_older(
            stored.calendly_updated_at, values["calendly_updated_at"]
        ):
            counts.unchanged += 1
            continue
        else:
            counts.updated += 1
        to_write.append(values)
    _upsert(CalendlyEventAttendee, to_write, ATTENDEE_FIELDS, now)
    return counts
