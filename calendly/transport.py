"""The HTTP side of the Calendly client: one session, pacing, retries and typed errors.

``Transport`` sends one API call at a time to ``base_url`` and keeps the rules listed in
``calendly.client``: relative paths only and no redirects, pacing from the ``X-RateLimit-*``
headers, retries only where they are safe, and the token kept out of every message and log line.
What a response means (body checks, headers, error texts) is read by ``calendly.responses``.
"""

from __future__ import annotations

import logging
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Self

import requests

from calendly import responses
from calendly.errors import (
    AuthenticationError,
    MalformedResponseError,
    MissingTokenError,
    NetworkError,
    RateLimitedError,
)

# One logger name for all of the connector's request log lines, as before the split into modules.
log = logging.getLogger("calendly.client")

DEFAULT_BASE_URL = "https://api.calendly.com"
USER_AGENT = "webinar-sync/1.0"
# A wait longer than this (e.g. the daily cap on POST /invitees) would hold a sync or a web
# request for hours and outlive the sync lease: raise RateLimitedError and let the caller retry.
MAX_RATE_LIMIT_WAIT = 300.0
# A garbled 200 is usually a proxy or a truncated body, so one more try is worth it; a second
# garbled answer means something is really wrong and retrying further would only burn quota.
MAX_MALFORMED_RETRIES = 1

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


@dataclass(frozen=True)
class Retry:
    """A retry about to happen, as told to ``Transport.on_retry``.

    Attributes:
        reason: ``"network"`` (no answer), ``"rate_limited"`` (429) or ``"server"`` (5xx or a
            malformed answer).
        wait: Seconds until the next attempt.
        retry: Which retry this is, from 1.
        max_retries: Retries allowed for the call.
    """

    reason: str
    wait: float
    retry: int
    max_retries: int


@dataclass(frozen=True)
class Attempt:
    """One HTTP attempt of a call, as told to ``Transport.on_attempt`` once its fate is known.

    Attributes:
        status: The HTTP status of the answer; None when no answer came (a network fault).
        retry: The retry that follows it; None when the call ended with it (answered, refused
            or given up).
    """

    status: int | None
    retry: Retry | None = None


def system_now() -> datetime:
    """The operating system's wall-clock time, aware UTC (the default ``now`` of a transport)."""
    return datetime.now(UTC)


class Transport:
    """One HTTP session to Calendly API v2 (or a simulator/proxy at ``base_url``).

    Attributes:
        base_url: Where every request goes, without a trailing slash.
        timeout: ``(connect, read)`` seconds passed to every request.
        max_retries: Retries allowed per call (so at most ``max_retries + 1`` attempts).
        backoff_base: First backoff ceiling in seconds.
        backoff_cap: Largest backoff ceiling in seconds.
        request_count: HTTP requests sent so far, retries included.
        on_retry: Called with a ``Retry`` before every wait for a retry, and with None once a
            call that was retried has ended (answered or given up); None: nobody listens.
        on_attempt: Called with an ``Attempt`` for every HTTP attempt (so for every request
            counted in ``request_count``), for counting answers and retries; None: nobody
            listens.
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
        now: Callable[[], datetime] = system_now,
        session: requests.Session | None = None,
    ) -> None:
        """Set up the transport; no request is sent yet.

        Args:
            token: Personal Access Token (or OAuth access token).
            base_url: API root; a simulator or proxy URL in tests and demo mode.
            timeout: ``(connect, read)`` seconds, or one number for both.
            max_retries: Retries per call for 429, 5xx and network faults.
            backoff_base: First backoff ceiling in seconds; doubles on every retry.
            backoff_cap: Largest backoff ceiling in seconds.
            sleep: Called for every wait (injectable so tests can record waits).
            clock: Monotonic seconds, used with the rate-limit reset times.
            now: Wall-clock time as an aware datetime, used to read a ``Retry-After`` date
                (the app passes its own clock).
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
        self._now = now
        self._owns_session = session is None
        self._session = session if session is not None else requests.Session()
        self._random = random.Random()
        self.request_count = 0
        self.on_retry: Callable[[Retry | None], None] | None = None
        self.on_attempt: Callable[[Attempt], None] | None = None
        self._retried = False
        # The latest attempt's status while it is not yet told to on_attempt (see _answered).
        self._untold: list[int | None] = []
        # Rate-limit state from the latest response; None means "unknown, go ahead".
        self._limit: float | None = None
        self._remaining: float | None = None
        self._reset_at: float | None = None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} base_url={self.base_url!r}>"

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the HTTP session if the client created it (an injected one stays open)."""
        if self._owns_session:
            self._session.close()

    def request(
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
        retried on 429 (Calendly did not perform the request).

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
        self._retried = False
        try:
            return self._send(method, path, url, query, json, expect)
        finally:
            self._tell_attempt(None)
            if self._retried and self.on_retry is not None:
                self.on_retry(None)

    def _send(self, method, path, url, query, json, expect) -> Any:
        """The attempts of one call (see ``request``)."""
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
                self._answered(None)
                reason = responses.network_reason(exc, self.timeout)
                log.debug("%s %s -> %s after %.0f ms", method, path, reason, self._ms(started))
                if retry_safe and retries < self.max_retries:
                    retries += 1
                    self._backoff(method, path, reason, retries, kind="network")
                    continue
                raise NetworkError(
                    f"Calendly network error: {reason} (after {responses.attempts_text(attempts)})"
                ) from exc
            except requests.RequestException as exc:
                # Invalid URL, bad proxy settings and the like: retrying cannot help.
                self._answered(None)
                raise NetworkError(
                    f"Calendly network error: {responses.network_reason(exc, self.timeout)} "
                    f"(after {responses.attempts_text(attempts)})"
                ) from exc

            status = response.status_code
            self._answered(status)
            log.debug("%s %s -> %s in %.0f ms", method, path, status, self._ms(started))
            self._note_rate_limit(response)

            if status == 429:
                wait = responses.rate_limit_wait(response, self._now())
                too_long = wait > MAX_RATE_LIMIT_WAIT
                if retries >= self.max_retries or too_long:
                    raise responses.rate_limited_error(
                        response, wait, attempts, too_long=too_long, redact=self._redact
                    )
                retries += 1
                log.warning(
                    "Calendly rate limit hit on %s %s; waiting %.2f s before retry %d of %d",
                    method,
                    path,
                    wait,
                    retries,
                    self.max_retries,
                )
                self._notify(Retry("rate_limited", wait, retries, self.max_retries))
                self._sleep(wait)
                # The window has reset by now; the next response tells us the new state.
                self._remaining = None
                continue
            if status >= 500 and retry_safe and retries < self.max_retries:
                retries += 1
                self._backoff(method, path, f"HTTP {status}", retries)
                continue
            if status >= 300:
                raise responses.http_error(
                    response, path, query, attempts, now=self._now(), redact=self._redact
                )
            if status == 204 or not response.content:
                if expect is None:
                    return None
                reason = "the body is empty"
            else:
                body, reason = responses.decode(response, expect)
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
            raise self.malformed(method, path, reason, status=status)

    def malformed(
        self, method: str, path: str, reason: str, *, status: int | None = 200
    ) -> MalformedResponseError:
        """The error for an answer that is not what the API promises.

        Args:
            method: HTTP method of the request.
            path: Its path below ``base_url``.
            reason: What is wrong with the answer.
            status: The HTTP status it came with.

        Returns:
            The error, for the caller to raise.
        """
        return MalformedResponseError(
            self._redact(f"Calendly sent a malformed response for {method} {path}: {reason}"),
            status=status,
        )

    def _url(self, path: str) -> str:
        # Only relative paths: a URL from a response must never become the request target.
        if not path.startswith("/") or path.startswith("//") or "://" in path:
            raise ValueError(f"Expected an API path starting with '/', got {path[:120]!r}")
        return self.base_url + path

    def _ms(self, started: float) -> float:
        return (self._clock() - started) * 1000

    def _answered(self, status: int | None) -> None:
        # Whether a retry follows is decided further on: told then (_notify), or at the end.
        self._untold[:] = [status]

    def _tell_attempt(self, retry: Retry | None) -> None:
        if not self._untold:
            return
        status = self._untold.pop()
        if self.on_attempt is not None:
            self.on_attempt(Attempt(status, retry))

    def _notify(self, retry: Retry) -> None:
        self._tell_attempt(retry)
        self._retried = True
        if self.on_retry is not None:
            self.on_retry(retry)

    def _backoff(
        self, method: str, path: str, reason: str, retry: int, kind: str = "server"
    ) -> None:
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
        self._notify(Retry(kind, delay, retry, self.max_retries))
        self._sleep(delay)

    def _note_rate_limit(self, response: requests.Response) -> None:
        """Remember X-RateLimit-Remaining/-Reset (sent on every response) for pacing."""
        remaining = responses.number_header(response, "X-RateLimit-Remaining")
        if remaining is None:
            return
        reset = responses.number_header(response, "X-RateLimit-Reset")
        self._limit = responses.number_header(response, "X-RateLimit-Limit")
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
            "?" if self._limit is None else f"{self._limit:g}",
            wait,
            method,
            path,
        )
        self._sleep(wait)

    def _redact(self, text: str) -> str:
        # Defence in depth: a server or proxy could echo the token back in its error text.
        return text.replace(self._token, "[redacted]") if len(self._token) >= 4 else text


def _clean_params(params: dict | None) -> dict:
    cleaned = {}
    for key, value in (params or {}).items():
        if value is None:
            continue
        cleaned[key] = ("true" if value else "false") if isinstance(value, bool) else value
    return cleaned
