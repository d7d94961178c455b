"""identity extras: access rules, domain configs, OAuth1 consumers, policies, endpoint groups,
trusts

Also widens identity_application_credentials.expires_at to microseconds on MySQL (the value is
echoed back exactly as given) and moves the access rules kept as JSON on application
credentials into identity_access_rules.

Revision ID: 0005_identity_extras
Revises: 0004_compute
Create Date: 2026-11-26 17:00:00
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = '0005_identity_extras'
down_revision = '0004_compute'
branch_labels = None
depends_on = None


def _fk(table: str, column: str, target: str) -> str:
    return op.f(f'fk_{table}_{column}_{target}')


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == 'mysql':
        op.alter_column('identity_application_credentials', 'expires_at',
                        existing_type=sa.DateTime(), type_=mysql.DATETIME(fsp=6),
                        existing_nullable=True)

    op.create_table(
        'identity_access_rules',
        sa.Column('id', sa.String(length=64), nullable=False),
        sa.Column('user_id', sa.String(length=64), nullable=False),
        sa.Column('service', sa.String(length=64), nullable=False),
        sa.Column('path', sa.String(length=225), nullable=False),
        sa.Column('method', sa.String(length=16), nullable=False),
        sa.Column('generation', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['user_id'], ['identity_users.id'],
                                name=_fk('identity_access_rules', 'user_id', 'identity_users'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_identity_access_rules')),
        sa.UniqueConstraint('user_id', 'service', 'path', 'method',
                            name=op.f('uq_identity_access_rules_user_id_service_path_method')),
    )
    op.create_index(op.f('ix_identity_access_rules_user_id'), 'identity_access_rules',
                    ['user_id'], unique=False)

    op.create_table(
        'identity_app_cred_access_rules',
        sa.Column('application_credential_id', sa.String(length=64), nullable=False),
        sa.Column('access_rule_id', sa.String(length=64), nullable=False),
        sa.Column('position', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['application_credential_id'],
                                ['identity_application_credentials.id'],
                                name=_fk('identity_app_cred_access_rules',
                                         'application_credential_id',
                                         'identity_application_credentials'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['access_rule_id'], ['identity_access_rules.id'],
                                name=_fk('identity_app_cred_access_rules', 'access_rule_id',
                                         'identity_access_rules')),
        sa.PrimaryKeyConstraint('application_credential_id', 'access_rule_id',
                                name=op.f('pk_identity_app_cred_access_rules')),
    )
    op.create_index(op.f('ix_identity_app_cred_access_rules_access_rule_id'),
                    'identity_app_cred_access_rules', ['access_rule_id'], unique=False)

    op.create_table(
        'identity_domain_configs',
        sa.Column('domain_id', sa.String(length=64), nullable=False),
        sa.Column('group_name', sa.String(length=255), nullable=False),
        sa.Column('option_name', sa.String(length=255), nullable=False),
        sa.Column('value', sa.JSON(), nullable=True),
        sa.Column('sensitive', sa.Boolean(), nullable=False),
        sa.Column('generation', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['domain_id'], ['identity_domains.id'],
                                name=_fk('identity_domain_configs', 'domain_id',
                                         'identity_domains'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('domain_id', 'group_name', 'option_name',
                                name=op.f('pk_identity_domain_configs')),
    )

    op.create_table(
        'identity_oauth1_consumers',
        sa.Column('id', sa.String(length=64), nullable=False),
        sa.Column('description', sa.Text(), nullable=True),
        sa.Column('secret', sa.String(length=64), nullable=False),
        sa.Column('extra', sa.JSON(), nullable=False),
        sa.Column('generation', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_identity_oauth1_consumers')),
    )

    op.create_table(
        'identity_policies',
        sa.Column('id', sa.String(length=64), nullable=False),
        sa.Column('type', sa.String(length=255), nullable=False),
        sa.Column('blob', sa.Text(), nullable=False),
        sa.Column('extra', sa.JSON(), nullable=False),
        sa.Column('generation', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_identity_policies')),
    )

    op.create_table(
        'identity_endpoint_groups',
        sa.Column('id', sa.String(length=64), nullable=False),
        sa.Column('name', sa.String(length=255), nullable=False),
        sa.Column('description', sa.Text(), nullable=True),
        sa.Column('filters', sa.JSON(), nullable=False),
        sa.Column('generation', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_identity_endpoint_groups')),
    )

    op.create_table(
        'identity_project_endpoint_groups',
        sa.Column('endpoint_group_id', sa.String(length=64), nullable=False),
        sa.Column('project_id', sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(['endpoint_group_id'], ['identity_endpoint_groups.id'],
                                name=_fk('identity_project_endpoint_groups',
                                         'endpoint_group_id', 'identity_endpoint_groups'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['project_id'], ['identity_projects.id'],
                                name=_fk('identity_project_endpoint_groups', 'project_id',
                                         'identity_projects'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('endpoint_group_id', 'project_id',
                                name=op.f('pk_identity_project_endpoint_groups')),
    )
    op.create_index(op.f('ix_identity_project_endpoint_groups_project_id'),
                    'identity_project_endpoint_groups', ['project_id'], unique=False)

    op.create_table(
        'identity_project_endpoints',
        sa.Column('endpoint_id', sa.String(length=64), nullable=False),
        sa.Column('project_id', sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(['endpoint_id'], ['identity_endpoints.id'],
                                name=_fk('identity_project_endpoints', 'endpoint_id',
                                         'identity_endpoints'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['project_id'], ['identity_projects.id'],
                                name=_fk('identity_project_endpoints', 'project_id',
                                         'identity_projects'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('endpoint_id', 'project_id',
                                name=op.f('pk_identity_project_endpoints')),
    )
    op.create_index(op.f('ix_identity_project_endpoints_project_id'),
                    'identity_project_endpoints', ['project_id'], unique=False)

    op.create_table(
        'identity_trusts',
        sa.Column('id', sa.String(length=64), nullable=False),
        sa.Column('trustor_user_id', sa.String(length=64), nullable=False),
        sa.Column('trustee_user_id', sa.String(length=64), nullable=False),
        sa.Column('project_id', sa.String(length=64), nullable=True),
        sa.Column('impersonation', sa.Boolean(), nullable=False),
        sa.Column('expires_at', sa.DateTime().with_variant(mysql.DATETIME(fsp=6), 'mysql'),
                  nullable=True),
        sa.Column('remaining_uses', sa.Integer(), nullable=True),
        sa.Column('extra', sa.JSON(), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('generation', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['trustor_user_id'], ['identity_users.id'],
                                name=_fk('identity_trusts', 'trustor_user_id',
                                         'identity_users'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['trustee_user_id'], ['identity_users.id'],
                                name=_fk('identity_trusts', 'trustee_user_id',
                                         'identity_users'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['project_id'], ['identity_projects.id'],
                                name=_fk('identity_trusts', 'project_id', 'identity_projects'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_identity_trusts')),
    )
    op.create_index(op.f('ix_identity_trusts_trustor_user_id'), 'identity_trusts',
                    ['trustor_user_id'], unique=False)
    op.create_index(op.f('ix_identity_trusts_trustee_user_id'), 'identity_trusts',
                    ['trustee_user_id'], unique=False)

    op.create_table(
        'identity_trust_roles',
        sa.Column('trust_id', sa.String(length=64), nullable=False),
        sa.Column('role_id', sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(['trust_id'], ['identity_trusts.id'],
                                name=_fk('identity_trust_roles', 'trust_id', 'identity_trusts'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['role_id'], ['identity_roles.id'],
                                name=_fk('identity_trust_roles', 'role_id', 'identity_roles'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('trust_id', 'role_id', name=op.f('pk_identity_trust_roles')),
    )
    op.create_index(op.f('ix_identity_trust_roles_role_id'), 'identity_trust_roles',
                    ['role_id'], unique=False)

    _move_access_rules(bind)


def _move_access_rules(bind: sa.engine.Connection) -> None:
    """Access rules stored as JSON on each application credential become shared rows."""
    creds = sa.table('identity_application_credentials', sa.column('id'),
                     sa.column('user_id'), sa.column('access_rules', sa.JSON))
    rules = sa.table('identity_access_rules', sa.column('id'), sa.column('user_id'),
                     sa.column('service'), sa.column('path'), sa.column('method'),
                     sa.column('generation'))
    links = sa.table('identity_app_cred_access_rules', sa.column('application_credential_id'),
                     sa.column('access_rule_id'), sa.column('position'))
    known: dict[tuple[str, str, str, str], str] = {}
    for cred in bind.execute(sa.select(creds)).mappings().all():
        for position, rule in enumerate(cred['access_rules'] or []):
            key = (cred['user_id'], str(rule.get('service', '')), str(rule.get('path', '')),
                   str(rule.get('method', '')))
            if key not in known:
                known[key] = str(rule.get('id') or uuid.uuid4().hex)
                bind.execute(sa.insert(rules).values(
                    id=known[key], user_id=key[0], service=key[1], path=key[2], method=key[3],
                    generation=0))
            bind.execute(sa.insert(links).values(
                application_credential_id=cred['id'], access_rule_id=known[key],
                position=position))
        if cred['access_rules']:
            bind.execute(sa.update(creds).where(creds.c.id == cred['id'])
                         .values(access_rules=[]))


def _restore_access_rules(bind: sa.engine.Connection) -> None:
    """Put each credential's rules back into its JSON column before the tables go."""
    creds = sa.table('identity_application_credentials', sa.column('id'),
                     sa.column('access_rules', sa.JSON))
    rules = sa.table('identity_access_rules', sa.column('id'), sa.column('service'),
                     sa.column('path'), sa.column('method'))
    links = sa.table('identity_app_cred_access_rules', sa.column('application_credential_id'),
                     sa.column('access_rule_id'), sa.column('position'))
    per_cred: dict[str, list[dict[str, str]]] = {}
    q = (sa.select(links.c.application_credential_id, rules.c.id, rules.c.service,
                   rules.c.path, rules.c.method)
         .join(rules, rules.c.id == links.c.access_rule_id)
         .order_by(links.c.application_credential_id, links.c.position))
    for row in bind.execute(q).mappings():
        per_cred.setdefault(row['application_credential_id'], []).append(
            {k: row[k] for k in ('id', 'service', 'path', 'method')})
    for cred_id, cred_rules in per_cred.items():
        bind.execute(sa.update(creds).where(creds.c.id == cred_id)
                     .values(access_rules=cred_rules))


def downgrade() -> None:
    _restore_access_rules(op.get_bind())
    for table, index in (('identity_trust_roles', 'role_id'),
                         ('identity_trusts', 'trustee_user_id'),
                         ('identity_trusts', 'trustor_user_id'),
                         ('identity_project_endpoints', 'project_id'),
                         ('identity_project_endpoint_groups', 'project_id'),
                         ('identity_app_cred_access_rules', 'access_rule_id'),
                         ('identity_access_rules', 'user_id')):
        op.drop_index(op.f(f'ix_{table}_{index}'), table_name=table)
    for table in ('identity_trust_roles', 'identity_trusts', 'identity_project_endpoints',
                  'identity_project_endpoint_groups', 'identity_endpoint_groups',
                  'identity_policies', 'identity_oauth1_consumers', 'identity_domain_configs',
                  'identity_app_cred_access_rules', 'identity_access_rules'):
        op.drop_table(table)
    if op.get_bind().dialect.name == 'mysql':
        op.alter_column('identity_application_credentials', 'expires_at',
                        existing_type=mysql.DATETIME(fsp=6), type_=sa.DateTime(),
                        existing_nullable=True)
