"""Login throttling, from the failures recorded in login_failures.

Two limits, both counted over the last fifteen minutes. Five failures for one email from one IP
address refuse further tries from there (this stops a single guesser without locking the real
admin out). Twenty failures for one email from anywhere lock that email (this slows a guesser
spread over many addresses) until fewer than twenty of its failures are that recent.

Failures are recorded per email whether or not an account has it, and nothing here looks at the
accounts, so an unknown email is throttled and locked exactly like a known one: a 429 does not
tell a guesser that an account exists. A wrong TOTP or recovery code counts as a failure too.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, func, select

from store.database import db
from store.models import LoginFailure

FAILURE_WINDOW = timedelta(minutes=15)
MAX_FAILURES_PER_EMAIL_AND_IP = 5
MAX_FAILURES_PER_EMAIL = 20


class LoginThrottled(Exception):
    """Too many failed logins; `retry_after` is the number of seconds to wait."""

    def __init__(self, retry_after: int):
        super().__init__(f"too many failed logins; retry in {retry_after} s")
        self.retry_after = retry_after


def clean_ip(ip: str | None) -> str:
    """The address as stored (the column holds 64 characters)."""
    return (ip or "unknown")[:64]


def check(email: str, ip: str, now: datetime) -> None:
    """Refuse a try when `email` is locked or `ip` has used up its tries for it.

    Raises:
        LoginThrottled: with the seconds until a try is allowed again.
    """
    since = now - FAILURE_WINDOW
    recent, oldest = db.session.execute(
        select(func.count(), func.min(LoginFailure.failed_at)).where(
            LoginFailure.email == email, LoginFailure.ip == ip, LoginFailure.failed_at > since
        )
    ).one()
    if recent >= MAX_FAILURES_PER_EMAIL_AND_IP:
        raise LoginThrottled(_seconds_until(oldest + FAILURE_WINDOW, now))
    unlocks_at = lock_ends(email, now)
    if unlocks_at is not None:
        raise LoginThrottled(_seconds_until(unlocks_at, now))


def lock_ends(email: str, now: datetime) -> datetime | None:
    """When the lock of `email` lifts, or None when it is not locked."""
    # The lock holds while MAX_FAILURES_PER_EMAIL failures are recent: it lifts when the
    # MAX-th newest of them leaves the window.
    edge = db.session.scalar(
        select(LoginFailure.failed_at)
        .where(LoginFailure.email == email, LoginFailure.failed_at > now - FAILURE_WINDOW)
        .order_by(LoginFailure.failed_at.desc())
        .offset(MAX_FAILURES_PER_EMAIL - 1)
        .limit(1)
    )
    return None if edge is None else edge + FAILURE_WINDOW


def record_failure(email: str, ip: str, now: datetime) -> bool:
    """Record a failed try (inside the caller's writing transaction); True if `email` is locked."""
    db.session.execute(delete(LoginFailure).where(LoginFailure.failed_at <= now - FAILURE_WINDOW))
    db.session.add(LoginFailure(email=email, ip=ip, failed_at=now))
    db.session.flush()
    return lock_ends(email, now) is not None


def forget_failures(email: str, ip: str | None = None) -> None:
    """Drop the failures of `email` (from `ip` only, when given), inside the caller's transaction.

    A successful sign-in forgets those from its own address; a new password forgets them all,
    which lifts a lock.
    """
    condition = LoginFailure.email == email
    if ip is not None:
        condition &= LoginFailure.ip == ip
    db.session.execute(delete(LoginFailure).where(condition))


def _seconds_until(moment: datetime, now: datetime) -> int:
    return max(1, int((moment - now).total_seconds()) + 1)
