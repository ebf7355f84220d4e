"""What Calendly's answers mean: body checks, rate-limit headers, and typed errors.

Pure functions of a ``requests`` response (or of the exception when none came), used by
``calendly.transport``. Messages are written for the person who has to act on them; the caller
passes a ``redact`` function so that the token can never reach one.
"""

from __future__ import annotations

import email.utils
import http.client
import math
import socket
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import orjson
import requests
import urllib3.exceptions

from calendly.errors import (
    TOKEN_PAGE_URL,
    ApiError,
    AuthenticationError,
    CalendlyError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitedError,
)

# Used only when a 429 has neither Retry-After nor X-RateLimit-Reset (Calendly's window is 60 s).
FALLBACK_RATE_LIMIT_WAIT = 60.0

_FALLBACK_MESSAGES = {
    400: "The supplied parameters are invalid",
    401: "The access token is invalid",
    403: "You do not have permission to access this resource",
    404: "The server could not find the requested resource",
    409: "The resource already exists",
    500: "The server encountered an unexpected condition",
}


# -- bodies ---------------------------------------------------------------------------------------


def decode(response: requests.Response, expect: str | None) -> tuple[Any, str | None]:
    """Check a 2xx body against what the API promises.

    Args:
        response: A response with a non-empty body.
        expect: ``"collection"`` or ``"resource"``: the key the body must hold; None for any
            JSON object.

    Returns:
        ``(body, None)`` for an acceptable JSON body, else ``(None, reason)``.
    """
    try:
        # orjson: the same values as response.json(), several times faster on large pages.
        body = orjson.loads(response.content)
    except ValueError:  # orjson.JSONDecodeError is one
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


# -- headers --------------------------------------------------------------------------------------


def number_header(response: requests.Response, name: str) -> float | None:
    """A header's value as seconds or a count (``X-RateLimit-*``).

    Returns:
        The value, at least 0, or None when the header is absent, not a number or not finite.
    """
    value = response.headers.get(name)
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return _finite_seconds(number)


def retry_after(response: requests.Response, now: datetime) -> float | None:
    """Seconds the ``Retry-After`` header asks to wait: a number, or an HTTP date.

    Args:
        response: The response.
        now: The current wall-clock time (aware), to turn a date into seconds.

    Returns:
        The wait, at least 0, or None when the header is absent or unreadable.
    """
    seconds = number_header(response, "Retry-After")
    value = response.headers.get("Retry-After")
    if seconds is not None or value is None:
        return seconds
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return _finite_seconds((when - now).total_seconds())


def rate_limit_wait(response: requests.Response, now: datetime) -> float:
    """Seconds to wait after a 429: Retry-After, else X-RateLimit-Reset, else 60.

    Args:
        response: The 429 response.
        now: The current wall-clock time (aware), for a Retry-After date.
    """
    for value in (retry_after(response, now), number_header(response, "X-RateLimit-Reset")):
        if value is not None:
            return value
    return FALLBACK_RATE_LIMIT_WAIT


def _finite_seconds(number: float) -> float | None:
    return max(0.0, number) if math.isfinite(number) else None


# -- typed errors ---------------------------------------------------------------------------------


def http_error(
    response: requests.Response,
    path: str,
    query: dict,
    attempts: int,
    *,
    now: datetime,
    redact: Callable[[str], str],
) -> CalendlyError:
    """Turn a non-2xx response into a typed error with an actionable message.

    Args:
        response: The final response (3xx, 4xx or 5xx).
        path: The request path, for hints about what to fix.
        query: The query sent, for hints about what to fix.
        attempts: How many times the request was sent.
        now: The current wall-clock time (aware), for a Retry-After date.
        redact: Removes the token from a message.

    Returns:
        AuthenticationError (401), PermissionDeniedError (403), NotFoundError (404) or ApiError.
    """
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
        parts.append(f"(after {attempts_text(attempts)})")
    message = f"Calendly API error (HTTP {status}): " + " ".join(parts)
    return cls(
        redact(message),
        status=status,
        title=title,
        details=details,
        retry_after=retry_after(response, now),
        said=redact(" ".join(filter(None, [server_message, detail_text]))) or None,
        **kwargs,
    )


def rate_limited_error(
    response: requests.Response,
    wait: float,
    attempts: int,
    *,
    too_long: bool,
    redact: Callable[[str], str],
) -> RateLimitedError:
    """The error for a 429 that is not worth (or no longer worth) waiting out.

    Args:
        response: The last 429 response.
        wait: Seconds Calendly asked to wait.
        attempts: How many times the request was sent.
        too_long: True when ``wait`` is longer than the client may wait at all.
        redact: Removes the token from a message.
    """
    if too_long:
        text = (
            f"Calendly API error (HTTP 429): rate limit exceeded; Calendly asks to wait "
            f"{wait:.0f} s, too long to wait now. Try again later."
        )
    else:
        text = (
            f"Calendly API error (HTTP 429): rate limit still exceeded after "
            f"{attempts_text(attempts)}. Calendly resets the limit in {wait:g} s; try again then."
        )
    reset = number_header(response, "X-RateLimit-Reset")
    return RateLimitedError(
        redact(text),
        reset=wait if reset is None else reset,
        retry_after=wait,
        title=_str_or_none(_json_object(response).get("title")),
    )


def attempts_text(count: int) -> str:
    """``"1 attempt"`` or ``"<count> attempts"``, for messages."""
    return f"{count} attempt" if count == 1 else f"{count} attempts"


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


# -- no response at all ---------------------------------------------------------------------------


def network_reason(exc: BaseException, timeout: float | tuple[float, float]) -> str:
    """A short reason for a request that got no usable response, free of token and URL.

    Args:
        exc: What ``requests`` raised.
        timeout: The ``(connect, read)`` timeout (or one number) the request was sent with.

    Returns:
        E.g. ``"connection refused"`` or ``"no response within 30 s"``.
    """
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
