"""Typed errors raised by the Calendly client.

Every error carries a message a user can act on (it is what ``str()`` returns and what the
Settings and sync pages show), plus the HTTP status and Calendly's ``title``/``details`` when
there was a response. No message, attribute or repr ever contains the API token.
"""

from __future__ import annotations

TOKEN_PAGE_URL = "https://calendly.com/integrations/api_webhooks"


class CalendlyError(Exception):
    """Base class for every failure talking to Calendly.

    Attributes:
        message: Human-readable explanation (also ``str(error)``).
        status: HTTP status code, or None when no response arrived.
        title: Calendly's error ``title`` (e.g. "Invalid Argument"), or None.
        details: Calendly's ``details`` list (dicts with ``parameter``/``message``), possibly empty.
        retry_after: Seconds Calendly asked us to wait, when it said so (429), else None.
        said: Calendly's own words (its ``message`` and ``details``), without the client's
            advice, or None when it said nothing.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        title: str | None = None,
        details: list | None = None,
        retry_after: float | None = None,
        said: str | None = None,
    ) -> None:
        super().__init__(message)
        self.said = said
        self.message = message
        self.status = status
        self.title = title
        self.details = list(details or [])
        self.retry_after = retry_after

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, status={self.status!r})"


class MissingTokenError(CalendlyError):
    """No API token is configured, so no request was attempted."""

    DEFAULT_MESSAGE = (
        "Calendly API token is not configured. "
        "Paste a Personal Access Token in Settings or set CALENDLY_TOKEN."
    )

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.DEFAULT_MESSAGE)


class AuthenticationError(CalendlyError):
    """HTTP 401: the token is invalid, expired or revoked."""


class PermissionDeniedError(CalendlyError):
    """HTTP 403: the token works but may not do this (plan, role, ownership or scope).

    Attributes:
        required_scopes: Scopes the token lacks when Calendly's title is "Insufficient scope",
            otherwise an empty list.
    """

    def __init__(self, message: str, *, required_scopes: list[str] | None = None, **kw) -> None:
        super().__init__(message, **kw)
        self.required_scopes = list(required_scopes or [])


class NotFoundError(CalendlyError):
    """HTTP 404: the user, event or invitee does not exist (or is not visible to this token)."""


class RateLimitedError(CalendlyError):
    """HTTP 429 that persisted through every retry (or asked for an unreasonably long wait).

    Attributes:
        reset: Seconds until Calendly's rate-limit window resets, as last reported.
    """

    def __init__(self, message: str, *, reset: float | None = None, **kw) -> None:
        kw.setdefault("retry_after", reset)
        super().__init__(message, status=429, **kw)
        self.reset = reset


class ApiError(CalendlyError):
    """Any other HTTP error: 400, 409, unexpected 3xx, or 5xx that persisted through retries."""


class NetworkError(CalendlyError):
    """No usable HTTP response: refused, reset or dropped connection, timeout, DNS failure."""


class MalformedResponseError(CalendlyError):
    """Calendly answered, but the body is not what the API promises (non-JSON, missing keys,
    or a pagination token that repeats and would loop forever)."""
