"""Changing the sync scope from the Settings page, safely (issue 10).

Widening needs nothing: the next sync brings the newly covered webinars (upserted by their
Calendly UUID, so never twice). Narrowing removes the webinars now outside the scope, with
their attendees, once the admin confirmed how many: then retention, export and erasure never
have to reckon with data the mirror no longer keeps up to date.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from sqlalchemy import delete, func, select

from calendly.errors import PermissionDeniedError
from calendly.scope import allowed_modes, reads_for
from mirror.scope import Scope
from services import connection, settings
from store.database import db, start_write
from store.models import AdminUser, CalendlyEvent, CalendlyEventAttendee

log = logging.getLogger(__name__)


class ScopeRefused(Exception):
    """The token may not read the scope chosen (a member's token): nothing changed."""

    def __init__(self, mode: str):
        super().__init__(f"the token may not read the {mode!r} scope")
        self.mode = mode


@dataclass
class Narrowing:
    """The stored webinars a narrower scope leaves out, and their attendees."""

    event_ids: list[int] = field(default_factory=list)
    attendees: int = 0

    @property
    def events(self) -> int:
        return len(self.event_ids)


def offered_modes() -> tuple[str, ...]:
    """The scopes the Settings page offers: what the token's probed role may read."""
    return allowed_modes(settings.token_role())


def narrowing(new: Scope) -> Narrowing:
    """What switching to `new` removes from the mirror (nothing when it is not narrower).

    Asks Calendly which stored webinars the new scope still covers: one read per read of the
    scope, from the earliest stored webinar on.

    Raises:
        ScopeRefused: the token may not read `new`.
        CalendlyError: Calendly could not be asked (nothing changed).
    """
    if not new.allowed_for(settings.token_role()):
        raise ScopeRefused(new.mode)
    if not new.is_narrower_than(settings.sync_scope()):
        return Narrowing()
    earliest = db.session.scalar(select(func.min(CalendlyEvent.start_time)))
    if earliest is None:
        return Narrowing()
    account = settings.account() or {}
    reads = reads_for(
        new.mode,
        user=account.get("user_uri"),
        organization=account.get("organization_uri"),
        hosts=new.hosts,
    )
    db.session.commit()  # hold no snapshot while Calendly answers
    covered = set()
    try:
        with connection.interactive_client() as client:
            for event in client.iter_scope_events(reads, min_start_time=earliest):
                covered.add(str(event.get("uri", "")).rsplit("/", 1)[-1])
    except PermissionDeniedError as exc:
        if exc.required_scopes:
            raise
        raise ScopeRefused(new.mode) from exc
    rows = db.session.execute(
        select(CalendlyEvent.id, CalendlyEvent.calendly_id).where(
            CalendlyEvent.missing_upstream.is_(False)
        )
    )
    ids = [row.id for row in rows if row.calendly_id not in covered]
    attendees = 0
    for start in range(0, len(ids), 500):
        attendees += db.session.scalar(
            select(func.count())
            .select_from(CalendlyEventAttendee)
            .where(CalendlyEventAttendee.event_id.in_(ids[start : start + 500]))
        )
    db.session.commit()
    return Narrowing(ids, attendees)


def change_scope(
    new: Scope, confirmed_events: int | None, actor: AdminUser | None = None
) -> Narrowing | None:
    """Store `new` as the sync scope (chosen by `actor`). A narrower one first removes the
    webinars it leaves out, but only when `confirmed_events` says how many the admin agreed to
    remove.

    Returns:
        None when the scope was stored; the Narrowing to confirm when nothing was changed
        (no confirmation yet, or the number changed since).

    Raises:
        ScopeRefused, CalendlyError: as `narrowing`; nothing changed.
    """
    pending = narrowing(new)
    if pending.events and confirmed_events != pending.events:
        return pending
    start_write(db.session)
    for start in range(0, len(pending.event_ids), 500):
        chunk = pending.event_ids[start : start + 500]
        db.session.execute(
            delete(CalendlyEventAttendee).where(CalendlyEventAttendee.event_id.in_(chunk))
        )
        db.session.execute(delete(CalendlyEvent).where(CalendlyEvent.id.in_(chunk)))
    db.session.commit()
    settings.save_sync_scope(new, actor)
    if pending.events:
        log.info("sync scope narrowed to %s: %d webinars removed", new.mode, pending.events)
    return None
