"""What the admin reads when a Calendly write or webhook call fails: one translated sentence
that says what to do, plus Calendly's own words where they help. Never a stack trace.

Shared by the no-show control (blueprints/no_shows.py) and the webhook settings
(blueprints/webhook_admin.py).
"""

from __future__ import annotations

from flask_babel import gettext as _

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
from services.secrets import TokenVaultError
from services.webhook_subscriptions import is_plan_refusal


def calendly_problem(exc: BaseException | None, *, write: bool = False) -> str:
    """A sentence about a failed Calendly call; `write` adds that the outcome may be unknown."""
    if isinstance(exc, MissingTokenError):
        return _("No Calendly token is configured. Save one under Calendly connection first.")
    if isinstance(exc, TokenVaultError):
        return _(
            "The stored Calendly token cannot be decrypted (the encryption key has changed). "
            "Save the token again under Calendly connection."
        )
    if isinstance(exc, AuthenticationError):
        return _(
            "Calendly did not accept the token (invalid or revoked). Save a new Personal Access "
            "Token under Calendly connection."
        )
    if isinstance(exc, PermissionDeniedError):
        return _permission_problem(exc)
    if isinstance(exc, RateLimitedError):
        return _("Calendly's rate limit is used up for the moment. Try again in a minute.")
    if isinstance(exc, NetworkError):
        text = _("Calendly could not be reached.")
        if write:
            text += " " + _(
                "Calendly may or may not have made the change; reload in a moment to see."
            )
        return text
    if isinstance(exc, NotFoundError):
        return _("Calendly does not know this (any more). Run a sync to bring the data up to date.")
    if isinstance(exc, MalformedResponseError) or (
        isinstance(exc, CalendlyError) and (exc.status or 0) >= 500
    ):
        text = _("Calendly had a problem answering. Try again later.")
        if write:
            text += " " + _(
                "Calendly may or may not have made the change; reload in a moment to see."
            )
        return text
    if isinstance(exc, ApiError | CalendlyError):
        return _("Calendly refused the request: %(message)s", message=_calendly_words(exc))
    return _("Talking to Calendly failed. Try again later.")


def _permission_problem(exc: PermissionDeniedError) -> str:
    if exc.required_scopes or (exc.title or "").lower() == "insufficient scope":
        scopes = ", ".join(exc.required_scopes) or "?"
        return _(
            "The Calendly token lacks the permission (scope) %(scopes)s. Create a Personal Access "
            "Token with this scope in Calendly and save it under Calendly connection.",
            scopes=scopes,
        )
    if is_plan_refusal(exc):
        return _(
            "Your Calendly plan does not allow this. Calendly says: %(message)s",
            message=_calendly_words(exc),
        )
    return _(
        "Calendly does not allow this for the token's account (for the whole organization only "
        "owners and admins may). Calendly says: %(message)s",
        message=_calendly_words(exc),
    )


def _calendly_words(exc: CalendlyError) -> str:
    """Calendly's explanation without the client's "Calendly API error (HTTP n): " prefix."""
    text = exc.message
    prefix_end = text.find("): ")
    if text.startswith("Calendly API error") and prefix_end != -1:
        text = text[prefix_end + 3 :]
    return text
