"""HTTP client for Calendly API v2: paging, pacing, retries and typed errors.

The client knows HTTP and Calendly's conventions and nothing else: it never imports Flask or the
database, and it hands back plain dicts exactly as Calendly sent them. This module holds the
endpoints; ``calendly.transport`` sends the requests and ``calendly.pagination`` walks the pages.

Rules it keeps (see the tests for each):

* Every request goes to ``base_url``. Paths are built from UUIDs and pages are fetched by repeating
  the query with ``page_token``; absolute URIs in responses (``next_page``, ``uri``) always point at
  https://api.calendly.com and are never followed, so a simulator or proxy base URL stays in charge.
  Redirects are not followed either.
* Requests are paced from the ``X-RateLimit-*`` headers so a normal sync never meets a 429. A 429
  still waits what Calendly says and retries; 5xx and network faults retry GETs with capped,
  fully jittered exponential backoff; other 4xx never retry. Writes retry only on 429, because a
  429 means the write was not performed while a 5xx or a dropped connection leaves it unknown.
* Errors are typed (``calendly.errors``) with messages a user can act on. The token never appears
  in a message, a log line or a repr.
* The wall clock is injected (``now``), like the monotonic ``clock`` and ``sleep``.

A client is not thread-safe: use one per thread or job.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from calendly.pagination import iter_collection, walk_scheduled_events
from calendly.times import format_time
from calendly.transport import DEFAULT_BASE_URL, Transport

# Calendly's maximum page size: fewer pages means fewer requests against the per-user quota.
MAX_PAGE_SIZE = 100
WEBHOOK_SCOPES = ("organization", "user")

_SAFE_SEGMENT = re.compile(r"[A-Za-z0-9_-]+")
_INVITEE_PATH = re.compile(r"/scheduled_events/([A-Za-z0-9_-]+)/invitees/([A-Za-z0-9_-]+)/?")


def uuid_from_uri(uri: str) -> str:
    """Return the UUID (last path segment) of a Calendly URI; a bare UUID is returned as is.

    Args:
        uri: e.g. ``https://api.calendly.com/scheduled_events/AAAA`` or ``AAAA``.

    Returns:
        The last path segment, safe to put into a request path.

    Raises:
        ValueError: when the value is empty or its last segment is not ``[A-Za-z0-9_-]+`` (so
            nothing like ``..``, ``%2F`` or a query string can reach a request path).
    """
    if not isinstance(uri, str) or not uri.strip():
        raise ValueError("Expected a Calendly URI or UUID, got an empty value")
    text = uri.strip()
    path = text
    scheme_end = text.find("://")
    if scheme_end >= 0:
        # The path of an absolute URI, cut by hand: urlsplit is a hot spot in a large sync.
        rest = text[scheme_end + 3 :]
        slash = rest.find("/")
        path = rest[slash:].split("?", 1)[0].split("#", 1)[0] if slash >= 0 else ""
    segment = path.rstrip("/").rsplit("/", 1)[-1]
    if not _SAFE_SEGMENT.fullmatch(segment):
        raise ValueError(f"Not a Calendly URI or UUID: {text[:120]!r}")
    return segment


def invitee_uri_of(uri: str) -> str:
    """The canonical API URI of an invitee, rebuilt from the UUIDs in `uri`.

    Raises:
        ValueError: when `uri` is not an invitee URI.
    """
    path = urlsplit(uri.strip()).path if isinstance(uri, str) else ""
    match = _INVITEE_PATH.fullmatch(path)
    if match is None:
        raise ValueError(f"Not a Calendly invitee URI: {str(uri)[:120]!r}")
    return f"{DEFAULT_BASE_URL}/scheduled_events/{match.group(1)}/invitees/{match.group(2)}"


class CalendlyClient(Transport):
    """Talks to Calendly API v2 (or a simulator/proxy at ``base_url``) with one HTTP session.

    Construction, the attributes (``base_url``, ``timeout``, ``max_retries``, ``request_count``
    ...) and ``request`` come from ``calendly.transport.Transport``; this class adds one method
    per endpoint.
    """

    # -- public API -----------------------------------------------------------------------

    def get_current_user(self) -> dict:
        """Fetch the user the token belongs to (``GET /users/me``).

        Returns:
            The User resource (``uri``, ``name``, ``email``, ``current_organization`` ...).

        Raises:
            AuthenticationError: the token is invalid or revoked (401).
            PermissionDeniedError: e.g. the token lacks ``users:read`` (403).
            CalendlyError: any other failure (see ``calendly.errors``).
        """
        return self.request("GET", "/users/me", expect="resource")["resource"]

    def iter_event_types(
        self,
        *,
        user: str | None = None,
        organization: str | None = None,
        active: bool | None = None,
    ) -> Iterator[dict]:
        """Yield event types of a user or organization, page by page (``GET /event_types``).

        Args:
            user: User URI.
            organization: Organization URI (needs admin/owner rights).
            active: Only active (True) or inactive (False) types; both when None.

        Returns:
            An iterator of EventType dicts; requests are sent as it is consumed.

        Raises:
            ValueError: when neither ``user`` nor ``organization`` is given.
            CalendlyError: on any API failure while iterating.
        """
        return self._iter_owned("/event_types", user, organization, active=active)

    def iter_scheduled_events(
        self,
        *,
        user: str | None = None,
        organization: str | None = None,
        min_start_time: datetime | str | None = None,
        max_start_time: datetime | str | None = None,
        status: str | None = None,
        sort: str | None = "start_time:asc",
        count: int = MAX_PAGE_SIZE,
    ) -> Iterator[dict]:
        """Yield scheduled events, page by page (``GET /scheduled_events``).

        If Calendly rejects a page token mid-walk (400 naming ``page_token``, e.g. a cursor that
        expired during a long, rate-limited sync), the walk restarts without a token from the
        last ``start_time`` seen (1 µs earlier, so events sharing that start time are not lost;
        for ``start_time:desc`` it moves ``max_start_time`` instead) and skips events already
        yielded. Events are also de-duplicated by ``uri`` across pages in general.

        Args:
            user: User URI (``get_current_user()["uri"]``).
            organization: Organization URI (needs admin/owner rights).
            min_start_time: Aware datetime or ISO-8601 string; events starting after it.
            max_start_time: Aware datetime or ISO-8601 string; events starting before it.
            status: ``"active"`` or ``"canceled"``; both when None.
            sort: ``"start_time:asc"`` (default) or ``"start_time:desc"``.
            count: Page size, 1-100.

        Returns:
            An iterator of Event dicts; requests are sent as it is consumed.

        Raises:
            ValueError: neither ``user`` nor ``organization``, a naive datetime, or a bad count.
            MalformedResponseError: a page token repeats, or a page is not valid JSON.
            ApiError: the page token was rejected more than ``pagination.MAX_WALK_RESTARTS`` times.
            CalendlyError: on any other API failure while iterating.
        """
        _require_user_or_organization(user, organization)
        params = {
            "user": user,
            "organization": organization,
            "min_start_time": _time_filter(min_start_time, "min_start_time"),
            "max_start_time": _time_filter(max_start_time, "max_start_time"),
            "status": status,
            "sort": sort,
            "count": _check_count(count),
        }
        return walk_scheduled_events(self, params)

    def iter_organization_memberships(
        self,
        *,
        organization: str | None = None,
        user: str | None = None,
        email: str | None = None,
    ) -> Iterator[dict]:
        """Yield the memberships of an organization, or a user's (``GET
        /organization_memberships``), paged.

        Args:
            organization: Organization URI: its members.
            user: User URI: that user's membership (with its ``role``).
            email: Only the member with this email.

        Returns:
            An iterator of OrganizationMembership dicts (``uri``, ``role``, ``user`` with
            ``uri``/``name``/``email``, ``organization``); requests are sent as it is consumed.

        Raises:
            ValueError: when neither ``user`` nor ``organization`` is given.
            CalendlyError: on any API failure while iterating.
        """
        return self._iter_owned("/organization_memberships", user, organization, email=email)

    def _iter_owned(self, path: str, user, organization, **params: Any) -> Iterator[dict]:
        """Full pages of a collection that Calendly lists per user or organization."""
        _require_user_or_organization(user, organization)
        query = {"user": user, "organization": organization, **params, "count": MAX_PAGE_SIZE}
        return iter_collection(self, path, query)

    def iter_scope_events(self, reads: Sequence[dict], **filters: Any) -> Iterator[dict]:
        """Yield the scheduled events of every read of a scope (``calendly.scope.reads_for``),
        each event once: a collective event seen through several hosts comes once.

        Args:
            reads: ``user``/``organization`` arguments, one dict per read.
            filters: further arguments of ``iter_scheduled_events`` (times, status, sort).

        Raises:
            CalendlyError: as ``iter_scheduled_events``.
        """
        seen: set[str] = set()
        for read in reads:
            for event in self.iter_scheduled_events(**read, **filters):
                uri = event.get("uri") if isinstance(event, dict) else None
                if isinstance(uri, str):
                    if uri in seen:
                        continue
                    seen.add(uri)
                yield event

    def get_scheduled_event(self, uuid: str) -> dict:
        """Fetch one scheduled event (``GET /scheduled_events/{uuid}``).

        Args:
            uuid: Event UUID, or the event URI (its last segment is used).

        Returns:
            The Event resource.

        Raises:
            ValueError: when ``uuid`` is not a safe UUID/URI.
            NotFoundError: no such event for this token (404).
            CalendlyError: any other failure.
        """
        return self.request("GET", f"/scheduled_events/{uuid_from_uri(uuid)}", expect="resource")[
            "resource"
        ]

    def iter_invitees(
        self, event_uuid: str, *, status: str | None = None, count: int = MAX_PAGE_SIZE
    ) -> Iterator[dict]:
        """Yield the invitees of one event, paged (``GET /scheduled_events/{uuid}/invitees``).

        Args:
            event_uuid: Event UUID, or the event URI (its last segment is used).
            status: ``"active"`` or ``"canceled"``; both when None.
            count: Page size, 1-100.

        Returns:
            An iterator of Invitee dicts; requests are sent as it is consumed.

        Raises:
            ValueError: when ``event_uuid`` is not a safe UUID/URI or ``count`` is out of range.
            MalformedResponseError: a page token repeats, or a page is not valid JSON.
            CalendlyError: on any other API failure while iterating.
        """
        path = f"/scheduled_events/{uuid_from_uri(event_uuid)}/invitees"
        params = {"status": status, "count": _check_count(count)}
        return iter_collection(self, path, params)

    def list_invitees(self, event_uuid: str, **kw: Any) -> list[dict]:
        """Return all invitees of one event as a list; see ``iter_invitees`` for arguments.

        Raises:
            CalendlyError: as ``iter_invitees``.
        """
        return list(self.iter_invitees(event_uuid, **kw))

    # -- writes and webhook subscriptions -----------------------------------------------------
    # Never retried except on 429: after a 5xx or a dropped connection the write may have
    # happened, and only the caller can tell whether doing it twice is harmless.

    def create_no_show(self, invitee_uri: str) -> dict:
        """Mark an invitee as a no-show (``POST /invitee_no_shows``).

        Args:
            invitee_uri: The invitee's URI
                (``https://api.calendly.com/scheduled_events/<event>/invitees/<invitee>``).

        Returns:
            The InviteeNoShow resource (``uri``, ``invitee``, ``created_at``).

        Raises:
            ValueError: when ``invitee_uri`` is not an invitee URI.
            PermissionDeniedError: e.g. the token lacks ``scheduled_events:write`` (403).
            NotFoundError: no such invitee for this token (404).
            CalendlyError: any other failure; a NetworkError leaves the outcome unknown.
        """
        body = {"invitee": invitee_uri_of(invitee_uri)}
        return self.request("POST", "/invitee_no_shows", json=body, expect="resource")["resource"]

    def delete_no_show(self, no_show_uri_or_uuid: str) -> None:
        """Undo a no-show mark (``DELETE /invitee_no_shows/{uuid}``).

        Args:
            no_show_uri_or_uuid: The no-show's URI (the invitee's ``no_show.uri``) or UUID.

        Raises:
            ValueError: when the value is not a safe URI/UUID.
            NotFoundError: the no-show does not exist (any more) (404).
            CalendlyError: any other failure; a NetworkError leaves the outcome unknown.
        """
        self.request("DELETE", f"/invitee_no_shows/{uuid_from_uri(no_show_uri_or_uuid)}")

    def delete_invitee_data(self, emails: Sequence[str]) -> None:
        """Ask Calendly to delete everything it holds on these invitees (``POST
        /data_compliance/deletion/invitees``; Enterprise plans only). Calendly accepts the
        request (202) and deletes asynchronously.

        Args:
            emails: The invitees' email addresses (at least one).

        Raises:
            ValueError: no email.
            PermissionDeniedError: a plan without data compliance (not Enterprise), or a token
                whose user lacks the data requests permission (403).
            CalendlyError: any other failure; a NetworkError leaves the outcome unknown.
        """
        if isinstance(emails, str) or not emails:
            raise ValueError("emails must be a non-empty list of email addresses")
        self.request("POST", "/data_compliance/deletion/invitees", json={"emails": list(emails)})

    def iter_webhook_subscriptions(
        self, *, organization: str, scope: str = "organization", user: str | None = None
    ) -> Iterator[dict]:
        """Yield the webhook subscriptions of an organization or user (``GET
        /webhook_subscriptions``), paged.

        Args:
            organization: Organization URI (required by Calendly for both scopes).
            scope: ``"organization"`` (needs admin/owner rights) or ``"user"``.
            user: User URI; required when ``scope`` is ``"user"``.

        Returns:
            An iterator of WebhookSubscription dicts (``uri``, ``callback_url``, ``state``,
            ``events`` ...); requests are sent as it is consumed.

        Raises:
            ValueError: no organization, an unknown scope, or scope user without ``user``.
            PermissionDeniedError: no right to list them, or a plan without webhooks (403).
            CalendlyError: on any other API failure while iterating.
        """
        _check_webhook_scope(organization, scope, user)
        params = {"organization": organization, "scope": scope, "user": user}
        params["count"] = MAX_PAGE_SIZE
        return iter_collection(self, "/webhook_subscriptions", params)

    def create_webhook_subscription(
        self,
        *,
        url: str,
        events: Sequence[str],
        organization: str,
        scope: str,
        user: str | None = None,
        signing_key: str | None,
    ) -> dict:
        """Subscribe a callback URL to events (``POST /webhook_subscriptions``).

        Args:
            url: The HTTPS URL Calendly posts deliveries to.
            events: Event names, e.g. ``["invitee.created", "invitee.canceled"]``.
            organization: Organization URI.
            scope: ``"organization"`` or ``"user"``.
            user: User URI; required when ``scope`` is ``"user"``.
            signing_key: The key Calendly signs deliveries with (None: Calendly signs nothing
                for a Personal Access Token). Calendly never returns it; keep it.

        Returns:
            The WebhookSubscription resource (without the signing key).

        Raises:
            ValueError: no events, no organization, an unknown scope, or scope user without
                ``user``.
            ApiError: 409 when a subscription for this URL exists; 400 for a refused URL or event.
            PermissionDeniedError: no right to create it, or a plan without webhooks (403).
            CalendlyError: any other failure; a NetworkError leaves the outcome unknown.
        """
        _check_webhook_scope(organization, scope, user)
        if isinstance(events, str) or not events:
            raise ValueError("events must be a non-empty list of event names")
        body = {"url": url, "events": list(events), "organization": organization, "scope": scope}
        if user is not None:
            body["user"] = user
        if signing_key is not None:
            body["signing_key"] = signing_key
        return self.request("POST", "/webhook_subscriptions", json=body, expect="resource")[
            "resource"
        ]

    def delete_webhook_subscription(self, uri_or_uuid: str) -> None:
        """Delete a webhook subscription (``DELETE /webhook_subscriptions/{uuid}``).

        Args:
            uri_or_uuid: The subscription's URI or UUID.

        Raises:
            ValueError: when the value is not a safe URI/UUID.
            NotFoundError: no such subscription (any more) (404).
            CalendlyError: any other failure; a NetworkError leaves the outcome unknown.
        """
        self.request("DELETE", f"/webhook_subscriptions/{uuid_from_uri(uri_or_uuid)}")


def _require_user_or_organization(user: str | None, organization: str | None) -> None:
    # Calendly answers 400 without one of them; failing here gives a clearer message.
    if not user and not organization:
        raise ValueError(
            "Pass user or organization (URIs from get_current_user()) to list Calendly data"
        )


def _check_webhook_scope(organization: str | None, scope: str, user: str | None) -> None:
    if not organization:
        raise ValueError("Pass the organization URI (current_organization from /users/me)")
    if scope not in WEBHOOK_SCOPES:
        raise ValueError(f"scope must be one of {', '.join(WEBHOOK_SCOPES)}, got {scope!r}")
    if scope == "user" and not user:
        raise ValueError("Pass the user URI for scope 'user'")


def _check_count(count: int) -> int:
    if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= MAX_PAGE_SIZE:
        raise ValueError(f"count must be an integer from 1 to {MAX_PAGE_SIZE}, got {count!r}")
    return count


def _time_filter(value: datetime | str | None, name: str) -> str | None:
    """A time filter for the query: a datetime in Calendly's format, a string as written."""
    if value is None:
        return None
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, datetime):
        return format_time(value, name=name)
    raise TypeError(f"{name} must be a datetime or an ISO-8601 string, got {type(value).__name__}")
