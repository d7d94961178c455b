"""compute console auth tokens (Nova's console_auth_tokens)

Revision ID: 0015_compute_console_tokens
Revises: 0014_volume_qos_messages
Create Date: 2026-12-03 15:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0015_compute_console_tokens'
down_revision = '0014_volume_qos_messages'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('compute_console_auth_tokens',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('console_type', sa.String(length=32), nullable=False),
    sa.Column('host', sa.String(length=255), nullable=False),
    sa.Column('port', sa.Integer(), nullable=True),
    sa.Column('internal_access_path', sa.String(length=255), nullable=True),
    sa.Column('instance_uuid', sa.String(length=36), nullable=False),
    sa.Column('expires', sa.DateTime(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_compute_console_auth_tokens')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_compute_console_auth_tokens_token_hash'))
    )
    with op.batch_alter_table('compute_console_auth_tokens', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_compute_console_auth_tokens_expires'),
                              ['expires'], unique=False)
        batch_op.create_index(batch_op.f('ix_compute_console_auth_tokens_instance_uuid'),
                              ['instance_uuid'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('compute_console_auth_tokens', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_compute_console_auth_tokens_instance_uuid'))
        batch_op.drop_index(batch_op.f('ix_compute_console_auth_tokens_expires'))
    op.drop_table('compute_console_auth_tokens')
