"""The insights page ("Auswertung"): bookings, show-up, fill and lead time, and the answers to
choice questions, for a period in the admin's time zone and optionally one event type.

Every figure is an SQL aggregate returning one row per bucket (a week, a webinar, a weekday,
an answer ...): no attendee is loaded into Python. Periods, weeks, weekdays and hours are the
webinars' local_* columns, stamped in the admin's time zone by the writer.
"""

from __future__ import annotations

import calendar
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Float, and_, case, cast, func, literal_column, select

from services import audit, settings
from store import clock
from store.choices import OTHER_ANSWER, choice_questions
from store.database import db, start_write
from store.models import (
    CalendlyEvent,
    CalendlyEventAttendee,
    CalendlyEventType,
    ChoiceAnswer,
)
from store.outcomes import AuditAction, RecordStatus

PERIODS = ("month", "quarter", "year", "custom")
DEFAULT_PERIOD = "month"
# The longest custom period: a longer one is cut to this many days from its start.
MAX_DAYS = 3 * 366
# Webinars listed one by one (per-webinar show-up rate and fill rate).
WEBINAR_BARS = 20
# Fullest and emptiest upcoming slots.
EXTREMES = 5
# Booking lead time buckets: (lowest day, highest day or None), days before the webinar.
LEAD_BUCKETS = ((0, 0), (1, 1), (2, 3), (4, 7), (8, 14), (15, 30), (31, None))


@dataclass(frozen=True)
class Period:
    """The webinars the page counts: local start dates from `start` to `end` (inclusive), of
    one event type or of all (`event_type` None)."""

    kind: str
    start: date
    end: date
    event_type: str | None = None

    @classmethod
    def from_args(cls, args: Mapping[str, str], today: date) -> Period:
        """The period a query string asks for; anything unreadable falls back to this month."""
        kind = args.get("period") or DEFAULT_PERIOD
        kind = kind if kind in PERIODS else DEFAULT_PERIOD
        event_type = (args.get("type") or "").strip()[:255] or None
        month_end = date(today.year, today.month, calendar.monthrange(today.year, today.month)[1])
        if kind == "quarter":
            year, month = (
                (today.year, today.month - 2)
                if today.month > 2
                else (today.year - 1, today.month + 10)
            )
            return cls(kind, date(year, month, 1), month_end, event_type)
        if kind == "year":
            return cls(kind, date(today.year, 1, 1), date(today.year, 12, 31), event_type)
        if kind == "custom":
            start, end = _date(args.get("from")), _date(args.get("to"))
            if start is not None and end is not None:
                start, end = min(start, end), max(start, end)
                end = min(end, start + timedelta(days=MAX_DAYS))
                return cls(kind, start, end, event_type)
            kind = DEFAULT_PERIOD
        return cls(kind, date(today.year, today.month, 1), month_end, event_type)

    def args(self) -> dict:
        """Query arguments that ask for this period again."""
        found = {"period": self.kind}
        if self.kind == "custom":
            found.update({"from": self.start.isoformat(), "to": self.end.isoformat()})
        if self.event_type:
            found["type"] = self.event_type
        return found

    def weeks(self) -> list[date]:
        """The Monday of every week the period touches."""
        monday = self.start - timedelta(days=self.start.weekday())
        found = []
        while monday <= self.end:
            found.append(monday)
            monday += timedelta(days=7)
        return found


def _date(value: str | None) -> date | None:
    try:
        return date.fromisoformat((value or "").strip()[:10])
    except ValueError:
        return None


def today() -> date:
    """Today in the admin's time zone."""
    return clock.now().astimezone(ZoneInfo(settings.display_timezone())).date()


def _in_period(period: Period):
    ev = CalendlyEvent
    conditions = [
        ev.local_date >= period.start.isoformat(),
        ev.local_date <= period.end.isoformat(),
    ]
    if period.event_type:
        conditions.append(ev.event_type_uri == period.event_type)
    return and_(*conditions)


def _count(condition):
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def _ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


# -- bookings per week, and show-up over time ---------------------------------------------------


@dataclass(frozen=True)
class WeekFigures:
    """One week of webinars (by local start): bookings made for them, how many were canceled,
    and on the webinars whose attendance was recorded, who attended and who did not."""

    week: date
    booked: int = 0
    canceled: int = 0
    attended: int = 0
    no_show: int = 0

    @property
    def show_up_rate(self) -> float | None:
        return _ratio(self.attended, self.attended + self.no_show)


def _attendance():
    """(attended, no-show) conditions on an attendee row joined to its webinar: only webinars
    whose attendance was recorded count; there, attended means active and not a no-show."""
    at = CalendlyEventAttendee
    recorded = CalendlyEvent.attendance_recorded_at.is_not(None)
    active = at.status == RecordStatus.ACTIVE
    return and_(recorded, active, at.no_show.is_(False)), and_(recorded, active, at.no_show)


def weekly(period: Period) -> list[WeekFigures]:
    """Bookings, cancellations, attended and no-shows per week of the period (weeks without
    webinars as zeros)."""
    ev, at = CalendlyEvent, CalendlyEventAttendee
    attended, no_show = _attendance()
    rows = db.session.execute(
        select(
            ev.local_week,
            func.count(at.id),
            _count(at.status == RecordStatus.CANCELED),
            _count(attended),
            _count(no_show),
        )
        .join(at, at.event_id == ev.id)
        .where(_in_period(period))
        .group_by(ev.local_week)
    ).all()
    found = {row[0]: WeekFigures(date.fromisoformat(row[0]), *map(int, row[1:])) for row in rows}
    return [found.get(week.isoformat(), WeekFigures(week)) for week in period.weeks()]


@dataclass(frozen=True)
class WebinarShowUp:
    """Show-up of one recorded webinar."""

    event_id: int
    name: str
    start_time: datetime
    attended: int
    no_show: int

    @property
    def show_up_rate(self) -> float | None:
        return _ratio(self.attended, self.attended + self.no_show)


def show_up_per_webinar(period: Period) -> list[WebinarShowUp]:
    """The last WEBINAR_BARS webinars of the period whose attendance was recorded, in time
    order, with who attended and who did not."""
    ev, at = CalendlyEvent, CalendlyEventAttendee
    attended, no_show = _attendance()
    recorded = (
        select(ev.id)
        .where(_in_period(period), ev.attendance_recorded_at.is_not(None))
        .order_by(ev.start_time.desc())
        .limit(WEBINAR_BARS)
        .subquery()
    )
    rows = db.session.execute(
        select(ev.id, ev.name, ev.start_time, _count(attended), _count(no_show))
        .join(recorded, recorded.c.id == ev.id)
        .outerjoin(at, at.event_id == ev.id)
        .group_by(ev.id, ev.name, ev.start_time)
        .order_by(ev.start_time)
    ).all()
    return [WebinarShowUp(row[0], row[1] or "", row[2], int(row[3]), int(row[4])) for row in rows]


# -- fill rate ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fill:
    """Booked of limit, for one webinar or a bucket of them (weekday, hour)."""

    label: object  # an event's start (datetime), a weekday (0 = Monday) or an hour
    booked: int
    limit: int
    name: str = ""
    event_id: int | None = None

    @property
    def rate(self) -> float | None:
        return _ratio(self.booked, self.limit)


def _limited():
    ev = CalendlyEvent
    return and_(ev.status == RecordStatus.ACTIVE, ev.invitees_limit > 0)


def _upcoming(period: Period):
    return and_(_in_period(period), _limited(), CalendlyEvent.start_time >= clock.now())


def _fills(statement) -> list[Fill]:
    return [
        Fill(row.start_time, int(row.invitees_active), int(row.invitees_limit), row.name or "",
             row.id)
        for row in db.session.execute(statement)
    ]  # fmt: skip


def _webinar_fill_columns():
    ev = CalendlyEvent
    return ev.id, ev.name, ev.start_time, ev.invitees_active, ev.invitees_limit


def fill_upcoming(period: Period) -> list[Fill]:
    """The next WEBINAR_BARS upcoming webinars of the period with a limit: booked of limit."""
    ev = CalendlyEvent
    return _fills(
        select(*_webinar_fill_columns())
        .where(_upcoming(period))
        .order_by(ev.start_time)
        .limit(WEBINAR_BARS)
    )


def _rate_of(ev=CalendlyEvent):
    return cast(ev.invitees_active, Float) / ev.invitees_limit


def fullest(period: Period) -> list[Fill]:
    """The EXTREMES fullest upcoming webinars of the period."""
    return _fills(
        select(*_webinar_fill_columns())
        .where(_upcoming(period))
        .order_by(_rate_of().desc(), CalendlyEvent.start_time)
        .limit(EXTREMES)
    )


def emptiest(period: Period) -> list[Fill]:
    """The EXTREMES emptiest upcoming webinars of the period."""
    return _fills(
        select(*_webinar_fill_columns())
        .where(_upcoming(period))
        .order_by(_rate_of().asc(), CalendlyEvent.start_time)
        .limit(EXTREMES)
    )


def _fill_by(column, period: Period, buckets: range) -> list[Fill]:
    ev = CalendlyEvent
    rows = db.session.execute(
        select(column, func.sum(ev.invitees_active), func.sum(ev.invitees_limit))
        .where(_in_period(period), _limited())
        .group_by(column)
    ).all()
    found = {row[0]: Fill(row[0], int(row[1] or 0), int(row[2] or 0)) for row in rows}
    return [found[bucket] for bucket in buckets if bucket in found]


def fill_by_weekday(period: Period) -> list[Fill]:
    """Booked of limit summed per weekday (0 = Monday) over the period's webinars."""
    return _fill_by(CalendlyEvent.local_weekday, period, range(7))


def fill_by_hour(period: Period) -> list[Fill]:
    """Booked of limit summed per hour of day of the start over the period's webinars."""
    return _fill_by(CalendlyEvent.local_hour, period, range(24))


# -- booking lead time --------------------------------------------------------------------------


def days_between(later, earlier):
    """SQL: the days (fractional) from `earlier` to `later`, on SQLite and PostgreSQL."""
    if db.session.get_bind().dialect.name == "postgresql":
        return func.extract("epoch", later - earlier) / 86400.0
    return func.julianday(later) - func.julianday(earlier)


@dataclass(frozen=True)
class LeadBucket:
    """Bookings made `low` to `high` days (None: or more) before their webinar."""

    low: int
    high: int | None
    bookings: int


def lead_time(period: Period) -> list[LeadBucket]:
    """How many days before the webinar people booked, in LEAD_BUCKETS (every booking of the
    period's webinars, canceled ones included, except the old halves of reschedules)."""
    ev, at = CalendlyEvent, CalendlyEventAttendee
    # Whole days first (an aggregate: computed once per booking, not once per bucket tried),
    # then the buckets of those few rows.
    per_day = (
        select(
            func.floor(days_between(ev.start_time, at.calendly_created_at)).label("days"),
            func.count().label("bookings"),
        )
        .select_from(ev)
        .join(at, at.event_id == ev.id)
        .where(_in_period(period), at.calendly_created_at.is_not(None), at.rescheduled.is_(False))
        .group_by(literal_column("days"))
        .subquery()
    )
    whens = [
        (per_day.c.days <= high, index)
        for index, (_low, high) in enumerate(LEAD_BUCKETS)
        if high is not None
    ]
    bucket = case(*whens, else_=len(LEAD_BUCKETS) - 1)
    rows = db.session.execute(select(bucket, func.sum(per_day.c.bookings)).group_by(bucket)).all()
    counts = {int(index): int(count) for index, count in rows}
    return [
        LeadBucket(low, high, counts.get(index, 0))
        for index, (low, high) in enumerate(LEAD_BUCKETS)
    ]


# -- answers to choice questions ----------------------------------------------------------------


@dataclass
class AnswerCounts:
    """One choice question (the same question of several event types counted together) and
    how many bookings chose each answer; `other` counts lines that are none of the choices."""

    key: str
    names: list[str]
    choices: tuple[str, ...]
    counts: dict[str, int] = field(default_factory=dict)
    include_other: bool = False

    @property
    def title(self) -> str:
        return " / ".join(self.names)

    def bars(self) -> list[tuple[str | None, int]]:
        """(answer, count) for every choice in the question's order, then (None, other)."""
        found = [(choice, self.counts.get(choice, 0)) for choice in self.choices]
        if self.include_other or self.counts.get(OTHER_ANSWER):
            found.append((None, self.counts.get(OTHER_ANSWER, 0)))
        return found


def choice_question_list(period: Period) -> list[AnswerCounts]:
    """The choice questions of the event types in view (the period's type, or every cached
    type), same questions merged, by position."""
    ty = CalendlyEventType
    statement = select(ty.custom_questions).order_by(ty.name)
    if period.event_type:
        statement = statement.where(ty.uri == period.event_type)
    questions: dict[str, AnswerCounts] = {}
    positions: dict[str, int] = {}
    for (custom,) in db.session.execute(statement):
        raw = {q.get("position"): q for q in custom or () if isinstance(q, dict)}
        for position, question in choice_questions(custom).items():
            entry = questions.setdefault(
                question.key, AnswerCounts(question.key, [], question.choices)
            )
            if question.name not in entry.names:
                entry.names.append(question.name)
            entry.include_other = entry.include_other or bool(raw[position].get("include_other"))
            positions[question.key] = position
    return sorted(questions.values(), key=lambda q: (positions[q.key], q.title))


def answers(period: Period, questions: list[AnswerCounts]) -> list[AnswerCounts]:
    """Fill `questions` with the counts of the period's bookings (old halves of reschedules
    left out): one SQL row per question and answer."""
    if not questions:
        return questions
    ca, ev = ChoiceAnswer, CalendlyEvent
    by_key = {question.key: question for question in questions}
    # The writer keeps no answers of the old halves of reschedules.
    rows = db.session.execute(
        select(ca.question_key, ca.answer, func.count())
        .join(ev, ev.id == ca.event_id)
        .where(_in_period(period), ca.question_key.in_(list(by_key)))
        .group_by(ca.question_key, ca.answer)
    ).all()
    for key, answer, count in rows:
        by_key[key].counts[answer] = int(count)
    return questions


@dataclass
class Insights:
    """Everything the page shows for one period."""

    period: Period
    weeks: list[WeekFigures]
    show_up: list[WebinarShowUp]
    upcoming: list[Fill]
    fullest: list[Fill]
    emptiest: list[Fill]
    by_weekday: list[Fill]
    by_hour: list[Fill]
    lead_time: list[LeadBucket]
    answers: list[AnswerCounts]


def insights(period: Period) -> Insights:
    """Every figure of the page for `period`."""
    return Insights(
        period=period,
        weeks=weekly(period),
        show_up=show_up_per_webinar(period),
        upcoming=fill_upcoming(period),
        fullest=fullest(period),
        emptiest=emptiest(period),
        by_weekday=fill_by_weekday(period),
        by_hour=fill_by_hour(period),
        lead_time=lead_time(period),
        answers=answers(period, choice_question_list(period)),
    )


def record_download(chart_id: str, file_format: str, actor) -> None:
    """Note a chart's figures downloaded in the audit log (aggregates: no person in them)."""
    start_write(db.session)
    audit.record(AuditAction.EXPORT_DOWNLOADED, actor, list=f"insights:{chart_id}",
                 format=file_format)  # fmt: skip
    db.session.commit()
