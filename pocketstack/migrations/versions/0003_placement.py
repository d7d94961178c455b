"""placement tables

Revision ID: 0003_placement
Revises: 0002_image
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0003_placement'
down_revision = '0002_image'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'placement_providers',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('uuid', sa.String(length=36), nullable=False),
        sa.Column('name', sa.String(length=200), nullable=False),
        sa.Column('generation', sa.Integer(), nullable=False),
        sa.Column('parent_id', sa.Integer(), nullable=True),
        sa.Column('root_id', sa.Integer(), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('updated_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['parent_id'], ['placement_providers.id'],
                                name=op.f('fk_placement_providers_parent_id_placement_providers')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_placement_providers')),
        sa.UniqueConstraint('uuid', name=op.f('uq_placement_providers_uuid')),
        sa.UniqueConstraint('name', name=op.f('uq_placement_providers_name')),
    )
    op.create_index(op.f('ix_placement_providers_parent_id'), 'placement_providers', ['parent_id'])
    op.create_index(op.f('ix_placement_providers_root_id'), 'placement_providers', ['root_id'])

    op.create_table(
        'placement_inventories',
        sa.Column('provider_id', sa.Integer(), nullable=False),
        sa.Column('resource_class', sa.String(length=255), nullable=False),
        sa.Column('total', sa.BigInteger(), nullable=False),
        sa.Column('reserved', sa.BigInteger(), nullable=False),
        sa.Column('min_unit', sa.BigInteger(), nullable=False),
        sa.Column('max_unit', sa.BigInteger(), nullable=False),
        sa.Column('step_size', sa.BigInteger(), nullable=False),
        sa.Column('allocation_ratio', sa.Float(), nullable=False),
        sa.Column('used', sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(['provider_id'], ['placement_providers.id'], ondelete='CASCADE',
                                name=op.f('fk_placement_inventories_provider_id_placement_providers')),
        sa.PrimaryKeyConstraint('provider_id', 'resource_class', name=op.f('pk_placement_inventories')),
    )
    op.create_index('ix_placement_inventories_resource_class', 'placement_inventories',
                    ['resource_class'])

    op.create_table(
        'placement_consumers',
        sa.Column('uuid', sa.String(length=36), nullable=False),
        sa.Column('project_id', sa.String(length=255), nullable=False),
        sa.Column('user_id', sa.String(length=255), nullable=False),
        sa.Column('consumer_type', sa.String(length=255), nullable=True),
        sa.Column('generation', sa.Integer(), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('updated_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('uuid', name=op.f('pk_placement_consumers')),
    )
    op.create_index(op.f('ix_placement_consumers_project_id'), 'placement_consumers', ['project_id'])
    op.create_index(op.f('ix_placement_consumers_user_id'), 'placement_consumers', ['user_id'])

    op.create_table(
        'placement_allocations',
        sa.Column('consumer_uuid', sa.String(length=36), nullable=False),
        sa.Column('provider_id', sa.Integer(), nullable=False),
        sa.Column('resource_class', sa.String(length=255), nullable=False),
        sa.Column('used', sa.BigInteger(), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['provider_id'], ['placement_providers.id'],
                                name=op.f('fk_placement_allocations_provider_id_placement_providers')),
        sa.PrimaryKeyConstraint('consumer_uuid', 'provider_id', 'resource_class',
                                name=op.f('pk_placement_allocations')),
    )
    op.create_index('ix_placement_allocations_provider_id_resource_class',
                    'placement_allocations', ['provider_id', 'resource_class'])

    op.create_table(
        'placement_resource_classes',
        sa.Column('name', sa.String(length=255), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('updated_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('name', name=op.f('pk_placement_resource_classes')),
    )
    op.create_table(
        'placement_traits',
        sa.Column('name', sa.String(length=255), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('name', name=op.f('pk_placement_traits')),
    )
    op.create_table(
        'placement_provider_traits',
        sa.Column('provider_id', sa.Integer(), nullable=False),
        sa.Column('trait', sa.String(length=255), nullable=False),
        sa.ForeignKeyConstraint(['provider_id'], ['placement_providers.id'], ondelete='CASCADE',
                                name=op.f('fk_placement_provider_traits_provider_id_placement_providers')),
        sa.PrimaryKeyConstraint('provider_id', 'trait', name=op.f('pk_placement_provider_traits')),
    )
    op.create_index('ix_placement_provider_traits_trait', 'placement_provider_traits', ['trait'])
    op.create_table(
        'placement_provider_aggregates',
        sa.Column('provider_id', sa.Integer(), nullable=False),
        sa.Column('aggregate', sa.String(length=36), nullable=False),
        sa.ForeignKeyConstraint(['provider_id'], ['placement_providers.id'], ondelete='CASCADE',
                                name=op.f('fk_placement_provider_aggregates_provider_id_placement_providers')),
        sa.PrimaryKeyConstraint('provider_id', 'aggregate',
                                name=op.f('pk_placement_provider_aggregates')),
    )
    op.create_index('ix_placement_provider_aggregates_aggregate', 'placement_provider_aggregates',
                    ['aggregate'])


def downgrade() -> None:
    op.drop_table('placement_provider_aggregates')
    op.drop_table('placement_provider_traits')
    op.drop_table('placement_traits')
    op.drop_table('placement_resource_classes')
    op.drop_table('placement_allocations')
    op.drop_table('placement_consumers')
    op.drop_table('placement_inventories')
    op.drop_table('placement_providers')
