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

Every record is validated against the one schema (calendly.records) and fitted to the columns
before anything is written. An authentic delivery that fails is answered 200 and recorded as
rejected with the fields at fault, and nothing is stored: Calendly retries any other answer for 24
hours and then disables the subscription. Only an unsigned or oversized body gets a 4xx.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from calendly.client import uuid_from_uri
from calendly.records import (
    Invitee,
    InviteeNoShowPayload,
    MalformedRecordError,
    ScheduledEvent,
    WebhookEnvelope,
)
from calendly.signature import WebhookSignatureError, verify_signature
from mirror.columns import fit
from mirror.event_types import EventTypeSelection
from mirror.problems import log_failure
from mirror.writer import (
    attendee_values,
    event_values,
    is_personal_data_removed,
    upsert_event,
    write_attendees,
    write_no_show,
)
from store import clock
from store.database import db, start_write
from store.models import CalendlyEvent, CalendlyEventAttendee, WebhookDelivery
from store.outcomes import DeliveryOutcome, DeliveryReason

log = logging.getLogger(__name__)

# Real deliveries are a few kilobytes; anything far bigger is not from Calendly.
MAX_BODY_BYTES = 256 * 1024
INVITEE_EVENTS = ("invitee.created", "invitee.canceled")
NO_SHOW_EVENTS = ("invitee_no_show.created", "invitee_no_show.deleted")
# What this module applies, and so what the app's subscriptions ask Calendly for.
HANDLED_EVENTS = INVITEE_EVENTS + NO_SHOW_EVENTS
# PostgreSQL deadlock / serialization failure: the transaction is safe to run again.
RETRYABLE_SQLSTATES = frozenset({"40P01", "40001"})
ATTEMPTS = 3

_attendees = CalendlyEventAttendee.__table__
_deliveries = WebhookDelivery.__table__


@dataclass(frozen=True)
class Outcome:
    """What a delivery did: a DeliveryOutcome, a DeliveryReason and the reason's parameters."""

    outcome: DeliveryOutcome
    reason: DeliveryReason
    params: dict = field(default_factory=dict)

    @property
    def detail(self) -> str:
        """The reason and its parameters in one line (logs and the answer to Calendly)."""
        return describe(self.reason, self.params)


def describe(reason: str, params: dict | None) -> str:
    """`reason` with its parameters, e.g. "malformed (problem=no payload object)"."""
    if not params:
        return str(reason)
    return f"{reason} ({', '.join(f'{key}={value}' for key, value in params.items())})"


# Whether a delivery's event lies in the sync scope (mirror.scope.Scope.includes, bound).
InScope = Callable[[ScheduledEvent], bool]


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
    payload: Invitee | InviteeNoShowPayload | dict
    invitee_uri: str | None


# -- the whole pipeline (used by the route) -------------------------------------------------------


def receive_delivery(
    body: bytes,
    signature_header: str | None,
    *,
    signing_key: str,
    selection: EventTypeSelection,
    received_at: datetime | None = None,
    now: float | None = None,
    within: InScope | None = None,
    erasure_key: str | None = None,
    zone: str = "UTC",
) -> DeliveryResult:
    """Verify, apply and record one delivery; never raises. Needs an app context.

    Args:
        body: the raw request body, exactly as received.
        signature_header: the `Calendly-Webhook-Signature` header, or None.
        signing_key: the key Calendly signs deliveries with.
        selection: the event types the mirror keeps.
        received_at: when the delivery arrived (default: now).
        within: whether an event lies in the sync scope (default: every event does).
        now: the current Unix time for the signature's tolerance (default: the clock).
        erasure_key: the key of the erased people's tombstones: an invitee of an erased
            person, created before the erasure, is not stored (None: no check).
        zone: the admin's time zone, for a written webinar's local_* columns.

    Returns:
        DeliveryResult: 200 applied or ignored, and 200 rejected for an authentic body that is
        not a record this handler can read (a non-2xx answer would make Calendly retry it for
        24 hours and then disable the subscription); 401 bad signature; 413 body too large;
        500 error (Calendly retries).
    """
    received_at = received_at or clock.now()
    if len(body) > MAX_BODY_BYTES:
        return refuse(413, DeliveryReason.BODY_TOO_LARGE, received_at)
    now = clock.timestamp() if now is None else now
    try:
        verify_signature(signature_header, body, signing_key, now=now)
    except WebhookSignatureError as exc:
        log.warning("webhook refused: %s", exc.reason)
        problem = {"problem": exc.reason}
        return refuse(401, DeliveryReason.BAD_SIGNATURE, received_at, params=problem)

    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):  # ValueError includes UnicodeDecodeError
        return refuse(200, DeliveryReason.NOT_JSON, received_at, signature_valid=True)
    event = payload.get("event") if isinstance(payload, dict) else None
    event = event if isinstance(event, str) else None
    try:
        outcome = handle_delivery(
            payload,
            selection=selection,
            received_at=received_at,
            within=within,
            erasure_key=erasure_key,
            zone=zone,
        )
    except MalformedRecordError as exc:
        log.warning("webhook %s rejected: %s", event, exc)
        return refuse(
            200,
            DeliveryReason.MALFORMED_RECORD,
            received_at,
            signature_valid=True,
            event=event,
            params=exc.params,
        )
    except Exception as exc:
        db.session.rollback()
        log_failure(log, "webhook %s failed", event, exc=exc)
        reason, params = _error_reason(exc)
        _record_alone(
            received_at,
            signature_valid=True,
            outcome=DeliveryOutcome.ERROR,
            reason=reason,
            params=params,
            event=event,
        )
        return RETRY_LATER
    log.info("webhook %s: %s (%s)", event, outcome.outcome, outcome.detail)
    return DeliveryResult(200, outcome.outcome, outcome.detail)


def _error_reason(exc: Exception) -> tuple[DeliveryReason, dict]:
    # Only the error's kind: database errors quote their statement's parameters (attendee data).
    if isinstance(exc, DBAPIError):
        return DeliveryReason.DATABASE_ERROR, {"error": type(exc.orig).__name__}
    return DeliveryReason.INTERNAL_ERROR, {"error": type(exc).__name__}


def refuse(
    status: int,
    reason: DeliveryReason,
    received_at: datetime,
    *,
    signature_valid: bool = False,
    event: str | None = None,
    params: dict | None = None,
) -> DeliveryResult:
    """Record a refused delivery and answer `status`; an unauthenticated sender learns no more
    than the status code says."""
    _record_alone(
        received_at,
        signature_valid=signature_valid,
        outcome=DeliveryOutcome.REJECTED,
        reason=reason,
        params=params,
        event=event,
    )
    public = (
        describe(reason, params) if signature_valid else _PUBLIC_REFUSALS.get(status, "refused")
    )
    return DeliveryResult(status, DeliveryOutcome.REJECTED, public)


# The answer when the database failed: Calendly retries the delivery later.
RETRY_LATER = DeliveryResult(500, DeliveryOutcome.ERROR, "internal error; please retry")
# What an unauthenticated sender learns: no more than the status code says.
_PUBLIC_REFUSALS = {
    401: "signature verification failed",
    403: "webhook signing key not configured",
    413: "body too large",
}


def _record_alone(received_at, *, signature_valid, outcome, reason, params=None, event=None):
    """Record a delivery in its own transaction (best effort: a database outage only logs)."""
    try:
        start_write(db.session)
        db.session.add(
            WebhookDelivery(
                received_at=received_at,
                event=event[:64] if isinstance(event, str) else None,
                signature_valid=signature_valid,
                outcome=outcome,
                reason=reason,
                reason_params=params or None,
            )
        )
        db.session.commit()
    except SQLAlchemyError as exc:
        db.session.rollback()
        log_failure(log, "could not record a webhook delivery", exc=exc)


# -- applying an authentic delivery ---------------------------------------------------------------


def handle_delivery(
    payload,
    *,
    selection: EventTypeSelection,
    received_at: datetime | None = None,
    within: InScope | None = None,
    erasure_key: str | None = None,
    zone: str = "UTC",
) -> Outcome:
    """Apply one authentic, parsed delivery to the mirror and record it, in one transaction.

    Idempotent and safe out of order (see the module docstring). Needs an app context.

    Returns:
        Outcome: applied (the mirror now reflects it) or ignored (not synced, unknown event,
            stale, or its invitee not mirrored), with a detail line free of personal data.

    Raises:
        MalformedRecordError: the delivery or its record does not fit the schema or the
            columns, or lacks what its event needs (nothing is written).
        SQLAlchemyError: the database failed (after retrying deadlocks).
    """
    delivery = _read_envelope(payload)
    received_at = received_at or clock.now()
    for attempt in range(1, ATTEMPTS + 1):
        try:
            start_write(db.session)
            outcome = _apply(delivery, selection, within, erasure_key, zone)
            db.session.add(
                WebhookDelivery(
                    received_at=received_at,
                    event=delivery.event[:64],
                    invitee_uri=delivery.invitee_uri,
                    signature_valid=True,
                    outcome=outcome.outcome,
                    reason=outcome.reason,
                    reason_params=outcome.params or None,
                    payload_created_at=delivery.created_at,
                )
            )
            db.session.commit()
            return outcome
        except MalformedRecordError:
            db.session.rollback()
            raise
        except DBAPIError as exc:
            db.session.rollback()
            if attempt == ATTEMPTS or not _retryable(exc):
                raise
            log.info("webhook %s: retrying after %s", delivery.event, type(exc.orig).__name__)
    raise AssertionError("unreachable")


def _retryable(exc: DBAPIError) -> bool:
    return getattr(exc.orig, "sqlstate", None) in RETRYABLE_SQLSTATES


def _read_envelope(payload) -> _Delivery:
    """The delivery validated: its envelope, and the record its event carries."""
    envelope = WebhookEnvelope.read(payload, "envelope")
    record, invitee_uri = envelope.payload, None
    if envelope.event in INVITEE_EVENTS:
        record = Invitee.read(envelope.payload, "invitee")
        invitee_uri = record.uri
    elif envelope.event in NO_SHOW_EVENTS:
        record = InviteeNoShowPayload.read(envelope.payload, "no_show")
        invitee_uri = record.invitee
    if invitee_uri is not None and len(invitee_uri) > _deliveries.c.invitee_uri.type.length:
        # Recorded with the delivery (ignored ones too): it must fit that column as it is.
        kind, field_name = (
            ("invitee", "uri") if envelope.event in INVITEE_EVENTS else ("no_show", "invitee")
        )
        raise MalformedRecordError(kind, [field_name], ["too_long"])
    return _Delivery(envelope.event, envelope.created_at, record, invitee_uri)


def _apply(
    delivery: _Delivery,
    selection: EventTypeSelection,
    within: InScope | None,
    erasure_key: str | None = None,
    zone: str = "UTC",
) -> Outcome:
    if delivery.event in INVITEE_EVENTS:
        return _apply_invitee(delivery, selection, within, erasure_key, zone)
    if delivery.event in NO_SHOW_EVENTS:
        return _apply_no_show(delivery, on=delivery.event == "invitee_no_show.created")
    log.info("webhook event %r is not handled; acknowledged and ignored", delivery.event)
    return Outcome(
        DeliveryOutcome.IGNORED, DeliveryReason.EVENT_NOT_HANDLED, {"event": delivery.event[:64]}
    )


def _apply_invitee(
    delivery: _Delivery,
    selection: EventTypeSelection,
    within: InScope | None,
    erasure_key: str | None = None,
    zone: str = "UTC",
) -> Outcome:
    """invitee.created / invitee.canceled: upsert the embedded event, then the invitee."""
    invitee, now = delivery.payload, clock.now()
    scheduled_event = invitee.scheduled_event
    written = {}
    if scheduled_event is not None:
        if not selection.includes(scheduled_event.event_type, scheduled_event.name):
            return _ignored(DeliveryReason.TYPE_NOT_SYNCED)
        # The sync would never see it (nor vouch that it still exists): store nothing.
        if within is not None and not within(scheduled_event):
            return _ignored(DeliveryReason.OUTSIDE_SCOPE)
        if is_personal_data_removed(uuid_from_uri(scheduled_event.uri)):
            return _ignored(DeliveryReason.PERSONAL_DATA_REMOVED)
        event_id, event_outcome = upsert_event(_embedded_event_values(scheduled_event), now, zone)
        if event_outcome != "unchanged":
            # A delivery never vouches for the whole invitee list (others may be missing or
            # still on their way): keep the event on the next sync's list to fetch in full.
            # New events get NULL anyway; this is the same for events the delivery changed.
            db.session.execute(
                update(CalendlyEvent)
                .where(CalendlyEvent.id == event_id)
                .values(attendees_synced_at=None)
            )
            written["event"] = event_outcome
    else:
        # Payloads from before `scheduled_event` existed name only the event's URI.
        event = _local_event(invitee.event)
        if event is None:
            return _ignored(DeliveryReason.EVENT_NOT_MIRRORED)
        if not selection.includes(event.event_type_uri, event.name):
            return _ignored(DeliveryReason.TYPE_NOT_SYNCED)
        if event.personal_data_removed_at is not None:
            return _ignored(DeliveryReason.PERSONAL_DATA_REMOVED)
        event_id = event.id

    values = attendee_values(invitee, event_id)
    stored = db.session.execute(
        select(_attendees.c.calendly_updated_at).where(
            _attendees.c.calendly_id == values["calendly_id"]
        )
    ).first()
    counts = write_attendees([values], now, erasure_key=erasure_key)
    if counts.erased:
        # The person was erased here after this booking was made: it stays erased.
        return _ignored(DeliveryReason.PERSON_ERASED)
    if counts.created or counts.updated:
        written["invitee"] = "created" if counts.created else "updated"
    elif _older(values["calendly_updated_at"], stored[0] if stored else None):
        if not written:
            return _ignored(DeliveryReason.STALE)
        written["invitee"] = "older_kept"
    else:
        written["invitee"] = "unchanged"
    return Outcome(DeliveryOutcome.APPLIED, DeliveryReason.INVITEE_WRITTEN, written)


def _embedded_event_values(event: ScheduledEvent) -> dict:
    try:
        return event_values(event)
    except MalformedRecordError as exc:  # named as a part of the invitee it came in
        raise exc.within("invitee", "scheduled_event") from None


def _ignored(reason: DeliveryReason) -> Outcome:
    return Outcome(DeliveryOutcome.IGNORED, reason)


def _local_event(uri: str | None) -> CalendlyEvent | None:
    try:
        calendly_id = uuid_from_uri(uri)
    except ValueError:
        fields = ["scheduled_event", "event"]
        raise MalformedRecordError("invitee", fields, ["missing", "uri_parsing"]) from None
    return db.session.scalars(
        select(CalendlyEvent).where(CalendlyEvent.calendly_id == calendly_id)
    ).first()


def _older(incoming: datetime | None, stored: datetime | None) -> bool:
    return incoming is not None and stored is not None and incoming < stored


def _apply_no_show(delivery: _Delivery, *, on: bool) -> Outcome:
    """invitee_no_show.created / .deleted: set or clear the no-show mark of a mirrored invitee."""
    no_show = delivery.payload
    stamp = delivery.created_at
    if stamp is None and on:
        stamp = no_show.created_at
    if stamp is None:  # nothing to order the change by
        raise MalformedRecordError("envelope", ["created_at"], ["missing"])
    mark_uri = no_show.uri if on else None
    if mark_uri is not None:
        fit(_attendees, {"no_show_uri": mark_uri}, "no_show", frozenset())
    calendly_id = uuid_from_uri(delivery.invitee_uri)
    which = _attendees.c.calendly_id == calendly_id
    if write_no_show(which, marked=on, mark_uri=mark_uri, stamp=stamp, now=clock.now()):
        reason = DeliveryReason.NO_SHOW_MARKED if on else DeliveryReason.NO_SHOW_CLEARED
        return Outcome(DeliveryOutcome.APPLIED, reason)
    known = db.session.scalar(
        select(_attendees.c.id).where(_attendees.c.calendly_id == calendly_id)
    )
    if known is None:
        return _ignored(DeliveryReason.INVITEE_NOT_MIRRORED)
    return _ignored(DeliveryReason.STALE)
