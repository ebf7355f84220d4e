"""Admin accounts: creation, password checks and login throttling.

Throttling works on two levels. Five failures for one email from one IP address within
fifteen minutes refuse further tries from there for the rest of the window (this stops a
single guesser without locking the real admin out); twenty consecutive failures from anywhere
lock the account for fifteen minutes (this slows a guesser that spreads over many addresses).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, func, select
from werkzeug.security import check_password_hash, generate_password_hash

from store import clock
from store.database import db, start_write
from store.models import AdminUser, LoginFailure

FAILURE_WINDOW = timedelta(minutes=15)
MAX_FAILURES_PER_EMAIL_AND_IP = 5
MAX_CONSECUTIVE_FAILURES = 20
LOCK_DURATION = timedelta(minutes=15)
MIN_PASSWORD_LENGTH = 10

_dummy_hashes: dict[str, str] = {}


class AccountError(ValueError):
    """An account cannot be created or changed as asked; `message` (translatable) says why."""

    def __init__(self, message):
        super().__init__(message)
        self.message = message


class LoginThrottled(Exception):
    """Too many failed logins; `retry_after` is the number of seconds to wait."""

    def __init__(self, retry_after: int):
        super().__init__(f"too many failed logins; retry in {retry_after} s")
        self.retry_after = retry_after


@dataclass(frozen=True)
class AdminSummary:
    email: str
    created_at: datetime
    last_login_at: datetime | None
    locked: bool


def normalise_email(email: str) -> str:
    """Email addresses compare case-insensitively and without surrounding blanks."""
    return (email or "").strip().lower()


def _hash_method() -> str:
    return current_app.config.get("PASSWORD_HASH_METHOD", "scrypt")


def _check_email(email: str) -> None:
    local, _, domain = email.partition("@")
    if not local or "." not in domain or any(c.isspace() for c in email) or len(email) > 255:
        raise AccountError(_l("Please enter a valid email address."))


def _check_password(password: str) -> None:
    if len(password or "") < MIN_PASSWORD_LENGTH:
        raise AccountError(
            _l("The password needs at least %(n)d characters.", n=MIN_PASSWORD_LENGTH)
        )


def has_admin() -> bool:
    """True once any admin account exists (the setup page is then gone for good)."""
    return db.session.scalar(select(AdminUser.id).limit(1)) is not None


def create_admin(email: str, password: str) -> AdminUser:
    """Create an admin account and commit.

    Raises:
        AccountError: the email is malformed or taken, or the password is too short.
    """
    email, password = _valid_input(email, password)
    start_write(db.session)
    return _insert_admin(email, password)


def create_first_admin(email: str, password: str) -> AdminUser:
    """Create the first account, refusing once one exists (the one-time setup page).

    Raises:
        AccountError: an account already exists, or the input is invalid.
    """
    email, password = _valid_input(email, password)
    # The write lock comes first, so two racing setups serialise here and the second one fails.
    start_write(db.session)
    if has_admin():
        db.session.rollback()
        raise AccountError(_l("Setup is already done."))
    return _insert_admin(email, password)


def _valid_input(email: str, password: str) -> tuple[str, str]:
    email = normalise_email(email)
    _check_email(email)
    _check_password(password)
    return email, password


def _insert_admin(email: str, password: str) -> AdminUser:
    # Runs inside a writing transaction (start_write) that it commits.
    if db.session.scalar(select(AdminUser.id).where(AdminUser.email == email)) is not None:
        db.session.rollback()
        raise AccountError(_l("An account with this email address already exists."))
    user = AdminUser(email=email, password_hash=generate_password_hash(password, _hash_method()))
    db.session.add(user)
    db.session.commit()
    return user


def set_password(email: str, password: str) -> AdminUser:
    """Give an account a new password and lift any lock.

    Raises:
        AccountError: no such account, or the password is too short.
    """
    _check_password(password)
    start_write(db.session)
    user = db.session.scalar(select(AdminUser).where(AdminUser.email == normalise_email(email)))
    if user is None:
        db.session.rollback()
        raise AccountError(_l("No account with this email address."))
    user.password_hash = generate_password_hash(password, _hash_method())
    user.failed_logins = 0
    user.locked_until = None
    db.session.commit()
    return user


def list_admins() -> list[AdminSummary]:
    """Every account, oldest first."""
    now = clock.now()
    users = db.session.scalars(select(AdminUser).order_by(AdminUser.created_at, AdminUser.id))
    return [AdminSummary(u.email, u.created_at, u.last_login_at, u.is_locked(now)) for u in users]


def load_user(user_id: str) -> AdminUser | None:
    """The account behind a session's user id (Flask-Login's user loader)."""
    try:
        return db.session.get(AdminUser, int(user_id))
    except (TypeError, ValueError):
        return None


def authenticate(email: str, password: str, ip: str) -> AdminUser | None:
    """The account when `password` is right, else None; failures are recorded.

    Raises:
        LoginThrottled: too many recent failures for this email from this address, or the
            account is locked. The password is not checked then.
    """
    email = normalise_email(email)
    ip = (ip or "unknown")[:64]
    now = clock.now()
    since = now - FAILURE_WINDOW
    recent, oldest = db.session.execute(
        select(func.count(), func.min(LoginFailure.failed_at)).where(
            LoginFailure.email == email, LoginFailure.ip == ip, LoginFailure.failed_at > since
        )
    ).one()
    if recent >= MAX_FAILURES_PER_EMAIL_AND_IP:
        raise LoginThrottled(_seconds_until(oldest + FAILURE_WINDOW, now))

    user = db.session.scalar(select(AdminUser).where(AdminUser.email == email))
    if user is not None and user.is_locked(now):
        raise LoginThrottled(_seconds_until(user.locked_until, now))

    # The (slow, deliberately) hash check runs before the write lock is taken.
    if user is None:
        # Spend the same time as a real check so response times do not reveal which emails exist.
        check_password_hash(_dummy_hash(), password or "")
        ok = False
    else:
        ok = check_password_hash(user.password_hash, password or "")

    start_write(db.session)
    user = db.session.scalar(select(AdminUser).where(AdminUser.email == email))
    if ok and user is not None:
        user.failed_logins = 0
        user.locked_until = None
        user.last_login_at = now
        db.session.execute(
            delete(LoginFailure).where(LoginFailure.email == email, LoginFailure.ip == ip)
        )
        db.session.commit()
        return user

    db.session.execute(delete(LoginFailure).where(LoginFailure.failed_at <= since))
    db.session.add(LoginFailure(email=email, ip=ip, failed_at=now))
    if user is not None:
        user.failed_logins = (user.failed_logins or 0) + 1
        if user.failed_logins >= MAX_CONSECUTIVE_FAILURES:
            user.locked_until = now + LOCK_DURATION
            user.failed_logins = 0
    db.session.commit()
    return None


def _dummy_hash() -> str:
    method = _hash_method()
    if method not in _dummy_hashes:
        _dummy_hashes[method] = generate_password_hash("not-a-real-password", method)
    return _dummy_hashes[method]


def _seconds_until(moment: datetime | None, now: datetime) -> int:
    if moment is None:
        return 60
    return max(1, int((moment - now).total_seconds()) + 1)
