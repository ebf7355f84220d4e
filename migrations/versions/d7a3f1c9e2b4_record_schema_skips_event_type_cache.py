"""one schema for Calendly records: a sync run counts and names the records it skipped; event
types are cached with their booking questions

Revision ID: d7a3f1c9e2b4
Revises: c4d1e2f3a5b6
Create Date: 2026-11-28 10:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'd7a3f1c9e2b4'
down_revision = 'c4d1e2f3a5b6'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'calendly_event_types',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('uri', sa.String(length=255), nullable=False),
        sa.Column('name', sa.String(length=255), nullable=True),
        sa.Column('active', sa.Boolean(), nullable=True),
        sa.Column('kind', sa.String(length=32), nullable=True),
        sa.Column('pooling_type', sa.String(length=32), nullable=True),
        sa.Column('owner', sa.String(length=255), nullable=True),
        sa.Column('custom_questions', sa.JSON(), nullable=True),
        sa.Column('listed', sa.Boolean(), server_default='1', nullable=False),
        sa.Column('cached_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_calendly_event_types')),
        sa.UniqueConstraint('uri', name=op.f('uq_calendly_event_types_uri')),
    )
    with op.batch_alter_table('sync_runs', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('records_skipped', sa.Integer(), server_default='0', nullable=False)
        )
        batch_op.add_column(sa.Column('skipped_records', sa.JSON(), nullable=True))


def downgrade():
    with op.batch_alter_table('sync_runs', schema=None) as batch_op:
        batch_op.drop_column('skipped_records')
        batch_op.drop_column('records_skipped')
    op.drop_table('calendly_event_types')
