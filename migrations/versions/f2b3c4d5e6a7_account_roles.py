"""accounts have a role: admin (everything) or viewer (reads webinars and attendee lists)

Revision ID: f2b3c4d5e6a7
Revises: e1a2b3c4d5e6
Create Date: 2026-11-27 21:00:00

"""
from alembic import op
import sqlalchemy as sa

from store import clock


# revision identifiers, used by Alembic.
revision = 'f2b3c4d5e6a7'
down_revision = 'e1a2b3c4d5e6'
branch_labels = None
depends_on = None


def upgrade():
    # Every account so far could do everything: they stay admins.
    with op.batch_alter_table('admin_users', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('role', sa.String(length=16), server_default='admin', nullable=False)
        )


def downgrade():
    # Without roles every account is an admin: viewers would gain rights, so they are
    # disabled (their sessions end with it: a disabled account's session is refused).
    admin_users = sa.table(
        "admin_users",
        sa.column("role", sa.String),
        sa.column("disabled_at", sa.DateTime),
    )
    op.execute(
        admin_users.update()
        .where(admin_users.c.role != "admin", admin_users.c.disabled_at.is_(None))
        .values(disabled_at=clock.now().replace(tzinfo=None))  # naive UTC, as stored
    )
    with op.batch_alter_table('admin_users', schema=None) as batch_op:
        batch_op.drop_column('role')
