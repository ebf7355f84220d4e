"""Error pages: a friendly page in the admin's language for every error, never a stack trace."""

from __future__ import annotations

from flask import Flask, render_template
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from store.database import db

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

    @app.errorhandler(500)
    def server_error(_error):
        db.session.rollback()
        return render_error(500)
