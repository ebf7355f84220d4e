"""Admin accounts: creation, passwords, signing in, and taking access away.

Signing in is throttled by services/throttle.py, alike for emails with and without an account.
Every change that should take access away (a new password, a lock, disabling, deleting) ends
the account's sessions (services/login_sessions.py). An account has a Role: admin or viewer. The
last enabled admin always stays, so that someone can still manage the app, and an admin on the
accounts screen cannot disable, delete or demote their own account (`by`).

Every change is recorded in the audit log, in its own transaction, with the acting admin (`by`,
None from the command line) and the account changed by id, never by email.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, func, select, update
from werkzeug.security import check_password_hash, generate_password_hash

from services import audit, throttle
from services.login_sessions import end_all_sessions
from services.throttle import (  # noqa: F401  (the web layer knows them as accounts.*)
    MAX_FAILURES_PER_EMAIL,
    MAX_FAILURES_PER_EMAIL_AND_IP,
    LoginThrottled,
)
from store import clock
from store.database import db, start_write
from store.models import AdminUser, RecoveryCode, Role
from store.outcomes import AuditAction

MIN_PASSWORD_LENGTH = 10
NO_SUCH_ACCOUNT = _l("No account with this email address.")
TWO_FACTOR_ALREADY_ON = _l("Two-factor authentication is already on.")

_dummy_hashes: dict[str, str] = {}


class AccountError(ValueError):
    """An account cannot be created or changed as asked; `message` (translatable) says why."""

    def __init__(self, message):
        super().__init__(message)
        self.message = message


ROLE_LABELS = {Role.ADMIN: _l("Admin"), Role.VIEWER: _l("Viewer")}


@dataclass(frozen=True)
class AdminSummary:
    id: int
    role: str
    email: str
    created_at: datetime
    last_login_at: datetime | None
    locked: bool
    disabled: bool
    two_factor: bool


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


def create_admin(
    email: str, password: str, role: str = Role.ADMIN, by: int | None = None
) -> AdminUser:
    """Create an account (an admin unless `role` says otherwise) and commit; `by` is the admin
    asking (None: the command line).

    Raises:
        AccountError: the email is malformed or taken, the password is too short, or the role
            unknown.
    """
    email, password = _valid_input(email, password)
    _check_role(role)
    start_write(db.session)
    return _insert_admin(email, password, role, by)


def _check_role(role: str) -> None:
    if role not in set(Role):
        raise AccountError(_l("Choose a role: Admin or Viewer."))


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
    return _insert_admin(email, password, first=True)


def _valid_input(email: str, password: str) -> tuple[str, str]:
    email = normalise_email(email)
    _check_email(email)
    _check_password(password)
    return email, password


def _insert_admin(
    email: str, password: str, role: str = Role.ADMIN, by: int | None = None, first: bool = False
) -> AdminUser:
    # Runs inside a writing transaction (start_write) that it commits.
    if db.session.scalar(select(AdminUser.id).where(AdminUser.email == email)) is not None:
        db.session.rollback()
        raise AccountError(_l("An account with this email address already exists."))
    user = AdminUser(
        email=email, password_hash=generate_password_hash(password, _hash_method()), role=role
    )
    db.session.add(user)
    db.session.flush()  # the id, for the audit entry
    # The first account (the setup page) creates itself.
    actor = user if first else audit.actor_by_id(by)
    audit.record(AuditAction.ACCOUNT_CREATED, actor, account=user.id, role=str(role))
    db.session.commit()
    return user


def find_admin(email: str) -> AdminUser:
    """The account with this email.

    Raises:
        AccountError: there is none (the open transaction is rolled back).
    """
    user = db.session.scalar(select(AdminUser).where(AdminUser.email == normalise_email(email)))
    if user is None:
        db.session.rollback()
        raise AccountError(NO_SUCH_ACCOUNT)
    return user


def get_admin(user_id: int) -> AdminUser | None:
    """The account with this id, read afresh."""
    db.session.expire_all()
    return db.session.get(AdminUser, user_id)


def set_password(email: str, password: str) -> AdminUser:
    """Give an account a new password, lift any lock and end its sessions.

    Raises:
        AccountError: no such account, or the password is too short.
    """
    _check_password(password)
    start_write(db.session)
    user = find_admin(email)
    user.password_hash = generate_password_hash(password, _hash_method())
    throttle.forget_failures(user.email)
    end_all_sessions(user.id)
    db.session.commit()
    return user


def list_admins() -> list[AdminSummary]:
    """Every account, oldest first."""
    now = clock.now()
    users = db.session.scalars(select(AdminUser).order_by(AdminUser.created_at, AdminUser.id))
    return [
        AdminSummary(
            u.id,
            u.role,
            u.email,
            u.created_at,
            u.last_login_at,
            locked=throttle.lock_ends(u.email, now) is not None,
            disabled=not u.is_active,
            two_factor=u.has_two_factor,
        )
        for u in users
    ]


# -- taking access away --------------------------------------------------------------------


def _refuse_last_admin(user: AdminUser, by: int | None) -> None:
    """Refuse to take `user`'s admin rights away when `by` is that account itself, or when it is
    the last enabled admin."""
    # Runs inside the writing transaction, so two removals racing cannot both pass.
    if by is not None and by == user.id:
        db.session.rollback()
        raise AccountError(
            _l("You cannot disable, delete or demote your own account. Ask another admin.")
        )
    if user.is_active and user.is_admin and not other_enabled_admins(user.id):
        db.session.rollback()
        raise AccountError(
            _l(
                "%(email)s is the last enabled admin account. Create or enable another one first.",
                email=user.email,
            )
        )


def disable_admin(email: str, by: int | None = None) -> AdminUser:
    """Disable an account: it cannot sign in, and its sessions end. `by` is the account asking.

    Raises:
        AccountError: no such account, it is `by` itself, or the last enabled admin.
    """
    start_write(db.session)
    user = find_admin(email)
    _refuse_last_admin(user, by)
    if user.disabled_at is None:
        user.disabled_at = clock.now()
        audit.record(AuditAction.ACCOUNT_DISABLED, audit.actor_by_id(by), account=user.id)
    end_all_sessions(user.id)
    db.session.commit()
    return user


def enable_admin(email: str, by: int | None = None) -> AdminUser:
    """Let a disabled account sign in again; `by` is the admin asking.

    Raises:
        AccountError: no such account.
    """
    start_write(db.session)
    user = find_admin(email)
    if user.disabled_at is not None:
        audit.record(AuditAction.ACCOUNT_ENABLED, audit.actor_by_id(by), account=user.id)
    user.disabled_at = None
    db.session.commit()
    return user


def delete_admin(email: str, by: int | None = None) -> str:
    """Delete an account with its sessions and recovery codes; its email. `by` is the account
    asking.

    Raises:
        AccountError: no such account, it is `by` itself, or the last enabled admin.
    """
    start_write(db.session)
    user = find_admin(email)
    _refuse_last_admin(user, by)
    email = user.email
    audit.record(AuditAction.ACCOUNT_DELETED, audit.actor_by_id(by), account=user.id)
    end_all_sessions(user.id)
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    db.session.delete(user)
    db.session.commit()
    return email


def set_role(email: str, role: str, by: int | None = None) -> AdminUser:
    """Give an account another role; it applies from the account's next request.

    Raises:
        AccountError: no such account or role, or a demotion of `by` itself or of the last
            enabled admin.
    """
    _check_role(role)
    start_write(db.session)
    user = find_admin(email)
    if role != Role.ADMIN:
        _refuse_last_admin(user, by)
    if user.role != role:
        audit.record(
            AuditAction.ROLE_CHANGED,
            audit.actor_by_id(by),
            account=user.id,
            old=str(user.role),
            new=str(role),
        )
    user.role = role
    db.session.commit()
    return user


def unlock(email: str) -> AdminUser:
    """Lift the lock that failed logins put on an account (its failures are forgotten).

    Raises:
        AccountError: no such account.
    """
    start_write(db.session)
    user = find_admin(email)
    throttle.forget_failures(user.email)
    db.session.commit()
    return user


def end_sessions(email: str) -> AdminUser:
    """End every session of an account (sign it out everywhere).

    Raises:
        AccountError: no such account.
    """
    start_write(db.session)
    user = find_admin(email)
    end_all_sessions(user.id)
    db.session.commit()
    return user


def other_enabled_admins(user_id: int) -> int:
    """How many enabled admin accounts there are besides this one."""
    return db.session.scalar(
        select(func.count()).where(
            AdminUser.id != user_id, AdminUser.disabled_at.is_(None), AdminUser.role == Role.ADMIN
        )
    )


def require_new_login(email: str) -> AdminUser | None:
    """Retire an account's password: a random one replaces it, its sessions end, and whoever
    signs in next (see `claim_login`) must choose an email and password first.

    Returns the account when this call retired it; None when there is no such account or it was
    already retired (another process got there first).
    """
    start_write(db.session)
    user = db.session.scalar(
        select(AdminUser).where(
            AdminUser.email == normalise_email(email), AdminUser.must_set_login.is_(False)
        )
    )
    # The condition again in the UPDATE: on PostgreSQL two processes may both have read the row.
    retired = user is not None and (
        db.session.execute(
            update(AdminUser)
            .where(AdminUser.id == user.id, AdminUser.must_set_login.is_(False))
            .values(
                must_set_login=True,
                password_hash=generate_password_hash(secrets.token_urlsafe(32), _hash_method()),
            )
        ).rowcount
        == 1
    )
    if not retired:
        db.session.rollback()
        return None
    end_all_sessions(user.id)
    db.session.commit()
    return user


def claim_login(user_id: int, email: str, password: str) -> AdminUser:
    """Give an account that must choose its own login that email and password; its other
    sessions end.

    Raises:
        AccountError: the email is malformed, the account's current one or another account's,
            or the password is too short.
    """
    email, password = _valid_input(email, password)
    start_write(db.session)
    user = db.session.get(AdminUser, user_id)
    if user is None:
        db.session.rollback()
        raise AccountError(NO_SUCH_ACCOUNT)
    if email == user.email:
        # The login it had was not this person's own (the demo's, printed to the console).
        db.session.rollback()
        raise AccountError(_l("Choose an email address of your own."))
    taken = select(AdminUser.id).where(AdminUser.email == email)
    if db.session.scalar(taken) is not None:
        db.session.rollback()
        raise AccountError(_l("An account with this email address already exists."))
    user.email = email
    user.password_hash = generate_password_hash(password, _hash_method())
    user.must_set_login = False
    end_all_sessions(user.id)
    db.session.commit()
    return user


# -- signing in ----------------------------------------------------------------------------


def authenticate(email: str, password: str, ip: str) -> AdminUser | None:
    """The account when `password` is right and the account enabled, else None (recorded as a
    failure). For an account with two-factor authentication this is only the first step:
    `two_factor.verify_sign_in` completes it.

    Raises:
        LoginThrottled: too many recent failures for this email from this address, or the
            email is locked. The password is not checked then.
    """
    email = normalise_email(email)
    ip = throttle.clean_ip(ip)
    now = clock.now()
    throttle.check(email, ip, now)

    user = db.session.scalar(select(AdminUser).where(AdminUser.email == email))
    # The (slow, deliberately) hash check runs before the write lock is taken. For an unknown
    # email it checks a dummy hash, so response times do not reveal which emails exist.
    ok = check_password_hash(user.password_hash if user else _dummy_hash(), password or "")

    start_write(db.session)
    user = db.session.scalar(select(AdminUser).where(AdminUser.email == email))
    if ok and user is not None and user.is_active:
        if not user.has_two_factor:
            record_sign_in(user, ip, now)
        db.session.commit()
        return user
    record_failure(email, ip, now)
    db.session.commit()
    return None


def confirm_password(user_id: int, password: str, ip: str) -> bool:
    """True when `password` is the account's (asked again before a security change); a wrong
    one counts as a failed login, so a stolen session cannot guess it at leisure.

    Raises:
        LoginThrottled: too many recent failures; the password is not checked then.
    """
    user = db.session.get(AdminUser, user_id)
    if user is None:
        return False
    ip, now = throttle.clean_ip(ip), clock.now()
    throttle.check(user.email, ip, now)
    if check_password_hash(user.password_hash, password or ""):
        return True
    start_write(db.session)
    record_failure(user.email, ip, now)
    db.session.commit()
    return False


def password_matches(email: str, password: str) -> bool:
    """True when `password` is the enabled account's, without counting a failure (for a login
    the app itself wrote down, such as the demo's; never for what a visitor typed)."""
    user = db.session.scalar(select(AdminUser).where(AdminUser.email == normalise_email(email)))
    return bool(user and user.is_active and check_password_hash(user.password_hash, password))


def set_language(user_id: int, language: str) -> None:
    """Remember the language an account chose (its pages and its alert emails)."""
    start_write(db.session)
    db.session.execute(update(AdminUser).where(AdminUser.id == user_id).values(language=language))
    db.session.commit()


def must_set_login(user_id: int) -> bool:
    """True when the account must choose its own email and password first (read afresh)."""
    return bool(db.session.scalar(select(AdminUser.must_set_login).where(AdminUser.id == user_id)))


def record_sign_in(user: AdminUser, ip: str, now: datetime) -> None:
    """Note a complete sign-in (inside the caller's writing transaction)."""
    user.last_login_at = now
    throttle.forget_failures(user.email, ip)


def record_failure(email: str, ip: str, now: datetime) -> None:
    """Note a failed try (inside the caller's writing transaction); a lock ends the sessions."""
    if throttle.record_failure(email, ip, now):
        # Whoever locks an account may have its password: do not leave them its sessions.
        user_id = db.session.scalar(select(AdminUser.id).where(AdminUser.email == email))
        if user_id is not None:
            end_all_sessions(user_id)


def _dummy_hash() -> str:
    method = _hash_method()
    if method not in _dummy_hashes:
        _dummy_hashes[method] = generate_password_hash("not-a-real-password", method)
    return _dummy_hashes[method]
