"""Retention: attendees' personal data goes N months after their webinar, on a real database;
the counts, booking times, no-shows and choice answers stay. The CLI says the same numbers as
the purge does. The clock is fixed, so the cutoff does not depend on the day the suite runs."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from services import queries, retention, settings
from store import clock
from store.database import db
from store.models import AuditEntry, CalendlyEvent, CalendlyEventAttendee, CalendlyEventType
from tests.conftest import _insert

pytestmark = pytest.mark.dated

NOW = datetime(2026, 6, 15, 10, 0, tzinfo=UTC)
# 12 months before 15.06.2026 in Europe/Berlin: webinars that ended before 15.06.2025 00:00
# (22:00 UTC the day before) lose their attendees' personal data.
CUTOFF_AT = datetime(2025, 6, 14, 22, 0, tzinfo=UTC)
TYPE_URI = "https://api.calendly.com/event_types/INFO"
SCHULFORM = "Welche Schulform interessiert Sie?"
QUELLE = "Wie haben Sie von uns erfahren?"
FRAGEN = "Haben Sie vorab Fragen an uns?"
QUESTIONS = [
    {"name": SCHULFORM, "type": "single_select", "answer_choices": ["Grundschule", "Gymnasium"]},
    {"name": QUELLE, "type": "multi_select", "answer_choices": ["Instagram", "Freunde"]},
    {"name": FRAGEN, "type": "text", "answer_choices": []},
    {"name": "Telefonnummer", "type": "phone_number", "answer_choices": []},
]
ANSWERS = [
    {"question": SCHULFORM, "answer": "Gymnasium", "position": 0},
    {"question": QUELLE, "answer": "Instagram\nMein Nachbar Herr Krause", "position": 1},
    {"question": FRAGEN, "answer": "Ich heiße Jürgen und habe Fragen", "position": 2},
    {"question": "Telefonnummer", "answer": "+49 151 1234567", "position": 3},
]


@pytest.fixture
def frozen(time_machine):
    time_machine.move_to(NOW, tick=False)


@pytest.fixture
def webinars(frozen, app, add_webinar, add_attendee):
    """Two webinars past the cutoff (4 people), one without attendees, two kept."""
    _insert(app, CalendlyEventType(uri=TYPE_URI, name="Infowebinar", custom_questions=QUESTIONS))
    old = add_webinar(start_time=datetime(2025, 5, 1, 16, 0, tzinfo=UTC))
    just_before = add_webinar(start_time=CUTOFF_AT - timedelta(hours=2))  # ends 21:00
    empty = add_webinar(start_time=datetime(2025, 3, 1, 16, 0, tzinfo=UTC))
    just_after = add_webinar(start_time=CUTOFF_AT)  # starts at the cutoff, ends after it
    recent = add_webinar(start_time=NOW - timedelta(days=7))
    gone = [
        add_attendee(
            old,
            name="Jürgen Alt",
            first_name="Jürgen",
            last_name="Alt",
            email="juergen.alt@example.org",
            questions_and_answers=ANSWERS,
            status="canceled",
            cancel_reason="Bin krank",
            canceled_by="Jürgen Alt",
            canceler_type="invitee",
            rescheduled=True,
            new_invitee_uri="https://api.calendly.com/scheduled_events/x/invitees/new",
            calendly_created_at=datetime(2025, 4, 20, 9, 0, tzinfo=UTC),
        ),
        add_attendee(old, name="Alte Person", email="alt2@example.org", no_show=True),
        add_attendee(old, name="Alte Person Drei", email="alt3@example.org"),
        add_attendee(just_before, name="Knapp Davor", email="knapp@example.org"),
    ]
    kept = [
        add_attendee(
            just_after,
            name="Knapp Danach",
            email="danach@example.org",
            questions_and_answers=ANSWERS,
        ),  # fmt: skip
        add_attendee(recent, name="Neu Person", email="neu@example.org"),
    ]
    return {"old": old, "just_before": just_before, "empty": empty, "gone": gone, "kept": kept}


def attendee(calendly_id: str) -> CalendlyEventAttendee:
    return db.session.scalar(
        select(CalendlyEventAttendee).where(CalendlyEventAttendee.calendly_id == calendly_id)
    )


def removed_marks() -> dict[str, bool]:
    rows = db.session.execute(
        select(CalendlyEvent.calendly_id, CalendlyEvent.personal_data_removed_at)
    ).all()
    return {calendly_id: at is not None for calendly_id, at in rows}


def test_the_purge_anonymises_exactly_the_attendees_of_webinars_before_the_cutoff(app, webinars):
    with app.app_context():
        assert retention.plan() == retention.Plan(12, date(2025, 6, 15), CUTOFF_AT, 4, 2)

        done = retention.purge()

        assert done == retention.Plan(12, date(2025, 6, 15), CUTOFF_AT, 4, 2)
        juergen = attendee(webinars["gone"][0].calendly_id)
        for column in retention.PERSONAL_COLUMNS:
            assert getattr(juergen, column) is None, column
        # What the insights count stays, and the choice answers without the typed "other".
        assert (juergen.status, juergen.calendly_created_at, juergen.rescheduled) == (
            "canceled",
            datetime(2025, 4, 20, 9, 0, tzinfo=UTC),
            True,
        )
        assert juergen.canceler_type == "invitee"
        assert juergen.questions_and_answers == [
            {"question": SCHULFORM, "answer": "Gymnasium", "position": 0},
            {"question": QUELLE, "answer": "Instagram", "position": 1},
        ]
        assert attendee(webinars["gone"][1].calendly_id).no_show is True
        for kept in webinars["kept"]:
            row = attendee(kept.calendly_id)
            assert (row.name, row.email) == (kept.name, kept.email)
        danach = attendee(webinars["kept"][0].calendly_id)
        assert danach.questions_and_answers == ANSWERS
        marks = removed_marks()
        assert {cid for cid, removed in marks.items() if removed} == {
            webinars["old"].calendly_id,
            webinars["just_before"].calendly_id,
            webinars["empty"].calendly_id,
        }
        (entry,) = db.session.scalars(select(AuditEntry)).all()
        assert entry.action == "retention_run" and entry.actor_id is None
        assert entry.params == {"attendees": 4, "webinars": 2, "cutoff": "2025-06-15"}

        # Idempotent: nothing is left to do, and nothing more is recorded.
        assert retention.plan().attendees == 0
        assert retention.purge().attendees == 0
        assert len(db.session.scalars(select(AuditEntry)).all()) == 1


def test_search_forgets_the_anonymised_people(app, webinars):
    with app.app_context():
        assert [hit.email for hit in queries.search_people("juergen").people] == [
            "juergen.alt@example.org"
        ]
        retention.purge()
        for query in ("juergen", "Jürgen", "alt", "knapp@", "example.org"):
            emails = {hit.email for hit in queries.search_people(query).people}
            assert emails <= {"danach@example.org", "neu@example.org"}, query
        assert {hit.email for hit in queries.search_people("example.org").people} == {
            "danach@example.org",
            "neu@example.org",
        }


def test_an_interrupted_purge_leaves_whole_webinars_and_the_next_run_finishes(app, webinars):
    with app.app_context():
        first = retention._purge_batch(CUTOFF_AT, clock.now(), batch=1)
        assert first == (3, 1)  # the oldest-id webinar with its three people, in one go
        assert retention.plan().attendees == 1
        assert retention.purge().attendees == 1


def test_kept_without_limit_removes_nothing(app, webinars):
    with app.app_context():
        retention.change_months(None, None)
        assert retention.plan() is None and retention.purge() is None
        assert attendee(webinars["gone"][0].calendly_id).email == "juergen.alt@example.org"


def test_a_changed_period_is_audited_once(app, frozen, admin_user):
    from services import accounts

    with app.app_context():
        assert settings.retention_months() == 12 and not settings.retention_chosen()
        actor = accounts.get_admin(admin_user.id)
        assert retention.change_months(6, actor) is True
        assert retention.change_months(6, actor) is False
        assert retention.change_months(None, actor) is True
        entries = db.session.scalars(select(AuditEntry).order_by(AuditEntry.id)).all()
        changes = [e for e in entries if e.action == "setting_changed"]
        assert [(e.action, e.actor_id, e.params) for e in changes] == [
            ("setting_changed", admin_user.id,
             {"setting": "retention_months", "old": "unset", "new": 6}),
            ("setting_changed", admin_user.id,
             {"setting": "retention_months", "old": 6, "new": "unlimited"}),
        ]  # fmt: skip
        assert settings.retention_months() is None


def test_dry_run_and_purge_print_the_same_numbers(app, webinars, runner):
    dry = runner.invoke(args=["privacy", "purge", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "4 Personen aus 2 Webinaren vor dem 15.06.2025" in dry.output
    with app.app_context():
        assert attendee(webinars["gone"][0].calendly_id).email is not None

    real = runner.invoke(args=["privacy", "purge"])
    assert real.exit_code == 0, real.output
    assert "4 Personen aus 2 Webinaren vor dem 15.06.2025" in real.output
    assert "entfernt" in real.output
    again = runner.invoke(args=["privacy", "purge", "--dry-run"])
    assert "0 Personen aus 0 Webinaren vor dem 15.06.2025" in again.output


def test_the_daily_run_happens_in_one_process_a_day(app, webinars, time_machine):
    with app.app_context():
        runs = [retention.run_daily(f"host:{n}:x") for n in range(3)]
        assert runs[0].attendees == 4 and runs[1:] == [None, None]
        # The next day's run: a day's more webinars are past the period ("just after").
        time_machine.move_to(NOW + timedelta(days=1), tick=False)
        assert retention.run_daily("host:1:x").attendees == 1
        assert retention.run_daily("host:2:x") is None


def test_months_before_keeps_to_the_calendar():
    assert retention.months_before(date(2026, 3, 31), 1) == date(2026, 2, 28)
    assert retention.months_before(date(2026, 1, 15), 12) == date(2025, 1, 15)
    assert retention.months_before(date(2026, 1, 15), 1) == date(2025, 12, 15)
    assert retention.months_before(date(2024, 5, 31), 3) == date(2024, 2, 29)


def test_only_chosen_answers_of_choice_questions_are_kept():
    choices = {SCHULFORM: ["Grundschule", "Gymnasium"], QUELLE: ["Instagram", "Freunde"]}
    assert retention.kept_answers(ANSWERS, choices) == [
        {"question": SCHULFORM, "answer": "Gymnasium", "position": 0},
        {"question": QUELLE, "answer": "Instagram", "position": 1},
    ]
    only_other = [{"question": QUELLE, "answer": "Mein Nachbar", "position": 1}]
    assert retention.kept_answers(only_other, choices) is None
    assert retention.kept_answers(ANSWERS, None) is None
    assert retention.kept_answers(None, choices) is None
