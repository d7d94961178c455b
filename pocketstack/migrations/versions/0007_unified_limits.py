"""identity unified limits: registered limits and project/domain limits

Revision ID: 0007_unified_limits
Revises: 0006_placement_revision
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0007_unified_limits'
down_revision = '0006_placement_revision'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'identity_registered_limits',
        sa.Column('id', sa.String(length=64), nullable=False),
        sa.Column('service_id', sa.String(length=64), nullable=False),
        sa.Column('region_id', sa.String(length=255), nullable=True),
        sa.Column('resource_name', sa.String(length=255), nullable=False),
        sa.Column('default_limit', sa.Integer(), nullable=False),
        sa.Column('description', sa.Text(), nullable=True),
        sa.Column('generation', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ['service_id'], ['identity_services.id'],
            name=op.f('fk_identity_registered_limits_service_id_identity_services'),
            ondelete='CASCADE'),
        sa.ForeignKeyConstraint(
            ['region_id'], ['identity_regions.id'],
            name=op.f('fk_identity_registered_limits_region_id_identity_regions'),
            ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_identity_registered_limits')),
    )
    op.create_index('ix_identity_registered_limits_key', 'identity_registered_limits',
                    ['service_id', 'resource_name'], unique=False)
    op.create_table(
        'identity_limits',
        sa.Column('id', sa.String(length=64), nullable=False),
        sa.Column('registered_limit_id', sa.String(length=64), nullable=False),
        sa.Column('project_id', sa.String(length=64), nullable=True),
        sa.Column('domain_id', sa.String(length=64), nullable=True),
        sa.Column('resource_limit', sa.Integer(), nullable=False),
        sa.Column('description', sa.Text(), nullable=True),
        sa.Column('generation', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ['registered_limit_id'], ['identity_registered_limits.id'],
            name=op.f('fk_identity_limits_registered_limit_id_identity_registered_limits'),
            ondelete='CASCADE'),
        sa.ForeignKeyConstraint(
            ['project_id'], ['identity_projects.id'],
            name=op.f('fk_identity_limits_project_id_identity_projects'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(
            ['domain_id'], ['identity_domains.id'],
            name=op.f('fk_identity_limits_domain_id_identity_domains'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_identity_limits')),
        sa.UniqueConstraint('registered_limit_id', 'project_id',
                            name=op.f('uq_identity_limits_registered_limit_id_project_id')),
        sa.UniqueConstraint('registered_limit_id', 'domain_id',
                            name=op.f('uq_identity_limits_registered_limit_id_domain_id')),
    )
    for column in ('project_id', 'domain_id'):
        op.create_index(op.f(f'ix_identity_limits_{column}'), 'identity_limits', [column],
                        unique=False)


def downgrade() -> None:
    for column in ('project_id', 'domain_id'):
        op.drop_index(op.f(f'ix_identity_limits_{column}'), table_name='identity_limits')
    op.drop_table('identity_limits')
    op.drop_index('ix_identity_registered_limits_key', table_name='identity_registered_limits')
    op.drop_table('identity_registered_limits')
