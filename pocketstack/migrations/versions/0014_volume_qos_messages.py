"""volume QoS specs, user messages, quota classes, encryption types, imported backup data,
groups, group types and group snapshots (Cinder) tables

Revision ID: 0014_volume_qos_messages
Revises: 0013_volume_backups
Create Date: 2026-12-03 08:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0014_volume_qos_messages'
down_revision = '0013_volume_backups'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('cinder_qos_specs',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('consumer', sa.String(length=16), nullable=False),
    sa.Column('specs', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cinder_qos_specs')),
    sa.UniqueConstraint('name', name=op.f('uq_cinder_qos_specs_name'))
    )
    op.create_table('cinder_qos_associations',
    sa.Column('volume_type_id', sa.String(length=36), nullable=False),
    sa.Column('qos_specs_id', sa.String(length=36), nullable=False),
    sa.ForeignKeyConstraint(['qos_specs_id'], ['cinder_qos_specs.id'],
                            name=op.f('fk_cinder_qos_associations_qos_specs_id_cinder_qos_specs')),
    sa.ForeignKeyConstraint(['volume_type_id'], ['cinder_volume_types.id'],
                            name=op.f('fk_cinder_qos_associations_volume_type_id_cinder_volume_types'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('volume_type_id', name=op.f('pk_cinder_qos_associations'))
    )
    with op.batch_alter_table('cinder_qos_associations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_cinder_qos_associations_qos_specs_id'),
                              ['qos_specs_id'], unique=False)
    op.create_table('cinder_messages',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('project_id', sa.String(length=64), nullable=False),
    sa.Column('request_id', sa.String(length=255), nullable=False),
    sa.Column('resource_type', sa.String(length=36), nullable=False),
    sa.Column('resource_uuid', sa.String(length=36), nullable=True),
    sa.Column('action_id', sa.String(length=10), nullable=False),
    sa.Column('detail_id', sa.String(length=10), nullable=False),
    sa.Column('message_level', sa.String(length=255), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cinder_messages'))
    )
    with op.batch_alter_table('cinder_messages', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_cinder_messages_project_id'), ['project_id'],
                              unique=False)
    op.create_table('cinder_quota_classes',
    sa.Column('class_name', sa.String(length=255), nullable=False),
    sa.Column('resource', sa.String(length=300), nullable=False),
    sa.Column('hard_limit', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('class_name', 'resource', name=op.f('pk_cinder_quota_classes'))
    )
    op.create_table('cinder_encryption_types',
    sa.Column('volume_type_id', sa.String(length=36), nullable=False),
    sa.Column('encryption_id', sa.String(length=36), nullable=False),
    sa.Column('provider', sa.String(length=255), nullable=False),
    sa.Column('cipher', sa.String(length=255), nullable=True),
    sa.Column('key_size', sa.Integer(), nullable=True),
    sa.Column('control_location', sa.String(length=255), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['volume_type_id'], ['cinder_volume_types.id'],
                            name=op.f('fk_cinder_encryption_types_volume_type_id_cinder_volume_types'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('volume_type_id', name=op.f('pk_cinder_encryption_types')),
    sa.UniqueConstraint('encryption_id', name=op.f('uq_cinder_encryption_types_encryption_id'))
    )
    op.create_table('cinder_backup_data',
    sa.Column('backup_id', sa.String(length=36), nullable=False),
    sa.Column('data_id', sa.String(length=36), nullable=False),
    sa.PrimaryKeyConstraint('backup_id', name=op.f('pk_cinder_backup_data'))
    )
    with op.batch_alter_table('cinder_backup_data', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_cinder_backup_data_data_id'), ['data_id'],
                              unique=False)

    op.create_table('cinder_group_types',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('description', sa.String(length=255), nullable=True),
    sa.Column('is_public', sa.Boolean(), nullable=False),
    sa.Column('group_specs', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cinder_group_types')),
    sa.UniqueConstraint('name', name=op.f('uq_cinder_group_types_name'))
    )
    op.create_table('cinder_groups',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('project_id', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.String(length=64), nullable=True),
    sa.Column('name', sa.String(length=255), nullable=True),
    sa.Column('description', sa.String(length=255), nullable=True),
    sa.Column('status', sa.String(length=32), nullable=False),
    sa.Column('availability_zone', sa.String(length=255), nullable=False),
    sa.Column('group_type_id', sa.String(length=36), nullable=False),
    sa.Column('volume_type_ids', sa.JSON(), nullable=False),
    sa.Column('group_snapshot_id', sa.String(length=36), nullable=True),
    sa.Column('source_group_id', sa.String(length=36), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['group_type_id'], ['cinder_group_types.id'],
                            name=op.f('fk_cinder_groups_group_type_id_cinder_group_types')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cinder_groups'))
    )
    with op.batch_alter_table('cinder_groups', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_cinder_groups_project_id'), ['project_id'],
                              unique=False)
    op.create_table('cinder_group_volumes',
    sa.Column('volume_id', sa.String(length=36), nullable=False),
    sa.Column('group_id', sa.String(length=36), nullable=False),
    sa.ForeignKeyConstraint(['group_id'], ['cinder_groups.id'],
                            name=op.f('fk_cinder_group_volumes_group_id_cinder_groups')),
    sa.ForeignKeyConstraint(['volume_id'], ['cinder_volumes.id'],
                            name=op.f('fk_cinder_group_volumes_volume_id_cinder_volumes'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('volume_id', name=op.f('pk_cinder_group_volumes'))
    )
    with op.batch_alter_table('cinder_group_volumes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_cinder_group_volumes_group_id'), ['group_id'],
                              unique=False)
    op.create_table('cinder_group_snapshots',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('project_id', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.String(length=64), nullable=True),
    sa.Column('group_id', sa.String(length=36), nullable=False),
    sa.Column('group_type_id', sa.String(length=36), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=True),
    sa.Column('description', sa.String(length=255), nullable=True),
    sa.Column('status', sa.String(length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['group_id'], ['cinder_groups.id'],
                            name=op.f('fk_cinder_group_snapshots_group_id_cinder_groups')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cinder_group_snapshots'))
    )
    with op.batch_alter_table('cinder_group_snapshots', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_cinder_group_snapshots_group_id'), ['group_id'],
                              unique=False)
        batch_op.create_index(batch_op.f('ix_cinder_group_snapshots_project_id'),
                              ['project_id'], unique=False)
    op.create_table('cinder_gsnap_members',
    sa.Column('snapshot_id', sa.String(length=36), nullable=False),
    sa.Column('gsnap_id', sa.String(length=36), nullable=False),
    sa.ForeignKeyConstraint(['gsnap_id'], ['cinder_group_snapshots.id'],
                            name=op.f('fk_cinder_gsnap_members_gsnap_id_cinder_group_snapshots')),
    sa.ForeignKeyConstraint(['snapshot_id'], ['cinder_snapshots.id'],
                            name=op.f('fk_cinder_gsnap_members_snapshot_id_cinder_snapshots'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('snapshot_id', name=op.f('pk_cinder_gsnap_members'))
    )
    with op.batch_alter_table('cinder_gsnap_members', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_cinder_gsnap_members_gsnap_id'), ['gsnap_id'],
                              unique=False)


def downgrade() -> None:
    op.drop_table('cinder_gsnap_members')
    op.drop_table('cinder_group_snapshots')
    op.drop_table('cinder_group_volumes')
    op.drop_table('cinder_groups')
    op.drop_table('cinder_group_types')
    with op.batch_alter_table('cinder_backup_data', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_cinder_backup_data_data_id'))
    op.drop_table('cinder_backup_data')
    op.drop_table('cinder_encryption_types')
    op.drop_table('cinder_quota_classes')
    with op.batch_alter_table('cinder_messages', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_cinder_messages_project_id'))
    op.drop_table('cinder_messages')
    with op.batch_alter_table('cinder_qos_associations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_cinder_qos_associations_qos_specs_id'))
    op.drop_table('cinder_qos_associations')
    op.drop_table('cinder_qos_specs')
