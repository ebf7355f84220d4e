"""HTTP client for Calendly API v2: paging, pacing, retries and typed errors.

The client knows HTTP and Calendly's conventions and nothing else: it never imports Flask or the
database, and it hands back plain dicts exactly as Calendly sent them.

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

A client is not thread-safe: use one per thread or job.
"""

from __future__ import annotations

import email.utils
import http.client
import logging
import random
import re
import socket
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests
import urllib3.exceptions

from calendly.errors import (
    TOKEN_PAGE_URL,
    ApiError,
    AuthenticationError,
    CalendlyError,
    MalformedResponseError,
    MissingTokenError,
    NetworkError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitedError,
)

log = logging.getLogger("calendly.client")

DEFAULT_BASE_URL = "https://api.calendly.com"
USER_AGENT = "webinar-sync/1.0"
# Calendly's maximum page size: fewer pages means fewer requests against the per-user quota.
MAX_PAGE_SIZE = 100
# Used only when a 429 has neither Retry-After nor X-RateLimit-Reset (Calendly's window is 60 s).
FALLBACK_RATE_LIMIT_WAIT = 60.0
# A wait longer than this (e.g. the daily cap on POST /invitees) would hold a sync or a web
# request for hours and outlive the sync lease: raise RateLimitedError and let the caller retry.
MAX_RATE_LIMIT_WAIT = 300.0
# A garbled 200 is usually a proxy or a truncated body, so one more try is worth it; a second
# garbled answer means something is really wrong and retrying further would only burn quota.
MAX_MALFORMED_RETRIES = 1
# How often iter_scheduled_events may restart a walk after Calendly rejects its page_token.
MAX_WALK_RESTARTS = 3

_SAFE_SEGMENT = re.compile(r"[A-Za-z0-9_-]+")
# Printable ASCII without spaces: anything else cannot go into a header, and requests would echo
# the offending header value (the token) in its exception message.
_SENDABLE_TOKEN = re.compile(r"[\x21-\x7e]+")
_IDEMPOTENT_METHODS = frozenset({"GET", "HEAD"})
_RETRYABLE_NETWORK_ERRORS = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
)
_FALLBACK_MESSAGES = {
    400: "The supplied parameters are invalid",
    401: "The access token is invalid",
    403: "You do not have permission to access this resource",
    404: "The server could not find the requested resource",
    409: "The resource already exists",
    500: "The server encountered an unexpected condition",
}
_ONE_MICROSECOND = timedelta(microseconds=1)


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


class CalendlyClient:
    """Talks to Calendly API v2 (or a simulator/proxy at ``base_url``) with one HTTP session.

    Attributes:
        base_url: Where every request goes, without a trailing slash.
        timeout: ``(connect, read)`` seconds passed to every request.
        max_retries: Retries allowed per call (so at most ``max_retries + 1`` attempts).
        request_count: HTTP requests sent so far, retries included.
    """

    def __init__(
        self,
        token: str | None,
        *,
        base_url: str = DEFAULT_BASE_URL,
        timeout: float | tuple[float, float] = (5.0, 30.0),
        max_retries: int = 4,
        backoff_base: float = 0.5,
        backoff_cap: float = 20.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        session: requests.Session | None = None,
    ) -> None:
        """Set up the client; no request is sent yet.

        Args:
            token: Personal Access Token (or OAuth access token).
            base_url: API root; a simulator or proxy URL in tests and demo mode.
            timeout: ``(connect, read)`` seconds, or one number for both.
            max_retries: Retries per call for 429, 5xx and network faults.
            backoff_base: First backoff ceiling in seconds; doubles on every retry.
            backoff_cap: Largest backoff ceiling in seconds.
            sleep: Called for every wait (injectable so tests can record waits).
            clock: Monotonic seconds, used with the rate-limit reset times.
            session: A ``requests.Session`` to use; the client creates (and closes) its own if None.

        Raises:
            MissingTokenError: when ``token`` is empty or None.
            AuthenticationError: when the token holds characters that cannot be sent in a header.
        """
        token = (token or "").strip()
        if not token:
            raise MissingTokenError()
        if not _SENDABLE_TOKEN.fullmatch(token):
            raise AuthenticationError(
                "The Calendly API token contains spaces, line breaks or other characters that "
                "cannot be sent. Paste the Personal Access Token again in Settings."
            )
        self._token = token
        self._headers = {
            "Authorization": f"Bearer {token}",
            "Accept": "application/json",
            "User-Agent": USER_AGENT,
        }
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self._sleep = sleep
        self._clock = clock
        self._owns_session = session is None
        self._session = session if session is not None else requests.Session()
        self._random = random.Random()
        self.request_count = 0
        # Rate-limit state from the latest response; None means "unknown, go ahead".
        self._limit: float | None = None
        self._remaining: float | None = None
        self._reset_at: float | None = None

    def __repr__(self) -> str:
        return f"<CalendlyClient base_url={self.base_url!r}>"

    def __enter__(self) -> CalendlyClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the HTTP session if the client created it (an injected one stays open)."""
        if self._owns_session:
            self._session.close()

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
        return self._request("GET", "/users/me", expect="resource")["resource"]

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
        _require_user_or_organization(user, organization)
        params = {"user": user, "organization": organization, "active": active}
        params["count"] = MAX_PAGE_SIZE
        return self._iter_collection("/event_types", params)

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
            ApiError: the page token was rejected more than ``MAX_WALK_RESTARTS`` times.
            CalendlyError: on any other API failure while iterating.
        """
        _require_user_or_organization(user, organization)
        params = {
            "user": user,
            "organization": organization,
            "min_start_time": _format_time(min_start_time, "min_start_time"),
            "max_start_time": _format_time(max_start_time, "max_start_time"),
            "status": status,
            "sort": sort,
            "count": _check_count(count),
        }
        return self._walk_scheduled_events(params)

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
        return self._request("GET", f"/scheduled_events/{uuid_from_uri(uuid)}", expect="resource")[
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
        return self._iter_collection(path, params)

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
        return self._request("POST", "/invitee_no_shows", json=body, expect="resource")["resource"]

    def delete_no_show(self, no_show_uri_or_uuid: str) -> None:
        """Undo a no-show mark (``DELETE /invitee_no_shows/{uuid}``).

        Args:
            no_show_uri_or_uuid: The no-show's URI (the invitee's ``no_show.uri``) or UUID.

        Raises:
            ValueError: when the value is not a safe URI/UUID.
            NotFoundError: the no-show does not exist (any more) (404).
            CalendlyError: any other failure; a NetworkError leaves the outcome unknown.
        """
        self._request("DELETE", f"/invitee_no_shows/{uuid_from_uri(no_show_uri_or_uuid)}")

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
        return self._iter_collection("/webhook_subscriptions", params)

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
        return self._request("POST", "/webhook_subscriptions", json=body, expect="resource")[
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
        self._request("DELETE", f"/webhook_subscriptions/{uuid_from_uri(uri_or_uuid)}")

    # -- paging ---------------------------------------------------------------------------

    def _iter_collection(self, path: str, params: dict) -> Iterator[dict]:
        """Yield every item of a paged collection by repeating the query with ``page_token``."""
        seen_tokens: set[str] = set()
        page_token: str | None = None
        while True:
            query = dict(params)
            if page_token:
                query["page_token"] = page_token
            body = self._request("GET", path, query, expect="collection")
            yield from body["collection"]
            next_token = self._next_page_token(body, path)
            if not next_token:
                return
            if next_token in seen_tokens:
                # A server bug or a broken proxy cache would otherwise make us page forever.
                raise MalformedResponseError(
                    f"Calendly sent a malformed response for GET {path}: the same pagination "
                    f"token came back twice (after {len(seen_tokens) + 1} pages); stopped instead "
                    "of looping.",
                    status=200,
                )
            seen_tokens.add(next_token)
            page_token = next_token

    def _next_page_token(self, body: dict, path: str) -> str | None:
        """Return the token of the next page, or None on the last page.

        Current responses carry ``next_page_token``; older ones only ``next_page`` (a full URL
        whose query holds ``page_token``). The URL itself is never requested.
        """
        pagination = body.get("pagination")
        if not isinstance(pagination, dict):
            return None
        if "next_page_token" in pagination:
            token = pagination["next_page_token"]
            if token in (None, ""):
                return None
            if not isinstance(token, str):
                raise self._malformed("GET", path, "pagination.next_page_token is not a string")
            return token
        next_page = pagination.get("next_page")
        if not next_page:
            return None
        if not isinstance(next_page, str):
            raise self._malformed("GET", path, "pagination.next_page is not a URL")
        tokens = parse_qs(urlsplit(next_page).query).get("page_token")
        if not tokens or not tokens[0]:
            raise self._malformed("GET", path, "pagination.next_page has no page_token")
        return tokens[0]

    def _walk_scheduled_events(self, params: dict) -> Iterator[dict]:
        """Page through /scheduled_events, restarting after a rejected page token."""
        yielded: set[str] = set()
        last_start: str | None = None
        restarts = 0
        query = params
        while True:
            try:
                for event in self._iter_collection("/scheduled_events", query):
                    uri = event.get("uri")
                    if isinstance(uri, str):
                        if uri in yielded:
                            continue
                        yielded.add(uri)
                    if isinstance(event.get("start_time"), str):
                        last_start = event["start_time"]
                    yield event
                return
            except ApiError as exc:
                if not _rejects_page_token(exc) or restarts >= MAX_WALK_RESTARTS:
                    raise
                restart_query = _restart_query(params, last_start)
                if restart_query is None:
                    raise
                restarts += 1
                log.warning(
                    "Calendly rejected the page token of /scheduled_events; restarting the walk "
                    "from start_time %s (restart %d of %d)",
                    last_start,
                    restarts,
                    MAX_WALK_RESTARTS,
                )
                query = restart_query

    # -- transport ------------------------------------------------------------------------

    def _request(
        self,
        method: str,
        path: str,
        params: dict | None = None,
        json: Any = None,
        *,
        expect: str | None = None,
    ) -> Any:
        """Send one API call with pacing and the retry policy and return the decoded JSON.

        Only GET/HEAD are retried on 5xx, network faults and malformed bodies; every method is
        retried on 429 (Calendly did not perform the request). Write methods (webhook
        subscriptions, no-shows) use this directly.

        Args:
            method: HTTP method.
            path: Path below ``base_url``, starting with ``/``; never an absolute URL.
            params: Query parameters; None values are dropped, booleans sent as true/false.
            json: JSON request body for writes.
            expect: ``"collection"`` or ``"resource"``: the key a 200 body must hold.

        Returns:
            The decoded JSON body, or None for an empty body (e.g. 204 on DELETE).

        Raises:
            ValueError: when ``path`` is not a relative API path.
            AuthenticationError, PermissionDeniedError, NotFoundError, ApiError: HTTP errors.
            RateLimitedError: 429 after every retry, or a wait beyond ``MAX_RATE_LIMIT_WAIT``.
            NetworkError: no response after every retry.
            MalformedResponseError: a 2xx body that is not the JSON the API promises.
        """
        method = method.upper()
        url = self._url(path)
        query = _clean_params(params)
        retry_safe = method in _IDEMPOTENT_METHODS
        attempts = retries = malformed_retries = 0
        while True:
            self._wait_for_quota(method, path)
            attempts += 1
            self.request_count += 1
            started = self._clock()
            try:
                response = self._session.request(
                    method,
                    url,
                    params=query,
                    json=json,
                    headers=self._headers,
                    timeout=self.timeout,
                    # A redirect is a server-supplied absolute URL: never follow it.
                    allow_redirects=False,
                )
            except _RETRYABLE_NETWORK_ERRORS as exc:
                reason = _network_reason(exc, self.timeout)
                log.debug("%s %s -> %s after %.0f ms", method, path, reason, self._ms(started))
                if retry_safe and retries < self.max_retries:
                    retries += 1
                    self._backoff(method, path, reason, retries)
                    continue
                raise NetworkError(
                    f"Calendly network error: {reason} (after {_attempts(attempts)})"
                ) from exc
            except requests.RequestException as exc:
                # Invalid URL, bad proxy settings and the like: retrying cannot help.
                raise NetworkError(
                    f"Calendly network error: {_network_reason(exc, self.timeout)} "
                    f"(after {_attempts(attempts)})"
                ) from exc

            status = response.status_code
            log.debug("%s %s -> %s in %.0f ms", method, path, status, self._ms(started))
            self._note_rate_limit(response)

            if status == 429:
                wait = _rate_limit_wait(response)
                if retries >= self.max_retries or wait > MAX_RATE_LIMIT_WAIT:
                    raise self._rate_limited(response, wait, attempts)
                retries += 1
                log.warning(
                    "Calendly rate limit hit on %s %s; waiting %.2f s before retry %d of %d",
                    method,
                    path,
                    wait,
                    retries,
                    self.max_retries,
                )
                self._sleep(wait)
                # The window has reset by now; the next response tells us the new state.
                self._remaining = None
                continue
            if status >= 500 and retry_safe and retries < self.max_retries:
                retries += 1
                self._backoff(method, path, f"HTTP {status}", retries)
                continue
            if status >= 300:
                raise self._http_error(response, method, path, query, attempts)
            if status == 204 or not response.content:
                if expect is None:
                    return None
                reason = "the body is empty"
            else:
                body, reason = _decode(response, expect)
                if reason is None:
                    return body
            if (
                retry_safe
                and malformed_retries < MAX_MALFORMED_RETRIES
                and retries < self.max_retries
            ):
                malformed_retries += 1
                retries += 1
                self._backoff(method, path, f"malformed response: {reason}", retries)
                continue
            raise self._malformed(method, path, reason, status=status)

    def _url(self, path: str) -> str:
        # Only relative paths: a URL from a response must never become the request target.
        if not path.startswith("/") or path.startswith("//") or "://" in path:
            raise ValueError(f"Expected an API path starting with '/', got {path[:120]!r}")
        return self.base_url + path

    def _ms(self, started: float) -> float:
        return (self._clock() - started) * 1000

    def _backoff(self, method: str, path: str, reason: str, retry: int) -> None:
        """Sleep a fully jittered exponential delay: spreads retries of many clients apart."""
        ceiling = min(self.backoff_cap, self.backoff_base * 2 ** (retry - 1))
        delay = self._random.uniform(0, ceiling)
        log.warning(
            "Calendly %s %s failed (%s); retry %d of %d in %.2f s",
            method,
            path,
            reason,
            retry,
            self.max_retries,
            delay,
        )
        self._sleep(delay)

    # -- rate limits ----------------------------------------------------------------------

    def _note_rate_limit(self, response: requests.Response) -> None:
        """Remember X-RateLimit-Remaining/-Reset (sent on every response) for pacing."""
        remaining = _float_header(response, "X-RateLimit-Remaining")
        if remaining is None:
            return
        reset = _float_header(response, "X-RateLimit-Reset")
        self._limit = _float_header(response, "X-RateLimit-Limit")
        self._remaining = remaining
        # Reset counts from when the server answered, so measuring from our receipt time already
        # errs late. The small margin (1 % + 10 ms, about 2 % of throughput at a 1 s window)
        # absorbs rounding of fractional Reset values and clock granularity; a server that
        # floors Reset to whole seconds may still answer one 429, which is then waited out.
        self._reset_at = None if reset is None else self._clock() + reset * 1.01 + 0.01

    def _wait_for_quota(self, method: str, path: str) -> None:
        """Before a request: if the window is used up, sleep until it resets (so no 429)."""
        if self._remaining is None or self._remaining > 0 or self._reset_at is None:
            return
        wait = self._reset_at - self._clock()
        self._remaining = None
        if wait <= 0:
            return
        if wait > MAX_RATE_LIMIT_WAIT:
            raise RateLimitedError(
                f"Calendly API error (HTTP 429): the rate limit is used up and resets in "
                f"{wait:.0f} s, too long to wait now. Try again later.",
                reset=wait,
            )
        log.warning(
            "Calendly rate limit reached (limit %s per window); waiting %.2f s for the reset "
            "before %s %s",
            _number(self._limit),
            wait,
            method,
            path,
        )
        self._sleep(wait)

    def _rate_limited(
        self, response: requests.Response, wait: float, attempts: int
    ) -> RateLimitedError:
        if wait > MAX_RATE_LIMIT_WAIT:
            text = (
                f"Calendly API error (HTTP 429): rate limit exceeded; Calendly asks to wait "
                f"{wait:.0f} s, too long to wait now. Try again later."
            )
        else:
            text = (
                f"Calendly API error (HTTP 429): rate limit still exceeded after "
                f"{_attempts(attempts)}. Calendly resets the limit in {wait:g} s; try again then."
            )
        body = _json_object(response)
        reset = _float_header(response, "X-RateLimit-Reset")
        return RateLimitedError(
            self._redact(text),
            reset=wait if reset is None else reset,
            retry_after=wait,
            title=_str_or_none(body.get("title")),
        )

    # -- errors ---------------------------------------------------------------------------

    def _http_error(
        self,
        response: requests.Response,
        method: str,
        path: str,
        query: dict,
        attempts: int,
    ) -> CalendlyError:
        """Turn a non-2xx response into a typed error with an actionable message."""
        status = response.status_code
        body = _json_object(response)
        title = _str_or_none(body.get("title"))
        server_message = _str_or_none(body.get("message"))
        details = [d for d in body.get("details") or [] if isinstance(d, dict)]
        text = server_message or _FALLBACK_MESSAGES.get(status) or response.reason or "HTTP error"
        parts = [_sentence(text)]
        kwargs: dict[str, Any] = {}
        if status == 401:
            cls: type[CalendlyError] = AuthenticationError
            parts.append(
                f"Create a new Personal Access Token at {TOKEN_PAGE_URL} and save it in Settings."
            )
        elif status == 403:
            cls = PermissionDeniedError
            scopes = [s for s in body.get("required_scopes") or [] if isinstance(s, str)]
            kwargs["required_scopes"] = scopes
            if scopes or (title or "").lower() == "insufficient scope":
                # Calendly's own text points at a JSON array the user never sees.
                parts = ["The token lacks a scope this needs (Insufficient scope)."]
                if scopes:
                    parts.append(
                        f"Missing scopes: {', '.join(scopes)}. Create a token with these scopes."
                    )
                else:
                    parts.append("Create a token with the scopes this app needs.")
        elif status == 404:
            cls = NotFoundError
            if path.startswith("/users/") or query.get("user"):
                parts.append("Fetch the user URI from /users/me.")
        else:
            cls = ApiError
        detail_text = "; ".join(_detail_text(d) for d in details if _detail_text(d))
        if detail_text:
            parts.append(detail_text)
        if status >= 500 and attempts > 1:
            parts.append(f"(after {_attempts(attempts)})")
        message = f"Calendly API error (HTTP {status}): " + " ".join(parts)
        return cls(
            self._redact(message),
            status=status,
            title=title,
            details=details,
            retry_after=_float_header(response, "Retry-After"),
            **kwargs,
        )

    def _malformed(
        self, method: str, path: str, reason: str, *, status: int | None = 200
    ) -> MalformedResponseError:
        return MalformedResponseError(
            self._redact(f"Calendly sent a malformed response for {method} {path}: {reason}"),
            status=status,
        )

    def _redact(self, text: str) -> str:
        # Defence in depth: a server or proxy could echo the token back in its error text.
        return text.replace(self._token, "[redacted]") if len(self._token) >= 4 else text


# -- module helpers -----------------------------------------------------------------------


def _require_user_or_organization(user: str | None, organization: str | None) -> None:
    # Calendly answers 400 without one of them; failing here gives a clearer message.
    if not user and not organization:
        raise ValueError(
            "Pass user or organization (URIs from get_current_user()) to list Calendly data"
        )


WEBHOOK_SCOPES = ("organization", "user")
_INVITEE_PATH = re.compile(r"/scheduled_events/([A-Za-z0-9_-]+)/invitees/([A-Za-z0-9_-]+)/?")


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


def _format_time(value: datetime | str | None, name: str) -> str | None:
    """Render a time filter the way Calendly writes times (UTC, microseconds, ``Z``)."""
    if value is None:
        return None
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"{name} must be timezone-aware (a naive time is ambiguous)")
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    raise TypeError(f"{name} must be a datetime or an ISO-8601 string, got {type(value).__name__}")


def _clean_params(params: dict | None) -> dict:
    cleaned = {}
    for key, value in (params or {}).items():
        if value is None:
            continue
        cleaned[key] = ("true" if value else "false") if isinstance(value, bool) else value
    return cleaned


def _rejects_page_token(exc: ApiError) -> bool:
    if exc.status != 400:
        return False
    for detail in exc.details:
        if "page_token" in f"{detail.get('parameter') or ''} {detail.get('message') or ''}":
            return True
    return False


def _restart_query(params: dict, last_start: str | None) -> dict | None:
    """Query for restarting a /scheduled_events walk after ``last_start``; None if impossible."""
    query = dict(params)
    if last_start is None:
        return query  # nothing yielded yet: simply start over
    sort = (params.get("sort") or "").replace(" ", "").lower()
    try:
        moment = datetime.fromisoformat(last_start)
    except ValueError:
        moment = None
    if moment is not None and moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    # Step 1 µs past the last start so events sharing it are refetched whether the server's
    # bound is inclusive or exclusive; the caller skips the ones already yielded.
    if sort == "start_time:asc":
        bound = moment - _ONE_MICROSECOND if moment else None
        query["min_start_time"] = _format_time(bound, "min_start_time") if bound else last_start
    elif sort == "start_time:desc":
        bound = moment + _ONE_MICROSECOND if moment else None
        query["max_start_time"] = _format_time(bound, "max_start_time") if bound else last_start
    else:
        return None
    return query


def _decode(response: requests.Response, expect: str | None) -> tuple[Any, str | None]:
    """Return (body, None) for an acceptable JSON body, else (None, reason)."""
    try:
        body = response.json()
    except ValueError:
        kind = response.headers.get("Content-Type", "no content type").split(";")[0].strip()
        if kind.endswith("json"):
            return None, "the body is not valid JSON (truncated or garbled)"
        return None, f"the body is not JSON ({kind or 'no content type'})"
    if not isinstance(body, dict):
        return None, "the body is not a JSON object"
    if expect == "collection":
        collection = body.get("collection")
        if not isinstance(collection, list):
            return None, "the JSON has no 'collection' list"
        if not all(isinstance(item, dict) for item in collection):
            return None, "'collection' holds values that are not objects"
    elif expect == "resource" and not isinstance(body.get("resource"), dict):
        return None, "the JSON has no 'resource' object"
    return body, None


def _json_object(response: requests.Response) -> dict:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _float_header(response: requests.Response, name: str) -> float | None:
    value = response.headers.get(name)
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError:
        if name.lower() != "retry-after":
            return None
        # Retry-After may also be an HTTP date.
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        number = (when - datetime.now(UTC)).total_seconds()
    if number != number or number in (float("inf"), float("-inf")):  # NaN or infinite
        return None
    return max(0.0, number)


def _rate_limit_wait(response: requests.Response) -> float:
    """Seconds to wait after a 429: Retry-After, else X-RateLimit-Reset, else 60."""
    for name in ("Retry-After", "X-RateLimit-Reset"):
        value = _float_header(response, name)
        if value is not None:
            return value
    return FALLBACK_RATE_LIMIT_WAIT


def _network_reason(exc: BaseException, timeout: float | tuple[float, float]) -> str:
    """A short, token-free and URL-free reason for a failed request."""
    connect_timeout, read_timeout = timeout if isinstance(timeout, tuple) else (timeout, timeout)
    if isinstance(exc, requests.ConnectTimeout):
        return f"could not connect within {connect_timeout:g} s"
    if isinstance(exc, requests.ReadTimeout):
        return f"no response within {read_timeout:g} s"
    if isinstance(exc, requests.exceptions.SSLError):
        return "TLS handshake failed"
    if isinstance(exc, requests.exceptions.ChunkedEncodingError):
        return "connection dropped mid-response"
    if isinstance(exc, requests.exceptions.ContentDecodingError):
        return "response body could not be decoded"
    for cause in _exception_chain(exc):
        if isinstance(cause, urllib3.exceptions.NameResolutionError | socket.gaierror):
            return "could not resolve the Calendly host"
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused"
        if isinstance(cause, ConnectionResetError):
            return "connection reset"
        if isinstance(cause, http.client.RemoteDisconnected | urllib3.exceptions.ProtocolError):
            return "connection dropped"
        if isinstance(cause, urllib3.exceptions.ReadTimeoutError | TimeoutError):
            return f"no response within {read_timeout:g} s"
    if isinstance(exc, requests.Timeout):
        return "timed out"
    if isinstance(exc, requests.ConnectionError):
        return "connection failed"
    return type(exc).__name__


def _exception_chain(exc: BaseException) -> Iterator[BaseException]:
    """Walk causes, contexts, urllib3 ``reason``s and wrapped args (breadth first, bounded)."""
    queue, seen = [exc], set()
    while queue and len(seen) < 20:
        current = queue.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        linked = [current.__cause__, current.__context__, getattr(current, "reason", None)]
        linked.extend(current.args)
        queue.extend(item for item in linked if isinstance(item, BaseException))


def _sentence(text: str) -> str:
    text = " ".join(text.split())
    return text if text.endswith((".", "!", "?")) else text + "."


def _detail_text(detail: dict) -> str:
    parameter = _str_or_none(detail.get("parameter"))
    message = _str_or_none(detail.get("message"))
    if parameter and message:
        return f"{parameter}: {message}"
    return message or parameter or ""


def _str_or_none(value: Any) -> str | None:
    return value.strip() or None if isinstance(value, str) else None


def _attempts(count: int) -> str:
    return f"{count} attempt" if count == 1 else f"{count} attempts"


def _number(value: float | None) -> str:
    return "?" if value is None else f"{value:g}"
