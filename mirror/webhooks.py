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

import hashlib
import hmac
import json
import logging
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import or_, select, update
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from calendly.client import uuid_from_uri
from mirror.writer import (
    EventTypeSelection,
    MalformedRecordError,
    attendee_values,
    event_values,
    parse_time,
    upsert_event,
    write_attendees,
)
from store import clock
from store.database import db, start_write
from store.models import CalendlyEvent, CalendlyEventAttendee, WebhookDelivery
from store.outcomes import DeliveryOutcome, DeliveryReason

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "Calendly-Webhook-Signature"
# Calendly's own example refuses signatures older than three minutes.
TOLERANCE_SECONDS = 180
# Real deliveries are a few kilobytes; anything far bigger is not from Calendly.
MAX_BODY_BYTES = 256 * 1024
MAX_HEADER_CHARS = 1024
INVITEE_EVENTS = ("invitee.created", "invitee.canceled")
NO_SHOW_EVENTS = ("invitee_no_show.created", "invitee_no_show.deleted")
# What this module applies, and so what the app's subscriptions ask Calendly for.
HANDLED_EVENTS = INVITEE_EVENTS + NO_SHOW_EVENTS
# PostgreSQL deadlock / serialization failure: the transaction is safe to run again.
RETRYABLE_SQLSTATES = frozenset({"40P01", "40001"})
ATTEMPTS = 3

_attendees = CalendlyEventAttendee.__table__


class WebhookSignatureError(Exception):
    """The signature header is missing or unreadable, does not match, or is out of tolerance.

    Attributes:
        reason: what was wrong, for the delivery log (never sent back to the caller).
    """

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class MalformedDelivery(ValueError):
    """An authentic delivery whose body is not a webhook payload this handler can read."""


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


# -- signature ----------------------------------------------------------------------------------


def verify_signature(
    header: str | None,
    body: bytes,
    key: str,
    now: float | None = None,
    tolerance: int = TOLERANCE_SECONDS,
) -> int:
    """Check a `Calendly-Webhook-Signature` header (`t=<unix seconds>,v1=<hex>`) against the body.

    Args:
        header: the header value, or None when it was absent.
        body: the raw request body, exactly as received.
        key: the webhook signing key.
        now: the current Unix time (tests); defaults to the clock.
        tolerance: how many seconds `t` may lie in the past or the future.

    Returns:
        The signed timestamp `t`.

    Raises:
        WebhookSignatureError: missing or unreadable header, wrong signature, or `t` outside the
            tolerance (an old delivery replayed, or a clock far off).
    """
    if not header:
        raise WebhookSignatureError("missing signature header")
    if len(header) > MAX_HEADER_CHARS:
        raise WebhookSignatureError("signature header too long")
    timestamps, signatures = [], []
    for part in header.split(","):
        name, sep, value = part.strip().partition("=")
        if not sep:
            raise WebhookSignatureError("unreadable signature header")
        if name == "t":
            timestamps.append(value.strip())
        elif name == "v1":
            signatures.append(value.strip().lower())
    if len(timestamps) != 1 or not signatures:
        raise WebhookSignatureError("signature header lacks t or v1")
    stamp = timestamps[0]
    if not (stamp.isascii() and stamp.isdigit()):
        raise WebhookSignatureError("unreadable signature timestamp")
    expected = hmac.new(
        key.encode("utf-8"), stamp.encode("ascii") + b"." + body, hashlib.sha256
    ).hexdigest()
    # Compare bytes: compare_digest refuses non-ASCII str, and the header is the sender's.
    expected_bytes = expected.encode("ascii")
    if not any(
        hmac.compare_digest(expected_bytes, sig.encode("utf-8", "replace")) for sig in signatures
    ):
        raise WebhookSignatureError("signature does not match")
    signed_at = int(stamp)
    age = (clock.timestamp() if now is None else now) - signed_at
    if age > tolerance:
        raise WebhookSignatureError(f"signature timestamp too old ({int(age)} s)")
    if age < -tolerance:
        raise WebhookSignatureError(f"signature timestamp in the future ({int(-age)} s)")
    return signed_at


def sign(body: bytes, key: str, timestamp: int | None = None) -> str:
    """The signature header Calendly would send for `body` (tests, local tools)."""
    stamp = str(int(clock.timestamp()) if timestamp is None else timestamp)
    digest = hmac.new(key.encode("utf-8"), f"{stamp}.".encode() + body, hashlib.sha256)
    return f"t={stamp},v1={digest.hexdigest()}"


# -- the whole pipeline (used by the route) -------------------------------------------------------


def receive_delivery(
    body: bytes,
    signature_header: str | None,
    *,
    signing_key: str,
    selection: EventTypeSelection,
    received_at: datetime | None = None,
    now: float | None = None,
) -> DeliveryResult:
    """Verify, apply and record one delivery; never raises. Needs an app context.

    Args:
        body: the raw request body, exactly as received.
        signature_header: the `Calendly-Webhook-Signature` header, or None.
        signing_key: the key Calendly signs deliveries with.
        selection: the event types the mirror keeps.
        received_at: when the delivery arrived (default: now).
        now: the current Unix time for the signature's tolerance (default: the clock).

    Returns:
        DeliveryResult: 200 applied/ignored; 400 malformed (authentic) body; 401 bad signature;
        413 body too large; 500 error (Calendly retries).
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
        return refuse(400, DeliveryReason.NOT_JSON, received_at, signature_valid=True)
    event = payload.get("event") if isinstance(payload, dict) else None
    try:
        outcome = handle_delivery(payload, selection=selection, received_at=received_at)
    except MalformedDelivery as exc:
        log.warning("webhook %s refused: %s", event, exc)
        problem = {"problem": str(exc)}
        return refuse(
            400,
            DeliveryReason.MALFORMED,
            received_at,
            signature_valid=True,
            event=event,
            params=problem,
        )
    except Exception as exc:
        db.session.rollback()
        log.exception("webhook %s failed", event)
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
    except SQLAlchemyError:
        db.session.rollback()
        log.exception("could not record a webhook delivery")


# -- applying an authentic delivery ---------------------------------------------------------------


def handle_delivery(
    payload, *, selection: EventTypeSelection, received_at: datetime | None = None
) -> Outcome:
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
    received_at = received_at or clock.now()
    for attempt in range(1, ATTEMPTS + 1):
        try:
            start_write(db.session)
            outcome = _apply(delivery, selection)
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


def _apply(delivery: _Delivery, selection: EventTypeSelection) -> Outcome:
    if delivery.event in INVITEE_EVENTS:
        return _apply_invitee(delivery, selection)
    if delivery.event in NO_SHOW_EVENTS:
        return _apply_no_show(delivery, on=delivery.event == "invitee_no_show.created")
    log.info("webhook event %r is not handled; acknowledged and ignored", delivery.event)
    return Outcome(
        DeliveryOutcome.IGNORED, DeliveryReason.EVENT_NOT_HANDLED, {"event": delivery.event[:64]}
    )


def _apply_invitee(delivery: _Delivery, selection: EventTypeSelection) -> Outcome:
    """invitee.created / invitee.canceled: upsert the embedded event, then the invitee."""
    invitee, now = delivery.payload, clock.now()
    if delivery.invitee_uri is None:
        raise MalformedDelivery("invitee without uri")
    scheduled_event = invitee.get("scheduled_event")
    written = {}
    if isinstance(scheduled_event, dict) and scheduled_event:
        if not selection.includes(scheduled_event.get("event_type"), scheduled_event.get("name")):
            return _ignored(DeliveryReason.TYPE_NOT_SYNCED)
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
            written["event"] = event_outcome
    else:
        # Payloads from before `scheduled_event` existed name only the event's URI.
        event = _local_event(invitee.get("event"))
        if event is None:
            return _ignored(DeliveryReason.EVENT_NOT_MIRRORED)
        if not selection.includes(event.event_type_uri, event.name):
            return _ignored(DeliveryReason.TYPE_NOT_SYNCED)
        event_id = event.id

    values = attendee_values(invitee, event_id)
    stored = db.session.execute(
        select(_attendees.c.calendly_updated_at).where(
            _attendees.c.calendly_id == values["calendly_id"]
        )
    ).first()
    counts = write_attendees([values], now)
    if counts.created or counts.updated:
        written["invitee"] = "created" if counts.created else "updated"
    elif _older(values["calendly_updated_at"], stored[0] if stored else None):
        if not written:
            return _ignored(DeliveryReason.STALE)
        written["invitee"] = "older_kept"
    else:
        written["invitee"] = "unchanged"
    return Outcome(DeliveryOutcome.APPLIED, DeliveryReason.INVITEE_WRITTEN, written)


def _ignored(reason: DeliveryReason) -> Outcome:
    return Outcome(DeliveryOutcome.IGNORED, reason)


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
        .values(no_show=on, no_show_uri=mark_uri, calendly_updated_at=stamp, synced_at=clock.now())
    )
    if result.rowcount:
        reason = DeliveryReason.NO_SHOW_MARKED if on else DeliveryReason.NO_SHOW_CLEARED
        return Outcome(DeliveryOutcome.APPLIED, reason)
    known = db.session.scalar(
        select(_attendees.c.id).where(_attendees.c.calendly_id == calendly_id)
    )
    if known is None:
        return _ignored(DeliveryReason.INVITEE_NOT_MIRRORED)
    return _ignored(DeliveryReason.STALE)
