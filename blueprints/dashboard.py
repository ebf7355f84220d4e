"""The webinar dashboard."""

from flask import Blueprint, render_template
from sqlalchemy import select

from extensions import db
from models import CalendlyEvent, utcnow

bp = Blueprint("dashboard", __name__)


@bp.get("/")
def index():
    """Upcoming webinars."""
    events = db.session.scalars(
        select(CalendlyEvent)
        .where(CalendlyEvent.start_time >= utcnow())
        .order_by(CalendlyEvent.start_time)
        .limit(50)
    ).all()
    return render_template("dashboard/index.html", events=events)
