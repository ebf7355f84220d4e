"""The webinar dashboard: tabs, event-type and host filters, pages, and the exports of the
filtered list."""

from flask import Blueprint, render_template, request
from flask_login import current_user

from blueprints import htmx, inputs, waits
from blueprints.attendees import csv_download, xlsx_download
from blueprints.guard import viewer_allowed
from services import alerts, connection, export, queries, settings

bp = Blueprint("dashboard", __name__)


@bp.get("/")
@viewer_allowed
def index():
    """Info-webinars, upcoming first; htmx gets just the list."""
    partial = htmx.is_partial_request()
    # First: bringing the incidents up to date may commit, which would expire what is read below.
    incidents = [] if partial else _incidents()
    webinar_filter = _webinar_filter()
    page = queries.list_webinars(webinar_filter)
    never_synced = page.total == 0 and not queries.has_webinars()
    has_token = connection.token_configured()
    context = {
        "filter": webinar_filter,
        "page": page,
        "event_types": queries.event_types(),
        "hosts": queries.hosts(),
        "never_synced": never_synced,
        "has_token": has_token,
        "types_chosen": settings.event_types_chosen() if never_synced and has_token else True,
    }
    if partial:
        return render_template("dashboard/_webinars.html", **context)
    return render_template("dashboard/index.html", incidents=incidents, **context)


def _incidents() -> list:
    """The open incidents for an admin's banner, brought up to date first (the check writes only
    when trouble began or ended since it last ran)."""
    if not current_user.is_admin:
        return []
    alerts.refresh_incidents()
    return alerts.open_incidents()


@bp.app_context_processor
def _alert_globals():
    return {"alert_fix_endpoint": alerts.fix_endpoint, "incident_words": alerts.words_for}


@bp.get("/webinars.csv")
@waits.download
def export_csv():
    """Attendees of every webinar in the current tab and filter (all pages) as CSV."""
    webinar_filter, rows, questions = _list_export("csv")
    name = export.list_file_name(webinar_filter.view, "csv")
    return csv_download(rows, questions, name, stream=True)


@bp.get("/webinars.xlsx")
@waits.download
def export_xlsx():
    """Attendees of every webinar in the current tab and filter (all pages) as a workbook."""
    webinar_filter, rows, questions = _list_export("xlsx")
    return xlsx_download(rows, questions, export.list_file_name(webinar_filter.view, "xlsx"))


def _list_export(file_format: str):
    """The filter, its (attendee, event) rows and their answer columns (the download noted in
    the audit log)."""
    webinar_filter = _webinar_filter()
    filtered = bool(webinar_filter.event_type or webinar_filter.host)
    export.note_download(
        "webinars", file_format, current_user, view=webinar_filter.view, filtered=filtered
    )
    questions = export.question_columns(queries.filtered_answer_lists(webinar_filter))
    return webinar_filter, queries.filtered_attendees(webinar_filter), questions


def _webinar_filter() -> queries.WebinarFilter:
    """The filter in the query; a page number beyond the database's integers is a 400 (smaller
    nonsense still shows the nearest page)."""
    inputs.int_arg("page")
    return queries.WebinarFilter.from_args(request.args)
