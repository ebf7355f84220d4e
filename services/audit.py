"""The audit log: who did what and when.

`record` adds an entry to the session of the change it records, so that both are committed (or
rolled back) together; the caller commits. Parameters never carry personal data beyond the
acting admin (see AuditAction). The Protokoll page and `flask audit list` read the log through
`entries`; `prune` deletes entries older than AUDIT_KEEP_DAYS (the daily housekeeping).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import click
from flask import current_app
from sqlalchemy import delete, select

from services.queries import Page, paginate
from store import clock
from store.database import db, start_write
from store.models import AdminUser, AuditEntry, CalendlyEvent
from store.outcomes import AuditAction

PER_PAGE = 50
# What an entry made without an acting admin says about where it came from.
SOURCE_CLI = "cli"


def record(action: AuditAction, actor: AdminUser | None = None, **params) -> AuditEntry:
    """Add an entry for `action` by `actor` (None: the app itself) to the current session.

    Without an actor, an entry made by a command (`flask users ...`) notes `source="cli"`.
    """
    if actor is None and "source" not in params and click.get_current_context(silent=True):
        params["source"] = SOURCE_CLI
    entry = AuditEntry(
        action=str(action),
        actor_id=actor.id if actor is not None else None,
        actor_email=actor.email if actor is not None else None,
        params=params or None,
    )
    db.session.add(entry)
    return entry


def record_now(action: AuditAction, actor: AdminUser | None = None, **params) -> None:
    """Record and commit an entry on its own, for what changed nothing in this database (a
    download, a change made in Calendly)."""
    start_write(db.session)
    record(action, actor, **params)
    db.session.commit()


def actor_by_id(user_id: int | None) -> AdminUser | None:
    """The account with this id (the acting admin a service was handed by id), or None."""
    return db.session.get(AdminUser, user_id) if user_id is not None else None


@dataclass(frozen=True)
class AuditFilter:
    """Which entries to show: by the acting admin's email and by action code (None: any)."""

    actor: str | None = None
    action: str | None = None

    @classmethod
    def from_args(cls, args) -> AuditFilter:
        """The filter in a query string; an unknown action code filters nothing out."""
        actor = (args.get("actor") or "").strip().lower()[:255] or None
        action = args.get("action") or None
        if action not in set(AuditAction):
            action = None
        return cls(actor, action)


def _query(wanted: AuditFilter):
    query = select(AuditEntry).order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
    if wanted.actor:
        query = query.where(AuditEntry.actor_email == wanted.actor)
    if wanted.action:
        query = query.where(AuditEntry.action == wanted.action)
    return query


def entries(wanted: AuditFilter, page: int = 1, per_page: int = PER_PAGE) -> Page:
    """One page of the entries `wanted` asks for, newest first."""
    return paginate(_query(wanted), page, per_page)


def actors() -> list[str]:
    """The emails of every admin that has entries, for the filter."""
    found = select(AuditEntry.actor_email).where(AuditEntry.actor_email.is_not(None)).distinct()
    return sorted(db.session.scalars(found))


def keep_days() -> int:
    """How long entries stay (AUDIT_KEEP_DAYS)."""
    return int(current_app.config["AUDIT_KEEP_DAYS"])


def prune(conn, now: datetime | None = None) -> int:
    """Delete entries older than AUDIT_KEEP_DAYS on `conn` (a writing transaction); how many."""
    cutoff = (now or clock.now()) - timedelta(days=keep_days())
    return conn.execute(delete(AuditEntry).where(AuditEntry.at < cutoff)).rowcount


def webinars_of(found: list[AuditEntry]) -> dict[str, tuple[int, str | None]]:
    """The stored webinars the entries name (Calendly id -> (id, name)), to link them."""
    ids = {e.params["webinar"] for e in found if isinstance((e.params or {}).get("webinar"), str)}
    if not ids:
        return {}
    rows = db.session.execute(
        select(CalendlyEvent.calendly_id, CalendlyEvent.id, CalendlyEvent.name).where(
            CalendlyEvent.calendly_id.in_(ids)
        )
    )
    return {calendly_id: (event_id, name) for calendly_id, event_id, name in rows}
