"""Everything the browser-facing app needs: extensions, blueprints, the login guard, headers,
error pages and the template helpers that show dates, links and languages."""

from __future__ import annotations

import importlib
import importlib.util
from datetime import datetime
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import dates as babel_dates
from flask import (
    Flask,
    Response,
    current_app,
    has_request_context,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import get_locale, get_timezone
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

import accounts
import app_settings
import htmx
import queries
from calendly.locations import CONFERENCE_TYPES
from extensions import babel, csrf, db, login_manager

# Reachable without signing in. Everything else needs an account.
PUBLIC_ENDPOINTS = frozenset({"auth.login", "auth.setup", "auth.set_language", "static"})
PUBLIC_REQUESTS = frozenset({("POST", "/api/infowebinar/webhook")})
# Screens written by other people (and the webhook); registered when their module exists.
OPTIONAL_BLUEPRINTS = ("settings", "sync", "webhooks", "webhook_admin", "no_shows")

# How the dashboard names the video services behind Calendly's conference location types.
CONFERENCE_LABELS = {
    "google_conference": "Google Meet",
    "zoom": "Zoom",
    "zoom_conference": "Zoom",
    "microsoft_teams_conference": "Microsoft Teams",
    "webex_conference": "Webex",
    "gotomeeting": "GoTo Meeting",
}
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)


def init_web(app: Flask) -> None:
    """Wire CSRF, login, languages, blueprints, security headers and error pages into `app`."""
    csrf.init_app(app)
    babel.init_app(app, locale_selector=select_locale, timezone_selector=select_timezone)
    _init_login(app)
    _register_blueprints(app)
    _init_templates(app)
    _init_errors(app)
    app.after_request(_security_headers)


# -- login ------------------------------------------------------------------------------------


def _init_login(app: Flask) -> None:
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.user_loader(accounts.load_user)
    login_manager.unauthorized_handler(_unauthorized)
    app.before_request(_require_login)


def _require_login():
    if request.endpoint in PUBLIC_ENDPOINTS or (request.method, request.path) in PUBLIC_REQUESTS:
        return None
    if current_user.is_authenticated:
        return None
    return login_manager.unauthorized()


def _unauthorized():
    """Send the visitor to the login page; htmx gets 401 + HX-Redirect so no fragment is swapped."""
    if htmx.is_htmx_request():
        login_url = url_for("auth.login", next=htmx.current_page_path())
        return htmx.redirect(Response(status=401), login_url)
    wanted = here() if request.method == "GET" else None
    if wanted == url_for("dashboard.index"):
        wanted = None
    return redirect(url_for("auth.login", next=wanted))


# -- languages and time zone ------------------------------------------------------------------


def select_locale() -> str | None:
    """The session's choice, else the browser's preference, else the default (German)."""
    if not has_request_context():
        return None
    languages = current_app.config["LANGUAGES"]
    chosen = session.get("lang")
    if chosen in languages:
        return chosen
    preferred = request.accept_languages.best_match(languages)
    return preferred or current_app.config["BABEL_DEFAULT_LOCALE"]


def select_timezone() -> str:
    """The admin's display time zone (Settings), falling back to the configured default."""
    name = app_settings.display_timezone()
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        return current_app.config["DISPLAY_TIMEZONE"]
    return name


# -- blueprints -------------------------------------------------------------------------------


def _register_blueprints(app: Flask) -> None:
    from blueprints import attendees, auth, dashboard

    for module in (auth, dashboard, attendees):
        app.register_blueprint(module.bp)
    for name in OPTIONAL_BLUEPRINTS:
        if importlib.util.find_spec(f"blueprints.{name}") is None:
            continue
        module = importlib.import_module(f"blueprints.{name}")
        if module.bp.name not in app.blueprints:
            app.register_blueprint(module.bp)


# -- templates --------------------------------------------------------------------------------


def has_endpoint(name: str) -> bool:
    """True when a view called `name` is registered (links to screens that may not exist yet)."""
    return name in current_app.view_functions


def mailto(email: str | None) -> str:
    """A mailto: URL for `email` with everything but the @ percent-quoted (no header injection)."""
    return "mailto:" + quote(email or "", safe="@")


def http_url(value: str | None) -> str | None:
    """`value` when it is an absolute http(s) URL, else None (so data never becomes javascript:)."""
    if not value:
        return None
    parts = urlsplit(value.strip())
    if parts.scheme.lower() in ("http", "https") and parts.netloc:
        return value.strip()
    return None


def weekday_datetime(value: datetime | None) -> str:
    """'Mi., 25.11.2026, 14:00' in the admin's time zone and language."""
    if value is None:
        return ""
    locale, local = get_locale(), value.astimezone(get_timezone())
    weekday = babel_dates.format_date(local, "EEE", locale=locale)
    return f"{weekday}, {_date_and_time(local, locale)}"


def short_datetime(value: datetime | None) -> str:
    """'25.11.2026, 14:00' in the admin's time zone and language."""
    if value is None:
        return ""
    return _date_and_time(value.astimezone(get_timezone()), get_locale())


def short_time(value: datetime | None) -> str:
    """'14:00' in the admin's time zone and language."""
    if value is None:
        return ""
    return babel_dates.format_time(value.astimezone(get_timezone()), "short", locale=get_locale())


def _date_and_time(local: datetime, locale) -> str:
    day = babel_dates.format_date(local, "medium", locale=locale)
    return f"{day}, {babel_dates.format_time(local, 'short', locale=locale)}"


def here() -> str:
    """The current page's path and query, percent-encoded (for `next` fields)."""
    path = quote(request.path, safe="/@:+,;=~!$&'()*")
    query = request.query_string.decode("latin-1")
    return f"{path}?{query}" if query else path


def _init_templates(app: Flask) -> None:
    app.jinja_env.globals.update(
        has_endpoint=has_endpoint,
        here=here,
        current_language=lambda: str(get_locale() or app.config["BABEL_DEFAULT_LOCALE"]),
        current_timezone=lambda: str(get_timezone()),
        conference_types=CONFERENCE_TYPES,
        conference_labels=CONFERENCE_LABELS,
    )
    app.jinja_env.filters.update(
        mailto=mailto,
        http_url=http_url,
        weekday_datetime=weekday_datetime,
        short_datetime=short_datetime,
        short_time=short_time,
        booking_answers=queries.booking_answers,
    )


# -- errors and headers -----------------------------------------------------------------------

ERROR_MESSAGES = {
    400: lambda: _("The request could not be understood."),
    403: lambda: _("You may not do this."),
    404: lambda: _("Page not found."),
    405: lambda: _("This address does not accept that kind of request."),
    413: lambda: _("That was too much data at once."),
    429: lambda: _("Too many attempts. Please wait a little and try again."),
    500: lambda: _("Something went wrong on our side. Please try again."),
}


def render_error(code: int, message: str | None = None):
    """A friendly error page (never a stack trace) with status `code`."""
    if message is None:
        fallback = ERROR_MESSAGES[500] if code >= 500 else ERROR_MESSAGES[400]
        message = ERROR_MESSAGES.get(code, fallback)()
    return render_template("errors/error.html", code=code, message=message), code


def _init_errors(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def csrf_error(_error):
        return render_error(
            400,
            _("This form has expired or lacks its security token. Reload the page and try again."),
        )

    @app.errorhandler(HTTPException)
    def http_error(error):
        if error.code is None or error.code < 400:
            return error
        return render_error(error.code)

    @app.errorhandler(500)
    def server_error(_error):
        db.session.rollback()
        return render_error(500)


def _security_headers(response):
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    if request.endpoint != "static":
        # Pages carry attendee data: keep them out of caches and the back-button after logout.
        response.headers.setdefault("Cache-Control", "no-store")
    return htmx.vary_on_htmx(response)
