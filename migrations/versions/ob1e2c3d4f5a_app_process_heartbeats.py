"""app processes write a heartbeat row each minute (a restore with --force checks them)

Revision ID: ob1e2c3d4f5a
Revises: opsa1e7c9d20
Create Date: 2026-11-28 00:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'ob1e2c3d4f5a'
down_revision = 'opsa1e7c9d20'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'app_processes',
        sa.Column('owner', sa.String(length=128), nullable=False),
        sa.Column('host', sa.String(length=255), nullable=False),
        sa.Column('pid', sa.Integer(), nullable=False),
        sa.Column('started_at', sa.DateTime(), nullable=False),
        sa.Column('last_seen', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('owner', name=op.f('pk_app_processes')),
    )


def downgrade():
    op.drop_table('app_processes')
