"""Keystone's tables: domains, projects, users, groups, roles, assignments, catalog, app creds,
access rules, domain configs, OAuth1 consumers, policies, endpoint groups."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import mysql

from pocketstack.common.schema import metadata

ID = sa.String(64)
NAME = sa.String(255)
# Keystone keeps global (domain-less) roles unique by storing a sentinel instead of NULL.
NULL_DOMAIN = "<<null>>"

domains = sa.Table(
    "identity_domains",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("name", NAME, nullable=False, unique=True),
    sa.Column("description", sa.Text, nullable=True),
    sa.Column("enabled", sa.Boolean, nullable=False, default=True),
    sa.Column("tags", sa.JSON, nullable=False, default=list),
    sa.Column("options", sa.JSON, nullable=False, default=dict),
    sa.Column("extra", sa.JSON, nullable=False, default=dict),
    sa.Column("generation", sa.Integer, nullable=False, default=0),
)

projects = sa.Table(
    "identity_projects",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("name", NAME, nullable=False),
    sa.Column("domain_id", ID, sa.ForeignKey("identity_domains.id"), nullable=False, index=True),
    sa.Column("parent_id", ID, sa.ForeignKey("identity_projects.id"), nullable=True, index=True),
    sa.Column("description", sa.Text, nullable=True),
    sa.Column("enabled", sa.Boolean, nullable=False, default=True),
    sa.Column("tags", sa.JSON, nullable=False, default=list),
    sa.Column("options", sa.JSON, nullable=False, default=dict),
    sa.Column("extra", sa.JSON, nullable=False, default=dict),
    sa.Column("generation", sa.Integer, nullable=False, default=0),
    sa.UniqueConstraint("domain_id", "name"),
)

users = sa.Table(
    "identity_users",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("name", NAME, nullable=False),
    sa.Column("domain_id", ID, sa.ForeignKey("identity_domains.id"), nullable=False, index=True),
    sa.Column("enabled", sa.Boolean, nullable=False, default=True),
    sa.Column("default_project_id", ID, nullable=True),
    sa.Column("description", sa.Text, nullable=True),
    sa.Column("email", NAME, nullable=True),
    sa.Column("password_hash", sa.String(255), nullable=True),
    sa.Column("password_created_at", sa.DateTime, nullable=True),
    sa.Column("password_expires_at", sa.DateTime, nullable=True),
    sa.Column("failed_auth_count", sa.Integer, nullable=False, default=0),
    sa.Column("failed_auth_at", sa.DateTime, nullable=True),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("last_active_at", sa.DateTime, nullable=True),
    sa.Column("options", sa.JSON, nullable=False, default=dict),
    sa.Column("extra", sa.JSON, nullable=False, default=dict),
    sa.Column("generation", sa.Integer, nullable=False, default=0),
    sa.UniqueConstraint("domain_id", "name"),
)

password_history = sa.Table(
    "identity_password_history",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("user_id", ID, sa.ForeignKey("identity_users.id", ondelete="CASCADE"),
              nullable=False, index=True),
    sa.Column("password_hash", sa.String(255), nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
)

groups = sa.Table(
    "identity_groups",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("name", NAME, nullable=False),
    sa.Column("domain_id", ID, sa.ForeignKey("identity_domains.id"), nullable=False, index=True),
    sa.Column("description", sa.Text, nullable=True),
    sa.Column("extra", sa.JSON, nullable=False, default=dict),
    sa.Column("generation", sa.Integer, nullable=False, default=0),
    sa.UniqueConstraint("domain_id", "name"),
)

group_members = sa.Table(
    "identity_group_members",
    metadata,
    sa.Column("group_id", ID, sa.ForeignKey("identity_groups.id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("user_id", ID, sa.ForeignKey("identity_users.id", ondelete="CASCADE"),
              primary_key=True, index=True),
)

roles = sa.Table(
    "identity_roles",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("name", NAME, nullable=False),
    sa.Column("domain_id", ID, nullable=False, default=NULL_DOMAIN),
    sa.Column("description", sa.Text, nullable=True),
    sa.Column("options", sa.JSON, nullable=False, default=dict),
    sa.Column("extra", sa.JSON, nullable=False, default=dict),
    sa.Column("generation", sa.Integer, nullable=False, default=0),
    sa.UniqueConstraint("name", "domain_id"),
)

implied_roles = sa.Table(
    "identity_implied_roles",
    metadata,
    sa.Column("prior_role_id", ID, sa.ForeignKey("identity_roles.id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("implied_role_id", ID, sa.ForeignKey("identity_roles.id", ondelete="CASCADE"),
              primary_key=True),
)

# type: UserProject, GroupProject, UserDomain, GroupDomain, UserSystem, GroupSystem
assignments = sa.Table(
    "identity_assignments",
    metadata,
    sa.Column("type", sa.String(16), primary_key=True),
    sa.Column("actor_id", ID, primary_key=True),
    sa.Column("target_id", ID, primary_key=True),
    sa.Column("role_id", ID, sa.ForeignKey("identity_roles.id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("inherited", sa.Boolean, primary_key=True, default=False),
    sa.Index("ix_identity_assignments_target", "target_id"),
    sa.Index("ix_identity_assignments_actor", "actor_id"),
)

regions = sa.Table(
    "identity_regions",
    metadata,
    sa.Column("id", NAME, primary_key=True),
    sa.Column("description", sa.Text, nullable=True),
    sa.Column("parent_region_id", NAME, nullable=True),
    sa.Column("extra", sa.JSON, nullable=False, default=dict),
    sa.Column("generation", sa.Integer, nullable=False, default=0),
)

services = sa.Table(
    "identity_services",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("type", NAME, nullable=False),
    sa.Column("name", NAME, nullable=True),
    sa.Column("description", sa.Text, nullable=True),
    sa.Column("enabled", sa.Boolean, nullable=False, default=True),
    sa.Column("extra", sa.JSON, nullable=False, default=dict),
    sa.Column("generation", sa.Integer, nullable=False, default=0),
)

endpoints = sa.Table(
    "identity_endpoints",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("service_id", ID, sa.ForeignKey("identity_services.id", ondelete="CASCADE"),
              nullable=False, index=True),
    sa.Column("interface", sa.String(8), nullable=False),
    sa.Column("region_id", NAME, nullable=True),
    sa.Column("url", sa.Text, nullable=False),
    sa.Column("enabled", sa.Boolean, nullable=False, default=True),
    sa.Column("extra", sa.JSON, nullable=False, default=dict),
    sa.Column("generation", sa.Integer, nullable=False, default=0),
)

application_credentials = sa.Table(
    "identity_application_credentials",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("name", NAME, nullable=False),
    sa.Column("user_id", ID, sa.ForeignKey("identity_users.id", ondelete="CASCADE"),
              nullable=False),
    sa.Column("project_id", ID, nullable=False),
    sa.Column("secret_hash", sa.String(255), nullable=False),
    sa.Column("description", sa.Text, nullable=True),
    # Echoed back exactly as given, so microseconds must survive (MySQL's DATETIME drops them).
    sa.Column("expires_at", sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql"),
              nullable=True),
    sa.Column("unrestricted", sa.Boolean, nullable=False, default=False),
    sa.Column("roles", sa.JSON, nullable=False, default=list),
    # Unused since 0005 (rules live in identity_access_rules); kept empty.
    sa.Column("access_rules", sa.JSON, nullable=False, default=list),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.UniqueConstraint("user_id", "name"),
)

credentials = sa.Table(
    "identity_credentials",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("user_id", ID, sa.ForeignKey("identity_users.id", ondelete="CASCADE"),
              nullable=False, index=True),
    sa.Column("project_id", ID, nullable=True),
    sa.Column("type", NAME, nullable=False),
    sa.Column("blob", sa.Text, nullable=False),
    sa.Column("extra", sa.JSON, nullable=False, default=dict),
    sa.Column("generation", sa.Integer, nullable=False, default=0),
)

revocation_events = sa.Table(
    "identity_revocation_events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("audit_id", sa.String(32), nullable=True, index=True),
    sa.Column("audit_chain_id", sa.String(32), nullable=True, index=True),
    sa.Column("user_id", ID, nullable=True, index=True),
    sa.Column("project_id", ID, nullable=True),
    sa.Column("domain_id", ID, nullable=True),
    sa.Column("role_id", ID, nullable=True),
    sa.Column("application_credential_id", ID, nullable=True),
    sa.Column("issued_before", sa.DateTime, nullable=False),
    sa.Column("revoked_at", sa.DateTime, nullable=False, index=True),
)

# A single row counting changes that affect token validity (roles, assignments, revocations),
# so caches in any API process can tell when to drop what they hold.
identity_revision = sa.Table(
    "identity_revision",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("revision", sa.Integer, nullable=False, default=0),
)


# -- 0005: application credential access rules ------------------------------------------------
# A user's access rules are shared by their application credentials (an identical rule is
# reused) and outlive them; one in use cannot be deleted.
access_rules = sa.Table(
    "identity_access_rules",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("user_id", ID, sa.ForeignKey("identity_users.id", ondelete="CASCADE"),
              nullable=False, index=True),
    sa.Column("service", sa.String(64), nullable=False),
    sa.Column("path", sa.String(225), nullable=False),
    sa.Column("method", sa.String(16), nullable=False),
    sa.Column("generation", sa.Integer, nullable=False, default=0),
    sa.UniqueConstraint("user_id", "service", "path", "method"),
)

app_cred_access_rules = sa.Table(
    "identity_app_cred_access_rules",
    metadata,
    sa.Column("application_credential_id", ID,
              sa.ForeignKey("identity_application_credentials.id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("access_rule_id", ID, sa.ForeignKey("identity_access_rules.id"),
              primary_key=True, index=True),
    sa.Column("position", sa.Integer, nullable=False, default=0),
)

# -- 0005: domain-specific configuration (/v3/domains/{id}/config) ----------------------------
domain_configs = sa.Table(
    "identity_domain_configs",
    metadata,
    sa.Column("domain_id", ID, sa.ForeignKey("identity_domains.id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("group_name", sa.String(255), primary_key=True),
    sa.Column("option_name", sa.String(255), primary_key=True),
    sa.Column("value", sa.JSON, nullable=True),
    sa.Column("sensitive", sa.Boolean, nullable=False, default=False),
    sa.Column("generation", sa.Integer, nullable=False, default=0),
)

# -- 0005: OS-OAUTH1 consumers ----------------------------------------------------------------
# The secret is kept as is: OAuth1 signatures are verified with the shared secret itself.
oauth1_consumers = sa.Table(
    "identity_oauth1_consumers",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("description", sa.Text, nullable=True),
    sa.Column("secret", sa.String(64), nullable=False),
    sa.Column("extra", sa.JSON, nullable=False, default=dict),
    sa.Column("generation", sa.Integer, nullable=False, default=0),
)

# -- 0005: /v3/policies (opaque policy blobs stored for other services) -----------------------
policies = sa.Table(
    "identity_policies",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("type", NAME, nullable=False),
    sa.Column("blob", sa.Text, nullable=False),
    sa.Column("extra", sa.JSON, nullable=False, default=dict),
    sa.Column("generation", sa.Integer, nullable=False, default=0),
)

# -- 0005: OS-EP-FILTER -----------------------------------------------------------------------
endpoint_groups = sa.Table(
    "identity_endpoint_groups",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("name", NAME, nullable=False),
    sa.Column("description", sa.Text, nullable=True),
    sa.Column("filters", sa.JSON, nullable=False, default=dict),
    sa.Column("generation", sa.Integer, nullable=False, default=0),
)

project_endpoint_groups = sa.Table(
    "identity_project_endpoint_groups",
    metadata,
    sa.Column("endpoint_group_id", ID,
              sa.ForeignKey("identity_endpoint_groups.id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("project_id", ID, sa.ForeignKey("identity_projects.id", ondelete="CASCADE"),
              primary_key=True, index=True),
)

project_endpoints = sa.Table(
    "identity_project_endpoints",
    metadata,
    sa.Column("endpoint_id", ID, sa.ForeignKey("identity_endpoints.id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("project_id", ID, sa.ForeignKey("identity_projects.id", ondelete="CASCADE"),
              primary_key=True, index=True),
)

# -- 0005: OS-TRUST ---------------------------------------------------------------------------
trusts = sa.Table(
    "identity_trusts",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("trustor_user_id", ID, sa.ForeignKey("identity_users.id", ondelete="CASCADE"),
              nullable=False, index=True),
    sa.Column("trustee_user_id", ID, sa.ForeignKey("identity_users.id", ondelete="CASCADE"),
              nullable=False, index=True),
    sa.Column("project_id", ID, sa.ForeignKey("identity_projects.id", ondelete="CASCADE"),
              nullable=True),
    sa.Column("impersonation", sa.Boolean, nullable=False),
    sa.Column("expires_at", sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql"),
              nullable=True),
    sa.Column("remaining_uses", sa.Integer, nullable=True),
    sa.Column("extra", sa.JSON, nullable=False, default=dict),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("generation", sa.Integer, nullable=False, default=0),
)

trust_roles = sa.Table(
    "identity_trust_roles",
    metadata,
    sa.Column("trust_id", ID, sa.ForeignKey("identity_trusts.id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("role_id", ID, sa.ForeignKey("identity_roles.id", ondelete="CASCADE"),
              primary_key=True, index=True),
)

# -- unified limits: registered (default) limits and project/domain overrides ------------------
registered_limits = sa.Table(
    "identity_registered_limits",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("service_id", ID, sa.ForeignKey("identity_services.id", ondelete="CASCADE"),
              nullable=False),
    sa.Column("region_id", NAME, sa.ForeignKey("identity_regions.id", ondelete="CASCADE"),
              nullable=True),
    sa.Column("resource_name", NAME, nullable=False),
    sa.Column("default_limit", sa.Integer, nullable=False),
    sa.Column("description", sa.Text, nullable=True),
    sa.Column("generation", sa.Integer, nullable=False, default=0),
    sa.Index("ix_identity_registered_limits_key", "service_id", "resource_name"),
)

limits = sa.Table(
    "identity_limits",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("registered_limit_id", ID,
              sa.ForeignKey("identity_registered_limits.id", ondelete="CASCADE"),
              nullable=False),
    sa.Column("project_id", ID, sa.ForeignKey("identity_projects.id", ondelete="CASCADE"),
              nullable=True, index=True),
    sa.Column("domain_id", ID, sa.ForeignKey("identity_domains.id", ondelete="CASCADE"),
              nullable=True, index=True),
    sa.Column("resource_limit", sa.Integer, nullable=False),
    sa.Column("description", sa.Text, nullable=True),
    sa.Column("generation", sa.Integer, nullable=False, default=0),
    # one override per (registered limit, project) and per (registered limit, domain)
    sa.UniqueConstraint("registered_limit_id", "project_id"),
    sa.UniqueConstraint("registered_limit_id", "domain_id"),
)


# -- OS-FEDERATION: identity providers, their remote ids and protocols, mappings, service
# providers, and the shadow records of federated users -------------------------------------
identity_providers = sa.Table(
    "identity_federation_idps",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("enabled", sa.Boolean, nullable=False, default=False),
    sa.Column("description", sa.Text, nullable=True),
    sa.Column("domain_id", ID, sa.ForeignKey("identity_domains.id", ondelete="CASCADE"),
              nullable=False, index=True),
    sa.Column("authorization_ttl", sa.Integer, nullable=True),
    sa.Column("generation", sa.Integer, nullable=False, default=0),
)

# A remote id (an OIDC issuer, a SAML entity id) belongs to at most one identity provider.
idp_remote_ids = sa.Table(
    "identity_federation_remote_ids",
    metadata,
    sa.Column("remote_id", sa.String(255), primary_key=True),
    sa.Column("idp_id", ID, sa.ForeignKey("identity_federation_idps.id", ondelete="CASCADE"),
              nullable=False, index=True),
)

mappings = sa.Table(
    "identity_federation_mappings",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("rules", sa.JSON, nullable=False),
    sa.Column("schema_version", sa.String(5), nullable=False, default="1.0"),
    sa.Column("generation", sa.Integer, nullable=False, default=0),
)

federation_protocols = sa.Table(
    "identity_federation_protocols",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("idp_id", ID, sa.ForeignKey("identity_federation_idps.id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("mapping_id", ID, nullable=False),
    sa.Column("remote_id_attribute", sa.String(64), nullable=True),
    sa.Column("generation", sa.Integer, nullable=False, default=0),
)

service_providers = sa.Table(
    "identity_federation_sps",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("enabled", sa.Boolean, nullable=False, default=False),
    sa.Column("description", sa.Text, nullable=True),
    sa.Column("auth_url", sa.String(256), nullable=False),
    sa.Column("sp_url", sa.String(256), nullable=False),
    sa.Column("relay_state_prefix", sa.String(256), nullable=False, default="ss:mem:"),
    sa.Column("generation", sa.Integer, nullable=False, default=0),
)

# The user row a federated identity is shadowed by (Keystone's federated_user).
federated_users = sa.Table(
    "identity_federated_users",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("user_id", ID, sa.ForeignKey("identity_users.id", ondelete="CASCADE"),
              nullable=False, index=True),
    sa.Column("idp_id", ID, sa.ForeignKey("identity_federation_idps.id", ondelete="CASCADE"),
              nullable=False),
    sa.Column("protocol_id", ID, nullable=False),
    sa.Column("unique_id", sa.String(255), nullable=False),
    sa.Column("display_name", NAME, nullable=True),
    sa.UniqueConstraint("idp_id", "protocol_id", "unique_id"),
)

# Group memberships a mapping gave a federated user, kept for the IdP's authorization_ttl
# (minutes) after the login that last confirmed them (Keystone's expiring memberships).
federated_group_members = sa.Table(
    "identity_federated_group_members",
    metadata,
    sa.Column("user_id", ID, sa.ForeignKey("identity_users.id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("group_id", ID, sa.ForeignKey("identity_groups.id", ondelete="CASCADE"),
              primary_key=True, index=True),
    sa.Column("idp_id", ID, sa.ForeignKey("identity_federation_idps.id", ondelete="CASCADE"),
              nullable=False, index=True),
    sa.Column("expires_at", sa.DateTime, nullable=False),
)
