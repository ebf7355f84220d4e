"""The signed-in account's own login, which every role manages itself: two-factor
authentication (set up with a QR code, recovery codes, turned off), signing out everywhere, and
choosing one's own login after demo mode.

One page (`/account`) shows it all; its forms post here and come back to it.
"""

from __future__ import annotations

from datetime import timedelta

import segno
from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import format_timedelta
from flask_babel import gettext as _
from flask_login import current_user

from blueprints import sessions
from blueprints.forms import CodeForm, OwnLoginForm, PasswordCheckForm
from blueprints.guard import viewer_allowed
from services import accounts, two_factor

bp = Blueprint("account", __name__, url_prefix="/account")


@bp.get("")
@viewer_allowed
def index():
    """The account page."""
    return _render()


@bp.post("/sign-out-everywhere")
@viewer_allowed
def sign_out_everywhere():
    """End every session of this account, on this and every other device."""
    sessions.end_everywhere(current_user.id)
    flash(_("You are signed out on every device."), "success")
    return redirect(url_for("auth.login"), 303)


@bp.post("/two-factor")
@viewer_allowed
def start_two_factor():
    """Start setting up two-factor authentication: a new secret, shown as a QR code."""
    try:
        two_factor.start_setup(current_user.id)
    except accounts.AccountError as exc:
        flash(exc.message, "info")
    return redirect(url_for(".index"), 303)


@bp.post("/two-factor/confirm")
@viewer_allowed
def confirm_two_factor():
    """Turn two-factor authentication on with a first code from the app."""
    form = CodeForm()
    if form.validate_on_submit():
        codes = two_factor.confirm_setup(current_user.id, form.code.data)
        if codes is not None:
            message = _("Two-factor authentication is on.")
            return _render(recovery_codes=codes, message=message)
        form.code.errors = [*form.code.errors, _("The code is not right.")]
    return _render(422, code_form=form)


@bp.post("/two-factor/disable")
@viewer_allowed
def disable_two_factor():
    """Turn two-factor authentication off (needs the password; refused when it is required)."""
    if two_factor.required():
        return _render(409, message=_("Two-factor authentication is required for every account."))
    form = PasswordCheckForm()
    if not _password_confirmed(form):
        return _render(422, password_error=_password_error(form))
    two_factor.turn_off(current_user.id)
    flash(_("Two-factor authentication is off."), "success")
    return redirect(url_for(".index"), 303)


@bp.post("/two-factor/recovery-codes")
@viewer_allowed
def new_recovery_codes():
    """Replace the recovery codes (needs the password); the new ones are shown once."""
    form = PasswordCheckForm()
    if not _password_confirmed(form):
        return _render(422, password_error=_password_error(form))
    codes = two_factor.new_recovery_codes(current_user.id)
    return _render(recovery_codes=codes, message=_("New recovery codes; the old ones are void."))


@bp.route("/claim", methods=["GET", "POST"])
@viewer_allowed
def claim():
    """Choose one's own email and password for the account taken over from demo mode."""
    if not current_user.must_set_login:
        return redirect(url_for("dashboard.index"))
    form = OwnLoginForm()
    status = 200
    if form.validate_on_submit():
        try:
            user = accounts.claim_login(current_user.id, form.email.data, form.password.data)
        except accounts.AccountError as exc:
            form.email.errors = [*form.email.errors, exc.message]
        else:
            sessions.start(user)
            flash(_("Your login is saved. From now on, sign in with it."), "success")
            return redirect(url_for("dashboard.index"), 303)
    if request.method == "POST":
        status = 422
    return render_template(
        "account/claim.html", form=form, min_password_length=accounts.MIN_PASSWORD_LENGTH
    ), status


# -- helpers -------------------------------------------------------------------------------


def _password_confirmed(form: PasswordCheckForm) -> bool:
    """True when the form carries the account's password; remembers a throttle on the form."""
    if not form.validate_on_submit():
        return False
    try:
        return accounts.confirm_password(current_user.id, form.password.data, request.remote_addr)
    except accounts.LoginThrottled as exc:
        form.throttled = exc
        return False


def _password_error(form: PasswordCheckForm) -> str:
    throttled = getattr(form, "throttled", None)
    if throttled is not None:
        minutes = max(1, round(throttled.retry_after / 60))
        return _(
            "Too many failed attempts. Please wait %(minutes)d minutes and try again.",
            minutes=minutes,
        )
    return _("That is not your password.")


def qr_code(text: str) -> str:
    """`text` as a QR code: an SVG data: URI, which the CSP allows as an image (no script)."""
    return segno.make(text, error="m").svg_data_uri(scale=5, border=2, light="#fff")


def _duration(minutes: int) -> str:
    """ "12 hours", "90 minutes": whole hours as hours, anything else in minutes."""
    threshold = 1 if minutes % 60 == 0 else 10**6  # 10**6: never round up to a larger unit
    return format_timedelta(timedelta(minutes=minutes), granularity="minute", threshold=threshold)


def _render(status: int = 200, **context):
    user = current_user
    secret = two_factor.pending_secret(user)
    setup = None
    if secret is not None:
        setup = {
            "qr": qr_code(two_factor.provisioning_uri(user, secret)),
            # In groups of four, as authenticator apps accept them typed in.
            "secret": " ".join(secret[i : i + 4] for i in range(0, len(secret), 4)),
        }
    context.setdefault("code_form", CodeForm(formdata=None))
    return render_template(
        "account/index.html",
        setup=setup,
        required=two_factor.required(),
        codes_left=two_factor.recovery_codes_left(user.id) if user.has_two_factor else 0,
        lifetime=_duration(current_app.config["SESSION_LIFETIME_MINUTES"]),
        idle=_duration(current_app.config["SESSION_IDLE_MINUTES"]),
        **context,
    ), status
