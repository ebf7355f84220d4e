"""`flask db upgrade` builds a fresh database that matches the models exactly."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade

from store.database import db
from store.search_index import is_search_index


def test_upgrade_builds_the_schema_of_the_models(make_app):
    app = make_app()
    with app.app_context():
        db.drop_all()  # start from nothing: the fixture built the schema with create_all
        with db.engine.begin() as conn:
            conn.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")
        upgrade()
        with db.engine.connect() as conn:
            context = MigrationContext.configure(
                conn,
                opts={
                    "compare_type": False,
                    "render_as_batch": True,
                    "include_name": lambda name, type_, _parents: not is_search_index(name, type_),
                },
            )
            diff = compare_metadata(context, db.metadata)
        assert diff == []
        with db.engine.begin() as conn:
            conn.exec_driver_sql("DROP TABLE alembic_version")


def _add_event(conn, now) -> int:
    """Insert one webinar row the way any revision since the first accepts it; its id."""
    from sqlalchemy import text

    conn.execute(
        text(
            "INSERT INTO calendly_events (calendly_id, uri, status, start_time, end_time,"
            " invitees_active, invitees_total, missing_upstream, synced_at)"
            " VALUES ('E1', 'u', 'active', :t, :t, 0, 0, false, :t)"
        ),
        {"t": now},
    )
    return conn.scalar(text("SELECT id FROM calendly_events"))


def test_search_text_is_backfilled_for_existing_attendees(make_app):
    from datetime import datetime

    from sqlalchemy import text

    app = make_app()
    with app.app_context():
        db.drop_all()
        with db.engine.begin() as conn:
            conn.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")
        upgrade(revision="93a54236eb87")  # before the search column existed
        with db.engine.begin() as conn:
            now = datetime(2026, 1, 1, 10, 0)
            _add_event(conn, now)
            conn.execute(
                text(
                    "INSERT INTO calendly_event_attendees (event_id, calendly_id, uri, name, email,"
                    " status, rescheduled, no_show, synced_at)"
                    " SELECT id, 'I1', 'u', 'Jürgen GROSS', 'J.Gross@Example.DE', 'active',"
                    " false, false, :t FROM calendly_events"
                ),
                {"t": now},
            )
        upgrade()
        with db.engine.connect() as conn:
            # Case-folded by b3166ae10308, with umlaut-free variants since e1a2b3c4d5e6.
            assert conn.scalar(text("SELECT search_text FROM calendly_event_attendees")) == (
                "jürgen gross j.gross@example.de\n"
                "juergen gross j.gross@example.de\n"
                "jurgen gross j.gross@example.de"
            )
        db.drop_all()
        with db.engine.begin() as conn:
            conn.exec_driver_sql("DROP TABLE alembic_version")


def test_outcomes_become_codes_and_ticks_leave_the_owner(make_app):
    from sqlalchemy import text

    app = make_app()
    with app.app_context():
        db.drop_all()
        with db.engine.begin() as conn:
            conn.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")
        upgrade(revision="b3166ae10308")  # runs and deliveries recorded sentences
        insert_run = text(
            'INSERT INTO sync_runs (trigger, "full", status, started_at, events_seen,'
            " events_created, events_updated, events_unchanged, events_missing,"
            " attendees_created, attendees_updated, attendees_unchanged, api_requests,"
            " error, owner) VALUES (:trigger, false, :status, '2026-01-01 06:00:00',"
            " 0, 0, 0, 0, 0, 0, 0, 0, 0, :error, :owner)"
        )
        with db.engine.begin() as conn:
            for trigger, status, error, owner in [
                (
                    "scheduler",
                    "skipped",
                    "another process ran this scheduled sync",
                    "web1:42:ab12cd34@2026-01-01T05:00:00+00:00",
                ),
                ("manual", "failed", "Interrupted before it finished.", "web1:42:ef56"),
                ("cli", "failed", "Calendly network error: connection refused", "web1:7:aa"),
                ("cli", "succeeded", None, "web1:7:bb"),
            ]:
                conn.execute(
                    insert_run,
                    {"trigger": trigger, "status": status, "error": error, "owner": owner},
                )
            conn.execute(
                text(
                    "INSERT INTO webhook_deliveries (received_at, signature_valid, outcome, detail)"
                    " VALUES ('2026-01-01 06:00:00', true, 'ignored', 'event type not synced')"
                )
            )
        upgrade()
        with db.engine.connect() as conn:
            runs = conn.execute(
                text("SELECT owner, tick, outcome, outcome_params FROM sync_runs ORDER BY id")
            ).all()
            reason = conn.execute(text("SELECT reason, reason_params FROM webhook_deliveries"))
            reason = reason.one()
        assert [(r.owner, r.outcome) for r in runs] == [
            ("web1:42:ab12cd34", "ran_elsewhere"),
            ("web1:42:ef56", "interrupted"),
            ("web1:7:aa", "legacy"),
            ("web1:7:bb", None),
        ]
        assert str(runs[0].tick).startswith("2026-01-01 05:00:00")
        assert "connection refused" in str(runs[2].outcome_params)
        assert reason.reason == "legacy" and "event type not synced" in str(reason.reason_params)

        downgrade(revision="b3166ae10308")
        with db.engine.connect() as conn:
            back = conn.execute(text("SELECT owner, error FROM sync_runs ORDER BY id")).all()
        assert back[0] == (
            "web1:42:ab12cd34@2026-01-01T05:00:00+00:00",
            "another process ran this scheduled sync",
        )
        assert back[2].error == "Calendly network error: connection refused"
        db.drop_all()
        with db.engine.begin() as conn:
            conn.exec_driver_sql("DROP TABLE alembic_version")


def test_skipped_records_and_the_event_type_cache_migrate_both_ways(make_app):
    from sqlalchemy import inspect, text

    app = make_app()
    with app.app_context():
        db.drop_all()
        with db.engine.begin() as conn:
            conn.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")
        upgrade(revision="c4d1e2f3a5b6")
        with db.engine.begin() as conn:
            conn.execute(
                text(
                    'INSERT INTO sync_runs (trigger, "full", status, started_at, events_seen,'
                    " events_created, events_updated, events_unchanged, events_missing,"
                    " attendees_created, attendees_updated, attendees_unchanged, api_requests)"
                    " VALUES ('cli', false, 'succeeded', '2026-01-01 06:00:00',"
                    " 0, 0, 0, 0, 0, 0, 0, 0, 0)"
                )
            )
        upgrade()
        with db.engine.connect() as conn:
            row = conn.execute(text("SELECT records_skipped, skipped_records FROM sync_runs"))
            assert tuple(row.one()) == (0, None)
        assert "calendly_event_types" in inspect(db.engine).get_table_names()

        downgrade(revision="c4d1e2f3a5b6")
        inspector = inspect(db.engine)
        assert "calendly_event_types" not in inspector.get_table_names()
        assert "records_skipped" not in {c["name"] for c in inspector.get_columns("sync_runs")}
        db.drop_all()
        with db.engine.begin() as conn:
            conn.exec_driver_sql("DROP TABLE alembic_version")


def test_sessions_migration_keeps_the_accounts_both_ways(make_app):
    from sqlalchemy import text

    app = make_app()
    with app.app_context():
        db.drop_all()
        with db.engine.begin() as conn:
            conn.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")
        upgrade(revision="c4d1e2f3a5b6")  # locks were columns of the account
        with db.engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO admin_users (email, password_hash, created_at, failed_logins,"
                    " locked_until) VALUES ('a@example.org', 'h', '2026-01-01 06:00:00', 7,"
                    " '2026-01-01 06:15:00')"
                )
            )
        upgrade()
        with db.engine.connect() as conn:
            row = conn.execute(
                text(
                    "SELECT email, disabled_at, must_set_login, totp_secret, totp_enabled_at"
                    " FROM admin_users"
                )
            ).one()
        assert row.email == "a@example.org"
        assert row.disabled_at is None and not row.must_set_login and row.totp_secret is None

        downgrade(revision="c4d1e2f3a5b6")
        with db.engine.connect() as conn:
            back = conn.execute(text("SELECT email, failed_logins FROM admin_users")).one()
        assert tuple(back) == ("a@example.org", 0)
        upgrade()
        with db.engine.connect() as conn:
            context = MigrationContext.configure(
                conn,
                opts={
                    "compare_type": False,
                    "render_as_batch": True,
                    "include_name": lambda name, type_, _parents: not is_search_index(name, type_),
                },
            )
            assert compare_metadata(context, db.metadata) == []
        db.drop_all()
        with db.engine.begin() as conn:
            conn.exec_driver_sql("DROP TABLE alembic_version")


def test_search_text_gains_umlaut_variants_both_ways(make_app):
    from datetime import datetime

    from sqlalchemy import text

    app = make_app()
    with app.app_context():
        db.drop_all()
        with db.engine.begin() as conn:
            conn.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")
        upgrade(revision="d7e8f9a0b1c2")  # search text was the case-folded name and email
        now = datetime(2026, 1, 1, 10, 0)
        with db.engine.begin() as conn:
            event_id = _add_event(conn, now)
            # More rows than one batch of the migration holds, the umlaut one last.
            names = [f"Person {n}" for n in range(2100)] + ["Jürgen Groß"]
            conn.execute(
                text(
                    "INSERT INTO calendly_event_attendees (event_id, calendly_id, uri, name,"
                    " email, search_text, status, rescheduled, no_show, synced_at)"
                    " VALUES (:e, :c, 'u', :n, 'x@example.de', 'old', 'active', false, false,"
                    " :t)"
                ),
                [{"e": event_id, "c": f"I{n}", "n": nm, "t": now} for n, nm in enumerate(names)],
            )
        upgrade()
        query = text("SELECT search_text FROM calendly_event_attendees ORDER BY id")
        with db.engine.connect() as conn:
            texts = conn.scalars(query).all()
        assert texts[0] == "person 0 x@example.de"
        assert "old" not in texts
        assert texts[-1].split("\n") == [
            "jürgen gross x@example.de",
            "juergen gross x@example.de",
            "jurgen gross x@example.de",
        ]

        downgrade(revision="d7e8f9a0b1c2")
        with db.engine.connect() as conn:
            texts = conn.scalars(query).all()
        assert texts[-1] == "jürgen gross x@example.de"
        assert texts[2000] == "person 2000 x@example.de"
        db.drop_all()
        with db.engine.begin() as conn:
            conn.exec_driver_sql("DROP TABLE alembic_version")


def test_roles_migrate_both_ways(make_app):
    from sqlalchemy import inspect, text

    app = make_app()
    with app.app_context():
        db.drop_all()
        with db.engine.begin() as conn:
            conn.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")
        upgrade(revision="e1a2b3c4d5e6")  # no roles: every account could do everything
        with db.engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO admin_users (email, password_hash, created_at, must_set_login)"
                    " VALUES ('a@example.org', 'h', '2026-01-01 06:00:00', false),"
                    " ('b@example.org', 'h', '2026-01-01 06:00:00', false)"
                )
            )
        upgrade()
        with db.engine.begin() as conn:
            roles = conn.execute(text("SELECT email, role FROM admin_users ORDER BY email")).all()
            assert [tuple(row) for row in roles] == [
                ("a@example.org", "admin"),
                ("b@example.org", "admin"),
            ]
            conn.execute(
                text("UPDATE admin_users SET role = 'viewer' WHERE email = 'b@example.org'")
            )

        downgrade(revision="e1a2b3c4d5e6")
        assert "role" not in {c["name"] for c in inspect(db.engine).get_columns("admin_users")}
        with db.engine.connect() as conn:
            rows = conn.execute(text("SELECT email, disabled_at FROM admin_users ORDER BY email"))
            disabled = {email: when is not None for email, when in rows}
        # A viewer would be an admin without roles: it is disabled instead.
        assert disabled == {"a@example.org": False, "b@example.org": True}
        db.drop_all()
        with db.engine.begin() as conn:
            conn.exec_driver_sql("DROP TABLE alembic_version")


def test_event_hosts_migrate_both_ways(make_app):
    from datetime import datetime

    from sqlalchemy import inspect, text

    app = make_app()
    with app.app_context():
        db.drop_all()
        with db.engine.begin() as conn:
            conn.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")
        upgrade(revision="f2b3c4d5e6a7")
        now = datetime(2026, 1, 1, 6)
        with db.engine.begin() as conn:
            event_id = _add_event(conn, now)
            conn.execute(
                text(
                    "INSERT INTO calendly_event_attendees (event_id, calendly_id, uri, status,"
                    " rescheduled, no_show, synced_at)"
                    " VALUES (:e, 'I1', 'u', 'active', false, false, :t)"
                ),
                {"e": event_id, "t": now},
            )
        upgrade()
        with db.engine.begin() as conn:
            # An existing webinar has no hosts until the next sync brings them.
            assert conn.scalar(text("SELECT hosts FROM calendly_events")) is None
            event_id = conn.scalar(text("SELECT id FROM calendly_events"))
            conn.execute(
                text(
                    "INSERT INTO calendly_event_hosts (event_id, user_uri, name, email)"
                    " VALUES (:e, 'https://api.calendly.com/users/U1', 'Ute', 'ute@example.de')"
                ),
                {"e": event_id},
            )
        downgrade(revision="f2b3c4d5e6a7")
        inspector = inspect(db.engine)
        assert "calendly_event_hosts" not in inspector.get_table_names()
        assert "hosts" not in {c["name"] for c in inspector.get_columns("calendly_events")}
        with db.engine.connect() as conn:
            assert conn.scalar(text("SELECT calendly_id FROM calendly_events")) == "E1"
            # The webinar's attendees survive (a rebuilt table would have cascaded to them).
            assert conn.scalar(text("SELECT calendly_id FROM calendly_event_attendees")) == "I1"
        db.drop_all()
        with db.engine.begin() as conn:
            conn.exec_driver_sql("DROP TABLE alembic_version")


def test_search_index_and_totals_migrate_both_ways(make_app):
    from datetime import datetime

    from sqlalchemy import inspect, text

    from services import queries

    app = make_app()
    with app.app_context():
        db.drop_all()
        with db.engine.begin() as conn:
            conn.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")
        upgrade(revision="a9e1f0c3d2b4")
        now = datetime(2026, 1, 1, 6)
        with db.engine.begin() as conn:
            event_id = _add_event(conn, now)
            conn.execute(text("UPDATE calendly_events SET invitees_total = 7"))
            conn.execute(
                text(
                    "INSERT INTO calendly_event_attendees (event_id, calendly_id, uri, name, email,"
                    " search_text, status, rescheduled, no_show, calendly_created_at, synced_at)"
                    " VALUES (:e, 'I1', 'u', 'Jürgen Groß', 'j@example.de',"
                    " :s, 'active', false, false, :t, :t)"
                ),
                {"e": event_id, "t": now, "s": "jürgen groß j@example.de\njuergen gross j@ex"},
            )
        upgrade()
        # The existing attendee is in the index (a query of three characters or more asks it).
        assert [hit.email for hit in queries.search_people("GROSS").people] == ["j@example.de"]
        assert queries.mirror_totals() == queries.MirrorTotals(webinars=1, attendees=7)
        db.session.commit()
        with db.engine.begin() as conn:
            # The triggers keep the totals from now on.
            conn.execute(text("UPDATE calendly_events SET invitees_total = 9"))
        assert queries.mirror_totals().attendees == 9
        db.session.commit()
        downgrade(revision="a9e1f0c3d2b4")
        inspector = inspect(db.engine)
        tables = set(inspector.get_table_names())
        assert "mirror_totals" not in tables and "attendee_search" not in tables
        indexes = {i["name"] for i in inspector.get_indexes("calendly_event_attendees")}
        assert "ix_attendees_search_trgm" not in indexes
        event_indexes = {i["name"] for i in inspector.get_indexes("calendly_events")}
        assert "ix_calendly_events_start_time" in event_indexes
        with db.engine.begin() as conn:
            # Writes work without the triggers' tables.
            conn.execute(text("UPDATE calendly_events SET invitees_total = 3"))
            conn.execute(text("DELETE FROM calendly_event_attendees"))
        db.drop_all()
        with db.engine.begin() as conn:
            conn.exec_driver_sql("DROP TABLE alembic_version")


def test_the_personal_data_removed_mark_migrates_both_ways_and_keeps_the_triggers(make_app):
    from datetime import datetime

    from sqlalchemy import inspect, text

    from services import queries

    app = make_app()
    with app.app_context():
        db.drop_all()
        with db.engine.begin() as conn:
            conn.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")
        upgrade(revision="pr12a0f1e2d3")
        with db.engine.begin() as conn:
            _add_event(conn, datetime(2026, 1, 1, 6, 0))
        upgrade(revision="ret12b3c4d5e")
        columns = {c["name"] for c in inspect(db.engine).get_columns("calendly_events")}
        assert "personal_data_removed_at" in columns
        with db.engine.begin() as conn:
            # The table was altered, not rebuilt: its totals trigger still counts.
            conn.execute(text("UPDATE calendly_events SET invitees_total = 4"))
            assert conn.scalar(text("SELECT personal_data_removed_at FROM calendly_events")) is None
        assert queries.mirror_totals().attendees == 4
        db.session.commit()
        downgrade(revision="pr12a0f1e2d3")
        columns = {c["name"] for c in inspect(db.engine).get_columns("calendly_events")}
        assert "personal_data_removed_at" not in columns
        with db.engine.begin() as conn:
            conn.execute(text("UPDATE calendly_events SET invitees_total = 2"))
        assert queries.mirror_totals().attendees == 2
        db.session.commit()
        db.drop_all()
        with db.engine.begin() as conn:
            conn.exec_driver_sql("DROP TABLE alembic_version")


def test_person_tombstones_migrate_both_ways(make_app):
    from sqlalchemy import inspect, text

    app = make_app()
    with app.app_context():
        db.drop_all()
        with db.engine.begin() as conn:
            conn.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")
        upgrade(revision="ret12b3c4d5e")
        assert "person_tombstones" not in inspect(db.engine).get_table_names()
        upgrade(revision="er12b3c4d5e6")
        with db.engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO person_tombstones (person_hmac, erased_at)"
                    " VALUES ('ab12', '2026-01-01 06:00:00')"
                )
            )
            assert conn.scalar(text("SELECT count(*) FROM person_tombstones")) == 1
        downgrade(revision="ret12b3c4d5e")
        assert "person_tombstones" not in inspect(db.engine).get_table_names()
        # A restore may have made the table before the upgrade: the upgrade keeps it.
        with db.engine.begin() as conn:
            conn.exec_driver_sql(
                "CREATE TABLE person_tombstones (id INTEGER PRIMARY KEY,"
                " person_hmac VARCHAR(64) NOT NULL UNIQUE, erased_at TIMESTAMP NOT NULL)"
            )
        upgrade(revision="er12b3c4d5e6")
        assert "person_tombstones" in inspect(db.engine).get_table_names()
        db.drop_all()
        with db.engine.begin() as conn:
            conn.exec_driver_sql("DROP TABLE alembic_version")


def test_insights_columns_and_choice_answers_migrate_both_ways(make_app):
    import json
    from datetime import datetime

    from sqlalchemy import inspect, text

    app = make_app()
    with app.app_context():
        db.drop_all()
        with db.engine.begin() as conn:
            conn.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")
        upgrade(revision="er12b3c4d5e6")
        now = datetime(2026, 3, 1, 6)
        questions = [
            {"name": "Quelle?", "type": "multi_select", "position": 0, "enabled": True,
             "answer_choices": ["Google", "Messe"], "include_other": True},
            {"name": "Fragen?", "type": "text", "position": 1, "enabled": True},
        ]  # fmt: skip
        answers = [
            {"question": "Quelle?", "answer": "Google\nMesse\nTante", "position": 0},
            {"question": "Fragen?", "answer": "Wie lange dauert es?", "position": 1},
        ]
        with db.engine.begin() as conn:
            conn.execute(
                text("INSERT INTO settings (key, value, updated_at) VALUES (:k, :v, :t)"),
                {"k": "display_timezone", "v": json.dumps("Europe/Berlin"), "t": now},
            )
            conn.execute(
                text(
                    "INSERT INTO calendly_event_types (uri, custom_questions, listed, cached_at)"
                    " VALUES ('T1', :q, true, :t)"
                ),
                {"q": json.dumps(questions), "t": now},
            )
            conn.execute(
                text(
                    "INSERT INTO calendly_events (calendly_id, uri, status, start_time, end_time,"
                    " event_type_uri, invitees_active, invitees_total, missing_upstream,"
                    " synced_at) VALUES ('E1', 'u', 'active', :s, :s, 'T1', 1, 1, false, :t)"
                ),
                {"s": datetime(2026, 2, 28, 23, 30), "t": now},
            )
            event_id = conn.scalar(text("SELECT id FROM calendly_events"))
            conn.execute(
                text(
                    "INSERT INTO calendly_event_attendees (event_id, calendly_id, uri, status,"
                    " questions_and_answers, rescheduled, no_show, synced_at)"
                    " VALUES (:e, 'I1', 'u', 'active', :qa, false, false, :t)"
                ),
                {"e": event_id, "qa": json.dumps(answers), "t": now},
            )
        upgrade()
        with db.engine.connect() as conn:
            # 23:30 UTC on 28 February is a Sunday, 00:30 on 1 March, in Berlin.
            local = conn.execute(
                text(
                    "SELECT local_date, local_week, local_weekday, local_hour FROM calendly_events"
                )
            ).one()
            assert tuple(local) == ("2026-03-01", "2026-02-23", 6, 0)
            chosen = conn.scalars(text("SELECT answer FROM choice_answers ORDER BY id")).all()
            assert chosen == ["Google", "Messe", ""]  # the free "Tante" is kept as Other only
        downgrade(revision="er12b3c4d5e6")
        inspector = inspect(db.engine)
        assert "choice_answers" not in inspector.get_table_names()
        assert "local_date" not in {c["name"] for c in inspector.get_columns("calendly_events")}
        with db.engine.connect() as conn:
            assert conn.scalar(text("SELECT calendly_id FROM calendly_event_attendees")) == "I1"
        db.drop_all()
        with db.engine.begin() as conn:
            conn.exec_driver_sql("DROP TABLE alembic_version")
