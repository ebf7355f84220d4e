"""Tombstones of erased people: who (an HMAC-SHA256 of the case-folded email, keyed with
ERASURE_KEY, so that the table names nobody) and since when.

Writers (the sync's bulk upsert, webhook deliveries) drop an invitee whose email has a
tombstone and whose Calendly `created_at` lies before the erasure: that booking was erased. A
booking made later is a new, legitimate record. The key is handed in by the caller (services);
nothing here reads the configuration.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.engine import Connection

from store.models import CalendlyEventAttendee, PersonTombstone

# Bound on values in one IN (...) lookup (as the writer's).
LOOKUP_CHUNK = 500
# Up to this many tombstones, a writer reads them all in one query instead of looking them up.
READ_WHOLE = 5000
# How many characters of the HMAC name a person in the audit log.
REFERENCE_LENGTH = 12


def person_hmac(key: str, email: str | None) -> str | None:
    """The hex HMAC-SHA256 of the case-folded, trimmed email; None without an email."""
    if not email or not email.strip():
        return None
    message = email.strip().casefold().encode("utf-8")
    return hmac.new(key.encode("utf-8"), message, hashlib.sha256).hexdigest()


def reference(key: str, email: str) -> str:
    """How the audit log names a person: the start of their HMAC (no email)."""
    return (person_hmac(key, email) or "")[:REFERENCE_LENGTH]


def tombstones_of(connection: Connection, hmacs: Iterable[str]) -> dict[str, datetime]:
    """person_hmac -> erased_at of those among `hmacs` that have a tombstone."""
    table = PersonTombstone.__table__
    wanted = sorted(set(hmacs))
    found: dict[str, datetime] = {}
    for start in range(0, len(wanted), LOOKUP_CHUNK):
        chunk = wanted[start : start + LOOKUP_CHUNK]
        rows = connection.execute(
            select(table.c.person_hmac, table.c.erased_at).where(table.c.person_hmac.in_(chunk))
        )
        found.update({row.person_hmac: row.erased_at for row in rows})
    return found


def is_erased(tombstone_at: datetime | None, created_at: datetime | None) -> bool:
    """True when a booking created at `created_at` falls under a tombstone of `tombstone_at`
    (an invitee without a creation time counts as erased: it cannot prove it is newer)."""
    if tombstone_at is None:
        return False
    return created_at is None or created_at < tombstone_at


def without_erased(connection: Connection, key: str, rows: list[dict]) -> tuple[list[dict], int]:
    """`rows` (attendee column values) without the erased ones, and how many were dropped.

    One query per batch: erasures are rare, so the tombstones are read whole (up to
    READ_WHOLE of them; more are looked up by the batch's emails), and nothing is hashed
    while there are none.
    """
    if not rows:
        return rows, 0
    table = PersonTombstone.__table__
    found = {
        row.person_hmac: row.erased_at
        for row in connection.execute(
            select(table.c.person_hmac, table.c.erased_at).limit(READ_WHOLE + 1)
        )
    }
    if not found:
        return rows, 0
    hmacs = [person_hmac(key, row.get("email")) for row in rows]
    if len(found) > READ_WHOLE:
        found = tombstones_of(connection, [h for h in hmacs if h is not None])
    kept = [
        row
        for row, digest in zip(rows, hmacs, strict=True)
        if not is_erased(found.get(digest), row.get("calendly_created_at"))
    ]
    return kept, len(rows) - len(kept)


def read_tombstones(connection: Connection) -> dict[str, datetime]:
    """Every tombstone: person_hmac -> erased_at."""
    table = PersonTombstone.__table__
    return {
        row.person_hmac: row.erased_at
        for row in connection.execute(select(table.c.person_hmac, table.c.erased_at))
    }


def add_tombstones(connection: Connection, tombstones: dict[str, datetime]) -> None:
    """Store tombstones not stored yet (an existing one keeps its later erasure time)."""
    table = PersonTombstone.__table__
    stored = tombstones_of(connection, tombstones)
    new = [
        {"person_hmac": digest, "erased_at": at}
        for digest, at in tombstones.items()
        if digest not in stored
    ]
    for digest, at in tombstones.items():
        if digest in stored and stored[digest] < at:
            connection.execute(
                table.update().where(table.c.person_hmac == digest).values(erased_at=at)
            )
    if new:
        connection.execute(table.insert(), new)


def erased_attendee_ids(
    connection: Connection, key: str, tombstones: dict[str, datetime]
) -> list[int]:
    """Ids of stored attendees the `tombstones` erase (one pass over the attendees: the HMAC
    cannot be computed in SQL on SQLite)."""
    if not tombstones:
        return []
    table = CalendlyEventAttendee.__table__
    rows = connection.execute(
        select(table.c.id, table.c.email, table.c.calendly_created_at).where(
            table.c.email.is_not(None)
        )
    )
    return [
        row.id
        for row in rows
        if is_erased(tombstones.get(person_hmac(key, row.email)), row.calendly_created_at)
    ]


def delete_attendees(connection: Connection, ids: list[int]) -> int:
    """Delete the attendees `ids`; returns how many."""
    table = CalendlyEventAttendee.__table__
    for start in range(0, len(ids), LOOKUP_CHUNK):
        chunk = ids[start : start + LOOKUP_CHUNK]
        connection.execute(delete(table).where(table.c.id.in_(chunk)))
    return len(ids)


def apply_tombstones(connection: Connection, key: str) -> int:
    """Delete every stored attendee a stored tombstone erases; returns how many."""
    tombstones = read_tombstones(connection)
    return delete_attendees(connection, erased_attendee_ids(connection, key, tombstones))
