"""Attendees: one webinar's list (expanded in place on the dashboard), the search, the person
page, the CSV of one webinar, and the no-show control in the list.

The no-show control marks an attendee of a started webinar as a no-show, or undoes it. Calendly is
written first (services/no_shows.py); htmx gets the attendee list back with the outcome, a plain
form post is redirected to the webinar page (303) with a flash message.
"""

from collections.abc import Callable

from flask import (
    Blueprint,
    Response,
    flash,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from flask_babel import get_locale, get_timezone, ngettext
from flask_babel import gettext as _
from flask_login import current_user

from blueprints import htmx, waits
from blueprints.guard import viewer_allowed
from blueprints.messages import calendly_problem, with_html
from services import export, no_shows, person_data, queries
from store.database import db
from store.models import CalendlyEvent, CalendlyEventAttendee

bp = Blueprint("attendees", __name__)


@bp.get("/webinars/<int:event_id>")
@viewer_allowed
def webinar(event_id: int):
    """One webinar with its attendees; htmx gets just the attendee list."""
    event = db.get_or_404(CalendlyEvent, event_id)
    attendees = queries.webinar_attendees(event.id)
    if htmx.is_partial_request():
        return render_template("attendees/_attendees.html", event=event, attendees=attendees)
    return render_template("attendees/webinar.html", event=event, attendees=attendees)


@bp.get("/webinars/<int:event_id>/attendees.csv")
@waits.download
def webinar_csv(event_id: int):
    """One webinar's attendees as CSV."""
    event, rows, questions = _webinar_export(event_id, "csv")
    return csv_download(rows, questions, export.webinar_file_name(event, "csv"))


@bp.get("/webinars/<int:event_id>/attendees.xlsx")
@waits.download
def webinar_xlsx(event_id: int):
    """One webinar's attendees as an Excel workbook."""
    event, rows, questions = _webinar_export(event_id, "xlsx")
    return xlsx_download(rows, questions, export.webinar_file_name(event, "xlsx"))


def _webinar_export(event_id: int, file_format: str):
    """The webinar, its (attendee, event) rows and their answer columns (the download noted in
    the audit log first: its commit would expire the rows)."""
    event = db.get_or_404(CalendlyEvent, event_id)
    export.note_download("webinar", file_format, current_user, webinar=event.calendly_id)
    attendees = queries.webinar_attendees(event.id)
    questions = export.question_columns(
        (event.event_type_uri, attendee.questions_and_answers) for attendee in attendees
    )
    return event, [(attendee, event) for attendee in attendees], questions


def csv_download(rows, questions, filename: str, *, stream: bool = False) -> Response:
    """(attendee, event) rows as a CSV attachment in the admin's time zone and language;
    `stream` sends it in chunks while the rows are still being read."""
    document = export.stream_csv(
        rows, questions, str(get_timezone()), export.delimiter_for(str(get_locale()))
    )
    return Response(
        stream_with_context(document) if stream else "".join(document),
        mimetype=export.CSV_MIMETYPE,
        headers=_attachment(filename),
    )


def xlsx_download(rows, questions, filename: str) -> Response:
    """(attendee, event) rows as an XLSX attachment in the admin's time zone and language."""
    document = export.xlsx_document(rows, questions, str(get_timezone()), str(get_locale()))
    return Response(document, mimetype=export.XLSX_MIMETYPE, headers=_attachment(filename))


def _attachment(filename: str) -> dict:
    return {"Content-Disposition": f'attachment; filename="{filename}"'}


@bp.get("/search")
@viewer_allowed
def search():
    """Find people by name or email across all webinars; htmx gets just the results."""
    query = (request.args.get("q") or "").strip()[:200]
    found = queries.search_people(query)
    context = {
        "query": query,
        "people": found.people,
        "more": found.more,
        "min_length": queries.SEARCH_MIN_LENGTH,
        "limit": queries.SEARCH_LIMIT,
    }
    if htmx.is_partial_request():
        return render_template("attendees/_results.html", **context)
    return render_template("attendees/search.html", **context)


@bp.get("/people/<path:email>")
@viewer_allowed
def person(email: str):
    """Every booking made with one email address, across webinars."""
    bookings = queries.person_bookings(email)
    if not bookings:
        return render_template("attendees/person.html", email=email, bookings=[]), 404
    return render_template("attendees/person.html", email=email, bookings=bookings)


# -- a person's data: export (Art. 15) and erasure (Art. 17), admins only ----------------------


def _person_email() -> str:
    """The person's email from the query or the form (at most 255 characters, as stored)."""
    return (request.values.get("email") or "").strip()[:255]


@bp.get("/person-data/export")
def export_person_confirm():
    """The confirmation step of a person's export: what the file holds, and the formats."""
    email = _person_email()
    rows = person_data.person_rows(email) if email else []
    status = 200 if rows else 404
    return render_template("attendees/export_person.html", email=email, rows=rows), status


@bp.post("/person-data/export")
def export_person():
    """Every stored field of a person's bookings as JSON or CSV, once confirmed."""
    email, kind = _person_email(), request.form.get("format", "")
    if not email or kind not in person_data.FORMATS or request.form.get("confirm") != "yes":
        flash(_("Confirm the export and choose a format."), "error")
        return redirect(url_for("attendees.export_person_confirm", email=email), 303)
    delimiter = export.delimiter_for(str(get_locale()))
    document = person_data.export_person(email, kind, current_user, delimiter)
    mimetype = export.CSV_MIMETYPE if kind == "csv" else "application/json"
    return Response(
        document,
        mimetype=mimetype,
        headers=_attachment(person_data.export_file_name(email, kind)),
    )


@bp.get("/person-data/erase")
def erase_person_confirm():
    """The confirmation step of a person's erasure: what will happen, the email to type."""
    email = _person_email()
    rows = person_data.person_rows(email) if email else []
    status = 200 if rows else 404
    return render_template("attendees/erase_person.html", email=email, rows=rows), status


@bp.post("/person-data/erase")
def erase_person():
    """Erase a person here (and at Calendly when asked), once the email is typed again."""
    email = _person_email()
    typed = (request.form.get("confirm_email") or "").strip()
    if not email or typed.casefold() != email.casefold():
        flash(_("Type the email address of the person to confirm the erasure."), "error")
        return redirect(url_for("attendees.erase_person_confirm", email=email), 303)
    done = person_data.erase_person(
        email, current_user, at_calendly=request.form.get("at_calendly") == "yes"
    )
    flash(
        ngettext(
            "The person is erased here: %(num)d booking deleted.",
            "The person is erased here: %(num)d bookings deleted.",
            done.bookings,
        ),
        "success",
    )
    message = erasure_at_calendly_message(done)
    if message is not None:
        flash(*message)
    return redirect(url_for("attendees.search"), 303)


def erasure_at_calendly_message(done: person_data.Erasure) -> tuple[str, str] | None:
    """What became of the erasure at Calendly, as a flash message and its kind."""
    outcome = done.at_calendly
    if outcome == person_data.AtCalendly.REQUESTED:
        return _("Calendly has accepted the erasure and deletes the person's data there."), (
            "success"
        )
    if outcome == person_data.AtCalendly.REFUSED_PLAN:
        return _(
            "Calendly refused the erasure there: its data compliance API needs an Enterprise "
            "plan. The person is erased here all the same; ask Calendly's support to erase "
            "them there, or do it in Calendly."
        ), "warning"
    if outcome == person_data.AtCalendly.REFUSED_PERMISSION:
        return _(
            "Calendly refused the erasure there: the token's user needs to be an admin or owner "
            "with Calendly's data requests permission (and the token the scope for it). The "
            "person is erased here all the same."
        ), "warning"
    if outcome == person_data.AtCalendly.FAILED:
        return with_html(
            _("The erasure at Calendly failed; the person is erased here. %(problem)s"),
            problem=calendly_problem(done.problem, write=True),
        ), "warning"
    return None


# -- no-shows -------------------------------------------------------------------------------------


@bp.app_template_global("no_show_allowed")
def no_show_allowed(event: CalendlyEvent, attendee: CalendlyEventAttendee) -> bool:
    """True when the attendee list offers the no-show control for this attendee (to admins:
    marking one changes data in Calendly)."""
    return current_user.is_admin and no_shows.offers_no_show(event, attendee)


@bp.post("/attendees/<int:attendee_id>/no-show")
def mark_no_show(attendee_id: int):
    """Mark an attendee as a no-show in Calendly, then here."""
    return _change_no_show(
        attendee_id,
        no_shows.mark_no_show,
        lambda name: _("%(name)s is marked as a no-show in Calendly.", name=name),
    )


@bp.post("/attendees/<int:attendee_id>/no-show/undo")
def undo_no_show(attendee_id: int):
    """Remove an attendee's no-show mark in Calendly, then here."""
    return _change_no_show(
        attendee_id,
        no_shows.clear_no_show,
        lambda name: _("%(name)s is no longer marked as a no-show.", name=name),
    )


def _change_no_show(attendee_id: int, change, done: Callable[[str], str]):
    """Apply `change` (no_shows.mark_no_show or clear_no_show) and answer with the outcome."""
    attendee = db.get_or_404(CalendlyEventAttendee, attendee_id)
    name, event_id = attendee.name or attendee.email or "", attendee.event_id
    try:
        change(attendee.id, current_user)
    except no_shows.NoShowError as exc:
        return _no_show_answer(event_id, _no_show_problem(exc), "error")
    return _no_show_answer(event_id, done(name))


def _no_show_problem(exc: no_shows.NoShowError) -> str:
    if exc.reason == "not_allowed":
        return _("Only attendees of a webinar that has started can be marked as no-shows.")
    if exc.reason == "no_uri":
        return _("Calendly's reference for this no-show is missing. Run a sync and try again.")
    return with_html(
        _("Nothing was changed here. %(problem)s"), problem=calendly_problem(exc.cause, write=True)
    )


def _no_show_answer(event_id: int, message: str, kind: str = "success"):
    return list_answer(event_id, "no_show_notice", message, kind)


def list_answer(event_id: int, notice: str, message: str, kind: str = "success"):
    """The answer to a change made from a webinar's attendee list: for htmx the fresh list with
    the outcome in its `notice` slot; otherwise the outcome flashed on the webinar page."""
    if htmx.is_partial_request():
        event = db.get_or_404(CalendlyEvent, event_id)
        # 200 even for a failure: htmx 2 does not swap 4xx bodies, and the list shows it.
        return render_template(
            "attendees/_attendees.html",
            event=event,
            attendees=queries.webinar_attendees(event_id),
            **{notice: (message, kind)},
        )
    flash(message, kind)
    return redirect(url_for("attendees.webinar", event_id=event_id), 303)
