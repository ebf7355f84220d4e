"""incidents the admins are emailed about, and each account's language

Revision ID: opsa1e7c9d20
Revises: a9e1f0c3d2b4
Create Date: 2026-11-28 00:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'opsa1e7c9d20'
down_revision = 'a9e1f0c3d2b4'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'incidents',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=32), nullable=False),
        sa.Column('open_kind', sa.String(length=32), nullable=True),
        sa.Column('params', sa.JSON(), nullable=True),
        sa.Column('started_at', sa.DateTime(), nullable=False),
        sa.Column('ended_at', sa.DateTime(), nullable=True),
        sa.Column('start_notified_at', sa.DateTime(), nullable=True),
        sa.Column('end_notified_at', sa.DateTime(), nullable=True),
        sa.Column('notice_claimed_by', sa.String(length=128), nullable=True),
        sa.Column('notice_claimed_until', sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_incidents')),
        sa.UniqueConstraint('open_kind', name=op.f('uq_incidents_open_kind')),
    )
    with op.batch_alter_table('incidents', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_incidents_started_at'), ['started_at'], unique=False)
    # NULL: the account has not chosen; its alert emails are German (the default).
    with op.batch_alter_table('admin_users', schema=None, recreate='never') as batch_op:
        batch_op.add_column(sa.Column('language', sa.String(length=8), nullable=True))


def downgrade():
    # Never rebuilt: on SQLite a rebuild drops the table, and with it (foreign keys on) every
    # session and recovery code. ALTER TABLE ... DROP COLUMN works on both databases.
    with op.batch_alter_table('admin_users', schema=None, recreate='never') as batch_op:
        batch_op.drop_column('language')
    with op.batch_alter_table('incidents', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_incidents_started_at'))
    op.drop_table('incidents')
