"""tombstones of erased people

Revision ID: er12b3c4d5e6
Revises: ret12b3c4d5e
Create Date: 2026-11-28 03:30:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'er12b3c4d5e6'
down_revision = 'ret12b3c4d5e'
branch_labels = None
depends_on = None


def upgrade():
    # A restore into an older schema creates the table before `flask db upgrade` runs
    # (services/backups.py carries the tombstones over): then it is there already.
    if sa.inspect(op.get_bind()).has_table('person_tombstones'):
        return
    op.create_table(
        'person_tombstones',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('person_hmac', sa.String(length=64), nullable=False),
        sa.Column('erased_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_person_tombstones')),
        sa.UniqueConstraint('person_hmac', name=op.f('uq_person_tombstones_person_hmac')),
    )


def downgrade():
    op.drop_table('person_tombstones')
