"""Signing in (with the second step for two-factor accounts) and out, the one-time setup of the
first account, and the language choice."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user

from blueprints import sessions
from blueprints.forms import CodeForm, LoginForm, SetupForm
from blueprints.guard import viewer_allowed
from services import accounts, two_factor

bp = Blueprint("auth", __name__)


def safe_next(target: str | None) -> str | None:
    """`target` when it is a path on this site, else None.

    Refuses absolute URLs, scheme-relative `//host`, backslashes (browsers read `/\\host` as
    `//host`) and control characters or blanks (browsers drop some of them before parsing).
    """
    if not target or len(target) > 2048 or not target.startswith("/"):
        return None
    if target.startswith("//") or "\\" in target:
        return None
    if any(ord(char) <= 0x20 or ord(char) == 0x7F for char in target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    return target


@bp.route("/login", methods=["GET", "POST"])
def login():
    """The sign-in form; after success, back to the page that asked for it."""
    if not accounts.has_admin():
        return redirect(url_for(".setup"))
    if current_user.is_authenticated:
        return redirect(safe_next(request.args.get("next")) or url_for("dashboard.index"))
    form = LoginForm(next=request.args.get("next"))
    error, status, headers = None, 200, {}
    if form.validate_on_submit():
        try:
            user = accounts.authenticate(form.email.data, form.password.data, request.remote_addr)
        except accounts.LoginThrottled as exc:
            error, status, headers = _throttled(exc)
        else:
            if user is not None and user.has_two_factor:
                sessions.await_code(user, safe_next(form.next.data))
                return redirect(url_for(".second_step"), 303)
            if user is not None:
                sessions.start(user)
                return redirect(safe_next(form.next.data) or url_for("dashboard.index"), 303)
            error = _("Wrong email or password.")
    return (
        render_template("auth/login.html", form=form, error=error, demo_login=_demo_login()),
        status,
        headers,
    )


def _demo_login() -> dict | None:
    """The demo admin's login while demo mode runs (it opens simulated data only), else None."""
    config = current_app.config
    return config.get("DEMO_LOGIN") if config.get("DEMO_MODE") else None


def _throttled(exc: accounts.LoginThrottled):
    """The error, status and headers of a refused try."""
    minutes = max(1, round(exc.retry_after / 60))
    error = _(
        "Too many failed attempts. Please wait %(minutes)d minutes and try again.",
        minutes=minutes,
    )
    return error, 429, {"Retry-After": str(exc.retry_after)}


@bp.route("/login/code", methods=["GET", "POST"])
def second_step():
    """The code from the authenticator app (or a recovery code) after a right password."""
    pending, expired = sessions.pending_code()
    if pending is None:
        if expired:
            flash(_("That took too long. Please sign in again."), "warning")
        return redirect(url_for(".login"), 303)
    form = CodeForm()
    error, status, headers = None, 200, {}
    if form.validate_on_submit():
        try:
            user = two_factor.verify_sign_in(pending["user"], form.code.data, request.remote_addr)
        except accounts.LoginThrottled as exc:
            error, status, headers = _throttled(exc)
        else:
            if user is not None:
                sessions.start(user)
                return redirect(safe_next(pending.get("next")) or url_for("dashboard.index"), 303)
            error = _("The code is not right.")
    return render_template("auth/code.html", form=form, error=error), status, headers


@bp.route("/setup", methods=["GET", "POST"])
def setup():
    """Create the first account; gone for good once any account exists."""
    if accounts.has_admin():
        abort(404)
    form = SetupForm()
    if form.validate_on_submit():
        try:
            user = accounts.create_first_admin(form.email.data, form.password.data)
        except accounts.AccountError as exc:
            form.email.errors = [*form.email.errors, exc.message]
        else:
            sessions.start(user)
            flash(_("Your account is ready. Welcome!"), "success")
            return redirect(url_for("dashboard.index"), 303)
    return render_template(
        "auth/setup.html", form=form, min_password_length=accounts.MIN_PASSWORD_LENGTH
    )


@bp.post("/logout")
@viewer_allowed
def logout():
    """Sign out: this session ends on the server, so copies of its cookie stop working too."""
    sessions.end()
    flash(_("You are signed out."), "success")
    return redirect(url_for(".login"), 303)


@bp.post("/language")
def set_language():
    """Remember the chosen language in the session (and the account: its alert emails follow
    it) and go back where the switch was pressed."""
    language = request.form.get("lang")
    if language in current_app.config["LANGUAGES"]:
        session["lang"] = language
        if current_user.is_authenticated:
            accounts.set_language(current_user.id, language)
    return redirect(safe_next(request.form.get("next")) or url_for("dashboard.index"), 303)
