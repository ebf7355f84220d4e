"""a webinar's personal-data-removed mark (the retention purge)

Revision ID: ret12b3c4d5e
Revises: pr12a0f1e2d3
Create Date: 2026-11-28 03:40:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'ret12b3c4d5e'
down_revision = 'pr12a0f1e2d3'
branch_labels = None
depends_on = None


def upgrade():
    # recreate='never': rebuilding the table on SQLite would lose its triggers.
    with op.batch_alter_table('calendly_events', recreate='never') as batch_op:
        batch_op.add_column(sa.Column('personal_data_removed_at', sa.DateTime(), nullable=True))


def downgrade():
    with op.batch_alter_table('calendly_events', recreate='never') as batch_op:
        batch_op.drop_column('personal_data_removed_at')
