"""The login guard and the security headers every response carries."""

from __future__ import annotations

from flask import Flask, Response, redirect, request, url_for
from flask_login import current_user

from blueprints import htmx
from blueprints.extensions import login_manager
from blueprints.filters import here
from services import accounts
from services.webhook_subscriptions import WEBHOOK_PATH

# Reachable without signing in. Everything else needs an account.
PUBLIC_ENDPOINTS = frozenset({"auth.login", "auth.setup", "auth.set_language", "static"})
PUBLIC_REQUESTS = frozenset({("POST", WEBHOOK_PATH)})
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)


def init_app(app: Flask) -> None:
    """Require a login for every page but the public ones; add the security headers."""
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.user_loader(accounts.load_user)
    login_manager.unauthorized_handler(_unauthorized)
    app.before_request(_require_login)
    app.after_request(_security_headers)


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


def _security_headers(response):
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    if request.endpoint != "static":
        # Pages carry attendee data: keep them out of caches and the back-button after logout.
        response.headers.setdefault("Cache-Control", "no-store")
    return htmx.vary_on_htmx(response)
