"""webinars know their hosts (Calendly's event_memberships), kept per event for the host filter

Revision ID: a9e1f0c3d2b4
Revises: f2b3c4d5e6a7
Create Date: 2026-11-27 22:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'a9e1f0c3d2b4'
down_revision = 'f2b3c4d5e6a7'
branch_labels = None
depends_on = None


def upgrade():
    # Existing webinars get their hosts at the next sync, which sees them as changed.
    with op.batch_alter_table('calendly_events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('hosts', sa.JSON(), nullable=True))
    op.create_table(
        'calendly_event_hosts',
        sa.Column('event_id', sa.Integer(), nullable=False),
        sa.Column('user_uri', sa.String(length=255), nullable=False),
        sa.Column('name', sa.String(length=255), nullable=True),
        sa.Column('email', sa.String(length=255), nullable=True),
        sa.ForeignKeyConstraint(
            ['event_id'], ['calendly_events.id'],
            name=op.f('fk_calendly_event_hosts_event_id_calendly_events'), ondelete='CASCADE',
        ),
        sa.PrimaryKeyConstraint('event_id', 'user_uri', name=op.f('pk_calendly_event_hosts')),
    )
    with op.batch_alter_table('calendly_event_hosts', schema=None) as batch_op:
        batch_op.create_index('ix_event_hosts_user_uri', ['user_uri', 'event_id'], unique=False)


def downgrade():
    with op.batch_alter_table('calendly_event_hosts', schema=None) as batch_op:
        batch_op.drop_index('ix_event_hosts_user_uri')
    op.drop_table('calendly_event_hosts')
    # Never rebuilt: on SQLite a rebuild drops the table, and with it (foreign keys on) every
    # attendee. ALTER TABLE ... DROP COLUMN works on both databases.
    with op.batch_alter_table('calendly_events', schema=None, recreate='never') as batch_op:
        batch_op.drop_column('hosts')
