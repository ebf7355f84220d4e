"""The audit log page ("Protokoll", admins only): who did what and when, newest first, filtered
by admin and action; htmx gets just the list. Each entry is stored as an action code with its
parameters and said here as a sentence in the admin's language (never stored as words).
"""

from __future__ import annotations

from datetime import date

from flask import Blueprint, render_template, request
from flask_babel import format_date
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from blueprints import htmx, inputs
from services import accounts
from services import audit as audit_log
from store.models import AuditEntry
from store.outcomes import AuditAction

bp = Blueprint("audit", __name__, url_prefix="/audit")

A = AuditAction
# The filter's names of the actions, in the order the filter lists them.
ACTION_LABELS = {
    A.SIGNED_IN: _l("Signed in"),
    A.SIGNED_OUT: _l("Signed out"),
    A.ACCOUNT_CREATED: _l("Account created"),
    A.ACCOUNT_DISABLED: _l("Account disabled"),
    A.ACCOUNT_ENABLED: _l("Account enabled"),
    A.ACCOUNT_DELETED: _l("Account deleted"),
    A.ROLE_CHANGED: _l("Role changed"),
    A.TWO_FACTOR_CHANGED: _l("Two-factor authentication changed"),
    A.TOKEN_CONNECTED: _l("Token connected"),
    A.TOKEN_REPLACED: _l("Token replaced"),
    A.TOKEN_REMOVED: _l("Token removed"),
    A.SETTING_CHANGED: _l("Setting changed"),
    A.SYNC_STARTED: _l("Sync started"),
    A.NO_SHOW_MARKED: _l("No-show marked"),
    A.NO_SHOW_UNDONE: _l("No-show undone"),
    A.WEBHOOK_CREATED: _l("Webhook subscription created"),
    A.WEBHOOK_DELETED: _l("Webhook subscription deleted"),
    A.EXPORT_DOWNLOADED: _l("Export downloaded"),
    A.PERSON_EXPORTED: _l("Person's data exported"),
    A.PERSON_ERASED: _l("Person erased"),
    A.RETENTION_RUN: _l("Retention run"),
    A.ATTENDANCE_RECORDED: _l("Attendance recorded"),
    A.ATTENDANCE_UNRECORDED: _l("Attendance mark removed"),
}
SETTING_LABELS = {
    "display_timezone": _l("Time zone"),
    "sync_lookback_days": _l("Sync look-back (days)"),
    "sync_daily_time": _l("Daily sync time"),
    "sync_interval_minutes": _l("Sync interval (minutes)"),
    "sync_event_types": _l("Event types to sync"),
    "sync_scope": _l("Sync scope"),
    "webhook_signing_key": _l("Webhook signing key"),
}
VIEW_LABELS = {"upcoming": _l("Upcoming"), "past": _l("Past"), "canceled": _l("Canceled")}


@bp.get("")
def index():
    """The audit log, a page at a time; htmx gets just the list."""
    wanted = audit_log.AuditFilter.from_args(request.args)
    page = audit_log.entries(wanted, inputs.int_arg("page", 1))
    context = {
        "filter": wanted,
        "entries": page,
        "webinars": audit_log.webinars_of(page.items),
        "actors": audit_log.actors(),
        "action_labels": ACTION_LABELS,
        "keep_days": audit_log.keep_days(),
    }
    if htmx.is_partial_request():
        return render_template("audit/_entries.html", **context)
    return render_template("audit/index.html", **context)


@bp.app_template_filter("audit_actor")
def actor_text(entry: AuditEntry) -> str:
    """Who acted: the admin's email, else the command line or the app itself."""
    if entry.actor_email:
        return entry.actor_email
    if (entry.params or {}).get("source") == audit_log.SOURCE_CLI:
        return _("Command line")
    return _("The app")


@bp.app_template_filter("audit_sentence")
def entry_sentence(entry: AuditEntry) -> str:
    """What the entry records, as a sentence in the admin's language (plain text: escaped)."""
    params = entry.params or {}
    sentence = _SENTENCES.get(entry.action)
    if sentence is None:
        return entry.action
    return sentence({key: _value(key, value) for key, value in params.items()}, params)


def _value(key: str, value) -> str:
    """A parameter as words: yes/no, lists joined, roles by their label, nothing as a dash."""
    if value is None or value == [] or value == {}:
        return "–"
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if isinstance(value, list):
        return ", ".join(_value(key, item) for item in value)
    if isinstance(value, dict):
        return ", ".join(f"{name}: {_value(name, item)}" for name, item in value.items())
    if key in ("role", "old", "new") and value in accounts.ROLE_LABELS:
        return str(accounts.ROLE_LABELS[value])
    if key == "cutoff":
        try:
            return format_date(_date(value), "medium")
        except ValueError:
            return str(value)
    if key == "format":
        return str(value).upper()
    return str(value)


def _date(value: str) -> date:
    return date.fromisoformat(str(value)[:10])


def _two_factor(p: dict, raw: dict) -> str:
    if raw.get("reset"):
        return _("Reset the two-factor authentication of account #%(account)s.", **p)
    if raw.get("enabled"):
        return _("Turned on two-factor authentication for account #%(account)s.", **p)
    return _("Turned off two-factor authentication for account #%(account)s.", **p)


def _setting(p: dict, raw: dict) -> str:
    label = SETTING_LABELS.get(raw.get("setting"), raw.get("setting") or "?")
    if "old" not in raw and "new" not in raw:
        return _("Changed the setting “%(setting)s”.", setting=label)
    return _(
        "Changed the setting “%(setting)s” from %(old)s to %(new)s.",
        setting=label,
        old=p.get("old", "–"),
        new=p.get("new", "–"),
    )


def _export(p: dict, raw: dict) -> str:
    fmt = p.get("format", "?")
    if raw.get("list") == "webinar":
        return _(
            "Downloaded the attendee list of webinar %(webinar)s as %(format)s.",
            webinar=p.get("webinar", "?"),
            format=fmt,
        )
    if raw.get("list") == "webinars":
        view = VIEW_LABELS.get(raw.get("view"), p.get("view", "?"))
        if raw.get("filtered"):
            return _(
                "Downloaded the attendees of the filtered tab “%(view)s” as %(format)s.",
                view=view,
                format=fmt,
            )
        return _(
            "Downloaded the attendees of the tab “%(view)s” as %(format)s.", view=view, format=fmt
        )
    return _("Downloaded the list “%(list)s” as %(format)s.", list=p.get("list", "?"), format=fmt)


def _erased(p: dict, raw: dict) -> str:
    # `at_calendly`: what became of the request at Calendly (services.person_data.AtCalendly),
    # or a bool in entries written before it said more.
    at_calendly = raw.get("at_calendly")
    names = {"person": p.get("person", "?"), "bookings": p.get("bookings", "?")}
    if at_calendly is True or at_calendly == "requested":
        return _(
            "Erased the data of person %(person)s (%(bookings)s bookings), in Calendly too.",
            **names,
        )
    if at_calendly in ("refused_plan", "refused_permission", "failed"):
        return _(
            "Erased the data of person %(person)s (%(bookings)s bookings); Calendly did not "
            "erase it.",
            **names,
        )
    return _("Erased the data of person %(person)s (%(bookings)s bookings).", **names)


def _with(p: dict, *names: str) -> dict:
    """`p` with a "?" for each of `names` it lacks (an entry of an older version)."""
    return {name: "?" for name in names} | p


_SENTENCES = {
    A.SIGNED_IN: lambda p, raw: _("Signed in."),
    A.SIGNED_OUT: lambda p, raw: (
        _("Signed out on every device.") if raw.get("everywhere") else _("Signed out.")
    ),
    A.ACCOUNT_CREATED: lambda p, raw: _(
        "Created account #%(account)s with the role %(role)s.", **_with(p, "account", "role")
    ),
    A.ACCOUNT_DISABLED: lambda p, raw: _("Disabled account #%(account)s.", **_with(p, "account")),
    A.ACCOUNT_ENABLED: lambda p, raw: _("Enabled account #%(account)s.", **_with(p, "account")),
    A.ACCOUNT_DELETED: lambda p, raw: _("Deleted account #%(account)s.", **_with(p, "account")),
    A.ROLE_CHANGED: lambda p, raw: _(
        "Changed the role of account #%(account)s from %(old)s to %(new)s.",
        **_with(p, "account", "old", "new"),
    ),
    A.TWO_FACTOR_CHANGED: lambda p, raw: _two_factor(_with(p, "account"), raw),
    A.TOKEN_CONNECTED: lambda p, raw: _("Connected a Calendly token."),
    A.TOKEN_REPLACED: lambda p, raw: _("Replaced the Calendly token."),
    A.TOKEN_REMOVED: lambda p, raw: _("Removed the Calendly token."),
    A.SETTING_CHANGED: _setting,
    A.SYNC_STARTED: lambda p, raw: (
        _("Started a full sync (run #%(run)s).", **_with(p, "run"))
        if raw.get("full")
        else _("Started a sync (run #%(run)s).", **_with(p, "run"))
    ),
    A.NO_SHOW_MARKED: lambda p, raw: _(
        "Marked invitee %(invitee)s of webinar %(webinar)s as a no-show.",
        **_with(p, "invitee", "webinar"),
    ),
    A.NO_SHOW_UNDONE: lambda p, raw: _(
        "Removed the no-show mark of invitee %(invitee)s of webinar %(webinar)s.",
        **_with(p, "invitee", "webinar"),
    ),
    A.WEBHOOK_CREATED: lambda p, raw: _(
        "Created the webhook subscription %(subscription)s.", **_with(p, "subscription")
    ),
    A.WEBHOOK_DELETED: lambda p, raw: _(
        "Deleted the webhook subscription %(subscription)s.", **_with(p, "subscription")
    ),
    A.EXPORT_DOWNLOADED: _export,
    A.PERSON_EXPORTED: lambda p, raw: _(
        "Exported the data of person %(person)s as %(format)s.", **_with(p, "person", "format")
    ),
    A.PERSON_ERASED: _erased,
    A.RETENTION_RUN: lambda p, raw: _(
        "Retention: removed the personal data of %(attendees)s attendees of %(webinars)s "
        "webinars from before %(cutoff)s.",
        **_with(p, "attendees", "webinars", "cutoff"),
    ),
    A.ATTENDANCE_RECORDED: lambda p, raw: _(
        "Recorded the attendance of webinar %(webinar)s: %(attended)s attended, %(no_shows)s "
        "no-shows.",
        **_with(p, "webinar", "attended", "no_shows"),
    ),
    A.ATTENDANCE_UNRECORDED: lambda p, raw: _(
        "Removed the attendance mark of webinar %(webinar)s.", **_with(p, "webinar")
    ),
}
