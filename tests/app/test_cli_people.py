"""`flask people export|erase`: a person's data from the command line, audited without the
email, the erasure only after its confirmation."""

import json

from sqlalchemy import select

from store.database import db
from store.models import AuditEntry, CalendlyEventAttendee


def _setup(add_webinar, add_attendee):
    event = add_webinar()
    add_attendee(event, email="Cli.Person@example.de", name="Cli Person")
    add_attendee(event, email="other@example.de")


def test_export_prints_the_persons_bookings(app, runner, add_webinar, add_attendee):
    _setup(add_webinar, add_attendee)
    result = runner.invoke(args=["people", "export", "cli.person@example.de"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    assert [b["name"] for b in document["bookings"]] == ["Cli Person"]
    csv_result = runner.invoke(args=["people", "export", "cli.person@example.de", "--format=csv"])
    assert csv_result.output.startswith("\ufeff") and "Cli Person" in csv_result.output
    with app.app_context():
        entries = db.session.scalars(select(AuditEntry)).all()
        assert [(e.action, e.params["format"], e.actor_id) for e in entries] == [
            ("person_exported", "json", None),
            ("person_exported", "csv", None),
        ]


def test_erase_asks_first_then_erases(app, runner, add_webinar, add_attendee):
    _setup(add_webinar, add_attendee)
    refused = runner.invoke(args=["people", "erase", "cli.person@example.de"], input="n\n")
    assert refused.exit_code == 1
    result = runner.invoke(args=["people", "erase", "cli.person@example.de", "--yes"])
    assert result.exit_code == 0, result.output
    assert "Erased here: 1 booking(s)." in result.output
    with app.app_context():
        assert db.session.scalars(select(CalendlyEventAttendee.email)).all() == ["other@example.de"]
        [entry] = db.session.scalars(select(AuditEntry)).all()
        assert entry.action == "person_erased" and "@" not in json.dumps(entry.params)
