"""Server-side sessions: every sign-in gets a row, and a session cookie only counts while its row
exists. Deleting the row ends the session, also for copies of the cookie.

Two limits end a session by themselves: SESSION_LIFETIME_MINUTES after signing in, however busy
(measured from the row), and SESSION_IDLE_MINUTES without a request (measured from the time the
web layer keeps in the signed cookie, so that requests cost no database write).

Signing in and out is recorded in the audit log, in the transaction that opens or ends the
session.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import delete, select

from services import audit
from store import clock
from store.database import db, start_write
from store.models import AdminSession, AdminUser
from store.outcomes import AuditAction


def _key(token: str) -> str:
    # Only a hash is stored: a copy of the table does not hold usable cookies' tokens.
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def lifetime() -> timedelta:
    """How long a session lasts at most after signing in."""
    return timedelta(minutes=current_app.config["SESSION_LIFETIME_MINUTES"])


def idle_limit() -> timedelta:
    """How long a session survives without a request."""
    return timedelta(minutes=current_app.config["SESSION_IDLE_MINUTES"])


def open_session(user: AdminUser) -> str:
    """Start a session for `user` and commit; the token for the cookie."""
    token = secrets.token_urlsafe(32)
    now = clock.now()
    start_write(db.session)
    # Sessions past their lifetime are dead anyway; sweep them here rather than on every request.
    db.session.execute(delete(AdminSession).where(AdminSession.created_at <= now - lifetime()))
    db.session.add(AdminSession(id=_key(token), user_id=user.id, created_at=now))
    audit.record(AuditAction.SIGNED_IN, user)
    db.session.commit()
    return token


def session_user(user_id: str, token: str | None, last_seen: datetime | None) -> AdminUser | None:
    """The account of a live session: its row exists, it is younger than the lifetime, it was
    used within the idle limit, and the account is enabled. Else None."""
    if not token or last_seen is None:
        return None
    now = clock.now()
    if now - last_seen > idle_limit():
        return None
    try:
        wanted = int(user_id)
    except (TypeError, ValueError):
        return None
    user = db.session.scalar(
        select(AdminUser)
        .join(AdminSession, AdminSession.user_id == AdminUser.id)
        .where(
            AdminSession.id == _key(token),
            AdminUser.id == wanted,
            AdminSession.created_at > now - lifetime(),
        )
    )
    if user is None or not user.is_active:
        return None
    return user


def end_session(token: str | None) -> None:
    """End one session (sign out) and commit."""
    if not token:
        return
    start_write(db.session)
    ended = db.session.scalar(
        delete(AdminSession).where(AdminSession.id == _key(token)).returning(AdminSession.user_id)
    )
    if ended is not None:
        audit.record(AuditAction.SIGNED_OUT, db.session.get(AdminUser, ended))
    db.session.commit()


def end_all_sessions(user_id: int) -> None:
    """End every session of an account, inside the caller's writing transaction."""
    db.session.execute(delete(AdminSession).where(AdminSession.user_id == user_id))


def sign_out_everywhere(user_id: int) -> None:
    """End every session of an account and commit (signing out on every device)."""
    start_write(db.session)
    end_all_sessions(user_id)
    audit.record(AuditAction.SIGNED_OUT, db.session.get(AdminUser, user_id), everywhere=True)
    db.session.commit()
