"""The audit log: who did what and when.

`record` adds an entry to the session of the change it records, so that both are committed (or
rolled back) together; the caller commits. Parameters never carry personal data beyond the
acting admin (see AuditAction).
"""

from __future__ import annotations

from store.database import db
from store.models import AdminUser, AuditEntry
from store.outcomes import AuditAction


def record(action: AuditAction, actor: AdminUser | None = None, **params) -> AuditEntry:
    """Add an entry for `action` by `actor` (None: the app itself) to the current session."""
    entry = AuditEntry(
        action=str(action),
        actor_id=actor.id if actor is not None else None,
        actor_email=actor.email if actor is not None else None,
        params=params or None,
    )
    db.session.add(entry)
    return entry
