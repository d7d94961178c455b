"""volume backups and transfers (Cinder) tables

Revision ID: 0013_volume_backups
Revises: 0012_volume_cinder
Create Date: 2026-12-03 06:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0013_volume_backups'
down_revision = '0012_volume_cinder'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('cinder_backups',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('project_id', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.String(length=64), nullable=True),
    sa.Column('volume_id', sa.String(length=36), nullable=False),
    sa.Column('snapshot_id', sa.String(length=36), nullable=True),
    sa.Column('name', sa.String(length=255), nullable=True),
    sa.Column('description', sa.String(length=255), nullable=True),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=32), nullable=False),
    sa.Column('fail_reason', sa.String(length=255), nullable=True),
    sa.Column('availability_zone', sa.String(length=255), nullable=False),
    sa.Column('host', sa.String(length=255), nullable=True),
    sa.Column('container', sa.String(length=255), nullable=True),
    sa.Column('is_incremental', sa.Boolean(), nullable=False),
    sa.Column('parent_id', sa.String(length=36), nullable=True),
    sa.Column('object_count', sa.Integer(), nullable=False),
    sa.Column('metadata', sa.JSON(), nullable=False),
    sa.Column('restore_volume_id', sa.String(length=36), nullable=True),
    sa.Column('volume_meta', sa.JSON(), nullable=True),
    sa.Column('task', sa.String(length=32), nullable=True),
    sa.Column('task_deadline', sa.DateTime(), nullable=True),
    sa.Column('data_timestamp', sa.DateTime(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cinder_backups'))
    )
    with op.batch_alter_table('cinder_backups', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_cinder_backups_project_id'), ['project_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_cinder_backups_volume_id'), ['volume_id'], unique=False)
    op.create_table('cinder_transfers',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('volume_id', sa.String(length=36), nullable=False),
    sa.Column('project_id', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=True),
    sa.Column('salt', sa.String(length=64), nullable=False),
    sa.Column('crypt_hash', sa.String(length=128), nullable=False),
    sa.Column('no_snapshots', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cinder_transfers')),
    sa.UniqueConstraint('volume_id', name=op.f('uq_cinder_transfers_volume_id'))
    )
    with op.batch_alter_table('cinder_transfers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_cinder_transfers_project_id'), ['project_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('cinder_transfers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_cinder_transfers_project_id'))
    op.drop_table('cinder_transfers')
    with op.batch_alter_table('cinder_backups', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_cinder_backups_volume_id'))
        batch_op.drop_index(batch_op.f('ix_cinder_backups_project_id'))
    op.drop_table('cinder_backups')
