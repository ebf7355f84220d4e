"""Calendly webhook subscriptions of the connected account, for the Settings page and the
dashboard warning: list them, create one for this app, delete one, re-create a disabled one.

Runs in an app context and knows nothing of requests. Calendly disables a subscription after 24
hours of failed deliveries; every listing records a small "webhook health" setting so that the
dashboard can warn without asking Calendly. The signing key is generated here, handed to Calendly
and stored encrypted (app_settings); it is never returned, rendered or logged.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import urlsplit, urlunsplit

from sqlalchemy import func, select

from calendly.client import CalendlyClient, uuid_from_uri
from calendly.errors import CalendlyError, NotFoundError, PermissionDeniedError
from calendly.times import parse_time_or_none
from mirror.webhooks import HANDLED_EVENTS
from services import audit, settings
from services.connection import interactive_client
from services.secrets import TokenVaultError
from store import clock
from store.database import db
from store.models import AdminUser, SyncRun, WebhookDelivery
from store.outcomes import AuditAction, SyncStatus

log = logging.getLogger(__name__)

# Where blueprints/webhooks.py receives deliveries, below the app's public address.
WEBHOOK_PATH = "/api/infowebinar/webhook"
HEALTH_KEY = "webhook_health"
# The dashboard asks Calendly again (in the background, via htmx) when the last look is older.
HEALTH_MAX_AGE = timedelta(hours=1)
# Changes a sync finds this long after the last delivery should have come by webhook.
SILENCE_GRACE = timedelta(hours=1)


class WebhookAdminError(Exception):
    """A subscription could not be listed, created, deleted or re-created.

    Attributes:
        reason: ``not_connected`` (no verified Calendly account yet), ``not_found``,
            ``not_ours`` (re-creating another integration's subscription), ``plan`` (the
            Calendly plan has no webhooks) or ``calendly`` (any other Calendly failure).
        cause: the underlying Calendly or token decryption failure, if any.
    """

    def __init__(self, reason: str, cause: Exception | None = None):
        super().__init__(reason if cause is None else f"{reason}: {cause}")
        self.reason = reason
        self.cause = cause


@dataclass(frozen=True)
class Subscription:
    """One webhook subscription as Calendly lists it, with `ours` = it posts to this app."""

    uri: str
    uuid: str
    callback_url: str
    events: tuple[str, ...]
    state: str
    scope: str
    user: str | None
    created_at: datetime | None
    ours: bool

    @property
    def disabled(self) -> bool:
        return self.state != "active"


@dataclass
class Listing:
    """What the Settings section shows: the subscriptions, or why there are none to show."""

    subscriptions: list[Subscription] = field(default_factory=list)
    scope: str | None = None
    plan_blocked: bool = False
    not_connected: bool = False
    error: Exception | None = None
    checked_at: datetime | None = None
    last_delivery_at: datetime | None = None

    @property
    def any_disabled(self) -> bool:
        return any(sub.disabled for sub in self.subscriptions)

    @property
    def ours_active(self) -> bool:
        return any(sub.ours and not sub.disabled for sub in self.subscriptions)


@dataclass(frozen=True)
class DashboardWarning:
    """Disabled subscriptions of this app (to re-create), and whether to look again now.

    `silent` names this app's active subscription when deliveries have stopped although
    syncs keep finding new or changed bookings (Calendly retries a failing delivery for a
    day before it disables the subscription, so silence shows up first).
    """

    disabled: list[dict]
    refresh: bool
    silent: dict | None = None


# -- reading --------------------------------------------------------------------------------------


def callback_url_for(base_url: str) -> str:
    """The webhook URL for the app's public address: https://host[:port][/prefix] + WEBHOOK_PATH.

    A full webhook URL is accepted as well.

    Raises:
        ValueError: not an https:// address with a host, or with credentials, query or fragment.
    """
    text = (base_url or "").strip()
    if any(char.isspace() or not char.isprintable() for char in text):
        raise ValueError("address with blanks or control characters")
    parts = urlsplit(text)
    try:
        parts.port  # noqa: B018  (raises ValueError for a port out of range)
    except ValueError as exc:
        raise ValueError("invalid port") from exc
    if parts.scheme.lower() != "https" or not parts.hostname:
        raise ValueError("not an https:// address")
    if parts.username or parts.password or parts.query or parts.fragment:
        raise ValueError("address with credentials, query or fragment")
    path = parts.path.rstrip("/")
    if path.endswith(WEBHOOK_PATH):
        path = path[: -len(WEBHOOK_PATH)]
    netloc = _host(parts.hostname) + (f":{parts.port}" if parts.port else "")
    return urlunsplit(("https", netloc, path + WEBHOOK_PATH, "", ""))


# One label of a DNS name (RFC 1123): letters, digits and inner hyphens, at most 63 characters.
_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")


def _host(hostname: str) -> str:
    """`hostname` as it goes into the URL: an IP address, or a DNS name (IDNA-encoded).

    Raises:
        ValueError: neither a valid IP address nor a valid DNS name.
    """
    try:
        address = ipaddress.ip_address(hostname)
    except ValueError:
        pass
    else:
        return f"[{address.compressed}]" if address.version == 6 else address.compressed
    try:
        name = hostname.encode("idna").decode("ascii").lower()
    except UnicodeError as exc:
        raise ValueError("host is not a valid DNS name") from exc
    labels = name.split(".")
    if len(name) > 253 or not all(_LABEL.fullmatch(label) for label in labels):
        raise ValueError("host is not a valid DNS name")
    if labels[-1].isdigit():  # 999.1.1.1 is no name, and not an address either
        raise ValueError("host is not a valid DNS name or IP address")
    return name


def base_url_of(callback_url: str) -> str:
    """The public address a webhook URL of this app was made from (for the form)."""
    return callback_url[: -len(WEBHOOK_PATH)] if callback_url.endswith(WEBHOOK_PATH) else ""


def is_plan_refusal(exc: Exception) -> bool:
    """True for Calendly's 403 saying the plan has no webhooks ("Please upgrade ...")."""
    return (
        isinstance(exc, PermissionDeniedError)
        and not exc.required_scopes
        and "upgrade" in exc.message.lower()
    )


def list_subscriptions() -> Listing:
    """Ask Calendly for the account's subscriptions (scope organization, else user) and record
    the webhook health. Never raises for Calendly failures: they are in the listing."""
    listing = Listing(checked_at=clock.now())
    org, user = _account()
    if not org:
        listing.not_connected = True
    else:
        try:
            with interactive_client() as client:
                raw, listing.scope = _fetch(client, org, user)
            listing.subscriptions = [_subscription(item) for item in raw]
        except (CalendlyError, TokenVaultError) as exc:
            log.info("listing Calendly webhook subscriptions failed: %s", exc)
            listing.plan_blocked = is_plan_refusal(exc)
            listing.error = exc
    listing.last_delivery_at = last_delivery_at()
    _record_health(listing)
    return listing


def last_delivery_at() -> datetime | None:
    """When the last authentic webhook delivery arrived, if any did."""
    return db.session.scalar(
        select(func.max(WebhookDelivery.received_at)).where(
            WebhookDelivery.signature_valid.is_(True)
        )
    )


def health() -> dict | None:
    """The stored webhook health (None until the subscriptions were listed once)."""
    return settings.get_setting(HEALTH_KEY)


def suggested_base_url() -> str:
    """The public address used for this app's last subscription, if any."""
    return (health() or {}).get("base_url") or ""


def signing_key_source() -> str:
    """Where the receiver's signing key comes from: ``config``, ``stored`` or ``none``."""
    if settings.configured_webhook_signing_key():
        return "config"
    return "stored" if settings.get_setting(settings.WEBHOOK_SIGNING_KEY_SETTING) else "none"


def dashboard_warning(now: datetime | None = None) -> DashboardWarning | None:
    """What the dashboard says about webhooks: None until they were listed once."""
    stored = health()
    if not stored:
        return None
    checked_at = parse_time_or_none(stored.get("checked_at"))
    now = now or clock.now()
    stale = checked_at is None or now - checked_at > HEALTH_MAX_AGE
    return DashboardWarning(
        disabled=list(stored.get("disabled") or []), refresh=stale, silent=_silence(stored)
    )


def _silence(stored: dict) -> dict | None:
    """This app's active subscription, if syncs found booking changes its deliveries missed."""
    ours = stored.get("ours")
    if not stored.get("ours_active") or not ours:
        return None
    since = last_delivery_at() or parse_time_or_none(ours.get("created_at"))
    if since is None:
        return None
    missed = db.session.scalar(
        select(func.max(SyncRun.finished_at)).where(
            SyncRun.status == SyncStatus.SUCCEEDED,
            SyncRun.started_at > since + SILENCE_GRACE,
            (SyncRun.attendees_created + SyncRun.attendees_updated) > 0,
        )
    )
    if missed is None:
        return None
    return {**ours, "since": since}


def refresh_health_if_stale() -> None:
    """List the subscriptions again when the stored health is older than HEALTH_MAX_AGE."""
    warning = dashboard_warning()
    if warning is not None and warning.refresh:
        list_subscriptions()


# -- changing -------------------------------------------------------------------------------------


def create_subscription(base_url: str, actor: AdminUser | None = None) -> Subscription:
    """Subscribe this app's webhook URL (below `base_url`) to HANDLED_EVENTS with a new signing key
    (`actor`: the admin asking, noted in the audit log).

    The key is stored (encrypted) only after Calendly accepted the subscription; with
    CALENDLY_WEBHOOK_SIGNING_KEY set, that key is used instead (the receiver prefers it).

    Raises:
        ValueError: `base_url` is not an https:// address (see callback_url_for).
        WebhookAdminError: not connected, plan without webhooks, or Calendly refused
            (e.g. 409 when a subscription for this URL exists).
    """
    url = callback_url_for(base_url)
    org, user = _account()
    if not org:
        raise WebhookAdminError("not_connected")
    # The subscription covers the sync scope: colleagues' webinars reach only an organization
    # subscription; the receiver keeps only the deliveries within the scope anyway.
    if settings.sync_scope().needs_admin:
        created = _create(url, org, user, "organization", member_fallback=False)
    else:
        scope = "user" if (health() or {}).get("scope") == "user" and user else "organization"
        created = _create(url, org, user, scope)
    audit.record_now(AuditAction.WEBHOOK_CREATED, actor, subscription=created.uri)
    return created


def delete_subscription(ref: str, actor: AdminUser | None = None) -> None:
    """Delete a subscription (by URI or UUID); one Calendly no longer has counts as deleted
    (`actor`: the admin asking, noted in the audit log).

    Raises:
        WebhookAdminError: an unusable reference, or Calendly refused.
    """
    try:
        uuid = uuid_from_uri(ref)
    except ValueError as exc:
        raise WebhookAdminError("not_found") from exc
    _call_calendly(lambda client: _delete(client, uuid))
    log.info("Calendly webhook subscription %s deleted", uuid)
    _forget_disabled(uuid)
    audit.record_now(AuditAction.WEBHOOK_DELETED, actor, subscription=ref)


def recreate_subscription(ref: str, actor: AdminUser | None = None) -> Subscription:
    """Replace a (disabled) subscription of this app: delete it, create it anew with a new key
    (both noted in the audit log as done by `actor`).

    Raises:
        WebhookAdminError: not connected, no such subscription, one of another integration
            (its signing key is not ours to replace), or Calendly refused.
    """
    try:
        uuid = uuid_from_uri(ref)
    except ValueError as exc:
        raise WebhookAdminError("not_found") from exc
    org, user = _account()
    if not org:
        raise WebhookAdminError("not_connected")
    raw, _ = _call_calendly(lambda client: _fetch(client, org, user))
    found = next((item for item in raw if uuid_from_uri(item.get("uri") or "-") == uuid), None)
    if found is None:
        _forget_disabled(uuid)
        raise WebhookAdminError("not_found")
    old = _subscription(found)
    if not old.ours:
        raise WebhookAdminError("not_ours")
    # Calendly refuses a second subscription for the same URL: the old one goes first.
    _call_calendly(lambda client: _delete(client, uuid))
    _forget_disabled(uuid)
    log.info("Calendly webhook subscription %s deleted for re-creation", uuid)
    audit.record_now(AuditAction.WEBHOOK_DELETED, actor, subscription=old.uri)
    scope = old.scope if old.scope in ("organization", "user") else "organization"
    created = _create(old.callback_url, org, old.user or user, scope)
    audit.record_now(AuditAction.WEBHOOK_CREATED, actor, subscription=created.uri)
    return created


# -- internals ------------------------------------------------------------------------------------


def _account() -> tuple[str | None, str | None]:
    account = settings.account() or {}
    return account.get("organization_uri"), account.get("user_uri")


def _call_calendly(work):
    """Run `work(client)`, turning Calendly failures into WebhookAdminError."""
    # Hold no database snapshot while waiting on Calendly (a sync or delivery may write).
    db.session.commit()
    try:
        with interactive_client() as client:
            return work(client)
    except (CalendlyError, TokenVaultError, ValueError) as exc:
        log.info("Calendly webhook administration failed: %s", exc)
        raise WebhookAdminError("plan" if is_plan_refusal(exc) else "calendly", exc) from exc


def _fetch(client: CalendlyClient, org: str, user: str | None) -> tuple[list[dict], str]:
    """All subscriptions of the organization; a member who may not list those gets their own."""
    try:
        return list(client.iter_webhook_subscriptions(organization=org)), "organization"
    except PermissionDeniedError as exc:
        if is_plan_refusal(exc) or exc.required_scopes or not user:
            raise
        log.info("listing organization webhooks refused (%s); listing the user's", exc)
    return list(
        client.iter_webhook_subscriptions(organization=org, scope="user", user=user)
    ), "user"


def _delete(client: CalendlyClient, uuid: str) -> None:
    try:
        client.delete_webhook_subscription(uuid)
    except NotFoundError:
        log.info("webhook subscription %s was already gone", uuid)


def _create(
    url: str, org: str, user: str | None, scope: str, *, member_fallback: bool = True
) -> Subscription:
    configured = settings.configured_webhook_signing_key()
    key = configured or secrets.token_urlsafe(32)

    def create(client: CalendlyClient) -> dict:
        arguments = {"url": url, "events": HANDLED_EVENTS, "organization": org, "signing_key": key}
        try:
            return client.create_webhook_subscription(
                scope=scope, user=user if scope == "user" else None, **arguments
            )
        except PermissionDeniedError as exc:
            # Only owners and admins may subscribe the organization; members subscribe themselves.
            if (
                scope != "organization"
                or not member_fallback
                or is_plan_refusal(exc)
                or exc.required_scopes
                or not user
            ):
                raise
            return client.create_webhook_subscription(scope="user", user=user, **arguments)

    created = _subscription(_call_calendly(create))
    if not configured:
        settings.save_webhook_signing_key(key)
    _note_created(created)
    log.info("Calendly webhook subscription %s created", created.uuid)
    return created


def _subscription(item: dict) -> Subscription:
    uri = item.get("uri") or ""
    callback = item.get("callback_url") or ""
    return Subscription(
        uri=uri,
        uuid=_safe_uuid(uri),
        callback_url=callback,
        events=tuple(name for name in item.get("events") or () if isinstance(name, str)),
        state=item.get("state") or "active",
        scope=item.get("scope") or "",
        user=item.get("user"),
        created_at=parse_time_or_none(item.get("created_at")),
        ours=urlsplit(callback).path.rstrip("/").endswith(WEBHOOK_PATH),
    )


def _safe_uuid(uri: str) -> str:
    try:
        return uuid_from_uri(uri)
    except ValueError:
        return ""


def _record_health(listing: Listing) -> None:
    previous = health() or {}
    stored = dict(previous)
    stored.update(
        {
            "checked_at": listing.checked_at.isoformat(),
            "plan_blocked": listing.plan_blocked,
            "error": None if listing.error is None else type(listing.error).__name__,
            "last_delivery_at": listing.last_delivery_at.isoformat()
            if listing.last_delivery_at
            else None,
        }
    )
    if listing.error is None and not listing.not_connected:
        # Only a successful listing knows the states; a failed one keeps what was known.
        stored.update(
            {
                "scope": listing.scope,
                "subscriptions": len(listing.subscriptions),
                "any_disabled": listing.any_disabled,
                "ours_active": listing.ours_active,
                "ours": next(
                    (
                        {
                            "uuid": sub.uuid,
                            "callback_url": sub.callback_url,
                            "created_at": sub.created_at.isoformat() if sub.created_at else None,
                        }
                        for sub in listing.subscriptions
                        if sub.ours and not sub.disabled and sub.uuid
                    ),
                    None,
                ),
                "disabled": [
                    {"uuid": sub.uuid, "callback_url": sub.callback_url}
                    for sub in listing.subscriptions
                    if sub.ours and sub.disabled and sub.uuid
                ],
            }
        )
    elif listing.plan_blocked:
        stored["disabled"] = []
    settings.set_setting(HEALTH_KEY, stored)


def _note_created(created: Subscription) -> None:
    stored = dict(health() or {})
    stored["base_url"] = base_url_of(created.callback_url)
    stored["scope"] = created.scope
    stored["ours_active"] = True
    stored["ours"] = {
        "uuid": created.uuid,
        "callback_url": created.callback_url,
        "created_at": (created.created_at or clock.now()).isoformat(),
    }
    stored["disabled"] = [
        item
        for item in stored.get("disabled") or []
        if item.get("callback_url") != created.callback_url
    ]
    stored.setdefault("checked_at", clock.now().isoformat())
    settings.set_setting(HEALTH_KEY, stored)


def _forget_disabled(uuid: str) -> None:
    stored = health()
    if not stored or not any(item.get("uuid") == uuid for item in stored.get("disabled") or []):
        return
    stored = dict(stored)
    stored["disabled"] = [item for item in stored["disabled"] if item.get("uuid") != uuid]
    settings.set_setting(HEALTH_KEY, stored)
