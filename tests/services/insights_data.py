"""A small, hand-counted mirror for the insights page, written through the mirror's writer.

The clock stands at NOW (Wednesday 18 March 2026, 10:00 in Berlin); the admin's time zone is
Europe/Berlin, so "this month" is March 2026 there. Expected figures, counted by hand:

Webinars (Berlin time)                       type  limit active  attendance
W0 Sun 1 Mar 00:30 (28 Feb 23:30 UTC)         DE    10    2      recorded: f1 came, f2 no-show
W1 Mon 2 Mar 18:00                            DE    10    3      recorded: a1, a4 came, a2 no-show;
                                                                 a3 canceled
W2 Tue 10 Mar 19:00                           EN     5    2      not recorded
W3 Wed 25 Mar 10:00 (upcoming)                DE     4    3
W4 Tue 31 Mar 00:30 (30 Mar 22:30 UTC, up.)   DE    10    1
W5 Wed 1 Apr 00:30 (31 Mar 22:30 UTC): April in Berlin, outside the period.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

NOW = datetime(2026, 3, 18, 9, 0, tzinfo=UTC)
ZONE = "Europe/Berlin"
TYPE_DE = "https://api.calendly.com/event_types/INFO-DE"
TYPE_EN = "https://api.calendly.com/event_types/INFO-EN"
SCHULFORM_DE = "Welche Schulform interessiert Sie?"
SCHULFORM_EN = "Which school type interests you?"
QUELLE_DE = "Wie haben Sie von uns erfahren?"
QUELLE_EN = "How did you hear about us?"


def _question(name, qtype, position, choices=(), include_other=False):
    return {
        "name": name,
        "type": qtype,
        "position": position,
        "enabled": True,
        "required": False,
        "answer_choices": list(choices),
        "include_other": include_other,
    }


QUESTIONS = {
    TYPE_DE: [
        _question(SCHULFORM_DE, "single_select", 0, ["Grundschule", "Gymnasium"]),
        _question(QUELLE_DE, "multi_select", 1, ["Google", "Instagram", "Newsletter"], True),
        _question("Haben Sie Fragen?", "text", 2),
    ],
    TYPE_EN: [
        # Same position, type and choices as the German one: they count together.
        _question(SCHULFORM_EN, "single_select", 0, ["Grundschule", "Gymnasium"]),
        _question(QUELLE_EN, "multi_select", 1, ["Google", "LinkedIn"]),
    ],
}

# (key, event type, start UTC, limit, active, recorded)
WEBINARS = [
    ("W0", TYPE_DE, datetime(2026, 2, 28, 23, 30, tzinfo=UTC), 10, 2, True),
    ("W1", TYPE_DE, datetime(2026, 3, 2, 17, 0, tzinfo=UTC), 10, 3, True),
    ("W2", TYPE_EN, datetime(2026, 3, 10, 18, 0, tzinfo=UTC), 5, 2, False),
    ("W3", TYPE_DE, datetime(2026, 3, 25, 9, 0, tzinfo=UTC), 4, 3, False),
    ("W4", TYPE_DE, datetime(2026, 3, 30, 22, 30, tzinfo=UTC), 10, 1, False),
    ("W5", TYPE_DE, datetime(2026, 3, 31, 22, 30, tzinfo=UTC), 10, 5, False),
]


def _qa(*pairs):
    return [{"question": "?", "answer": answer, "position": position} for position, answer in pairs]


# (key, webinar, status, no-show, days booked before the start, answers)
ATTENDEES = [
    ("f1", "W0", "active", False, 20, []),
    ("f2", "W0", "active", True, 20.5, []),
    ("a1", "W1", "active", False, 3, _qa((0, "Grundschule"), (1, "Google\nInstagram"))),
    ("a2", "W1", "active", True, 0.5, _qa((0, "Gymnasium"), (1, "Newsletter\nMeine Tante"))),
    ("a3", "W1", "canceled", False, 10, _qa((0, "Grundschule"), (2, "Frei formuliert"))),
    ("a4", "W1", "active", False, 40, _qa((0, "Gymnasium"))),
    ("b1", "W2", "active", False, 1.2, _qa((0, "Grundschule"), (1, "LinkedIn"))),
    ("b2", "W2", "active", False, 5, _qa((0, "Grundschule"))),
    ("c1", "W3", "active", False, 9, []),
    ("c2", "W3", "active", False, 9, []),
    ("c3", "W3", "active", False, 9.5, []),
    ("d1", "W4", "active", False, 13.9, []),
    ("e1", "W5", "active", False, 2, _qa((0, "Gymnasium"))),
]

# What the page shows for this month, counted by hand from the tables above.
EXPECTED_WEEKS = {  # Monday: (booked, canceled, attended, no-shows)
    "2026-02-23": (2, 0, 1, 1),
    "2026-03-02": (4, 1, 2, 1),
    "2026-03-09": (2, 0, 0, 0),
    "2026-03-16": (0, 0, 0, 0),
    "2026-03-23": (3, 0, 0, 0),
    "2026-03-30": (1, 0, 0, 0),
}
EXPECTED_LEAD = [1, 1, 1, 1, 5, 2, 1]  # same day, 1, 2-3, 4-7, 8-14, 15-30, 31+
EXPECTED_WEEKDAY = {0: (3, 10), 1: (3, 15), 2: (3, 4), 6: (2, 10)}  # booked, places
EXPECTED_HOUR = {0: (3, 20), 10: (3, 4), 18: (3, 10), 19: (2, 5)}
EXPECTED_SCHULFORM = {"Grundschule": 4, "Gymnasium": 2}
EXPECTED_QUELLE_DE = {"Google": 1, "Instagram": 1, "Newsletter": 1, None: 1}
EXPECTED_QUELLE_EN = {"Google": 0, "LinkedIn": 1}


def _event_values(key, type_uri, start, limit, active):
    return {
        "calendly_id": f"ins-{key}",
        "uri": f"https://api.calendly.com/scheduled_events/ins-{key}",
        "name": f"Infowebinar {key}",
        "status": "active",
        "start_time": start,
        "end_time": start + timedelta(hours=1),
        "event_type_uri": type_uri,
        "location_type": "zoom",
        "location": "https://zoom.us/j/1",
        "location_status": None,
        "location_info": None,
        "invitees_active": active,
        "invitees_total": active,
        "invitees_limit": limit,
        "cancel_reason": None,
        "canceled_by": None,
        "canceler_type": None,
        "canceled_at": None,
        "calendly_created_at": start - timedelta(days=60),
        "calendly_updated_at": start - timedelta(days=60),
        "missing_upstream": False,
        "hosts": None,
    }


def _attendee_values(key, event_id, start, status, no_show, days, answers):
    from store.models import attendee_search_text

    name = f"Person {key}"
    email = f"{key}@example.org"
    return {
        "calendly_id": f"ins-inv-{key}",
        "event_id": event_id,
        "uri": f"https://api.calendly.com/scheduled_events/x/invitees/ins-inv-{key}",
        "name": name,
        "first_name": None,
        "last_name": None,
        "email": email,
        "search_text": attendee_search_text(name, email),
        "status": status,
        "timezone": ZONE,
        "questions_and_answers": answers,
        "rescheduled": False,
        "old_invitee_uri": None,
        "new_invitee_uri": None,
        "no_show": no_show,
        "no_show_uri": "https://api.calendly.com/invitee_no_shows/x" if no_show else None,
        "cancel_reason": None,
        "canceled_by": None,
        "canceler_type": None,
        "canceled_at": None,
        "calendly_created_at": start - timedelta(days=days),
        "calendly_updated_at": start - timedelta(days=days),
    }


def build(app) -> dict[str, int]:
    """Write the fixture through the writer (event types cached first); returns local ids."""
    from sqlalchemy import update

    from mirror.writer import write_attendees, write_events
    from services import settings
    from store.database import db, start_write
    from store.models import CalendlyEvent, CalendlyEventType

    with app.app_context():
        settings.set_setting(settings.TIMEZONE_KEY, ZONE)
        start_write(db.session)
        for uri, questions in QUESTIONS.items():
            name = "Infowebinar (DE)" if uri == TYPE_DE else "Info webinar (EN)"
            db.session.add(CalendlyEventType(uri=uri, name=name, custom_questions=questions))
        db.session.flush()
        written = write_events(
            [_event_values(k, t, s, limit, active) for k, t, s, limit, active, _r in WEBINARS],
            NOW,
            zone=ZONE,
        )
        ids = {key: written[f"ins-{key}"][0] for key, *_rest in WEBINARS}
        starts = {key: start for key, _t, start, *_rest in WEBINARS}
        rows = [
            _attendee_values(key, ids[webinar], starts[webinar], status, no_show, days, answers)
            for key, webinar, status, no_show, days, answers in ATTENDEES
        ]
        write_attendees(rows, NOW)
        recorded = [ids[key] for key, *_rest, is_recorded in WEBINARS if is_recorded]
        db.session.execute(
            update(CalendlyEvent)
            .where(CalendlyEvent.id.in_(recorded))
            .values(attendance_recorded_at=NOW)
        )
        db.session.commit()
    return ids
