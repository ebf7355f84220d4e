"""The Calendly connection: the configured client, and behind the Settings page checking a
token, connecting it and picking event types.

Runs in an app context but knows nothing of requests or forms; the views render what it returns.
A connected token is announced with the `token_connected` signal (demo mode listens to it).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from blinker import Namespace
from flask import current_app

from calendly.client import CalendlyClient
from calendly.errors import AuthenticationError, CalendlyError, PermissionDeniedError
from calendly.records import EventType
from calendly.scope import ADMIN_ROLES, allowed_modes
from mirror.event_types import ALL_TYPES, EventTypeSelection, read_listing, store_listing
from services import audit, metrics, settings
from services.secrets import TokenVaultError
from store import clock
from store.database import db, start_write
from store.models import AdminUser

log = logging.getLogger(__name__)

# The event types demo mode chooses (the seed's info-webinars); a real account gets no default.
DEFAULT_EVENT_TYPE_MARKER = "infowebinar"
# An admin waits on these calls (token checks, no-show marks, webhook administration), so fail
# fast instead of retrying for a minute (writes only ever retry a 429 anyway).
INTERACTIVE_MAX_RETRIES = 1

# Sent with the app as sender once a pasted token was verified and stored; `connected_by` is the
# id of the admin account that pasted it.
token_connected = Namespace().signal("token-connected")


@dataclass
class TokenCheck:
    """What Calendly said about a token: whose it is, its event types, and what is wrong."""

    user: dict | None = None
    event_types: list[dict] = field(default_factory=list)
    event_types_listed: bool = False
    # What went wrong, as the exceptions themselves: the screens say it in the admin's language.
    problems: list[Exception] = field(default_factory=list)
    missing_scopes: list[str] = field(default_factory=list)
    token_rejected: bool = False
    # The token's role in its organization (owner, admin, user); None when it could not be read.
    role: str | None = None
    # The organization's members, listed when the role may read them ([] otherwise).
    members: list[dict] = field(default_factory=list)

    @property
    def scopes_allowed(self) -> tuple[str, ...]:
        """The sync scopes this token may read."""
        return allowed_modes(self.role)

    @property
    def ok(self) -> bool:
        """True when the token works for everything the sync needs."""
        return self.user is not None and not self.problems

    def note(self, exc: Exception) -> None:
        """Record a failure as something to show the admin."""
        self.problems.append(exc)
        if isinstance(exc, AuthenticationError):
            self.token_rejected = True
        if isinstance(exc, PermissionDeniedError):
            for scope in exc.required_scopes:
                if scope not in self.missing_scopes:
                    self.missing_scopes.append(scope)


def token_configured() -> bool:
    """True when the app has a token to use: the environment, a stored one, or demo mode's."""
    return bool(
        settings.token_from_environment()
        or settings.token_hint()
        or current_app.config.get("DEMO_CALENDLY_TOKEN")
    )


def build_client(token: str | None = None) -> CalendlyClient:
    """A client for the configured base URL with `token` or the stored/configured one.

    Raises:
        MissingTokenError: no token is configured.
        TokenVaultError: the stored token cannot be decrypted.
    """
    config = current_app.config
    token = token if token is not None else settings.calendly_token()
    base_url = config["CALENDLY_API_BASE_URL"]
    if token and token == config.get("DEMO_CALENDLY_TOKEN") and config.get("DEMO_API_BASE_URL"):
        # Demo mode's made-up token belongs to the bundled simulator; every other to Calendly.
        base_url = config["DEMO_API_BASE_URL"]
    client = CalendlyClient(
        token,
        base_url=base_url,
        timeout=config["CALENDLY_TIMEOUT"],
        max_retries=config["CALENDLY_MAX_RETRIES"],
        backoff_base=config["CALENDLY_BACKOFF_BASE"],
        backoff_cap=config["CALENDLY_BACKOFF_CAP"],
    )
    client.on_attempt = metrics.count_attempt
    return client


def interactive_client(token: str | None = None) -> CalendlyClient:
    """The configured client (`build_client`) for a call an admin waits on.

    Args:
        token: a pasted token to check; it always goes to the real API, also in demo mode.
            Default: the token in use.

    Returns:
        A client that retries at most INTERACTIVE_MAX_RETRIES times.

    Raises:
        MissingTokenError: no token is configured.
        TokenVaultError: the stored token cannot be decrypted.
    """
    client = build_client(token or None)
    client.max_retries = min(INTERACTIVE_MAX_RETRIES, client.max_retries)
    return client


def check_token(token: str | None = None) -> TokenCheck:
    """Verify `token` (default: the token in use) and list its account's event types.

    Calls ``GET /users/me``, ``GET /event_types?user=...`` and one page of
    ``GET /scheduled_events`` (so a missing ``scheduled_events:read`` scope shows up here rather
    than in the next sync). Never raises for Calendly or decryption failures: they are returned
    in ``problems``.
    """
    check = TokenCheck()
    try:
        client = interactive_client(token)
    except (CalendlyError, TokenVaultError) as exc:
        check.note(exc)
        return check
    # Hold no database snapshot while waiting on Calendly: on SQLite a write after it would fail
    # at once if a sync committed meanwhile.
    db.session.commit()
    try:
        with client:
            check.user = client.get_current_user()
            user_uri = check.user.get("uri")
            _probe_access(client, check)
            # An owner or admin picks from the whole organization's types, team types included.
            org = check.user.get("current_organization")
            owner = {"organization": org} if check.role in ADMIN_ROLES and org else {}
            try:
                check.event_types = list(client.iter_event_types(**(owner or {"user": user_uri})))
                check.event_types_listed = True
            except PermissionDeniedError as exc:
                check.note(exc)
            try:
                next(iter(client.iter_scheduled_events(user=user_uri, count=1)), None)
            except PermissionDeniedError as exc:
                check.note(exc)
    except (CalendlyError, ValueError) as exc:  # ValueError: a user without a URI
        check.note(exc)
    return check


def _probe_access(client: CalendlyClient, check: TokenCheck) -> None:
    """What the token may read: its membership's role (one small request), and for an owner
    or admin the members a "these hosts" scope picks from. A refusal only narrows the choice."""
    try:
        mine = client.iter_organization_memberships(user=check.user.get("uri"))
        check.role = next((item.get("role") for item in mine if isinstance(item, dict)), None)
        org = check.user.get("current_organization")
        if check.role in ADMIN_ROLES and org:
            check.members = list(client.iter_organization_memberships(organization=org))
    except CalendlyError as exc:  # the token still syncs its own events
        log.info("the token's organization role cannot be read (%s)", exc)


def current_status() -> TokenCheck:
    """Check the token in use; when it works, refresh the stored account ("last verified")."""
    check = check_token()
    if check.user is not None:
        _remember_account(check)
    return check


def _remember_account(check: TokenCheck) -> None:
    # Event types chosen for another account mean nothing for this one: the admin chooses anew.
    previous = settings.account() or {}
    if previous.get("user_uri") != check.user.get("uri"):
        settings.delete_setting(settings.EVENT_TYPES_KEY)
        # Hosts and scope chosen in another organization mean nothing here either.
        settings.delete_setting(settings.SCOPE_KEY)
        settings.delete_setting(settings.MEMBERS_KEY)
    settings.save_account(check.user)
    settings.save_token_role(check.user.get("uri"), check.role)
    if check.members:
        settings.save_org_members(check.members)
    if check.event_types_listed:
        _cache_event_types(read_listing(check.event_types))


def _cache_event_types(types: list[EventType]) -> None:
    """Keep the listing just made in the event type cache (the sync resolves names by it)."""
    start_write(db.session)
    store_listing(types, clock.now())
    db.session.commit()


def connect_token(token: str, connected_by: int | None = None) -> TokenCheck:
    """Verify a pasted token and, when Calendly accepts it, store it encrypted.

    A token of another account than before forgets the event type choice, and a
    working token ends demo mode. `connected_by` (the admin's account id) goes with the
    `token_connected` signal. The returned check has ``user`` None when it was refused.
    """
    token = token.strip()
    check = check_token(token)
    if check.user is None:
        first = check.problems[0] if check.problems else "-"
        log.info("Calendly refused a pasted token: %s", first)
        return check
    settings.save_calendly_token(token, actor=audit.actor_by_id(connected_by))
    _remember_account(check)
    token_connected.send(current_app._get_current_object(), connected_by=connected_by)
    log.info("Calendly token saved for user %s", check.user.get("uri"))
    return check


def default_event_type_uris(event_types: list[dict]) -> list[str]:
    """URIs of the event types whose name contains "Infowebinar"."""
    return [
        item["uri"]
        for item in event_types
        if item.get("uri") and DEFAULT_EVENT_TYPE_MARKER in (item.get("name") or "").casefold()
    ]


def is_selected(event_type: dict, selection: list[str] | None) -> bool:
    """True when `selection` (URIs, or names from CALENDLY_EVENT_TYPES) names `event_type`,
    by the rule the sync and the webhook receiver follow (a name stands for its type's URI).

    "All types" ticks no single checkbox: it has a checkbox of its own.
    """
    uri = event_type.get("uri")
    catalog = {uri: event_type.get("name")} if isinstance(uri, str) else {}
    chosen = EventTypeSelection(selection, catalog)
    return not chosen.everything and chosen.includes(uri)


def save_event_types(
    uris: list[str], *, all_types: bool = False, actor: AdminUser | None = None
) -> bool:
    """Store the event types to sync (`all_types`: every type, also later ones), chosen by
    `actor` (noted in the audit log).

    Returns:
        True when this was the first choice (nothing was chosen before), so the caller starts
        the first sync.
    """
    new = [ALL_TYPES] if all_types else list(uris)
    with settings.changing():
        old = settings.get_setting(settings.EVENT_TYPES_KEY)
        settings.put_setting(settings.EVENT_TYPES_KEY, new)
        settings.record_change(settings.EVENT_TYPES_KEY, old, new, actor)
    return old is None


def remove_token(actor: AdminUser | None = None) -> None:
    """Forget the stored token and its account (syncing stops until a new one is saved)."""
    settings.clear_calendly_token(actor)
    log.info("Calendly token removed")
