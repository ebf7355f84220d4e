"""The admin's language and time zone, as Flask-Babel asks for them on every request."""

from __future__ import annotations

from flask import current_app, g, has_request_context, request, session

from services import settings


def select_locale() -> str | None:
    """The session's choice, else the account's, else the browser's preference, else the
    default (German)."""
    if not has_request_context():
        return None
    languages = current_app.config["LANGUAGES"]
    chosen = session.get("lang")
    if chosen in languages:
        return chosen
    # A sign-in on another browser keeps the language the account chose. Only an account
    # already loaded is asked: loading it here could recurse through an error page.
    user = g.get("_login_user")
    if user is not None and user.is_authenticated and user.language in languages:
        return user.language
    preferred = request.accept_languages.best_match(languages)
    return preferred or current_app.config["BABEL_DEFAULT_LOCALE"]


def select_timezone() -> str:
    """The admin's display time zone (Settings), falling back to the configured default."""
    return settings.display_timezone()
