"""placement revision counter (cache invalidation across API processes)

Revision ID: 0006_placement_revision
Revises: 0005_identity_extras
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0006_placement_revision'
down_revision = '0005_identity_extras'
branch_labels = None
depends_on = None


def upgrade() -> None:
    table = op.create_table(
        'placement_revision',
        sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('revision', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_placement_revision')),
    )
    # 1: every placement write; 2: writes a provider generation does not show
    op.bulk_insert(table, [{'id': 1, 'revision': 1}, {'id': 2, 'revision': 1}])


def downgrade() -> None:
    op.drop_table('placement_revision')
