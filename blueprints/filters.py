"""Template filters and globals: dates and times in the admin's time zone and language, safe
links from attendee data, and the labels of run statuses and triggers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import quote, urlsplit

from flask import Flask, request
from flask_babel import format_date, format_time, get_locale, get_timezone
from flask_babel import lazy_gettext as _l

from blueprints import messages
from calendly.locations import CONFERENCE_TYPES
from services import queries
from store import clock
from store.outcomes import SyncStatus, SyncTrigger

# How the dashboard names the video services behind Calendly's conference location types.
CONFERENCE_LABELS = {
    "google_conference": "Google Meet",
    "zoom": "Zoom",
    "zoom_conference": "Zoom",
    "microsoft_teams_conference": "Microsoft Teams",
    "webex_conference": "Webex",
    "gotomeeting": "GoTo Meeting",
}
STATUS_LABELS = {
    SyncStatus.RUNNING: _l("Running"),
    SyncStatus.SUCCEEDED: _l("Succeeded"),
    SyncStatus.FAILED: _l("Failed"),
    SyncStatus.SKIPPED: _l("Skipped"),
}
# How a run started, as words in a sentence ("manual", not the button's "Sync now").
TRIGGER_LABELS = {
    SyncTrigger.CLI: _l("command line"),
    SyncTrigger.MANUAL: _l("manual"),
    SyncTrigger.SCHEDULER: _l("scheduled"),
    SyncTrigger.DEMO: _l("demo start"),
    SyncTrigger.CONNECTED: _l("after connecting"),
}


def init_app(app: Flask) -> None:
    """Register the filters and globals below with `app`'s templates."""
    app.jinja_env.globals.update(
        here=here,
        current_language=lambda: str(get_locale() or app.config["BABEL_DEFAULT_LOCALE"]),
        current_timezone=lambda: str(get_timezone()),
        conference_types=CONFERENCE_TYPES,
        conference_labels=CONFERENCE_LABELS,
    )
    app.jinja_env.filters.update(
        mailto=mailto,
        host_names=queries.host_names,
        http_url=http_url,
        admin_datetime=admin_datetime,
        weekday_datetime=weekday_datetime,
        admin_time=admin_time,
        run_duration=run_duration,
        sync_status_label=sync_status_label,
        sync_trigger_label=sync_trigger_label,
        booking_answers=queries.booking_answers,
        run_outcome=messages.run_outcome,
        run_summary=messages.run_summary,
        retry_text=messages.retry_text,
        skipped_summary=messages.skipped_summary,
        skipped_texts=messages.skipped_texts,
        calendly_problem=messages.calendly_problem,
        calendly_words=messages.calendly_words,
    )


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


def _as_datetime(value) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def admin_datetime(value, seconds: bool = False) -> str:
    """'25.11.2026, 14:00' for a UTC datetime (or ISO string) in the admin's zone and language."""
    value = _as_datetime(value)
    if value is None:
        return ""
    return f"{format_date(value, 'medium')}, {format_time(value, 'medium' if seconds else 'short')}"


def weekday_datetime(value: datetime | None) -> str:
    """'Mi., 25.11.2026, 14:00' in the admin's time zone and language."""
    value = _as_datetime(value)
    if value is None:
        return ""
    return f"{format_date(value, 'EEE')}, {admin_datetime(value)}"


def admin_time(value, seconds: bool = True) -> str:
    """The time of day ('14:00:05', or '14:00') in the admin's time zone and language."""
    value = _as_datetime(value)
    return "" if value is None else format_time(value, "medium" if seconds else "short")


def run_duration(run) -> str:
    """How long a run took (or has been running), as h:mm:ss or m:ss."""
    end = run.finished_at or clock.now()
    seconds = max(0, int((end - run.started_at) / timedelta(seconds=1)))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def sync_status_label(status: str) -> str:
    """The run status in the admin's language."""
    return str(STATUS_LABELS.get(status, status))


def sync_trigger_label(trigger: str) -> str:
    """What started a run, in the admin's language."""
    return str(TRIGGER_LABELS.get(trigger, trigger))


def here() -> str:
    """The current page's path and query, percent-encoded (for `next` fields)."""
    path = quote(request.path, safe="/@:+,;=~!$&'()*")
    query = request.query_string.decode("latin-1")
    return f"{path}?{query}" if query else path
