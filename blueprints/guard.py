"""The login guard, the role guard and the security headers every response carries.

A signed-in account with a step to take first (choose its own login after demo mode, set up the
mandatory second factor) reaches only the pages of that step until it is done.

Roles are default-deny: an admin reaches everything, a viewer (Ansicht) only the views marked
`@viewer_allowed` (they read webinars, attendee lists, search, person pages, or the account's own
login) and the downloads (GET of a rule ending in .csv or .xlsx: exports of those lists). A new
route is admin-only until it is marked. Everything else answers a viewer 403.
"""

from __future__ import annotations

from flask import Flask, Response, current_app, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from blueprints import htmx, sessions
from blueprints.errors import render_error
from blueprints.extensions import login_manager
from blueprints.filters import here
from services import two_factor
from services.webhook_subscriptions import WEBHOOK_PATH

# Reachable without signing in. Everything else needs an account. The monitoring endpoints
# say nothing about webinars, people or the token (/metrics wants its own bearer token).
PUBLIC_ENDPOINTS = frozenset(
    {
        "auth.login",
        "auth.second_step",
        "auth.setup",
        "auth.set_language",
        "static",
        "operations.healthz",
        "operations.readyz",
        "operations.prometheus_metrics",
    }
)
# A step an account must take before anything else: its page, and what else it may reach.
CLAIM_STEP = "account.claim"
TWO_FACTOR_STEP = "account.index"
STEP_ENDPOINTS = {
    CLAIM_STEP: frozenset({CLAIM_STEP, "auth.logout"}),
    TWO_FACTOR_STEP: frozenset(
        {
            TWO_FACTOR_STEP,
            "account.start_two_factor",
            "account.confirm_two_factor",
            "account.sign_out_everywhere",
            "auth.logout",
        }
    ),
}
# Downloads a viewer may fetch: read-only exports of the lists they see (the CSV, and the XLSX
# beside it), whichever blueprint serves them.
EXPORT_SUFFIXES = (".csv", ".xlsx")
READ_METHODS = frozenset({"GET", "HEAD"})
# Browsers that reached the app over https once keep to https for a year.
HSTS = "max-age=31536000"
PUBLIC_REQUESTS = frozenset({("POST", WEBHOOK_PATH)})
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)


def init_app(app: Flask) -> None:
    """Require a login for every page but the public ones; add the security headers."""
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    sessions.init_app(app)
    login_manager.unauthorized_handler(_unauthorized)
    app.before_request(_require_login)
    app.after_request(_security_headers)


def _require_login():
    if request.endpoint in PUBLIC_ENDPOINTS or (request.method, request.path) in PUBLIC_REQUESTS:
        return None
    if not current_user.is_authenticated:
        return login_manager.unauthorized()
    step = first_step(current_user)
    if step is not None and request.endpoint not in STEP_ENDPOINTS[step]:
        return _send_to(url_for(step))
    if not current_user.is_admin and not viewer_may_reach(request.endpoint):
        return render_error(
            403,
            _(
                "Your account has the role Viewer: it can see webinars, attendee lists and "
                "search, but not change anything. Ask an admin if you need more."
            ),
        )
    return None


def viewer_allowed(view):
    """Mark a view that a viewer (Ansicht) may reach: it reads webinars or attendees (or the
    viewer's own login) and changes no data, settings, token or accounts."""
    view.viewer_allowed = True
    return view


def viewer_may_reach(endpoint: str | None) -> bool:
    """True when a viewer may make this request (see the module docstring)."""
    if endpoint is None:
        return True  # no such route: routing answers 404 or 405 as for anyone
    if getattr(current_app.view_functions.get(endpoint), "viewer_allowed", False):
        return True
    rule = request.url_rule
    return (
        request.method in READ_METHODS and rule is not None and rule.rule.endswith(EXPORT_SUFFIXES)
    )


def first_step(user) -> str | None:
    """The page of the step `user` must take before anything else, or None."""
    if user.must_set_login:
        return CLAIM_STEP
    if two_factor.required() and not user.has_two_factor:
        return TWO_FACTOR_STEP
    return None


def _send_to(url: str):
    if htmx.is_htmx_request():
        return htmx.redirect(Response(status=401), url)
    return redirect(url)


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
    if request.is_secure:
        # Only on https: a plain-http answer cannot be trusted to set it, and must not.
        response.headers.setdefault("Strict-Transport-Security", HSTS)
    if request.endpoint != "static":
        # Pages carry attendee data: keep them out of caches and the back-button after logout.
        response.headers.setdefault("Cache-Control", "no-store")
    return htmx.vary_on_htmx(response)
