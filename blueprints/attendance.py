"""A webinar's attendance (admins only): the "attendance recorded" mark in the attendee list,
and the import of a participant list (Zoom's or Teams' CSV) with a preview to confirm.

The uploaded file is read once and not kept. The preview carries what the admin confirms (the
bookings that become no-shows) in a signed, dated token; the confirm step checks it names this
webinar and marks only its own active bookings.
"""

from __future__ import annotations

from flask import (
    Blueprint,
    Response,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from blueprints import htmx
from blueprints.attendees import list_answer
from blueprints.messages import calendly_problem, with_html
from services import attendance
from services.participant_lists import MAX_BYTES, ParticipantListError
from store.database import db
from store.models import CalendlyEvent

bp = Blueprint("attendance", __name__)

# The preview's token: long enough to look the lists over, short enough not to linger.
PREVIEW_MAX_AGE = 3600
_SALT = "attendance-import"


@bp.app_template_global("attendance_recordable")
def attendance_recordable(event: CalendlyEvent) -> bool:
    """True when the attendee list shows the attendance mark: the webinar has ended (and was
    not canceled), or it carries the mark."""
    return event.attendance_recorded_at is not None or attendance.may_record(event)


@bp.post("/webinars/<int:event_id>/attendance")
def mark(event_id: int):
    """Set (recorded=1) or remove (recorded=0) the webinar's "attendance recorded" mark."""
    event = db.get_or_404(CalendlyEvent, event_id)
    recorded = request.form.get("recorded") == "1"
    try:
        attendance.set_recorded(event, recorded, current_user._get_current_object())
    except attendance.AttendanceError as exc:
        return _mark_answer(event_id, _refusal(exc), "error")
    if recorded:
        return _mark_answer(event_id, _("Attendance is recorded for this webinar."))
    return _mark_answer(event_id, _("This webinar no longer counts as recorded."))


def _mark_answer(event_id: int, message: str, kind: str = "success"):
    return list_answer(event_id, "attendance_notice", message, kind)


# -- the import -----------------------------------------------------------------------------------


@bp.get("/webinars/<int:event_id>/attendance/import")
def import_form(event_id: int):
    """The upload form for a past webinar's participant list."""
    event = db.get_or_404(CalendlyEvent, event_id)
    if not attendance.may_record(event):
        return _import_page(event, problem=_refusal_of(event), status=409)
    return _import_page(event)


@bp.post("/webinars/<int:event_id>/attendance/import")
def preview(event_id: int):
    """Read the uploaded list and show who attended, who did not and who did not book."""
    event = db.get_or_404(CalendlyEvent, event_id)
    data, problem = _uploaded_file()
    if problem:
        return _import_page(event, problem=problem, status=422)
    try:
        comparison = attendance.compare(event, data)
    except attendance.AttendanceError as exc:
        return _import_page(event, problem=_refusal(exc), status=409)
    except ParticipantListError as exc:
        return _import_page(event, problem=_list_problem(exc.reason), status=422)
    token = _serializer().dumps(
        {"event": event.id, "missing": [attendee.id for attendee in comparison.missing]}
    )
    return _import_page(event, comparison=comparison, token=token)


@bp.post("/webinars/<int:event_id>/attendance/import/confirm")
def confirm(event_id: int):
    """Mark the missing people as no-shows (Calendly first) and record the attendance."""
    event = db.get_or_404(CalendlyEvent, event_id)
    token = request.form.get("token", "")
    try:
        confirmed = _serializer().loads(token, max_age=PREVIEW_MAX_AGE)
    except SignatureExpired:
        return _import_page(event, problem=_expired(), status=422)
    except BadSignature:
        return _import_page(event, problem=_expired(), status=400)
    if not isinstance(confirmed, dict) or confirmed.get("event") != event.id:
        return _import_page(event, problem=_expired(), status=400)
    missing = [i for i in confirmed.get("missing", []) if isinstance(i, int)]
    try:
        outcome = attendance.confirm_import(event, missing, current_user._get_current_object())
    except attendance.AttendanceError as exc:
        return _import_page(event, problem=_refusal(exc), status=409)
    if not outcome.recorded:
        event = db.get_or_404(CalendlyEvent, event_id)
        return _import_page(event, outcome=outcome, token=token, problems=_problems(outcome))
    message = ngettext(
        "Attendance is recorded. %(num)d person was marked as a no-show in Calendly.",
        "Attendance is recorded. %(num)d people were marked as no-shows in Calendly.",
        len(outcome.marked),
    )
    flash(message, "success")
    url = url_for("attendees.webinar", event_id=event_id)
    if htmx.is_htmx_request():
        return htmx.redirect(Response(status=204), url)
    return redirect(url, 303)


def _import_page(event, *, status: int = 200, **context):
    """The import page, or its part for htmx (200 even for a problem: htmx 2 does not swap
    4xx bodies, and the part shows it)."""
    if htmx.is_partial_request():
        return render_template("attendees/_attendance_import.html", event=event, **context)
    page = render_template("attendees/attendance_import.html", event=event, **context)
    return page, status


def _uploaded_file() -> tuple[bytes, str | None]:
    """The uploaded file's bytes, or a problem: none chosen, or larger than MAX_BYTES."""
    too_large = _(
        "The file is larger than 2 MB. A participant list is much smaller: please check that "
        "it is the right file."
    )
    if request.content_length is not None and request.content_length > MAX_BYTES + 64 * 1024:
        return b"", too_large
    upload = request.files.get("participants")
    if upload is None or not upload.filename:
        return b"", _("Choose the participant list (a CSV file) to upload.")
    data = upload.stream.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        return b"", too_large
    return data, None


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key, salt=_SALT)


def _expired() -> str:
    return _("This preview has expired or is not valid. Please upload the participant list again.")


def _refusal(exc: attendance.AttendanceError) -> str:
    if exc.reason == "canceled":
        return _("This webinar was canceled: there is no attendance to record.")
    return _("Attendance can only be recorded once the webinar has ended.")


def _refusal_of(event: CalendlyEvent) -> str:
    try:
        attendance.check_may_record(event)
    except attendance.AttendanceError as exc:
        return _refusal(exc)
    return ""


def _list_problem(reason: str) -> str:
    if reason == "empty":
        return _("The file is empty.")
    if reason == "spreadsheet":
        return _(
            "This is not a CSV file. Export the participant list as CSV (Zoom: Reports → "
            "Usage → Participants → Export; Teams: Attendance → Download) and upload that file."
        )
    if reason == "no_participants":
        return _("The list has an email column, but no email address in it.")
    return _(
        "No email column was found. The list needs a column such as “Email” or “User Email” "
        "(Zoom: the participants report; Teams: the attendance report). A list with names only "
        "cannot be matched."
    )


def _problems(outcome: attendance.ImportOutcome) -> list[tuple[str, str]]:
    """(name, sentence) for each person Calendly refused."""
    problems = []
    for attendee, exc in outcome.failed:
        who = attendee.name or attendee.email or ""
        if exc.reason == "calendly":
            text = with_html(
                _("Not marked. %(problem)s"), problem=calendly_problem(exc.cause, write=True)
            )
        elif exc.reason == "not_allowed":
            text = _("Not marked: this booking can no longer be marked as a no-show.")
        else:
            text = _("Not marked. Run a sync and try again.")
        problems.append((who, text))
    return problems
