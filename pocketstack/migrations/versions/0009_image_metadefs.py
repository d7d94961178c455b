"""image metadata definitions (/v2/metadefs)

Revision ID: 0009_image_metadefs
Revises: 0008_compute_apis
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0009_image_metadefs'
down_revision = '0008_compute_apis'
branch_labels = None
depends_on = None


def _ns_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ['namespace_id'], ['image_metadef_namespaces.id'],
        name=op.f(f'fk_{table}_namespace_id_image_metadef_namespaces'), ondelete='CASCADE')


def upgrade() -> None:
    op.create_table(
        'image_metadef_namespaces',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('namespace', sa.String(length=80), nullable=False),
        sa.Column('display_name', sa.String(length=80), nullable=True),
        sa.Column('description', sa.Text(), nullable=True),
        sa.Column('visibility', sa.String(length=32), nullable=False),
        sa.Column('protected', sa.Boolean(), nullable=False),
        sa.Column('owner', sa.String(length=255), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('updated_at', sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_image_metadef_namespaces')),
        sa.UniqueConstraint('namespace', name=op.f('uq_image_metadef_namespaces_namespace')),
    )
    op.create_table(
        'image_metadef_resource_types',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('name', sa.String(length=80), nullable=False),
        sa.Column('protected', sa.Boolean(), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('updated_at', sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_image_metadef_resource_types')),
        sa.UniqueConstraint('name', name=op.f('uq_image_metadef_resource_types_name')),
    )
    op.create_table(
        'image_metadef_associations',
        sa.Column('namespace_id', sa.Integer(), nullable=False),
        sa.Column('resource_type_id', sa.Integer(), nullable=False),
        sa.Column('prefix', sa.String(length=80), nullable=True),
        sa.Column('properties_target', sa.String(length=80), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('updated_at', sa.DateTime(), nullable=True),
        _ns_fk('image_metadef_associations'),
        sa.ForeignKeyConstraint(
            ['resource_type_id'], ['image_metadef_resource_types.id'],
            name=op.f('fk_image_metadef_associations_resource_type_id_image_metadef_resource_types'),
            ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('namespace_id', 'resource_type_id',
                                name=op.f('pk_image_metadef_associations')),
    )
    for table, extra in (
        ('objects', [sa.Column('description', sa.Text(), nullable=True),
                     sa.Column('required', sa.JSON(), nullable=True),
                     sa.Column('properties', sa.JSON(), nullable=True)]),
        ('properties', [sa.Column('schema', sa.JSON(), nullable=False)]),
        ('tags', []),
    ):
        name = f'image_metadef_{table}'
        op.create_table(
            name,
            sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
            sa.Column('namespace_id', sa.Integer(), nullable=False),
            sa.Column('name', sa.String(length=80), nullable=False),
            *extra,
            sa.Column('created_at', sa.DateTime(), nullable=False),
            sa.Column('updated_at', sa.DateTime(), nullable=True),
            _ns_fk(name),
            sa.PrimaryKeyConstraint('id', name=op.f(f'pk_{name}')),
            sa.UniqueConstraint('namespace_id', 'name',
                                name=op.f(f'uq_{name}_namespace_id_name')),
        )


def downgrade() -> None:
    for table in ('image_metadef_tags', 'image_metadef_properties', 'image_metadef_objects',
                  'image_metadef_associations', 'image_metadef_resource_types',
                  'image_metadef_namespaces'):
        op.drop_table(table)
