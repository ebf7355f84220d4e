"""outcomes as data: sync runs and webhook deliveries record a code with parameters; a scheduled
run's tick gets its own column

Revision ID: c4d1e2f3a5b6
Revises: b3166ae10308
Create Date: 2026-11-27 18:30:00

"""
from datetime import UTC, datetime

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'c4d1e2f3a5b6'
down_revision = 'b3166ae10308'
branch_labels = None
depends_on = None

# What the scheduler wrote into `error` before skip reasons were codes.
SKIP_TEXTS = {
    "another process ran this scheduled sync": "ran_elsewhere",
    "another sync was running": "sync_running",
    "Calendly is not connected": "not_connected",
    "this process was still running the previous scheduled sync": "still_running",
    "this process was too busy to start it in time": "missed",
    "this process was too busy; merged into the next scheduled sync": "coalesced",
}
INTERRUPTED_TEXT = "Interrupted before it finished."

runs = sa.table(
    "sync_runs",
    sa.column("id", sa.Integer),
    sa.column("status", sa.String),
    sa.column("error", sa.Text),
    sa.column("owner", sa.String),
    sa.column("outcome", sa.String),
    sa.column("outcome_params", sa.JSON),
    sa.column("tick", sa.DateTime),
)
deliveries = sa.table(
    "webhook_deliveries",
    sa.column("id", sa.Integer),
    sa.column("detail", sa.Text),
    sa.column("reason", sa.String),
    sa.column("reason_params", sa.JSON),
)


def upgrade():
    with op.batch_alter_table('sync_runs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('outcome', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('outcome_params', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('tick', sa.DateTime(), nullable=True))
        batch_op.create_index(batch_op.f('ix_sync_runs_tick'), ['tick'], unique=False)
    with op.batch_alter_table('webhook_deliveries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reason', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('reason_params', sa.JSON(), nullable=True))

    conn = op.get_bind()
    for row in conn.execute(sa.select(runs.c.id, runs.c.status, runs.c.error, runs.c.owner)).all():
        values = {}
        owner, _, tick = (row.owner or "").partition("@")
        if tick:
            values["owner"] = owner
            try:
                values["tick"] = datetime.fromisoformat(tick).astimezone(UTC).replace(tzinfo=None)
            except ValueError:
                pass
        if row.error:
            if row.status == "skipped":
                code = SKIP_TEXTS.get(row.error, "legacy")
            else:
                code = "interrupted" if row.error == INTERRUPTED_TEXT else "legacy"
            values["outcome"] = code
            values["outcome_params"] = {"text": row.error} if code == "legacy" else {}
        if values:
            conn.execute(runs.update().where(runs.c.id == row.id).values(**values))
    for row in conn.execute(sa.select(deliveries.c.id, deliveries.c.detail)).all():
        if row.detail:
            conn.execute(
                deliveries.update()
                .where(deliveries.c.id == row.id)
                .values(reason="legacy", reason_params={"text": row.detail})
            )

    with op.batch_alter_table('sync_runs', schema=None) as batch_op:
        batch_op.drop_column('error')
    with op.batch_alter_table('webhook_deliveries', schema=None) as batch_op:
        batch_op.drop_column('detail')


def downgrade():
    with op.batch_alter_table('webhook_deliveries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('detail', sa.Text(), nullable=True))
    with op.batch_alter_table('sync_runs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('error', sa.Text(), nullable=True))

    # The codes go back as their names (the sentences they were made from are gone).
    conn = op.get_bind()
    texts = {code: text for text, code in SKIP_TEXTS.items()}
    texts["interrupted"] = INTERRUPTED_TEXT
    for row in conn.execute(
        sa.select(runs.c.id, runs.c.outcome, runs.c.outcome_params, runs.c.owner, runs.c.tick)
    ).all():
        values = {}
        if row.outcome:
            params = row.outcome_params or {}
            values["error"] = params.get("text") or texts.get(row.outcome) or row.outcome
        if row.tick is not None and row.owner:
            values["owner"] = f"{row.owner}@{row.tick.replace(tzinfo=UTC).isoformat()}"
        if values:
            conn.execute(runs.update().where(runs.c.id == row.id).values(**values))
    for row in conn.execute(
        sa.select(deliveries.c.id, deliveries.c.reason, deliveries.c.reason_params)
    ).all():
        if row.reason:
            text = (row.reason_params or {}).get("text") or row.reason
            conn.execute(deliveries.update().where(deliveries.c.id == row.id).values(detail=text))

    with op.batch_alter_table('webhook_deliveries', schema=None) as batch_op:
        batch_op.drop_column('reason_params')
        batch_op.drop_column('reason')
    with op.batch_alter_table('sync_runs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sync_runs_tick'))
        batch_op.drop_column('tick')
        batch_op.drop_column('outcome_params')
        batch_op.drop_column('outcome')
