"""compute: quota classes and migration records

Revision ID: 0008_compute_apis
Revises: 0007_unified_limits
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0008_compute_apis'
down_revision = '0007_unified_limits'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'compute_quota_classes',
        sa.Column('class_name', sa.String(length=255), nullable=False),
        sa.Column('resource', sa.String(length=64), nullable=False),
        sa.Column('hard_limit', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('class_name', 'resource', name=op.f('pk_compute_quota_classes')),
    )
    op.create_table(
        'compute_migrations',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('uuid', sa.String(length=36), nullable=False),
        sa.Column('instance_uuid', sa.String(length=36), nullable=False),
        sa.Column('action_id', sa.Integer(), nullable=False),
        sa.Column('migration_type', sa.String(length=16), nullable=False),
        sa.Column('source_compute', sa.String(length=255), nullable=True),
        sa.Column('source_node', sa.String(length=255), nullable=True),
        sa.Column('old_instance_type_id', sa.Integer(), nullable=True),
        sa.Column('new_instance_type_id', sa.Integer(), nullable=True),
        sa.Column('sched_mark', sa.Integer(), nullable=False),
        sa.Column('project_id', sa.String(length=64), nullable=False),
        sa.Column('user_id', sa.String(length=64), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ['action_id'], ['compute_instance_actions.id'],
            name=op.f('fk_compute_migrations_action_id_compute_instance_actions'),
            ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_compute_migrations')),
        sa.UniqueConstraint('uuid', name=op.f('uq_compute_migrations_uuid')),
    )
    op.create_index(op.f('ix_compute_migrations_instance_uuid'), 'compute_migrations',
                    ['instance_uuid'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_compute_migrations_instance_uuid'), table_name='compute_migrations')
    op.drop_table('compute_migrations')
    op.drop_table('compute_quota_classes')
