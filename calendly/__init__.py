"""Calendly API v2 access: the HTTP client and its typed errors (no Flask, no database)."""

from calendly.client import CalendlyClient, uuid_from_uri
from calendly.errors import (
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

__all__ = [
    "ApiError",
    "AuthenticationError",
    "CalendlyClient",
    "CalendlyError",
    "MalformedResponseError",
    "MissingTokenError",
    "NetworkError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitedError",
    "uuid_from_uri",
]
