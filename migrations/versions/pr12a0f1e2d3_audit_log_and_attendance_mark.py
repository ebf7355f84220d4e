"""audit log entries; a webinar's attendance-recorded mark

Revision ID: pr12a0f1e2d3
Revises: sea13a1b2c3d
Create Date: 2026-11-28 03:20:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'pr12a0f1e2d3'
down_revision = 'sea13a1b2c3d'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'audit_entries',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('at', sa.DateTime(), nullable=False),
        sa.Column('actor_id', sa.Integer(), nullable=True),
        sa.Column('actor_email', sa.String(length=255), nullable=True),
        sa.Column('action', sa.String(length=32), nullable=False),
        sa.Column('params', sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(['actor_id'], ['admin_users.id'],
                                name=op.f('fk_audit_entries_actor_id_admin_users'),
                                ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_entries')),
    )
    op.create_index(op.f('ix_audit_entries_at'), 'audit_entries', ['at'])
    op.create_index(op.f('ix_audit_entries_actor_id'), 'audit_entries', ['actor_id'])
    op.create_index(op.f('ix_audit_entries_action'), 'audit_entries', ['action'])
    with op.batch_alter_table('calendly_events', recreate='never') as batch_op:
        batch_op.add_column(sa.Column('attendance_recorded_at', sa.DateTime(), nullable=True))


def downgrade():
    with op.batch_alter_table('calendly_events', recreate='never') as batch_op:
        batch_op.drop_column('attendance_recorded_at')
    op.drop_index(op.f('ix_audit_entries_action'), table_name='audit_entries')
    op.drop_index(op.f('ix_audit_entries_actor_id'), table_name='audit_entries')
    op.drop_index(op.f('ix_audit_entries_at'), table_name='audit_entries')
    op.drop_table('audit_entries')
