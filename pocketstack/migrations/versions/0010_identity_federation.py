"""identity OS-FEDERATION: identity providers, remote ids, protocols, mappings, service
providers, federated (shadow) users

Revision ID: 0010_identity_federation
Revises: 0009_image_metadefs
Create Date: 2026-12-03 01:13:49.435098
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0010_identity_federation'
down_revision = '0009_image_metadefs'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('identity_federation_mappings',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('rules', sa.JSON(), nullable=False),
    sa.Column('schema_version', sa.String(length=5), nullable=False),
    sa.Column('generation', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_identity_federation_mappings'))
    )
    op.create_table('identity_federation_sps',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('auth_url', sa.String(length=256), nullable=False),
    sa.Column('sp_url', sa.String(length=256), nullable=False),
    sa.Column('relay_state_prefix', sa.String(length=256), nullable=False),
    sa.Column('generation', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_identity_federation_sps'))
    )
    op.create_table('identity_federation_idps',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('domain_id', sa.String(length=64), nullable=False),
    sa.Column('authorization_ttl', sa.Integer(), nullable=True),
    sa.Column('generation', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['domain_id'], ['identity_domains.id'], name=op.f('fk_identity_federation_idps_domain_id_identity_domains'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_identity_federation_idps'))
    )
    with op.batch_alter_table('identity_federation_idps', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_identity_federation_idps_domain_id'), ['domain_id'], unique=False)

    op.create_table('identity_federated_users',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('user_id', sa.String(length=64), nullable=False),
    sa.Column('idp_id', sa.String(length=64), nullable=False),
    sa.Column('protocol_id', sa.String(length=64), nullable=False),
    sa.Column('unique_id', sa.String(length=255), nullable=False),
    sa.Column('display_name', sa.String(length=255), nullable=True),
    sa.ForeignKeyConstraint(['idp_id'], ['identity_federation_idps.id'], name=op.f('fk_identity_federated_users_idp_id_identity_federation_idps'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['identity_users.id'], name=op.f('fk_identity_federated_users_user_id_identity_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_identity_federated_users')),
    sa.UniqueConstraint('idp_id', 'protocol_id', 'unique_id', name=op.f('uq_identity_federated_users_idp_id_protocol_id_unique_id'))
    )
    with op.batch_alter_table('identity_federated_users', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_identity_federated_users_user_id'), ['user_id'], unique=False)

    op.create_table('identity_federation_protocols',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('idp_id', sa.String(length=64), nullable=False),
    sa.Column('mapping_id', sa.String(length=64), nullable=False),
    sa.Column('remote_id_attribute', sa.String(length=64), nullable=True),
    sa.Column('generation', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['idp_id'], ['identity_federation_idps.id'], name=op.f('fk_identity_federation_protocols_idp_id_identity_federation_idps'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', 'idp_id', name=op.f('pk_identity_federation_protocols'))
    )
    op.create_table('identity_federation_remote_ids',
    sa.Column('remote_id', sa.String(length=255), nullable=False),
    sa.Column('idp_id', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['idp_id'], ['identity_federation_idps.id'], name=op.f('fk_identity_federation_remote_ids_idp_id_identity_federation_idps'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('remote_id', name=op.f('pk_identity_federation_remote_ids'))
    )
    with op.batch_alter_table('identity_federation_remote_ids', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_identity_federation_remote_ids_idp_id'), ['idp_id'], unique=False)

    op.create_table(
        'identity_federated_group_members',
        sa.Column('user_id', sa.String(length=64), nullable=False),
        sa.Column('group_id', sa.String(length=64), nullable=False),
        sa.Column('idp_id', sa.String(length=64), nullable=False),
        sa.Column('expires_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['user_id'], ['identity_users.id'],
                                name=op.f('fk_identity_federated_group_members_user_id_'
                                          'identity_users'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['group_id'], ['identity_groups.id'],
                                name=op.f('fk_identity_federated_group_members_group_id_'
                                          'identity_groups'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['idp_id'], ['identity_federation_idps.id'],
                                name=op.f('fk_identity_federated_group_members_idp_id_'
                                          'identity_federation_idps'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('user_id', 'group_id',
                                name=op.f('pk_identity_federated_group_members')),
    )
    op.create_index(op.f('ix_identity_federated_group_members_group_id'),
                    'identity_federated_group_members', ['group_id'], unique=False)
    op.create_index(op.f('ix_identity_federated_group_members_idp_id'),
                    'identity_federated_group_members', ['idp_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_identity_federated_group_members_idp_id'),
                  table_name='identity_federated_group_members')
    op.drop_index(op.f('ix_identity_federated_group_members_group_id'),
                  table_name='identity_federated_group_members')
    op.drop_table('identity_federated_group_members')
    with op.batch_alter_table('identity_federation_remote_ids', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_identity_federation_remote_ids_idp_id'))

    op.drop_table('identity_federation_remote_ids')
    op.drop_table('identity_federation_protocols')
    with op.batch_alter_table('identity_federated_users', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_identity_federated_users_user_id'))

    op.drop_table('identity_federated_users')
    with op.batch_alter_table('identity_federation_idps', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_identity_federation_idps_domain_id'))

    op.drop_table('identity_federation_idps')
    op.drop_table('identity_federation_sps')
    op.drop_table('identity_federation_mappings')
