"""The insights figures on a hand-counted mirror (tests/services/insights_data.py): periods in
the admin's time zone, show-up on recorded webinars only, fill, lead time, choice answers; each
chart's SQL fetches no more rows than the chart has buckets."""

from datetime import date

import pytest
from sqlalchemy import event

from services import insights, settings
from store.choices import OTHER_ANSWER
from store.database import db
from tests.services import insights_data as data

pytestmark = pytest.mark.dated


@pytest.fixture
def mirror(app, time_machine):
    time_machine.move_to(data.NOW, tick=False)
    ids = data.build(app)
    with app.app_context():
        yield ids


def _month():
    return insights.Period.from_args({}, insights.today())


class RowCounter:
    """Counts the rows SQL hands back, per query, with a SQLAlchemy event: the cursor that the
    result reads from is wrapped as soon as the statement ran."""

    def __init__(self):
        self.rows = 0
        self.queries = 0

    def __enter__(self):
        event.listen(db.engine, "after_cursor_execute", self._wrap)
        return self

    def __exit__(self, *exc):
        event.remove(db.engine, "after_cursor_execute", self._wrap)

    def _wrap(self, conn, cursor, statement, parameters, context, executemany):
        self.queries += 1
        context.cursor = _CountingCursor(cursor, self)


class _CountingCursor:
    def __init__(self, cursor, counter):
        self._cursor, self._counter = cursor, counter

    def __getattr__(self, name):
        return getattr(self._cursor, name)

    def _count(self, rows):
        self._counter.rows += len(rows)
        return rows

    def fetchall(self):
        return self._count(self._cursor.fetchall())

    def fetchmany(self, *args):
        return self._count(self._cursor.fetchmany(*args))

    def fetchone(self):
        row = self._cursor.fetchone()
        self._counter.rows += row is not None
        return row


def test_this_month_is_march_in_berlin(mirror):
    period = _month()
    assert (period.start, period.end) == (date(2026, 3, 1), date(2026, 3, 31))
    assert [w.isoformat() for w in period.weeks()] == list(data.EXPECTED_WEEKS)


def test_periods_and_custom_ranges():
    today = date(2026, 3, 18)
    quarter = insights.Period.from_args({"period": "quarter"}, today)
    assert (quarter.start, quarter.end) == (date(2026, 1, 1), date(2026, 3, 31))
    january = insights.Period.from_args({"period": "quarter"}, date(2026, 1, 5))
    assert january.start == date(2025, 11, 1)
    year = insights.Period.from_args({"period": "year", "type": "T"}, today)
    assert (year.start, year.end, year.event_type) == (date(2026, 1, 1), date(2026, 12, 31), "T")
    custom = insights.Period.from_args(
        {"period": "custom", "from": "2026-02-10", "to": "2026-02-01"}, today
    )
    assert (custom.start, custom.end) == (date(2026, 2, 1), date(2026, 2, 10))
    assert custom.args() == {"period": "custom", "from": "2026-02-01", "to": "2026-02-10"}
    nonsense = insights.Period.from_args({"period": "custom", "from": "x"}, today)
    assert nonsense.kind == "month"


def test_bookings_cancellations_attended_per_week(mirror):
    weeks = insights.weekly(_month())
    found = {w.week.isoformat(): (w.booked, w.canceled, w.attended, w.no_show) for w in weeks}
    assert found == data.EXPECTED_WEEKS


def test_show_up_counts_recorded_webinars_only(mirror):
    per_webinar = insights.show_up_per_webinar(_month())
    assert [(w.name, w.attended, w.no_show) for w in per_webinar] == [
        ("Infowebinar W0", 1, 1),
        ("Infowebinar W1", 2, 1),
    ]
    assert [round(w.show_up_rate, 3) for w in per_webinar] == [0.5, 0.667]


def test_fill_rates(mirror):
    period = _month()
    assert [(f.name, f.booked, f.limit) for f in insights.fill_upcoming(period)] == [
        ("Infowebinar W3", 3, 4),
        ("Infowebinar W4", 1, 10),
    ]
    assert [f.name for f in insights.fullest(period)] == ["Infowebinar W3", "Infowebinar W4"]
    assert [f.name for f in insights.emptiest(period)] == ["Infowebinar W4", "Infowebinar W3"]
    by_weekday = {f.label: (f.booked, f.limit) for f in insights.fill_by_weekday(period)}
    assert by_weekday == data.EXPECTED_WEEKDAY
    by_hour = {f.label: (f.booked, f.limit) for f in insights.fill_by_hour(period)}
    assert by_hour == data.EXPECTED_HOUR


def test_booking_lead_time(mirror):
    assert [b.bookings for b in insights.lead_time(_month())] == data.EXPECTED_LEAD


def test_choice_answers_count_each_line_and_merge_the_same_question(mirror):
    period = _month()
    questions = insights.answers(period, insights.choice_question_list(period))
    by_title = {q.title: dict(q.bars()) for q in questions}
    assert by_title == {
        # Named as each type asks it, the types in order of their names.
        f"{data.SCHULFORM_EN} / {data.SCHULFORM_DE}": data.EXPECTED_SCHULFORM,
        data.QUELLE_DE: data.EXPECTED_QUELLE_DE,
        data.QUELLE_EN: data.EXPECTED_QUELLE_EN,
    }


def test_one_event_type(mirror):
    period = insights.Period.from_args({"type": data.TYPE_EN}, insights.today())
    weeks = {w.week.isoformat(): w.booked for w in insights.weekly(period) if w.booked}
    assert weeks == {"2026-03-09": 2}
    questions = insights.answers(period, insights.choice_question_list(period))
    assert {q.title: dict(q.bars()) for q in questions} == {
        data.SCHULFORM_EN: {"Grundschule": 2, "Gymnasium": 0},
        data.QUELLE_EN: {"Google": 0, "LinkedIn": 1},
    }


CHARTS = [
    ("weekly", lambda p: insights.weekly(p), lambda result: len(result)),
    ("show-up per webinar", insights.show_up_per_webinar, len),
    ("fill upcoming", insights.fill_upcoming, len),
    ("fullest", insights.fullest, len),
    ("emptiest", insights.emptiest, len),
    ("fill by weekday", insights.fill_by_weekday, len),
    ("fill by hour", insights.fill_by_hour, len),
    ("lead time", insights.lead_time, len),
]


@pytest.mark.parametrize("name, compute, buckets", CHARTS, ids=[c[0] for c in CHARTS])
def test_each_chart_fetches_no_more_rows_than_it_has_buckets(mirror, name, compute, buckets):
    period = _month()
    with RowCounter() as counter:
        result = compute(period)
    assert counter.queries == 1
    assert 0 < counter.rows <= buckets(result)


def test_answer_counts_fetch_no_more_rows_than_answers(mirror):
    period = _month()
    questions = insights.choice_question_list(period)
    with RowCounter() as counter:
        insights.answers(period, questions)
    assert counter.queries == 1
    assert 0 < counter.rows <= sum(len(q.bars()) for q in questions)


def test_a_new_time_zone_restamps_the_webinars(mirror, app):
    with app.test_request_context():
        settings.save_preferences("UTC", 14, "06:00", 0)
        assert settings.display_timezone() == "UTC"
        # In UTC, W0 is in February and W5 on 31 March.
        period = _month()
        by_hour = {f.label: (f.booked, f.limit) for f in insights.fill_by_hour(period)}
        assert by_hour[22] == (6, 20)  # W4 and W5 start at 22:30 UTC
        assert 23 not in by_hour  # W0 (23:30 UTC on 28 February) left the month


def test_deleting_an_attendee_removes_its_answers(mirror):
    from sqlalchemy import delete, func, select

    from store.models import CalendlyEventAttendee, ChoiceAnswer

    before = db.session.scalar(select(func.count()).select_from(ChoiceAnswer))
    db.session.execute(
        delete(CalendlyEventAttendee).where(CalendlyEventAttendee.calendly_id == "ins-inv-a1")
    )
    db.session.commit()
    after = db.session.scalar(select(func.count()).select_from(ChoiceAnswer))
    assert before - after == 3  # Grundschule, Google, Instagram
    assert OTHER_ANSWER in set(db.session.scalars(select(ChoiceAnswer.answer)))
