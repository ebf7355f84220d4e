"""No-show marks set by the admin: written to Calendly first, stored in the mirror only after
Calendly took them, so a failed write changes nothing here.

Runs in an app context and knows nothing of requests. A change made in Calendly itself comes back
through the `invitee_no_show.*` webhook (calendly/webhooks.py) or the next sync (the mirror's
attendee upsert carries `no_show`).

A mark or undo by an admin is recorded in the audit log with the stored change, naming the webinar
and the invitee by their Calendly ids.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from calendly.errors import CalendlyError, NotFoundError
from calendly.times import parse_time_or_none
from mirror.writer import write_no_show
from services import audit
from services.connection import interactive_client
from services.secrets import TokenVaultError
from store import clock
from store.database import db, start_write
from store.models import AdminUser, CalendlyEvent, CalendlyEventAttendee
from store.outcomes import AuditAction, RecordStatus

log = logging.getLogger(__name__)

_attendees = CalendlyEventAttendee.__table__


class NoShowError(Exception):
    """The mark was not changed.

    Attributes:
        reason: ``not_allowed`` (webinar not started, canceled booking), ``no_uri`` (the stored
            mark lacks its Calendly URI) or ``calendly`` (Calendly refused or was unreachable).
        cause: the Calendly (or token decryption) failure when ``reason`` is ``calendly``.
    """

    def __init__(self, reason: str, cause: Exception | None = None):
        super().__init__(reason if cause is None else f"{reason}: {cause}")
        self.reason = reason
        self.cause = cause


def offers_no_show(event: CalendlyEvent, attendee: CalendlyEventAttendee, now=None) -> bool:
    """True when the admin may mark (or unmark) this attendee: a booked attendee of a webinar
    that has started and was not canceled; an existing mark can always be undone."""
    if attendee.no_show:
        return True
    now = now or clock.now()
    booked = event.status == RecordStatus.ACTIVE and attendee.status == RecordStatus.ACTIVE
    return booked and event.start_time <= now


def mark_no_show(attendee_id: int, actor: AdminUser | None = None) -> None:
    """Mark the attendee as a no-show in Calendly, then in the mirror (`actor`: the admin).

    Raises:
        NoShowError: not allowed for this attendee, or Calendly did not take it (nothing was
            stored then).
    """
    attendee = db.session.get(CalendlyEventAttendee, attendee_id)
    if attendee is None or attendee.no_show:
        return
    if not offers_no_show(attendee.event, attendee):
        raise NoShowError("not_allowed")
    invitee_uri = attendee.uri
    ids = _audit_ids(attendee)
    # Hold no database snapshot while waiting on Calendly (its webhook may write meanwhile).
    db.session.commit()
    try:
        with interactive_client() as client:
            no_show = client.create_no_show(invitee_uri)
    except (CalendlyError, TokenVaultError, ValueError) as exc:
        log.info("marking a no-show in Calendly failed: %s", exc)
        raise NoShowError("calendly", exc) from exc
    created_at = parse_time_or_none(no_show.get("created_at"))
    _store_mark(attendee_id, no_show.get("uri"), created_at or clock.now())
    _note(AuditAction.NO_SHOW_MARKED, actor, ids)


def clear_no_show(attendee_id: int, actor: AdminUser | None = None) -> None:
    """Remove the attendee's no-show mark in Calendly, then in the mirror (`actor`: the admin).

    Raises:
        NoShowError: the stored mark lacks its Calendly URI, or Calendly did not take the
            change (nothing was stored then).
    """
    attendee = db.session.get(CalendlyEventAttendee, attendee_id)
    if attendee is None or not attendee.no_show:
        return
    no_show_uri = attendee.no_show_uri
    if not no_show_uri:
        raise NoShowError("no_uri")
    ids = _audit_ids(attendee)
    db.session.commit()
    try:
        with interactive_client() as client:
            client.delete_no_show(no_show_uri)
    except NotFoundError:
        log.info("the no-show was already gone in Calendly; clearing it here too")
    except (CalendlyError, TokenVaultError, ValueError) as exc:
        log.info("removing a no-show in Calendly failed: %s", exc)
        raise NoShowError("calendly", exc) from exc
    _store_clear(attendee_id, no_show_uri)
    _note(AuditAction.NO_SHOW_UNDONE, actor, ids)


def _audit_ids(attendee: CalendlyEventAttendee) -> dict:
    """The webinar and invitee of an audit entry, by their Calendly ids (never a name)."""
    return {"webinar": attendee.event.calendly_id, "invitee": attendee.calendly_id}


def _note(action: AuditAction, actor: AdminUser | None, ids: dict) -> None:
    # Calendly holds the change already, whatever the mirror kept of it (a newer stored state
    # wins there): the entry records what the admin did, on its own.
    audit.record_now(action, actor, **ids)


def _store_mark(attendee_id: int, no_show_uri: str | None, created_at: datetime) -> None:
    """Store Calendly's mark unless the stored invitee is newer (as the webhook handler does)."""
    start_write(db.session)
    which = _attendees.c.id == attendee_id
    write_no_show(which, marked=True, mark_uri=no_show_uri, stamp=created_at, now=clock.now())
    db.session.commit()


def _store_clear(attendee_id: int, no_show_uri: str) -> None:
    """Clear the mark Calendly just deleted, unless another mark replaced it meanwhile.

    Calendly's 204 carries no time, so the local clock stands in, never earlier than the stored
    time: a sync that read the invitee before the deletion cannot bring the mark back."""
    start_write(db.session)
    attendee = db.session.get(CalendlyEventAttendee, attendee_id)
    if attendee is not None and attendee.no_show_uri == no_show_uri:
        stamp = clock.now()
        stored = attendee.calendly_updated_at
        attendee.no_show = False
        attendee.no_show_uri = None
        attendee.calendly_updated_at = max(
            stamp, stored + timedelta(microseconds=1) if stored else stamp
        )
        attendee.synced_at = stamp
    db.session.commit()
