"""The optional second factor: TOTP (RFC 6238, as authenticator apps show it) and one-time
recovery codes.

The TOTP secret is encrypted at rest with the token vault and never logged. Recovery codes are
shown once and stored as SHA-256 hashes: they are random (about 59 bits), so a slow password
hash would buy nothing. A code counts once: a TOTP code's time step is remembered, a recovery
code is marked used. Wrong codes at sign-in count as failed logins (services/throttle.py).
REQUIRE_TWO_FACTOR makes it mandatory for every account.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets

import pyotp
from flask import current_app
from sqlalchemy import delete, func, select, update

from services import accounts, audit, login_sessions, throttle
from services.secrets import TokenVaultError
from store import clock
from store.database import db, start_write
from store.models import AdminUser, RecoveryCode
from store.outcomes import AuditAction

log = logging.getLogger(__name__)

ISSUER = "Webinar Sync"
RECOVERY_CODE_COUNT = 10
# Without look-alikes (0/o, 1/l/i), so that a code copied from paper is read right.
RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
RECOVERY_GROUPS = 3
RECOVERY_GROUP_LENGTH = 4
# Codes of the step before and after count too: phone clocks drift.
ALLOWED_DRIFT_STEPS = 1


def required() -> bool:
    """True when every account must use a second factor (REQUIRE_TWO_FACTOR)."""
    return bool(current_app.config.get("REQUIRE_TWO_FACTOR"))


def _vault():
    return current_app.extensions["token_vault"]


def _reload(user_id: int) -> AdminUser:
    user = db.session.get(AdminUser, user_id)
    if user is None:
        db.session.rollback()
        raise accounts.AccountError(accounts.NO_SUCH_ACCOUNT)
    return user


def start_setup(user_id: int) -> None:
    """Give the account a new, not yet confirmed secret (replacing one not confirmed yet).

    Raises:
        AccountError: two-factor authentication is already on.
    """
    start_write(db.session)
    user = _reload(user_id)
    if user.has_two_factor:
        db.session.rollback()
        raise accounts.AccountError(accounts.TWO_FACTOR_ALREADY_ON)
    user.totp_secret = _vault().encrypt(pyotp.random_base32())
    user.totp_last_step = None
    db.session.commit()


def pending_secret(user: AdminUser) -> str | None:
    """The secret of a set-up awaiting its first code, else None."""
    if user.has_two_factor or not user.totp_secret:
        return None
    try:
        return _vault().decrypt(user.totp_secret)
    except TokenVaultError:
        return None  # the key changed since: the set-up starts anew


def provisioning_uri(user: AdminUser, secret: str) -> str:
    """The otpauth:// address an authenticator app reads from the QR code."""
    return pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name=ISSUER)


def confirm_setup(user_id: int, code: str) -> list[str] | None:
    """Turn two-factor authentication on when `code` fits the pending secret; the new recovery
    codes (shown once), or None when the code is wrong."""
    start_write(db.session)
    user = _reload(user_id)
    secret = pending_secret(user)
    step = _matching_step(secret, code) if secret else None
    if step is None:
        db.session.rollback()
        return None
    user.totp_enabled_at = clock.now()
    user.totp_last_step = step
    codes = _replace_recovery_codes(user.id)
    audit.record(AuditAction.TWO_FACTOR_CHANGED, user, account=user.id, enabled=True)
    db.session.commit()
    log.info("Two-factor authentication turned on for admin %s", user.id)
    return codes


def turn_off(user_id: int) -> None:
    """Forget the secret and the recovery codes."""
    start_write(db.session)
    user = _reload(user_id)
    if user.has_two_factor:
        audit.record(AuditAction.TWO_FACTOR_CHANGED, user, account=user.id, enabled=False)
    _clear(user)
    db.session.commit()
    log.info("Two-factor authentication turned off for admin %s", user.id)


def reset(email: str, by: int | None = None) -> AdminUser:
    """Turn two-factor authentication off for a lost phone and end the account's sessions; `by`
    is the admin asking (None: the command line).

    Raises:
        AccountError: no such account.
    """
    start_write(db.session)
    user = accounts.find_admin(email)
    if user.has_two_factor:
        audit.record(
            AuditAction.TWO_FACTOR_CHANGED,
            audit.actor_by_id(by),
            account=user.id,
            enabled=False,
            reset=True,
        )
    _clear(user)
    login_sessions.end_all_sessions(user.id)
    db.session.commit()
    return user


def _clear(user: AdminUser) -> None:
    user.totp_secret = None
    user.totp_enabled_at = None
    user.totp_last_step = None
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))


def new_recovery_codes(user_id: int) -> list[str]:
    """Replace the recovery codes; the new ones, to be shown once."""
    start_write(db.session)
    codes = _replace_recovery_codes(_reload(user_id).id)
    db.session.commit()
    return codes


def recovery_codes_left(user_id: int) -> int:
    """How many recovery codes are still unused."""
    return db.session.scalar(
        select(func.count()).where(RecoveryCode.user_id == user_id, RecoveryCode.used_at.is_(None))
    )


def verify_sign_in(user_id: int, code: str, ip: str) -> AdminUser | None:
    """The second step of signing in: the account when `code` (TOTP or recovery) is right.

    A wrong code counts as a failed login for the account's email.

    Raises:
        LoginThrottled: too many failures for this email (from this address); not checked then.
    """
    now = clock.now()
    ip = throttle.clean_ip(ip)
    user = db.session.get(AdminUser, user_id)
    if user is None:
        return None
    throttle.check(user.email, ip, now)
    start_write(db.session)
    user = db.session.get(AdminUser, user_id)
    if user is not None and user.is_active and user.has_two_factor and _use_code(user, code):
        accounts.record_sign_in(user, ip, now)
        db.session.commit()
        return user
    if user is not None:
        accounts.record_failure(user.email, ip, now)
    db.session.commit()
    return None


def _use_code(user: AdminUser, code: str) -> bool:
    """Check and spend a TOTP or recovery code (inside a writing transaction)."""
    try:
        secret = _vault().decrypt(user.totp_secret)
    except TokenVaultError:
        log.warning("The TOTP secret of admin %s cannot be decrypted", user.id)
        secret = None
    step = _matching_step(secret, code) if secret else None
    if step is not None and step > (user.totp_last_step or -1):
        user.totp_last_step = step
        return True
    return _use_recovery_code(user.id, code)


def _matching_step(secret: str, code: str) -> int | None:
    code = "".join((code or "").split())
    if not (code.isdigit() and len(code) == 6):
        return None
    totp = pyotp.TOTP(secret)
    current = totp.timecode(clock.now())
    for step in range(current - ALLOWED_DRIFT_STEPS, current + ALLOWED_DRIFT_STEPS + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def _normalise_recovery_code(code: str) -> str:
    return "".join(c for c in (code or "").lower() if c.isalnum())


def _hash(code: str) -> str:
    return hashlib.sha256(_normalise_recovery_code(code).encode("utf-8")).hexdigest()


def _use_recovery_code(user_id: int, code: str) -> bool:
    if len(_normalise_recovery_code(code)) != RECOVERY_GROUPS * RECOVERY_GROUP_LENGTH:
        return False
    spent = db.session.execute(
        update(RecoveryCode)
        .where(
            RecoveryCode.user_id == user_id,
            RecoveryCode.code_hash == _hash(code),
            RecoveryCode.used_at.is_(None),
        )
        .values(used_at=clock.now())
    )
    return spent.rowcount == 1


def _replace_recovery_codes(user_id: int) -> list[str]:
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user_id))
    codes = []
    for _ in range(RECOVERY_CODE_COUNT):
        groups = (
            "".join(secrets.choice(RECOVERY_ALPHABET) for _ in range(RECOVERY_GROUP_LENGTH))
            for _ in range(RECOVERY_GROUPS)
        )
        code = "-".join(groups)
        codes.append(code)
        db.session.add(RecoveryCode(user_id=user_id, code_hash=_hash(code)))
    return codes
