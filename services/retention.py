"""Retention: attendees' personal data is removed a set number of months after their webinar.

The purge anonymises attendees in place (name, email, search text, answers to free-text
questions, cancel reason, canceler, time zone, reschedule links) and keeps what the insights
count: status, when they booked, no-show, and the answers to choice questions. Their webinar is
marked (`personal_data_removed_at`), so that neither the sync nor a webhook stores a person of it
again. It runs daily (the scheduler, one process per day), by `flask privacy purge`, and as the
last step of a restore. Batches of webinars, each one transaction: an interrupted run leaves
whole webinars done or untouched, and the next run goes on.
"""

from __future__ import annotations

import calendar
import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, func, select, update

from mirror import leases
from services import audit, settings
from store import clock
from store.database import db, start_write
from store.models import AdminUser, CalendlyEvent, CalendlyEventAttendee, CalendlyEventType, Setting
from store.outcomes import AuditAction

log = logging.getLogger(__name__)

# Webinars anonymised per transaction: short write locks, and little lost when interrupted.
BATCH_WEBINARS = 50
# Question types whose answers are one of the type's choices (no free text of the person).
CHOICE_TYPES = frozenset({"single_select", "multi_select"})
DAILY_LEASE_PREFIX = "retention:"
# Held past the next day, so that no process runs the same day's purge again.
DAILY_LEASE_SECONDS = 2 * 24 * 3600

_attendees = CalendlyEventAttendee.__table__
_events = CalendlyEvent.__table__


@dataclass(frozen=True)
class Plan:
    """What a purge removes (or removed): the attendees of `webinars` webinars that ended before
    the start of `cutoff` (a day in the admin's time zone, `cutoff_at` in UTC)."""

    months: int
    cutoff: date
    cutoff_at: datetime
    attendees: int
    webinars: int


def months_before(day: date, months: int) -> date:
    """`day` moved back `months` calendar months (the 31st becomes the month's last day)."""
    index = day.year * 12 + day.month - 1 - months
    year, month = divmod(index, 12)
    month += 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def cutoff_for(months: int, now: datetime, timezone: str) -> tuple[date, datetime]:
    """The first day whose webinars are kept, and its start in UTC."""
    zone = ZoneInfo(timezone)
    day = months_before(now.astimezone(zone).date(), months)
    return day, datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


def _due_events(cutoff_at: datetime):
    # start_time too (it is never after the end): the (start, end, status) index then narrows
    # the search to the webinars before the cutoff.
    return (
        (_events.c.start_time < cutoff_at)
        & (_events.c.end_time < cutoff_at)
        & _events.c.personal_data_removed_at.is_(None)
    )


def plan(months: int | None = None, now: datetime | None = None) -> Plan | None:
    """What the next purge removes now (None when attendee data is kept without limit)."""
    months = settings.retention_months() if months is None else months
    if months is None:
        return None
    cutoff, cutoff_at = cutoff_for(months, now or clock.now(), settings.display_timezone())
    counts = db.session.execute(
        select(func.count(_attendees.c.id), func.count(func.distinct(_attendees.c.event_id)))
        .select_from(_attendees.join(_events, _attendees.c.event_id == _events.c.id))
        .where(_due_events(cutoff_at))
    ).one()
    db.session.commit()  # end the read: callers go on writing or rendering
    return Plan(months, cutoff, cutoff_at, counts[0], counts[1])


def purge(
    months: int | None = None, now: datetime | None = None, batch: int = BATCH_WEBINARS
) -> Plan | None:
    """Anonymise the attendees of the webinars that ended before the cutoff and mark those
    webinars; the Plan of what was done (None when data is kept without limit). Idempotent."""
    months = settings.retention_months() if months is None else months
    if months is None:
        return None
    now = now or clock.now()
    cutoff, cutoff_at = cutoff_for(months, now, settings.display_timezone())
    attendees = webinars = 0
    while True:
        done = _purge_batch(cutoff_at, now, batch)
        if done is None:
            break
        attendees += done[0]
        webinars += done[1]
    result = Plan(months, cutoff, cutoff_at, attendees, webinars)
    if attendees:
        start_write(db.session)
        audit.record(
            AuditAction.RETENTION_RUN,
            None,
            attendees=attendees,
            webinars=webinars,
            cutoff=cutoff.isoformat(),
        )
        db.session.commit()
        log.info(
            "retention: removed the personal data of %d attendees of %d webinars before %s",
            attendees,
            webinars,
            cutoff,
        )
    return result


def _purge_batch(cutoff_at: datetime, now: datetime, batch: int) -> tuple[int, int] | None:
    """One transaction: up to `batch` due webinars anonymised and marked; (attendees, webinars
    with attendees), or None when none was due."""
    start_write(db.session)
    try:
        events = db.session.execute(
            select(_events.c.id, _events.c.event_type_uri)
            .where(_due_events(cutoff_at))
            .order_by(_events.c.id)
            .limit(batch)
        ).all()
        if not events:
            db.session.commit()
            return None
        type_of = {event_id: type_uri for event_id, type_uri in events}
        choices = _choice_questions({uri for uri in type_of.values() if uri})
        people = db.session.execute(
            select(
                _attendees.c.id, _attendees.c.event_id, _attendees.c.questions_and_answers
            ).where(_attendees.c.event_id.in_(type_of))
        ).all()
        if people:
            db.session.execute(
                update(_attendees)
                .where(_attendees.c.id == bindparam("attendee_id"))
                .values(**dict.fromkeys(PERSONAL_COLUMNS), questions_and_answers=bindparam("qa")),
                [
                    {
                        "attendee_id": person.id,
                        "qa": kept_answers(
                            person.questions_and_answers, choices.get(type_of[person.event_id])
                        ),
                    }
                    for person in people
                ],
            )
        db.session.execute(
            update(_events).where(_events.c.id.in_(type_of)).values(personal_data_removed_at=now)
        )
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    return len(people), len({person.event_id for person in people})


# Set to NULL by the purge. search_text NULL takes the person out of search and its index too
# (SQLite: the FTS trigger on search_text; PostgreSQL: the trigram index is on the column).
PERSONAL_COLUMNS = (
    "name",
    "first_name",
    "last_name",
    "email",
    "search_text",
    "timezone",
    "cancel_reason",
    "canceled_by",
    "old_invitee_uri",
    "new_invitee_uri",
)


def _choice_questions(type_uris: set[str]) -> dict[str, dict[str, list[str]]]:
    """Per event type: its choice questions' names and their answer choices."""
    if not type_uris:
        return {}
    rows = db.session.execute(
        select(CalendlyEventType.uri, CalendlyEventType.custom_questions).where(
            CalendlyEventType.uri.in_(type_uris)
        )
    ).all()
    found = {}
    for uri, questions in rows:
        found[uri] = {
            question["name"]: list(question.get("answer_choices") or [])
            for question in questions or ()
            if isinstance(question, dict)
            and question.get("type") in CHOICE_TYPES
            and isinstance(question.get("name"), str)
        }
    return found


def kept_answers(answers, choice_questions: dict[str, list[str]] | None) -> list[dict] | None:
    """The answers to choice questions, without what the person typed ("Other: ..." answers are
    free text); every other answer goes."""
    if not answers or not choice_questions:
        return None
    kept = []
    for entry in answers:
        if not isinstance(entry, dict) or entry.get("question") not in choice_questions:
            continue
        choices = choice_questions[entry["question"]]
        answer = entry.get("answer")
        if choices and isinstance(answer, str):
            # Calendly joins the picks of a multi-select with newlines.
            picks = [part for part in answer.split("\n") if part in choices]
            if not picks:
                continue
            answer = "\n".join(picks)
        kept.append(dict(entry, answer=answer))
    return kept or None


def purge_restored(stricter_than: int | None) -> Plan | None:
    """The purge of a restored database, with its own retention period or `stricter_than`
    (the period of the database it replaced), whichever is shorter."""
    months = settings.retention_months()
    if stricter_than is not None and (months is None or stricter_than < months):
        months = stricter_than
    return purge(months) if months is not None else None


# -- the setting --------------------------------------------------------------------------------


def change_months(months: int | None, actor: AdminUser | None) -> bool:
    """Store the retention period (None: keep attendee data without limit) and audit the
    change; False when that was the stored choice already."""
    chosen = settings.retention_chosen()
    old = _audited(settings.retention_months()) if chosen else "unset"
    if chosen and old == _audited(months):
        return False
    start_write(db.session)
    row = db.session.get(Setting, settings.RETENTION_KEY)
    value = {"months": None if months is None else int(months)}
    if row is None:
        db.session.add(Setting(key=settings.RETENTION_KEY, value=value))
    else:
        row.value = value
    audit.record(
        AuditAction.SETTING_CHANGED,
        actor,
        setting="retention_months",
        old=old,
        new=_audited(months),
    )
    db.session.commit()
    return True


def _audited(months: int | None):
    return "unlimited" if months is None else int(months)


# -- the daily run ------------------------------------------------------------------------------


def run_daily(owner: str, now: datetime | None = None) -> Plan | None:
    """Today's purge (a day in the admin's time zone), unless another process ran it; None when
    it ran elsewhere or data is kept without limit."""
    now = now or clock.now()
    day = now.astimezone(ZoneInfo(settings.display_timezone())).date()
    name = DAILY_LEASE_PREFIX + day.isoformat()
    if leases.current_holder(name) is not None:
        return None
    if not leases.try_acquire(name, owner, DAILY_LEASE_SECONDS):
        return None
    return purge(now=now)


def expired_before(months: int | None, now: datetime | None = None) -> datetime | None:
    """Backups made before this instant hold only webinars the retention period has run out for
    since (None when data is kept without limit)."""
    if months is None:
        return None
    return cutoff_for(months, now or clock.now(), settings.display_timezone())[1]
