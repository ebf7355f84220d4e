"""The no-show control in a webinar's attendee list: mark an attendee of a started webinar as a
no-show, or undo it. Calendly is written first (no_shows.py); htmx gets the attendee list back
with the outcome, a plain form post is redirected to the webinar page (303) with a flash message.
"""

from collections.abc import Callable

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_babel import gettext as _

import htmx
import no_shows
import queries
from calendly_messages import calendly_problem
from extensions import db
from models import CalendlyEvent, CalendlyEventAttendee

bp = Blueprint("no_shows", __name__)


@bp.app_template_global("no_show_allowed")
def no_show_allowed(event: CalendlyEvent, attendee: CalendlyEventAttendee) -> bool:
    """True when the attendee list offers the no-show control for this attendee."""
    return no_shows.offers_no_show(event, attendee)


@bp.post("/attendees/<int:attendee_id>/no-show")
def mark(attendee_id: int):
    """Mark an attendee as a no-show in Calendly, then here."""
    return _change(
        attendee_id,
        no_shows.mark_no_show,
        lambda name: _("%(name)s is marked as a no-show in Calendly.", name=name),
    )


@bp.post("/attendees/<int:attendee_id>/no-show/undo")
def undo(attendee_id: int):
    """Remove an attendee's no-show mark in Calendly, then here."""
    return _change(
        attendee_id,
        no_shows.clear_no_show,
        lambda name: _("%(name)s is no longer marked as a no-show.", name=name),
    )


def _change(attendee_id: int, change, done: Callable[[str], str]):
    """Apply `change` (no_shows.mark_no_show or clear_no_show) and answer with the outcome."""
    attendee = db.get_or_404(CalendlyEventAttendee, attendee_id)
    name, event_id = attendee.name or attendee.email or "", attendee.event_id
    try:
        change(attendee.id)
    except no_shows.NoShowError as exc:
        return _answer(event_id, _problem(exc), "error")
    return _answer(event_id, done(name))


def _problem(exc: no_shows.NoShowError) -> str:
    if exc.reason == "not_allowed":
        return _("Only attendees of a webinar that has started can be marked as no-shows.")
    if exc.reason == "no_uri":
        return _("Calendly's reference for this no-show is missing. Run a sync and try again.")
    return _(
        "Nothing was changed here. %(problem)s", problem=calendly_problem(exc.cause, write=True)
    )


def _answer(event_id: int, message: str, kind: str = "success"):
    """htmx: the fresh attendee list with the outcome; otherwise back to the webinar page."""
    if htmx.is_partial_request():
        event = db.get_or_404(CalendlyEvent, event_id)
        # 200 even for a failure: htmx 2 does not swap 4xx bodies, and the list shows it.
        return render_template(
            "attendees/_attendees.html",
            event=event,
            attendees=queries.webinar_attendees(event_id),
            no_show_notice=(message, kind),
        )
    flash(message, kind)
    return redirect(url_for("attendees.webinar", event_id=event_id), 303)
