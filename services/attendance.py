"""A webinar's attendance: the "attendance recorded" mark, and the import of the participant
list Zoom or Teams exports, which marks the booked people missing from it as no-shows.

On a recorded webinar, attended means an active booking not marked as a no-show; only recorded
webinars count in show-up rates. The import writes each no-show to Calendly first (through
services/no_shows.py, as the attendee list's control does) and marks the webinar recorded only
when every missing person is marked: after a refusal the admin sees who is left and may try
again, and the people already marked stay marked.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from calendly.errors import CalendlyError
from services import audit, no_shows
from services.participant_lists import Participant, read_participant_list
from store import clock
from store.database import db
from store.models import AdminUser, CalendlyEvent, CalendlyEventAttendee
from store.outcomes import AuditAction, RecordStatus

# Calendly refusals about one person; any other failure (token, scope, network, rate limit,
# Calendly down) would fail for the next person too, so the import stops at it.
_ONE_PERSON_STATUSES = frozenset({400, 404, 409, 422})
# Seconds of Calendly writes one confirmation may spend: it answers well within gunicorn's 30 s
# worker timeout, and "continue" marks the rest.
MARK_TIME_BUDGET = 20.0


class AttendanceError(Exception):
    """Attendance cannot be recorded for this webinar.

    Attributes:
        reason: ``not_over`` (it has not ended yet) or ``canceled``.
    """

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass
class Comparison:
    """A webinar's booked people against a participant list.

    attended: active bookings in the list; attended_marked: of those, the ones marked as
    no-shows before (the mark stays: the admin undoes it in the list if it is wrong);
    missing: active bookings not in the list and not marked yet (to become no-shows);
    already_no_show: not in the list and marked already; unbooked: people of the list with no
    active booking (canceled: their booking was canceled); without_email: names nobody can be
    matched to.
    """

    attended: list[CalendlyEventAttendee] = field(default_factory=list)
    attended_marked: list[CalendlyEventAttendee] = field(default_factory=list)
    missing: list[CalendlyEventAttendee] = field(default_factory=list)
    already_no_show: list[CalendlyEventAttendee] = field(default_factory=list)
    unbooked: list[tuple[Participant, bool]] = field(default_factory=list)
    without_email: list[str] = field(default_factory=list)


@dataclass
class ImportOutcome:
    """What confirming an import did: who was marked now, who Calendly refused (with the
    NoShowError), who was not tried after a failure that would repeat, and whether the webinar
    is recorded now. `out_of_time`: the time budget ended before everyone was tried."""

    marked: list[CalendlyEventAttendee] = field(default_factory=list)
    failed: list[tuple[CalendlyEventAttendee, no_shows.NoShowError]] = field(default_factory=list)
    not_tried: list[CalendlyEventAttendee] = field(default_factory=list)
    out_of_time: bool = False
    recorded: bool = False


def may_record(event: CalendlyEvent) -> bool:
    """True when attendance can be recorded for `event`: it has ended and was not canceled."""
    return event.is_over and event.status == RecordStatus.ACTIVE


def check_may_record(event: CalendlyEvent) -> None:
    """Raise AttendanceError when attendance cannot be recorded for `event`."""
    if event.status != RecordStatus.ACTIVE:
        raise AttendanceError("canceled")
    if not event.is_over:
        raise AttendanceError("not_over")


def attendance_counts(event_id: int) -> tuple[int, int]:
    """(attended, no-shows) among the webinar's active bookings."""
    rows = db.session.execute(
        db.select(CalendlyEventAttendee.no_show).where(
            CalendlyEventAttendee.event_id == event_id,
            CalendlyEventAttendee.status == RecordStatus.ACTIVE,
        )
    ).all()
    no_show_count = sum(1 for (marked,) in rows if marked)
    return len(rows) - no_show_count, no_show_count


def set_recorded(event: CalendlyEvent, recorded: bool, actor: AdminUser | None) -> None:
    """Set (or remove) the webinar's "attendance recorded" mark and audit it.

    Raises:
        AttendanceError: setting it on a webinar that has not ended or was canceled.
    """
    if recorded:
        check_may_record(event)
    if recorded == (event.attendance_recorded_at is not None):
        return
    if recorded:
        _record(event, actor, source="manual")
    else:
        event.attendance_recorded_at = None
        audit.record(AuditAction.ATTENDANCE_UNRECORDED, actor, webinar=event.calendly_id)
    db.session.commit()


def _record(event: CalendlyEvent, actor: AdminUser | None, *, source: str) -> None:
    attended, no_show_count = attendance_counts(event.id)
    event.attendance_recorded_at = clock.now()
    audit.record(
        AuditAction.ATTENDANCE_RECORDED,
        actor,
        webinar=event.calendly_id,
        attended=attended,
        no_shows=no_show_count,
        source=source,
    )


def compare(event: CalendlyEvent, data: bytes) -> Comparison:
    """The webinar's bookings against the participant list in `data` (nothing is stored).

    Raises:
        AttendanceError: the webinar has not ended or was canceled.
        ParticipantListError: `data` is no participant list.
    """
    check_may_record(event)
    found = read_participant_list(data)
    listed = found.keys
    result = Comparison(without_email=found.without_email)
    booked: dict[str, bool] = {}  # casefolded email -> an active booking (else canceled only)
    for attendee in _attendees(event.id):
        key = (attendee.email or "").casefold()
        active = attendee.status == RecordStatus.ACTIVE
        booked[key] = booked.get(key, False) or active
        if not active:
            continue
        if key in listed:
            (result.attended_marked if attendee.no_show else result.attended).append(attendee)
        else:
            (result.already_no_show if attendee.no_show else result.missing).append(attendee)
    for person in found.people:
        if not booked.get(person.key, False):
            result.unbooked.append((person, person.key in booked))
    return result


def confirm_import(event: CalendlyEvent, missing_ids: list[int], actor) -> ImportOutcome:
    """Mark the webinar's active bookings `missing_ids` (from the preview the admin confirmed)
    as no-shows in Calendly and here; when all are marked, record the webinar's attendance.

    Ids that are no active booking of this webinar are ignored; people marked meanwhile are
    skipped. Raises AttendanceError when the webinar may not be recorded.
    """
    check_may_record(event)
    wanted = set(missing_ids)
    todo = [
        attendee
        for attendee in _attendees(event.id)
        if attendee.id in wanted and attendee.status == RecordStatus.ACTIVE
    ]
    event_id = event.id
    outcome = ImportOutcome()
    started = time.monotonic()
    for position, attendee in enumerate(todo):
        if attendee.no_show:
            continue
        if outcome.marked and time.monotonic() - started > MARK_TIME_BUDGET:
            outcome.not_tried, outcome.out_of_time = todo[position:], True
            break
        try:
            no_shows.mark_no_show(attendee.id, actor)
        except no_shows.NoShowError as exc:
            db.session.rollback()
            outcome.failed.append((attendee, exc))
            if not _one_person_only(exc):
                outcome.not_tried = todo[position + 1 :]
                break
            continue
        outcome.marked.append(attendee)
    event = db.session.get(CalendlyEvent, event_id)
    if not outcome.failed and not outcome.not_tried:
        _record(event, actor, source="import")
        db.session.commit()
        outcome.recorded = True
    return outcome


def _one_person_only(exc: no_shows.NoShowError) -> bool:
    cause = exc.cause
    return exc.reason != "calendly" or (
        isinstance(cause, CalendlyError) and cause.status in _ONE_PERSON_STATUSES
    )


def _attendees(event_id: int) -> list[CalendlyEventAttendee]:
    return list(
        db.session.scalars(
            db.select(CalendlyEventAttendee)
            .where(CalendlyEventAttendee.event_id == event_id)
            .order_by(CalendlyEventAttendee.calendly_created_at, CalendlyEventAttendee.id)
        )
    )
