"""Attendees: one webinar's list (expanded in place on the dashboard), the search, the person
page, and the CSV of one webinar."""

from flask import Blueprint, render_template, request

import csv_export
import htmx
import queries
from extensions import db
from models import CalendlyEvent

bp = Blueprint("attendees", __name__)


@bp.get("/webinars/<int:event_id>")
def webinar(event_id: int):
    """One webinar with its attendees; htmx gets just the attendee list."""
    event = db.get_or_404(CalendlyEvent, event_id)
    attendees = queries.webinar_attendees(event.id)
    if htmx.is_partial_request():
        return render_template("attendees/_attendees.html", event=event, attendees=attendees)
    return render_template("attendees/webinar.html", event=event, attendees=attendees)


@bp.get("/webinars/<int:event_id>/attendees.csv")
def webinar_csv(event_id: int):
    """One webinar's attendees as CSV."""
    event = db.get_or_404(CalendlyEvent, event_id)
    attendees = queries.webinar_attendees(event.id)
    questions = csv_export.question_columns(a.questions_and_answers for a in attendees)
    document = csv_export.admin_csv(((attendee, event) for attendee in attendees), questions)
    filename = f"attendees-{event.start_time:%Y-%m-%d}-{event.id}.csv"
    return csv_export.download("".join(document), filename)


@bp.get("/search")
def search():
    """Find people by name or email across all webinars; htmx gets just the results."""
    query = (request.args.get("q") or "").strip()[:200]
    people = queries.search_people(query)
    context = {
        "query": query,
        "people": people,
        "min_length": queries.SEARCH_MIN_LENGTH,
        "limit": queries.SEARCH_LIMIT,
    }
    if htmx.is_partial_request():
        return render_template("attendees/_results.html", **context)
    return render_template("attendees/search.html", **context)


@bp.get("/people/<path:email>")
def person(email: str):
    """Every booking made with one email address, across webinars."""
    bookings = queries.person_bookings(email)
    if not bookings:
        return render_template("attendees/person.html", email=email, bookings=[]), 404
    return render_template("attendees/person.html", email=email, bookings=bookings)
