"""Error pages: a friendly page in the admin's language for every error, never a stack trace."""

from __future__ import annotations

import logging

from flask import Flask, render_template, request
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import DBAPIError
from werkzeug.exceptions import HTTPException

from store.database import busy_reason, db

log = logging.getLogger(__name__)
# Seconds a client should wait before it asks again after the database was busy.
BUSY_RETRY_AFTER = 5

ERROR_MESSAGES = {
    400: lambda: _("The request could not be understood."),
    403: lambda: _("You may not do this."),
    404: lambda: _("Page not found."),
    405: lambda: _("This address does not accept that kind of request."),
    413: lambda: _("That was too much data at once."),
    429: lambda: _("Too many attempts. Please wait a little and try again."),
    500: lambda: _("Something went wrong on our side. Please try again."),
    503: lambda: _("The database is busy right now – please try again in a moment."),
}


def render_error(code: int, message: str | None = None):
    """A friendly error page (never a stack trace) with status `code`."""
    if message is None:
        fallback = ERROR_MESSAGES[500] if code >= 500 else ERROR_MESSAGES[400]
        message = ERROR_MESSAGES.get(code, fallback)()
    return render_template("errors/error.html", code=code, message=message), code


def init_app(app: Flask) -> None:
    """Answer CSRF failures, HTTP errors and crashes with the error page."""

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

    @app.errorhandler(DBAPIError)
    def database_error(error):
        reason = busy_reason(error)
        if reason is None:
            raise error  # any other database error is a crash: logged in full, then a 500
        return database_busy(reason)

    @app.errorhandler(500)
    def server_error(_error):
        db.session.rollback()
        return render_error(500)


def database_busy(reason: str):
    """503 with Retry-After for a request that waited for the database past its limit
    (blueprints/waits.py), and one log line saying so (no traceback: nothing is broken)."""
    db.session.rollback()  # PostgreSQL refuses every further statement of the failed transaction
    # The path only: a query may hold what an admin searched for.
    log.warning("database busy (%s): %s %s answered 503", reason, request.method, request.path)
    headers = {"Retry-After": str(BUSY_RETRY_AFTER)}
    try:
        body, status = render_error(503)
    except DBAPIError as again:
        if busy_reason(again) is None:
            raise
        # The page itself needs the database (the signed-in user, the time zone): plain text.
        db.session.rollback()
        return ERROR_MESSAGES[503](), 503, {**headers, "Content-Type": "text/plain; charset=utf-8"}
    return body, status, headers
