"""Calendly webhooks on the web: the endpoint Calendly posts deliveries to (signed; no login, no
CSRF token), the subscriptions section of the Settings page, and the dashboard's warning when
Calendly has disabled this app's subscription.

The Settings page includes settings/_webhooks.html, which loads the subscriptions section with
htmx (the settings view knows nothing of webhooks); without JavaScript its link opens the same
section as a page. htmx gets the section back after every change (status 200 even with errors,
because htmx 2 does not swap 4xx bodies); a plain browser is redirected (303) with a flash message,
or gets the page with the form errors (422).
"""

from __future__ import annotations

from flask import Blueprint, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from blueprints import htmx
from blueprints.extensions import csrf
from blueprints.forms import SubscriptionForm
from blueprints.messages import calendly_problem
from calendly.signature import SIGNATURE_HEADER
from mirror import webhooks
from services import deliveries
from services import webhook_subscriptions as hooks

bp = Blueprint("webhooks", __name__)
ADMIN_PREFIX = "/settings/webhooks"


@bp.post(hooks.WEBHOOK_PATH)
@csrf.exempt  # Calendly cannot send a CSRF token; the HMAC signature authenticates a delivery.
def receive():
    """Verify, apply and acknowledge one Calendly webhook delivery (JSON answer)."""
    # Read at most one byte over the limit: enough to refuse an oversized body.
    body = request.stream.read(webhooks.MAX_BODY_BYTES + 1)
    result = deliveries.receive_delivery(body, request.headers.get(SIGNATURE_HEADER))
    return jsonify(outcome=result.outcome, detail=result.detail), result.status


@bp.app_context_processor
def _warning_for_templates():
    # A function, so that only templates that include the warning read the setting.
    return {"webhook_warning": hooks.dashboard_warning}


@bp.get(ADMIN_PREFIX)
def index():
    """The account's webhook subscriptions and the form to subscribe this app."""
    return _render(hooks.list_subscriptions())


@bp.post(ADMIN_PREFIX)
def create():
    """Subscribe this app's webhook URL in Calendly with a new signing key."""
    form = SubscriptionForm()
    if not form.validate_on_submit():
        return _render(hooks.list_subscriptions(), form=form, status=422)
    try:
        created = hooks.create_subscription(form.base_url.data, current_user)
    except hooks.WebhookAdminError as exc:
        return _done(_problem(exc, creating=True), "error", form=form)
    return _done(
        _(
            "Webhook subscription created: Calendly now posts changes to %(url)s.",
            url=created.callback_url,
        )
    )


@bp.post(ADMIN_PREFIX + "/<uuid>/delete")
def delete(uuid: str):
    """Delete a webhook subscription in Calendly."""
    try:
        hooks.delete_subscription(uuid, current_user)
    except hooks.WebhookAdminError as exc:
        return _done(_problem(exc), "error")
    return _done(_("Webhook subscription deleted."))


@bp.post(ADMIN_PREFIX + "/<uuid>/recreate")
def recreate(uuid: str):
    """Replace a disabled subscription of this app with a new one (and a new signing key)."""
    try:
        hooks.recreate_subscription(uuid, current_user)
    except hooks.WebhookAdminError as exc:
        message, kind = _problem(exc, creating=True), "error"
    else:
        message, kind = _("Webhook subscription re-created; real-time updates are back."), "success"
    if request.form.get("origin") == "dashboard":
        if htmx.is_partial_request():
            return render_template("settings/_webhook_warning.html", warning_notice=(message, kind))
        flash(message, kind)
        return redirect(url_for("dashboard.index"), 303)
    return _done(message, kind)


@bp.get(ADMIN_PREFIX + "/warning")
def warning():
    """The dashboard's webhook warning, after asking Calendly again if the last look is old."""
    hooks.refresh_health_if_stale()
    return render_template("settings/_webhook_warning.html")


# -- rendering ----------------------------------------------------------------------------------


def _problem(exc: hooks.WebhookAdminError, creating: bool = False) -> str:
    if exc.reason == "not_connected":
        return _("Connect a Calendly token first (under Calendly connection).")
    if exc.reason == "not_found":
        return _("Calendly has no such webhook subscription (any more).")
    if exc.reason == "not_ours":
        return _(
            "This subscription belongs to another integration; only this app's can be re-created."
        )
    if exc.reason == "plan":
        return _plan_text()
    cause = exc.cause
    if creating and getattr(cause, "status", None) == 409:
        return _("Calendly already has a webhook subscription for this address. Delete it first.")
    return calendly_problem(cause, write=True)


def _plan_text() -> str:
    return _(
        "Your Calendly plan does not include webhooks. Nothing is lost: the scheduled sync keeps "
        "fetching every change from Calendly, it just arrives with the next sync instead of "
        "within seconds."
    )


def _done(message: str, kind: str = "success", form: SubscriptionForm | None = None):
    """After a change: the fresh section for htmx, else redirect to the section's page."""
    if htmx.is_partial_request():
        return _render(hooks.list_subscriptions(), form=form, notice=(message, kind))
    flash(message, kind)
    return redirect(url_for("webhooks.index"), 303)


def _render(listing: hooks.Listing, form=None, notice=None, status: int = 200):
    """The section alone for htmx (always 200), else the page."""
    if form is None:
        form = SubscriptionForm(formdata=None, base_url=_suggested_base_url())
    context = {
        "listing": listing,
        "form": form,
        "notice": notice,
        "problem": _listing_problem(listing),
        "plan_text": _plan_text(),
        "webhook_path": hooks.WEBHOOK_PATH,
        "events": webhooks.HANDLED_EVENTS,
        "key_source": hooks.signing_key_source(),
    }
    if htmx.is_partial_request():
        return render_template("settings/_webhook_admin.html", **context)
    return render_template("settings/webhooks.html", **context), status


def _listing_problem(listing: hooks.Listing) -> str | None:
    if listing.not_connected:
        return _("Connect a Calendly token first (under Calendly connection).")
    if listing.error is None or listing.plan_blocked:
        return None
    return calendly_problem(listing.error)


def _suggested_base_url() -> str:
    """The address of the last subscription, else this request's own if it is https."""
    stored = hooks.suggested_base_url()
    if stored:
        return stored
    root = request.url_root.rstrip("/")
    return root if root.startswith("https://") else ""
