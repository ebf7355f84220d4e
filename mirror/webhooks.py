"""Calendly webhook deliveries: check the signature, then apply the delivery to the mirror.

No Flask request in here (it needs an app context for the database and the settings): the route
hands over the raw body and the signature header. The signature is checked before anything in
the body is read. Every delivery is recorded in `webhook_deliveries`, refused ones included, in
the same transaction as the change it made; no body is ever stored.

Deliveries arrive late, twice and out of order (Calendly retries for 24 hours), and at the same
time as a sync. Invitees and events go through the mirror's upserts (INSERT ... ON CONFLICT), so
concurrent writers never collide, and an older `updated_at` never overwrites newer data. A no-show
has no `updated_at` of its own: the delivery's `created_at` stands in for it. The change lands only
when it is not older than the invitee's stored `calendly_updated_at`, which it then advances, so
neither an older no-show delivery nor a sync that read the invitee before the change undoes it.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, select, update
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from calendly.client import uuid_from_uri
from calendly.signature import WebhookSignatureError, verify_signature
from mirror.writer import (
    EventTypeSelection,
    MalformedRecordError,
    attendee_values,
    event_values,
    parse_time,
    upsert_event,
    write_attendees,
)
from services import settings
from services.secrets import TokenVaultError
from store.database import db, start_write
from store.models import CalendlyEvent, CalendlyEventAttendee, WebhookDelivery, utcnow

log = logging.getLogger(__name__)

# Real deliveries are a few kilobytes; anything far bigger is not from Calendly.
MAX_BODY_BYTES = 256 * 1024
INVITEE_EVENTS = frozenset({"invitee.created", "invitee.canceled"})
NO_SHOW_EVENTS = frozenset({"invitee_no_show.created", "invitee_no_show.deleted"})
# PostgreSQL deadlock / serialization failure: the transaction is safe to run again.
RETRYABLE_SQLSTATES = frozenset({"40P01", "40001"})
ATTEMPTS = 3

_attendees = CalendlyEventAttendee.__table__


class MalformedDelivery(ValueError):
    """An authentic delivery whose body is not a webhook payload this handler can read."""


@dataclass(frozen=True)
class Outcome:
    """What a delivery did: `outcome` is applied, ignored, rejected or error."""

    outcome: str
    detail: str


@dataclass(frozen=True)
class DeliveryResult:
    """The answer for Calendly: HTTP status plus what is safe to tell the sender."""

    status: int
    outcome: str
    detail: str


@dataclass(frozen=True)
class _Delivery:
    event: str
    created_at: datetime | None
    payload: dict
    invitee_uri: str | None


# -- the whole pipeline (used by the route) -------------------------------------------------------


def receive_delivery(body: bytes, signature_header: str | None, *, now: float | None = None):
    """Verify, apply and record one delivery; never raises. Needs an app context.

    Returns:
        DeliveryResult: 200 applied/ignored; 400 malformed (authentic) body; 401 bad signature;
        403 no usable signing key; 413 body too large; 500 error (Calendly retries).
    """
    received_at = utcnow()
    if len(body) > MAX_BODY_BYTES:
        return _refuse(413, "body too large", received_at, signature_valid=False)
    try:
        key = settings.webhook_signing_key()
    except TokenVaultError:
        log.error("webhook refused: the stored signing key cannot be decrypted")
        return _refuse(403, "stored signing key cannot be decrypted", received_at, False)
    except SQLAlchemyError:
        db.session.rollback()
        log.exception("webhook: could not read the signing key")
        return DeliveryResult(500, "error", "internal error; please retry")
    if not key:
        log.warning("webhook refused: no signing key is configured")
        return _refuse(403, "no signing key configured", received_at, False)
    try:
        verify_signature(signature_header, body, key, now=now)
    except WebhookSignatureError as exc:
        log.warning("webhook refused: %s", exc.reason)
        return _refuse(401, f"signature: {exc.reason}", received_at, False)

    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):  # ValueError includes UnicodeDecodeError
        return _refuse(400, "body is not JSON", received_at, True)
    event = payload.get("event") if isinstance(payload, dict) else None
    try:
        outcome = handle_delivery(payload, received_at=received_at)
    except MalformedDelivery as exc:
        log.warning("webhook %s refused: %s", event, exc)
        return _refuse(400, f"malformed: {exc}", received_at, True, event=event)
    except Exception as exc:
        db.session.rollback()
        log.exception("webhook %s failed", event)
        _record_alone(
            received_at,
            signature_valid=True,
            outcome="error",
            detail=_error_detail(exc),
            event=event,
        )
        return DeliveryResult(500, "error", "internal error; please retry")
    log.info("webhook %s: %s (%s)", event, outcome.outcome, outcome.detail)
    return DeliveryResult(200, outcome.outcome, outcome.detail)


def _error_detail(exc: Exception) -> str:
    # Only the error's kind: database errors quote their statement's parameters (attendee data).
    if isinstance(exc, DBAPIError):
        return f"database error: {type(exc.orig).__name__}"
    return f"internal error: {type(exc).__name__}"


def _refuse(status, detail, received_at, signature_valid, event=None) -> DeliveryResult:
    _record_alone(
        received_at, signature_valid=signature_valid, outcome="rejected", detail=detail, event=event
    )
    public = detail if signature_valid else _PUBLIC_REFUSALS.get(status, "refused")
    return DeliveryResult(status, "rejected", public)


# What an unauthenticated sender learns: no more than the status code says.
_PUBLIC_REFUSALS = {
    401: "signature verification failed",
    403: "webhook signing key not configured",
    413: "body too large",
}


def _record_alone(received_at, *, signature_valid, outcome, detail, event=None) -> None:
    """Record a delivery in its own transaction (best effort: a database outage only logs)."""
    try:
        start_write(db.session)
        db.session.add(
            WebhookDelivery(
                received_at=received_at,
                event=event[:64] if isinstance(event, str) else None,
                signature_valid=signature_valid,
                outcome=outcome,
                detail=detail,
            )
        )
        db.session.commit()
    except SQLAlchemyError:
        db.session.rollback()
        log.exception("could not record a webhook delivery")


# -- applying an authentic delivery ---------------------------------------------------------------


def handle_delivery(payload, *, received_at: datetime | None = None) -> Outcome:
    """Apply one authentic, parsed delivery to the mirror and record it, in one transaction.

    Idempotent and safe out of order (see the module docstring). Needs an app context.

    Returns:
        Outcome: applied (the mirror now reflects it) or ignored (not synced, unknown event,
            stale, or its invitee not mirrored), with a detail line free of personal data.

    Raises:
        MalformedDelivery: the payload lacks what its event needs.
        SQLAlchemyError: the database failed (after retrying deadlocks).
    """
    delivery = _read_envelope(payload)
    received_at = received_at or utcnow()
    for attempt in range(1, ATTEMPTS + 1):
        try:
            start_write(db.session)
            outcome = _apply(delivery)
            db.session.add(
                WebhookDelivery(
                    received_at=received_at,
                    event=delivery.event[:64],
                    invitee_uri=delivery.invitee_uri,
                    signature_valid=True,
                    outcome=outcome.outcome,
                    detail=outcome.detail,
                    payload_created_at=delivery.created_at,
                )
            )
            db.session.commit()
            return outcome
        except MalformedDelivery:
            db.session.rollback()
            raise
        except MalformedRecordError as exc:
            db.session.rollback()
            raise MalformedDelivery(str(exc)) from exc
        except DBAPIError as exc:
            db.session.rollback()
            if attempt == ATTEMPTS or not _retryable(exc):
                raise
            log.info("webhook %s: retrying after %s", delivery.event, type(exc.orig).__name__)
    raise AssertionError("unreachable")


def _retryable(exc: DBAPIError) -> bool:
    return getattr(exc.orig, "sqlstate", None) in RETRYABLE_SQLSTATES


def _read_envelope(payload) -> _Delivery:
    if not isinstance(payload, dict):
        raise MalformedDelivery("body is not a JSON object")
    event, inner = payload.get("event"), payload.get("payload")
    if not isinstance(event, str) or not event:
        raise MalformedDelivery("no event name")
    if not isinstance(inner, dict):
        raise MalformedDelivery("no payload object")
    try:
        created_at = parse_time(payload.get("created_at"))
    except (MalformedRecordError, TypeError) as exc:
        raise MalformedDelivery(str(exc)) from exc
    invitee_uri = None
    if event in INVITEE_EVENTS:
        invitee_uri = inner.get("uri")
    elif event in NO_SHOW_EVENTS:
        invitee_uri = inner.get("invitee")
    if invitee_uri is not None and (not isinstance(invitee_uri, str) or len(invitee_uri) > 255):
        raise MalformedDelivery("unreadable invitee URI")
    return _Delivery(event, created_at, inner, invitee_uri)


def _apply(delivery: _Delivery) -> Outcome:
    if delivery.event in INVITEE_EVENTS:
        return _apply_invitee(delivery)
    if delivery.event in NO_SHOW_EVENTS:
        return _apply_no_show(delivery, on=delivery.event == "invitee_no_show.created")
    log.info("webhook event %r is not handled; acknowledged and ignored", delivery.event)
    return Outcome("ignored", f"event {delivery.event[:64]!r} is not handled")


def _apply_invitee(delivery: _Delivery) -> Outcome:
    """invitee.created / invitee.canceled: upsert the embedded event, then the invitee."""
    invitee, now = delivery.payload, utcnow()
    if delivery.invitee_uri is None:
        raise MalformedDelivery("invitee without uri")
    selection = EventTypeSelection(settings.sync_event_types())
    scheduled_event = invitee.get("scheduled_event")
    parts = []
    if isinstance(scheduled_event, dict) and scheduled_event:
        if not selection.includes(scheduled_event.get("event_type"), scheduled_event.get("name")):
            return Outcome("ignored", "event type not synced")
        event_id, event_outcome = upsert_event(event_values(scheduled_event), now)
        if event_outcome != "unchanged":
            # A delivery never vouches for the whole invitee list (others may be missing or
            # still on their way): keep the event on the next sync's list to fetch in full.
            # New events get NULL anyway; this is the same for events the delivery changed.
            db.session.execute(
                update(CalendlyEvent)
                .where(CalendlyEvent.id == event_id)
                .values(attendees_synced_at=None)
            )
            parts.append(f"event {event_outcome}")
    else:
        # Payloads from before `scheduled_event` existed name only the event's URI.
        event = _local_event(invitee.get("event"))
        if event is None:
            return Outcome("ignored", "event not mirrored yet; the next sync fetches it")
        if not selection.includes(event.event_type_uri, event.name):
            return Outcome("ignored", "event type not synced")
        event_id = event.id

    values = attendee_values(invitee, event_id)
    stored = db.session.execute(
        select(_attendees.c.calendly_updated_at).where(
            _attendees.c.calendly_id == values["calendly_id"]
        )
    ).first()
    counts = write_attendees([values], now)
    if counts.created or counts.updated:
        parts.append("attendee created" if counts.created else "attendee updated")
    elif _older(values["calendly_updated_at"], stored[0] if stored else None):
        if not parts:
            return Outcome("ignored", "older than the stored invitee (late or replayed delivery)")
        parts.append("attendee older than stored, kept")
    else:
        parts.append("attendee already up to date")
    return Outcome("applied", "; ".join(parts))


def _local_event(uri) -> CalendlyEvent | None:
    if not isinstance(uri, str) or not uri:
        raise MalformedDelivery("invitee without scheduled_event or event URI")
    return db.session.scalars(
        select(CalendlyEvent).where(CalendlyEvent.calendly_id == _uuid(uri))
    ).first()


def _uuid(uri: str) -> str:
    try:
        return uuid_from_uri(uri)
    except ValueError as exc:
        raise MalformedDelivery(str(exc)) from exc


def _older(incoming: datetime | None, stored: datetime | None) -> bool:
    return incoming is not None and stored is not None and incoming < stored


def _apply_no_show(delivery: _Delivery, *, on: bool) -> Outcome:
    """invitee_no_show.created / .deleted: set or clear the no-show mark of a mirrored invitee."""
    no_show = delivery.payload
    if delivery.invitee_uri is None:
        raise MalformedDelivery("no-show without invitee")
    stamp = delivery.created_at
    if stamp is None and on:
        stamp = parse_time(no_show.get("created_at"))
    if stamp is None:
        raise MalformedDelivery("no created_at to order the change by")
    mark_uri = no_show.get("uri") if on else None
    if mark_uri is not None and (not isinstance(mark_uri, str) or len(mark_uri) > 255):
        raise MalformedDelivery("unreadable no-show URI")
    calendly_id = _uuid(delivery.invitee_uri)
    # One guarded statement: atomic against a concurrent sync or delivery for this invitee.
    result = db.session.execute(
        update(_attendees)
        .where(
            _attendees.c.calendly_id == calendly_id,
            or_(
                _attendees.c.calendly_updated_at.is_(None),
                _attendees.c.calendly_updated_at <= stamp,
            ),
        )
        .values(no_show=on, no_show_uri=mark_uri, calendly_updated_at=stamp, synced_at=utcnow())
    )
    if result.rowcount:
        return Outcome("applied", "no-show marked" if on else "no-show cleared")
    known = db.session.scalar(
        select(_attendees.c.id).where(_attendees.c.calendly_id == calendly_id)
    )
    if known is None:
        return Outcome("ignored", "invitee not mirrored (event type not synced, or not yet)")
    return Outcome("ignored", "older than the stored invitee (late or replayed delivery)")
