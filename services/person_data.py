"""A person's data (GDPR): the export of everything stored for an email (Art. 15) and the
erasure of the person (Art. 17), locally and, if asked, at Calendly.

A person is every attendee row whose email equals theirs case-folded. The erasure deletes those
rows and keeps a tombstone (store/erasures.py), so that syncs and webhook deliveries do not
store the same bookings again. The webinars' booking counts stay Calendly's figures (the
dashboard shows what Calendly counts; a sync brings the count Calendly reports).
Both actions are recorded in the audit log, naming the person by a reference, never the email.
"""

from __future__ import annotations

import csv
import io
import json
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime

from flask import current_app
from sqlalchemy import select, update

from calendly.errors import CalendlyError, PermissionDeniedError
from services import audit, queries
from services.connection import build_client
from services.export import BOM, csv_cell
from services.secrets import TokenVaultError
from store import clock, erasures
from store.database import db, start_write
from store.models import (
    AdminUser,
    CalendlyEvent,
    CalendlyEventAttendee,
    PersonTombstone,
    WebhookDelivery,
)
from store.outcomes import AuditAction

# Attendee columns left out of the export: the app's own row numbers and the search column
# (made of name and email, which are exported as they are).
_INTERNAL = frozenset({"id", "event_id", "search_text"})
ATTENDEE_COLUMNS = tuple(
    c.name for c in CalendlyEventAttendee.__table__.columns if c.name not in _INTERNAL
)
WEBINAR_COLUMNS = (
    "uri", "name", "status", "start_time", "end_time", "event_type_uri", "location_type",
    "location",
)  # fmt: skip
FORMATS = ("json", "csv")


class AtCalendly:
    """What became of the erasure at Calendly (stored in the audit entry)."""

    NOT_ASKED = "not_asked"
    REQUESTED = "requested"  # Calendly accepted it (202) and deletes on its side
    REFUSED_PLAN = "refused_plan"  # not an Enterprise plan
    REFUSED_PERMISSION = "refused_permission"  # the token's user or scopes may not
    FAILED = "failed"  # no token, or Calendly failed otherwise


@dataclass(frozen=True)
class Erasure:
    """The outcome of `erase_person`."""

    bookings: int
    at_calendly: str
    problem: Exception | None = None


def _key() -> str:
    return current_app.config["ERASURE_KEY"]


def reference(email: str) -> str:
    """How the audit log names the person with `email` (no email in it)."""
    return erasures.reference(_key(), email)


def person_rows(email: str) -> list[tuple[CalendlyEventAttendee, CalendlyEvent]]:
    """Every stored booking of the person (email equal case-folded), oldest webinar first."""
    ids = _attendee_ids(email)
    if not ids:
        return []
    rows = []
    for start in range(0, len(ids), erasures.LOOKUP_CHUNK):
        chunk = ids[start : start + erasures.LOOKUP_CHUNK]
        rows += db.session.execute(
            select(CalendlyEventAttendee, CalendlyEvent)
            .join(CalendlyEvent, CalendlyEvent.id == CalendlyEventAttendee.event_id)
            .where(CalendlyEventAttendee.id.in_(chunk))
        ).all()
    rows.sort(key=lambda row: (row[1].start_time, row[0].id))
    return [tuple(row) for row in rows]


def _attendee_ids(email: str) -> list[int]:
    """Ids of the attendees whose email equals `email` case-folded: the search index finds the
    candidates (their search text holds the email case-folded), Python compares exactly (SQL's
    lower() is not Unicode case folding)."""
    wanted = email.strip().casefold()
    if not wanted:
        return []
    folded = unicodedata.normalize("NFC", wanted)
    return [
        attendee_id
        for attendee_id, stored in queries.attendees_containing(folded)
        if stored is not None and stored.strip().casefold() == wanted
    ]


# -- export (Art. 15) ----------------------------------------------------------------------------


def _plain(value):
    """A stored value as JSON: times in ISO 8601 UTC."""
    if isinstance(value, datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=UTC)
        return aware.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return value


def booking_record(attendee: CalendlyEventAttendee, event: CalendlyEvent) -> dict:
    """One booking as exported: every stored field of the invitee, and its webinar."""
    record = {name: _plain(getattr(attendee, name)) for name in ATTENDEE_COLUMNS}
    record["webinar"] = {name: _plain(getattr(event, name)) for name in WEBINAR_COLUMNS}
    return record


def export_json(email: str, rows) -> str:
    """The person's data as a JSON document."""
    document = {
        "email": email,
        "exported_at": _plain(clock.now()),
        "bookings": [booking_record(attendee, event) for attendee, event in rows],
    }
    return json.dumps(document, ensure_ascii=False, indent=2)


def _answers_text(answers: list | None) -> str:
    return " | ".join(
        f"{item.get('question', '')}: {item.get('answer', '')}"
        for item in sorted(answers or [], key=lambda item: item.get("position") or 0)
        if isinstance(item, dict)
    )


def export_csv(rows, delimiter: str = ",") -> str:
    """The person's data as CSV (UTF-8 with BOM): one line per booking, every stored field,
    times in ISO 8601 UTC; cells are defused against formulas."""
    header = [f"webinar_{name}" for name in WEBINAR_COLUMNS] + list(ATTENDEE_COLUMNS)
    buffer = io.StringIO()
    buffer.write(BOM)
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(header)
    for attendee, event in rows:
        values = [_plain(getattr(event, name)) for name in WEBINAR_COLUMNS]
        for name in ATTENDEE_COLUMNS:
            value = getattr(attendee, name)
            values.append(_answers_text(value) if name == "questions_and_answers" else value)
        writer.writerow([csv_cell(_plain(value)) for value in values])
    return buffer.getvalue()


def export_person(email: str, kind: str, admin: AdminUser, delimiter: str = ",") -> str:
    """The person's data as `kind` ("json" or "csv"), recorded in the audit log."""
    if kind not in FORMATS:
        raise ValueError(f"unknown export format {kind!r}")
    rows = person_rows(email)
    document = export_json(email, rows) if kind == "json" else export_csv(rows, delimiter)
    audit.record(AuditAction.PERSON_EXPORTED, admin, person=reference(email), format=kind)
    db.session.commit()
    return document


def export_file_name(email: str, kind: str) -> str:
    """A file name naming the person by reference only (downloads folders are shared)."""
    return f"person-{reference(email)}.{kind}"


# -- erasure (Art. 17) ---------------------------------------------------------------------------


def erase_person(email: str, admin: AdminUser, *, at_calendly: bool = False) -> Erasure:
    """Erase the person with `email` here (their bookings, with a tombstone against their
    return by sync or webhook) and, when `at_calendly`, ask Calendly to erase them too.

    Calendly is asked first, so that its answer is in the audit entry; whatever it answers,
    the local erasure is done, in one transaction with its audit entry.
    """
    outcome, problem = _erase_at_calendly(email) if at_calendly else (AtCalendly.NOT_ASKED, None)
    start_write(db.session)
    try:
        bookings = _erase_here(email)
        audit.record(
            AuditAction.PERSON_ERASED,
            admin,
            person=reference(email),
            bookings=bookings,
            at_calendly=outcome,
        )
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    return Erasure(bookings, outcome, problem)


def _erase_here(email: str) -> int:
    """Delete the person's attendee rows and store their tombstone (caller's transaction)."""
    connection = db.session.connection()
    ids = _attendee_ids(email)
    table = CalendlyEventAttendee.__table__
    uris = []
    for start in range(0, len(ids), erasures.LOOKUP_CHUNK):
        chunk = ids[start : start + erasures.LOOKUP_CHUNK]
        uris += connection.execute(select(table.c.uri).where(table.c.id.in_(chunk))).scalars()
    erasures.delete_attendees(connection, ids)
    # The delivery log keeps no pointer to the erased bookings either.
    deliveries = WebhookDelivery.__table__
    for start in range(0, len(uris), erasures.LOOKUP_CHUNK):
        chunk = uris[start : start + erasures.LOOKUP_CHUNK]
        connection.execute(
            update(deliveries).where(deliveries.c.invitee_uri.in_(chunk)).values(invitee_uri=None)
        )
    digest = erasures.person_hmac(_key(), email)
    # Erased again (after a new booking): the tombstone moves to now.
    erasures.add_tombstones(connection, {digest: clock.now()})
    return len(ids)


def _erase_at_calendly(email: str) -> tuple[str, Exception | None]:
    """Ask Calendly's data compliance API to delete the invitee; the outcome and its error."""
    try:
        with build_client() as client:
            client.delete_invitee_data([email.strip()])
    except PermissionDeniedError as exc:
        refused_plan = not exc.required_scopes and "enterprise" in (exc.said or "").lower()
        return (AtCalendly.REFUSED_PLAN if refused_plan else AtCalendly.REFUSED_PERMISSION), exc
    except (CalendlyError, TokenVaultError) as exc:
        return AtCalendly.FAILED, exc
    return AtCalendly.REQUESTED, None


def is_erased(email: str) -> bool:
    """True when the person with `email` has a tombstone."""
    digest = erasures.person_hmac(_key(), email)
    return (
        db.session.scalar(select(PersonTombstone.id).where(PersonTombstone.person_hmac == digest))
        is not None
    )
