"""Settings: the Calendly token and event types, the display time zone, look-back and schedule.

Each form posts on its own. htmx gets the form's section back (status 200 even with errors,
because htmx 2 does not swap 4xx bodies); a plain browser is redirected after success (303) and
gets the whole page with the errors (422) otherwise.
"""

from __future__ import annotations

from datetime import time

from flask import Blueprint, Response, current_app, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user

from blueprints import htmx, sessions
from blueprints.forms import (
    EventTypesForm,
    PreferencesForm,
    RetentionForm,
    ScopeForm,
    TokenForm,
    timezone_names,
)
from blueprints.messages import calendly_problem, retention_preview
from calendly.errors import TOKEN_PAGE_URL, CalendlyError
from mirror.event_types import ALL_TYPES
from mirror.scope import HOSTS, ME, MODES, ORGANIZATION, Scope
from mirror.sync import SyncAlreadyRunning
from services import accounts, connection, retention, scheduler, settings, sync_scope
from services.secrets import TokenVaultError
from services.syncing import start_background_sync
from store.outcomes import SyncTrigger

bp = Blueprint("settings", __name__, url_prefix="/settings")

SECTION_TEMPLATES = {
    "calendly": "settings/_calendly.html",
    "preferences": "settings/_preferences.html",
    "retention": "settings/_retention.html",
}


@bp.get("")
def index():
    """The settings page."""
    return _render("page")


@bp.post("/token")
def save_token():
    """Verify a pasted Personal Access Token against Calendly and store it encrypted."""
    if settings.token_from_environment():
        return _refused_env_token()
    form = TokenForm()
    if not form.validate_on_submit():
        return _render("calendly", 422, token_form=form)
    admin_id = current_user.id  # read now: connecting may change (or remove) the account
    check = connection.connect_token(form.token.data, connected_by=admin_id)
    if check.user is None:
        problems = [calendly_problem(problem, on_settings=True) for problem in check.problems]
        form.token.errors.extend(problems or [_("Calendly did not accept the token.")])
        return _render("calendly", 422, token_form=form, refused=check)
    changed = form.retention_given() and retention.change_months(
        form.chosen_months(), accounts.get_admin(admin_id)
    )
    if accounts.must_set_login(admin_id):
        # The token ended demo mode, and with it every session of the demo login, this one too.
        # Whoever connected the token goes on, in a new session, to choose their own login.
        sessions.start(accounts.get_admin(admin_id))
        return _go_to(url_for("account.claim"))
    message = _("Token saved. Connected to Calendly as %(name)s.", name=check.user.get("name"))
    # The retention section shows the period too: htmx gets it fresh beside the token's.
    return _done("calendly", message, check=check, also_retention=changed)


@bp.post("/token/remove")
def remove_token():
    """Forget the stored token (syncing stops until a new one is saved)."""
    if settings.token_from_environment():
        return _refused_env_token()
    connection.remove_token(current_user)
    return _done("calendly", _("Token removed. Syncing stops until a new token is saved."))


@bp.post("/event-types")
def save_event_types():
    """Store which of the account's event types the sync mirrors."""
    if _event_types_from_env():
        message = _("The event types come from the CALENDLY_EVENT_TYPES environment variable.")
        return _render(
            "calendly", 409, message=message, message_kind="error", notice_at="event_types"
        )
    check = connection.check_token()
    form = _types_form(check)
    if not check.event_types_listed or not form.validate_on_submit():
        return _render("calendly", 422, check=check, types_form=form)
    first = connection.save_event_types(
        form.event_types.data or [], all_types=form.all_types.data, actor=current_user
    )
    message = _("Event type choice saved.")
    if first:
        message = f"{message} {_first_sync()}"
    return _done("calendly", message, check=check, notice_at="event_types")


@bp.post("/scope")
def save_scope():
    """Store whose webinars the sync mirrors. Narrowing first asks to confirm how many stored
    webinars it removes; a scope the token may not read is refused and nothing changes."""
    if settings.scope_from_environment():
        message = _("The sync scope comes from the CALENDLY_SCOPE environment variable.")
        return _render("calendly", 409, message=message, message_kind="error", notice_at="scope")
    form = _scope_form()
    if not form.validate_on_submit() or form.mode.data not in MODES:
        return _render("calendly", 422, scope_form=form, notice_at="scope")
    hosts = tuple(form.hosts.data or ()) if form.mode.data == HOSTS else ()
    new = Scope(form.mode.data, hosts)
    confirm = form.confirm.data or ""
    # A count the page itself put there: a few digits (anything else confirms nothing).
    confirmed = int(confirm) if confirm.isdigit() and len(confirm) <= 9 else None
    try:
        pending = sync_scope.change_scope(new, confirmed, current_user)
    except sync_scope.ScopeRefused as refused:
        return _render(
            "calendly",
            403,
            message=_scope_refusal(refused.mode),
            message_kind="error",
            scope_form=form,
            notice_at="scope",
        )
    except (TokenVaultError, CalendlyError) as exc:
        message = calendly_problem(exc)
        return _render("calendly", 502, message=message, message_kind="error", notice_at="scope")
    if pending is not None:
        form.confirm.data = str(pending.events)
        return _render("calendly", 200, scope_form=form, narrowing=pending, notice_at="scope")
    return _done("calendly", _("Sync scope saved."), notice_at="scope")


def _scope_refusal(mode: str) -> str:
    what = {
        ORGANIZATION: _("the whole organization's webinars"),
        HOSTS: _("other hosts' webinars"),
    }.get(mode, mode)
    return _(
        "This Calendly token may not read %(what)s: only an owner or admin of the Calendly "
        "organization may. Nothing was changed.",
        what=what,
    )


def _scope_form(form: ScopeForm | None = None) -> ScopeForm:
    """The scope form with the choices the token may read and the members to pick from."""
    if form is None:
        form = ScopeForm()
    labels = {
        ME: _("My events (the token's own webinars)"),
        ORGANIZATION: _("The whole organization"),
        HOSTS: _("These hosts"),
    }
    form.mode.choices = [(mode, labels[mode]) for mode in sync_scope.offered_modes()]
    form.hosts.choices = [
        (member["uri"], member.get("name") or member.get("email") or member["uri"])
        for member in settings.org_members()
    ]
    return form


def _first_sync() -> str:
    """Start the first sync after the first choice; what to tell the admin about it."""
    try:
        start_background_sync(current_app._get_current_object(), SyncTrigger.CONNECTED)
    except SyncAlreadyRunning:
        return _("A sync is already running.")
    except (TokenVaultError, CalendlyError) as exc:
        return calendly_problem(exc)
    return _("The first sync has started; the webinars appear on the dashboard.")


@bp.post("/preferences")
def save_preferences():
    """Store the display time zone, the sync look-back and the automatic sync schedule."""
    form = PreferencesForm()
    if not form.validate_on_submit():
        return _render("preferences", 422, prefs_form=form)
    settings.save_preferences(
        form.display_timezone.data,
        form.lookback_days.data,
        form.daily_time.data.strftime("%H:%M"),
        form.interval_minutes.data,
        actor=current_user,
    )
    scheduler.reschedule(current_app._get_current_object())
    return _done("preferences", _("Settings saved."))


@bp.post("/retention")
def save_retention():
    """Store how long attendee data is kept after a webinar (off only when confirmed)."""
    form = RetentionForm()
    if not form.validate_on_submit():
        return _render("retention", 422, retention_form=form)
    retention.change_months(form.chosen_months(), current_user)
    return _done("retention", _("Retention period saved."))


# -- rendering ----------------------------------------------------------------------------


def _event_types_from_env() -> bool:
    return bool((current_app.config.get("CALENDLY_EVENT_TYPES") or "").strip())


def _types_form(check, form: EventTypesForm | None = None) -> EventTypesForm:
    form = form or EventTypesForm()
    events = check.event_types if check is not None else []
    form.event_types.choices = [(item["uri"], item.get("name") or item["uri"]) for item in events]
    return form


def _refused_env_token():
    message = _("The token comes from the CALENDLY_TOKEN environment variable; change it there.")
    return _render("calendly", 409, message=message, message_kind="error")


def _done(section: str, message: str, **parts):
    """After a successful change: the fresh section for htmx, else redirect to the page.

    `parts` hands over what the change already learned (e.g. the token `check`), so the
    section is not built by asking Calendly the same questions again.
    """
    if htmx.is_partial_request():
        return _render(section, message=message, message_kind="success", **parts)
    flash(message, "success")
    return redirect(url_for("settings.index"), 303)


def _go_to(url: str):
    """Load `url` as a whole page, also from an htmx request."""
    if htmx.is_htmx_request():
        return htmx.redirect(Response(status=204), url)
    return redirect(url, 303)


def _render(what: str, status: int = 200, message=None, message_kind="info", **parts):
    """Render the page (`what` == "page") or one section, which htmx swaps in place.

    The message shows next to the form it answers: `notice_at` names that form when it is not
    the section's first one.
    """
    partial = what != "page" and htmx.is_partial_request()
    notice_at = parts.pop("notice_at", what)
    context = {"notices": {notice_at: (message, message_kind)} if message else {}}
    if not partial or what == "calendly":
        context.update(_calendly_context(**parts))
    if not partial or what == "preferences":
        context.update(_preferences_context(parts.get("prefs_form")))
    if not partial or what == "retention":
        context.update(_retention_context(parts.get("retention_form")))
    if partial:
        # htmx 2 does not swap 4xx responses; the section shows its errors itself.
        html = render_template(SECTION_TEMPLATES[what], **context)
        if parts.get("also_retention"):
            html += render_template(
                "settings/_retention.html", oob=True, notices={}, **_retention_context(None)
            )
        return html, 200
    return render_template("settings/index.html", **context), status


def _calendly_context(
    token_form=None,
    types_form=None,
    check=None,
    refused=None,
    scope_form=None,
    narrowing=None,
    **_ignored,
):
    """What the Calendly section shows: the token, its health and the event types."""
    env_token = settings.token_from_environment()
    hint = settings.token_hint()
    if check is None and connection.token_configured():
        check = connection.current_status()
    if types_form is not None:
        selection = list(types_form.event_types.data or [])
        selection += [ALL_TYPES] if types_form.all_types.data else []
    else:
        selection = settings.sync_event_types()
    if token_form is None:
        token_form = TokenForm(formdata=None)
        token_form.show_stored()
    return {
        "token_form": token_form,
        "types_form": _types_form(check, types_form),
        "token_hint": hint,
        "token_from_env": env_token,
        "demo_mode": bool(current_app.config.get("DEMO_MODE")) and not hint and not env_token,
        "check": check,
        "refused": refused,
        "account": settings.account(),
        # After a refused choice, show what was ticked rather than what is stored.
        "selection": selection,
        "all_chosen": ALL_TYPES in (selection or ()),
        "chosen": settings.event_types_chosen(),
        "is_selected": connection.is_selected,
        "event_types_from_env": _event_types_from_env(),
        "token_page_url": TOKEN_PAGE_URL,
        **_scope_context(scope_form, narrowing),
    }


def _scope_context(form: ScopeForm | None, narrowing) -> dict:
    """The sync scope form, filled from the stored scope unless it was just submitted."""
    scope = settings.sync_scope()
    if form is None:
        form = _scope_form(ScopeForm(formdata=None, mode=scope.mode, hosts=list(scope.hosts)))
    return {
        "scope_form": _scope_form(form),
        "scope": scope,
        "scope_from_env": settings.scope_from_environment(),
        "narrowing": narrowing,
    }


def _preferences_context(form: PreferencesForm | None) -> dict:
    """The preferences form, filled from the stored settings unless it was just submitted."""
    if form is None:
        schedule = settings.sync_schedule()
        form = PreferencesForm(
            formdata=None,
            display_timezone=settings.display_timezone(),
            lookback_days=settings.lookback_days(),
            daily_time=time.fromisoformat(schedule["daily_time"]),
            interval_minutes=schedule["interval_minutes"],
        )
    return {"prefs_form": form, "timezone_names": timezone_names()}


def _retention_context(form: RetentionForm | None) -> dict:
    """The retention form, filled from the stored choice unless just submitted, and what the
    next daily run removes."""
    if form is None:
        form = RetentionForm(formdata=None)
        form.show_stored()
    return {
        "retention_form": form,
        "retention_preview": retention_preview(retention.plan()),
        "retention_chosen": settings.retention_chosen(),
    }
