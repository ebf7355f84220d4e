"""Reading the audit log in tests: what was recorded, in order."""

from __future__ import annotations

import json

from sqlalchemy import select

from store.database import db
from store.models import AuditEntry


def logged(app, action: str | None = None) -> list[tuple[str, str | None, dict]]:
    """(action, actor email, params) of every entry (of `action`), oldest first."""
    with app.app_context():
        query = select(AuditEntry).order_by(AuditEntry.id)
        if action:
            query = query.where(AuditEntry.action == action)
        return [(e.action, e.actor_email, dict(e.params or {})) for e in db.session.scalars(query)]


def whole_log(app) -> str:
    """Every entry's parameters as one text, to look for what must not be there."""
    return json.dumps([params for _action, _actor, params in logged(app)], ensure_ascii=False)
