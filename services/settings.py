"""Settings changed at run time (stored in the `settings` table), with the environment on top.

The Calendly token lives here encrypted; `CALENDLY_TOKEN` in the environment overrides it.
What an admin changes here is recorded in the audit log in the same transaction: which setting,
with its old and new value (never a secret's), or the token's connection and removal.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import current_app

from mirror.event_types import ALL_TYPES
from mirror.scope import ME, Scope
from mirror.writer import restamp_local_times
from services import audit
from store import clock
from store.database import db, start_write
from store.models import AdminUser, Setting
from store.outcomes import AuditAction

log = logging.getLogger(__name__)

TOKEN_KEY = "calendly_token"
ACCOUNT_KEY = "calendly_account"
EVENT_TYPES_KEY = "sync_event_types"
TIMEZONE_KEY = "display_timezone"
LOOKBACK_KEY = "sync_lookback_days"
SCHEDULE_KEY = "sync_schedule"
SCOPE_KEY = "sync_scope"
# What the token may read, as the last probe found: {"user_uri", "role", "checked_at"}.
ACCESS_KEY = "calendly_access"
# The organization's members as last listed: [{"uri", "name", "email", "role"}, ...].
MEMBERS_KEY = "calendly_members"
# How long attendee data is kept after a webinar: {"months": N}, or {"months": None} when an
# admin chose deliberately to keep it without limit. Not stored: the suggested period applies.
RETENTION_KEY = "attendee_retention"
DEFAULT_RETENTION_MONTHS = 12
RETENTION_RANGE = (1, 120)


def get_setting(key: str, default=None):
    """The stored value of `key`, or `default`."""
    row = db.session.get(Setting, key)
    return default if row is None else row.value


@contextmanager
def changing() -> Iterator[None]:
    """One writing transaction for several settings and their audit entries, committed at the
    end (rolled back on an error); ends the session's open transaction first."""
    start_write(db.session)
    try:
        yield
    except BaseException:
        db.session.rollback()
        raise
    db.session.commit()


def put_setting(key: str, value) -> None:
    """Store `value` under `key` inside the caller's writing transaction (`changing`)."""
    row = db.session.get(Setting, key)
    if row is None:
        db.session.add(Setting(key=key, value=value))
    else:
        row.value = value


def drop_setting(key: str) -> bool:
    """Remove `key` inside the caller's writing transaction; True when it was stored."""
    row = db.session.get(Setting, key)
    if row is not None:
        db.session.delete(row)
    return row is not None


def set_setting(key: str, value) -> None:
    """Store `value` under `key` and commit (ends the session's open transaction first)."""
    with changing():
        put_setting(key, value)


def delete_setting(key: str) -> None:
    """Remove `key` and commit (ends the session's open transaction first)."""
    with changing():
        drop_setting(key)


def record_change(setting: str, old, new, actor: AdminUser | None) -> None:
    """Note in the audit log that `setting` changed from `old` to `new` (not for secrets), inside
    the caller's writing transaction; nothing when the value stayed the same."""
    if old != new:
        audit.record(AuditAction.SETTING_CHANGED, actor, setting=setting, old=old, new=new)


def _vault():
    return current_app.extensions["token_vault"]


def token_from_environment() -> bool:
    """True when CALENDLY_TOKEN is set and so overrides the stored token."""
    return bool(current_app.config.get("CALENDLY_TOKEN"))


def calendly_token() -> str | None:
    """The token to use: CALENDLY_TOKEN, else the stored one decrypted, else the demo one."""
    if token_from_environment():
        return current_app.config["CALENDLY_TOKEN"]
    stored = get_setting(TOKEN_KEY)
    if not stored:
        # Demo mode (demo.py) serves a simulator that accepts this token; empty otherwise.
        return current_app.config.get("DEMO_CALENDLY_TOKEN") or None
    return _vault().decrypt(stored["ciphertext"])


def save_calendly_token(
    token: str, account: dict | None = None, *, actor: AdminUser | None = None
) -> None:
    """Encrypt and store `token`; `account` is what /users/me said about it. The audit log notes
    the token connected, or replaced when one was stored, by `actor`."""
    token = token.strip()
    with changing():
        replaced = get_setting(TOKEN_KEY) is not None
        put_setting(
            TOKEN_KEY,
            {
                "ciphertext": _vault().encrypt(token),
                "last4": token[-4:],
                "saved_at": clock.now().isoformat(),
            },
        )
        audit.record(AuditAction.TOKEN_REPLACED if replaced else AuditAction.TOKEN_CONNECTED, actor)
    if account is not None:
        save_account(account)


def clear_calendly_token(actor: AdminUser | None = None) -> None:
    """Forget the stored token and the account it belonged to (noted in the audit log)."""
    with changing():
        if drop_setting(TOKEN_KEY):
            audit.record(AuditAction.TOKEN_REMOVED, actor)
        drop_setting(ACCOUNT_KEY)
        drop_setting(ACCESS_KEY)


def token_hint() -> str | None:
    """The last four characters of the token in use, for display; None when there is none."""
    if token_from_environment():
        return current_app.config["CALENDLY_TOKEN"][-4:]
    stored = get_setting(TOKEN_KEY)
    return stored["last4"] if stored else None


def save_account(user: dict) -> None:
    """Remember the Calendly user (URI, organization, name) a token belongs to."""
    set_setting(
        ACCOUNT_KEY,
        {
            "user_uri": user.get("uri"),
            "organization_uri": user.get("current_organization"),
            "name": user.get("name"),
            "email": user.get("email"),
            "scheduling_url": user.get("scheduling_url"),
            "timezone": user.get("timezone"),
            "verified_at": clock.now().isoformat(),
        },
    )


def account() -> dict | None:
    """The stored Calendly account details, or None before the first verification."""
    return get_setting(ACCOUNT_KEY)


def sync_event_types() -> list[str] | None:
    """Event type URIs or names to sync (ALL_TYPES for every type): CALENDLY_EVENT_TYPES, else
    the stored choice; None while nobody has chosen (then nothing is synced)."""
    env = current_app.config.get("CALENDLY_EVENT_TYPES") or ""
    if env.strip():
        return [part.strip() for part in env.split(",") if part.strip()]
    stored = get_setting(EVENT_TYPES_KEY)
    if stored is None:
        return None
    # An empty list was stored when an empty choice still meant "all": it was chosen so.
    return list(stored) or [ALL_TYPES]


def event_types_chosen() -> bool:
    """True when CALENDLY_EVENT_TYPES or a stored choice says which event types to sync."""
    return sync_event_types() is not None


def scope_from_environment() -> bool:
    """True when CALENDLY_SCOPE chooses the sync scope (the Settings page cannot change it)."""
    return bool((current_app.config.get("CALENDLY_SCOPE") or "").strip())


def sync_scope() -> Scope:
    """Whose webinars are synced: CALENDLY_SCOPE (+ CALENDLY_SCOPE_HOSTS), else the stored
    choice, else the token's own events.

    Raises:
        ValueError: CALENDLY_SCOPE names no scope (me, organization, hosts).
    """
    if scope_from_environment():
        hosts = current_app.config.get("CALENDLY_SCOPE_HOSTS") or ""
        return Scope(
            current_app.config["CALENDLY_SCOPE"].strip().lower(),
            tuple(part.strip() for part in hosts.split(",") if part.strip()),
        )
    stored = get_setting(SCOPE_KEY) or {}
    try:
        return Scope(stored.get("mode") or ME, tuple(stored.get("hosts") or ()))
    except ValueError:
        log.warning("stored sync scope %r is unknown; reading the token's own events", stored)
        return Scope()


def save_sync_scope(scope: Scope, actor: AdminUser | None = None) -> None:
    """Store the Settings page's sync scope (chosen by `actor`)."""
    new = {"mode": scope.mode, "hosts": list(scope.hosts)}
    with changing():
        old = get_setting(SCOPE_KEY) or {"mode": ME, "hosts": []}
        put_setting(SCOPE_KEY, new)
        record_change(SCOPE_KEY, old, new, actor)


def token_role() -> str | None:
    """The token's role in its organization (owner, admin, user) as last probed, for the
    account it belongs to now; None when not known."""
    access = get_setting(ACCESS_KEY) or {}
    user_uri = (account() or {}).get("user_uri")
    return access.get("role") if access.get("user_uri") == user_uri else None


def save_token_role(user_uri: str | None, role: str | None) -> None:
    """Remember what the probe found the token's role to be."""
    set_setting(
        ACCESS_KEY, {"user_uri": user_uri, "role": role, "checked_at": clock.now().isoformat()}
    )


def org_members() -> list[dict]:
    """The organization's members as last listed ([] before the first listing)."""
    return list(get_setting(MEMBERS_KEY) or [])


def save_org_members(memberships: list[dict]) -> None:
    """Remember the members of a /organization_memberships listing."""
    members = []
    for item in memberships:
        user = item.get("user") if isinstance(item, dict) else None
        if isinstance(user, dict) and isinstance(user.get("uri"), str):
            members.append(
                {
                    "uri": user["uri"],
                    "name": user.get("name"),
                    "email": user.get("email"),
                    "role": item.get("role"),
                }
            )
    set_setting(MEMBERS_KEY, members)


def lookback_days() -> int:
    """How many days back an ordinary sync reads."""
    return int(get_setting(LOOKBACK_KEY, current_app.config["SYNC_LOOKBACK_DAYS"]))


def is_valid_timezone(name) -> bool:
    """True when zoneinfo can load `name` (an IANA time zone such as Europe/Berlin)."""
    try:
        ZoneInfo(name)
    # OSError: zoneinfo looks the name up as a file, and a very long one is too long for that.
    except (ZoneInfoNotFoundError, ValueError, TypeError, OSError):
        return False
    return True


def display_timezone() -> str:
    """The admin's time zone name (IANA); the configured default when the stored one is not a
    time zone this system knows."""
    name = get_setting(TIMEZONE_KEY, current_app.config["DISPLAY_TIMEZONE"])
    if is_valid_timezone(name):
        return name
    log.warning("unknown time zone %r; using %s", name, current_app.config["DISPLAY_TIMEZONE"])
    return current_app.config["DISPLAY_TIMEZONE"]


DEFAULT_SYNC_SCHEDULE = {"daily_time": "06:00", "interval_minutes": 0}


def sync_schedule() -> dict:
    """When the scheduler syncs: {"daily_time": "HH:MM" (admin's time zone), "interval_minutes"
    (0 = off)}, with defaults for anything not stored."""
    stored = get_setting(SCHEDULE_KEY) or {}
    schedule = dict(DEFAULT_SYNC_SCHEDULE)
    schedule.update({key: stored[key] for key in DEFAULT_SYNC_SCHEDULE if key in stored})
    return schedule


def save_preferences(
    timezone: str,
    lookback: int,
    daily_time: str,
    interval_minutes: int,
    actor: AdminUser | None = None,
) -> None:
    """Store the Settings page's display time zone, look-back days and sync schedule; the audit
    log notes each value `actor` changed. A new time zone restamps every webinar's local start
    (the insights page buckets by it), in the same transaction."""
    schedule = {"daily_time": daily_time, "interval_minutes": int(interval_minutes)}
    with changing():
        old_schedule = sync_schedule()
        old_zone = display_timezone()
        record_change(TIMEZONE_KEY, old_zone, timezone, actor)
        record_change(LOOKBACK_KEY, lookback_days(), int(lookback), actor)
        for part in ("daily_time", "interval_minutes"):
            record_change(f"sync_{part}", old_schedule[part], schedule[part], actor)
        put_setting(TIMEZONE_KEY, timezone)
        put_setting(LOOKBACK_KEY, int(lookback))
        put_setting(SCHEDULE_KEY, schedule)
        if timezone != old_zone:
            restamp_local_times(timezone)


WEBHOOK_SIGNING_KEY_SETTING = "webhook_signing_key"


def configured_webhook_signing_key() -> str:
    """CALENDLY_WEBHOOK_SIGNING_KEY from the configuration ("" when unset); it overrides the
    stored key."""
    return (current_app.config.get("CALENDLY_WEBHOOK_SIGNING_KEY") or "").strip()


def webhook_signing_key() -> str | None:
    """The key Calendly signs webhook deliveries with: CALENDLY_WEBHOOK_SIGNING_KEY, else the
    stored one decrypted; None when there is neither.

    Raises:
        TokenVaultError: the stored key cannot be decrypted (TOKEN_ENCRYPTION_KEY changed).
    """
    configured = configured_webhook_signing_key()
    if configured:
        return configured
    stored = get_setting(WEBHOOK_SIGNING_KEY_SETTING)
    if not stored:
        return None
    return _vault().decrypt(stored["ciphertext"])


def save_webhook_signing_key(key: str | None) -> None:
    """Encrypt and store the webhook signing key; an empty `key` removes the stored one."""
    key = (key or "").strip()
    if not key:
        delete_setting(WEBHOOK_SIGNING_KEY_SETTING)
        return
    set_setting(
        WEBHOOK_SIGNING_KEY_SETTING,
        {"ciphertext": _vault().encrypt(key), "saved_at": clock.now().isoformat()},
    )


def retention_months() -> int | None:
    """Months after a webinar its attendees' personal data is kept; None when an admin chose to
    keep it without limit. DEFAULT_RETENTION_MONTHS until someone chooses."""
    stored = get_setting(RETENTION_KEY)
    if not isinstance(stored, dict):
        return DEFAULT_RETENTION_MONTHS
    months = stored.get("months")
    if months is None:
        return None
    try:
        months = int(months)
    except (TypeError, ValueError):
        log.warning("unreadable retention period %r; using %d", months, DEFAULT_RETENTION_MONTHS)
        return DEFAULT_RETENTION_MONTHS
    low, high = RETENTION_RANGE
    return min(max(months, low), high)


def retention_chosen() -> bool:
    """True once an admin chose the retention period (or chose to keep data without limit)."""
    return isinstance(get_setting(RETENTION_KEY), dict)


def save_retention_months(months: int | None) -> None:
    """Store the retention period (None: keep attendee data without limit)."""
    set_setting(RETENTION_KEY, {"months": None if months is None else int(months)})
