"""Attendee lists as CSV for spreadsheets: UTF-8 with BOM, booking questions as columns, and
every cell defused so a spreadsheet never runs attendee input as a formula."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from datetime import datetime
from zoneinfo import ZoneInfo

from flask_babel import gettext as _

from services.queries import booking_answers, ranked_answers
from store.models import CalendlyEvent, CalendlyEventAttendee
from store.outcomes import RecordStatus

# Spreadsheets treat a cell starting with one of these as a formula (OWASP "CSV injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
BOM = "\ufeff"
# German spreadsheet programs split on semicolons, English ones on commas.
DELIMITERS = {"de": ";"}
FLUSH_AT = 64 * 1024


def csv_cell(value) -> str:
    """`value` as text, with a leading apostrophe when it could be read as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def delimiter_for(language: str) -> str:
    """The field separator spreadsheets expect in `language`."""
    return DELIMITERS.get(language, ",")


def question_columns(answer_lists: Iterable) -> list[str]:
    """Every booking question asked, in the order the booking form asks them."""
    order: dict[str, tuple[int, int]] = {}  # question -> (best rank, first seen)
    for raw in answer_lists:
        for rank, question, _answer in ranked_answers(raw):
            seen = order[question][1] if question in order else len(order)
            if question not in order or rank < order[question][0]:
                order[question] = (rank, seen)
    return sorted(order, key=lambda question: order[question])


def _local(value: datetime | None, zone: ZoneInfo) -> str:
    return value.astimezone(zone).strftime("%Y-%m-%d %H:%M") if value else ""


def _yes_no(flag: bool) -> str:
    return _("yes") if flag else _("no")


def header(questions: list[str], timezone: str) -> list[str]:
    """Column titles in the current language."""
    return [
        _("Webinar"),
        _("Webinar start (%(tz)s)", tz=timezone),
        _("Name"),
        _("Email"),
        _("Status"),
        _("Booked at (%(tz)s)", tz=timezone),
        _("Attendee time zone"),
        _("Rescheduled"),
        _("No-show"),
        _("Cancel reason"),
        _("Canceled at (%(tz)s)", tz=timezone),
        *questions,
    ]


def attendee_row(
    attendee: CalendlyEventAttendee, event: CalendlyEvent, questions: list[str], zone: ZoneInfo
) -> list:
    """One attendee as a list of cells matching `header(questions, ...)`."""
    answers = dict(booking_answers(attendee.questions_and_answers))
    status = _("canceled") if attendee.status == RecordStatus.CANCELED else _("booked")
    return [
        event.name,
        _local(event.start_time, zone),
        attendee.name,
        attendee.email,
        status,
        _local(attendee.calendly_created_at, zone),
        attendee.timezone,
        _yes_no(attendee.rescheduled),
        _yes_no(attendee.no_show),
        attendee.cancel_reason,
        _local(attendee.canceled_at, zone),
        *(answers.get(question, "") for question in questions),
    ]


def stream_csv(
    rows: Iterable[tuple[CalendlyEventAttendee, CalendlyEvent]],
    questions: list[str],
    timezone: str,
    delimiter: str,
) -> Iterator[str]:
    """The whole CSV document in chunks: BOM, header, one line per (attendee, event)."""
    zone = ZoneInfo(timezone)
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n")
    buffer.write(BOM)
    writer.writerow([csv_cell(cell) for cell in header(questions, timezone)])
    for attendee, event in rows:
        writer.writerow([csv_cell(cell) for cell in attendee_row(attendee, event, questions, zone)])
        if buffer.tell() >= FLUSH_AT:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()
