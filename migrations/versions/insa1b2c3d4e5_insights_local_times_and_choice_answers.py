"""insights: each webinar's local start (date, week, weekday, hour); choice answers

Revision ID: insa1b2c3d4e5
Revises: er12b3c4d5e6
Create Date: 2026-11-28 03:40:00

"""
import json
import os

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'insa1b2c3d4e5'
down_revision = 'er12b3c4d5e6'
branch_labels = None
depends_on = None

BATCH = 5000


def _zone(conn) -> str:
    """The admin's time zone as the app would read it (stored setting, else the config)."""
    from zoneinfo import ZoneInfo

    stored = conn.execute(
        sa.text("SELECT value FROM settings WHERE key = 'display_timezone'")
    ).scalar()
    if isinstance(stored, str):
        try:
            stored = json.loads(stored)
        except ValueError:
            pass
    for name in (stored, os.environ.get("DISPLAY_TIMEZONE"), "Europe/Berlin"):
        try:
            ZoneInfo(name)
            return name
        except Exception:
            continue
    return "UTC"


def _json(value):
    return json.loads(value) if isinstance(value, str) else value


def _backfill(conn) -> None:
    from datetime import datetime

    from store.choices import answer_rows, choice_questions
    from store.models import local_time_fields

    zone = _zone(conn)
    events = conn.execute(sa.text("SELECT id, start_time FROM calendly_events")).all()
    update = sa.text(
        "UPDATE calendly_events SET local_date = :local_date, local_week = :local_week,"
        " local_weekday = :local_weekday, local_hour = :local_hour WHERE id = :id"
    )
    params = []
    for event_id, start in events:
        if isinstance(start, str):
            start = datetime.fromisoformat(start)
        params.append(dict(local_time_fields(start, zone), id=event_id))
        if len(params) >= BATCH:
            conn.execute(update, params)
            params = []
    if params:
        conn.execute(update, params)

    types = {
        uri: choice_questions(_json(questions))
        for uri, questions in conn.execute(
            sa.text("SELECT uri, custom_questions FROM calendly_event_types")
        )
    }
    if not any(types.values()):
        return
    insert = sa.text(
        "INSERT INTO choice_answers (event_id, attendee_id, question_key, answer)"
        " VALUES (:event_id, :attendee_id, :question_key, :answer)"
    )
    found = conn.execute(
        sa.text(
            "SELECT a.id, a.event_id, a.questions_and_answers, e.event_type_uri"
            " FROM calendly_event_attendees a JOIN calendly_events e ON e.id = a.event_id"
            " WHERE NOT a.rescheduled"
        )
    )
    rows = []
    for attendee_id, event_id, answers, type_uri in found:
        questions = types.get(type_uri)
        if questions:
            rows.extend(answer_rows(questions, _json(answers), event_id, attendee_id))
    for start in range(0, len(rows), BATCH):
        conn.execute(insert, rows[start : start + BATCH])


def upgrade():
    with op.batch_alter_table('calendly_events', recreate='never') as batch_op:
        batch_op.add_column(sa.Column('local_date', sa.String(length=10), nullable=True))
        batch_op.add_column(sa.Column('local_week', sa.String(length=10), nullable=True))
        batch_op.add_column(sa.Column('local_weekday', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('local_hour', sa.Integer(), nullable=True))
    op.create_index('ix_events_local_date', 'calendly_events', ['local_date'])
    op.create_index(
        'ix_events_type_local_date', 'calendly_events', ['event_type_uri', 'local_date']
    )
    op.create_table(
        'choice_answers',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('event_id', sa.Integer(), nullable=False),
        sa.Column('attendee_id', sa.Integer(), nullable=False),
        sa.Column('question_key', sa.String(length=32), nullable=False),
        sa.Column('answer', sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(['event_id'], ['calendly_events.id'],
                                name=op.f('fk_choice_answers_event_id_calendly_events'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['attendee_id'], ['calendly_event_attendees.id'],
                                name=op.f('fk_choice_answers_attendee_id_calendly_event_attendees'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_choice_answers')),
    )
    op.create_index(
        'ix_choice_answers_event_key_answer', 'choice_answers',
        ['event_id', 'question_key', 'answer'],
    )
    op.create_index(
        'ix_attendees_event_insights', 'calendly_event_attendees',
        ['event_id', 'status', 'no_show', 'rescheduled', 'calendly_created_at'],
    )
    op.create_index(op.f('ix_choice_answers_attendee_id'), 'choice_answers', ['attendee_id'])
    _backfill(op.get_bind())


def downgrade():
    op.drop_index(op.f('ix_choice_answers_attendee_id'), table_name='choice_answers')
    op.drop_index('ix_attendees_event_insights', table_name='calendly_event_attendees')
    op.drop_index('ix_choice_answers_event_key_answer', table_name='choice_answers')
    op.drop_table('choice_answers')
    op.drop_index('ix_events_type_local_date', table_name='calendly_events')
    op.drop_index('ix_events_local_date', table_name='calendly_events')
    with op.batch_alter_table('calendly_events', recreate='never') as batch_op:
        batch_op.drop_column('local_hour')
        batch_op.drop_column('local_weekday')
        batch_op.drop_column('local_week')
        batch_op.drop_column('local_date')
