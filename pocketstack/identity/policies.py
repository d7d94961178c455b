"""Keystone policy rule names and defaults (the secure-RBAC personas, scope checks relaxed)."""

from __future__ import annotations

from oslo_policy import policy

ADMIN = "rule:admin_required"
ADMIN_OR_SYSTEM_READER = "rule:admin_required or (role:reader and system_scope:all)"
DOMAIN_READER = "(role:reader and domain_id:%(target.domain_id)s)"
DOMAIN_ADMIN = "(role:admin and domain_id:%(target.domain_id)s)"
TOKEN_SUBJECT = "user_id:%(target.token.user_id)s"
OWNER = "user_id:%(target.user_id)s"


def _r(name: str, check: str, doc: str = "") -> policy.RuleDefault:
    return policy.RuleDefault(name, check, doc or name)


def _crud(noun: str, read: str, write: str, plural: str | None = None) -> list[policy.RuleDefault]:
    plural = plural or f"{noun}s"
    return [
        _r(f"identity:get_{noun}", read),
        _r(f"identity:list_{plural}", read),
        _r(f"identity:create_{noun}", write),
        _r(f"identity:update_{noun}", write),
        _r(f"identity:delete_{noun}", write),
    ]


READ_OR_DOMAIN = f"{ADMIN_OR_SYSTEM_READER} or {DOMAIN_READER}"
WRITE_OR_DOMAIN = f"{ADMIN} or {DOMAIN_ADMIN}"

RULES: list[policy.RuleDefault] = [
    _r("identity:get_domain", f"{ADMIN_OR_SYSTEM_READER} or domain_id:%(target.domain_id)s "
       "or project_domain_id:%(target.domain_id)s"),
    _r("identity:list_domains", ADMIN_OR_SYSTEM_READER),
    _r("identity:create_domain", ADMIN),
    _r("identity:update_domain", ADMIN),
    _r("identity:delete_domain", ADMIN),
    _r("identity:get_project", f"{READ_OR_DOMAIN} or project_id:%(target.project_id)s"),
    _r("identity:list_projects", READ_OR_DOMAIN),
    _r("identity:list_user_projects", f"{READ_OR_DOMAIN} or {OWNER}"),
    _r("identity:create_project", WRITE_OR_DOMAIN),
    _r("identity:update_project", WRITE_OR_DOMAIN),
    _r("identity:delete_project", WRITE_OR_DOMAIN),
    _r("identity:list_project_tags", f"{READ_OR_DOMAIN} or project_id:%(target.project_id)s"),
    _r("identity:update_project_tags", WRITE_OR_DOMAIN),
    _r("identity:get_user", f"{READ_OR_DOMAIN} or {OWNER}"),
    _r("identity:list_users", READ_OR_DOMAIN),
    _r("identity:create_user", WRITE_OR_DOMAIN),
    _r("identity:update_user", WRITE_OR_DOMAIN),
    _r("identity:delete_user", WRITE_OR_DOMAIN),
    _r("identity:get_group", READ_OR_DOMAIN),
    _r("identity:list_groups", READ_OR_DOMAIN),
    _r("identity:list_groups_for_user", f"{READ_OR_DOMAIN} or {OWNER}"),
    _r("identity:list_users_in_group", READ_OR_DOMAIN),
    _r("identity:check_user_in_group", READ_OR_DOMAIN),
    _r("identity:create_group", WRITE_OR_DOMAIN),
    _r("identity:update_group", WRITE_OR_DOMAIN),
    _r("identity:delete_group", WRITE_OR_DOMAIN),
    _r("identity:add_user_to_group", WRITE_OR_DOMAIN),
    _r("identity:remove_user_from_group", WRITE_OR_DOMAIN),
    *_crud("role", ADMIN_OR_SYSTEM_READER, ADMIN),
    *_crud("domain_role", ADMIN_OR_SYSTEM_READER, ADMIN),
    _r("identity:get_implied_role", ADMIN_OR_SYSTEM_READER),
    _r("identity:list_implied_roles", ADMIN_OR_SYSTEM_READER),
    _r("identity:list_role_inference_rules", ADMIN_OR_SYSTEM_READER),
    _r("identity:check_implied_role", ADMIN_OR_SYSTEM_READER),
    _r("identity:create_implied_role", ADMIN),
    _r("identity:delete_implied_role", ADMIN),
    _r("identity:list_role_assignments", READ_OR_DOMAIN),
    _r("identity:list_role_assignments_for_tree", READ_OR_DOMAIN),
    _r("identity:check_grant", READ_OR_DOMAIN),
    _r("identity:list_grants", READ_OR_DOMAIN),
    _r("identity:create_grant", WRITE_OR_DOMAIN),
    _r("identity:revoke_grant", WRITE_OR_DOMAIN),
    _r("identity:check_system_grant", ADMIN_OR_SYSTEM_READER),
    _r("identity:list_system_grants", ADMIN_OR_SYSTEM_READER),
    _r("identity:create_system_grant", ADMIN),
    _r("identity:revoke_system_grant", ADMIN),
    *_crud("service", ADMIN_OR_SYSTEM_READER, ADMIN),
    *_crud("endpoint", ADMIN_OR_SYSTEM_READER, ADMIN),
    _r("identity:get_region", ""),
    _r("identity:list_regions", ""),
    _r("identity:create_region", ADMIN),
    _r("identity:update_region", ADMIN),
    _r("identity:delete_region", ADMIN),
    _r("identity:get_application_credential", f"{ADMIN_OR_SYSTEM_READER} or {OWNER}"),
    _r("identity:list_application_credentials", f"{ADMIN_OR_SYSTEM_READER} or {OWNER}"),
    _r("identity:create_application_credential", OWNER),
    _r("identity:delete_application_credential", f"{ADMIN} or {OWNER}"),
    _r("identity:get_credential", f"{ADMIN_OR_SYSTEM_READER} or {OWNER}"),
    _r("identity:list_credentials", f"{ADMIN_OR_SYSTEM_READER} or {OWNER}"),
    _r("identity:create_credential", f"{ADMIN} or {OWNER}"),
    _r("identity:update_credential", f"{ADMIN} or {OWNER}"),
    _r("identity:delete_credential", f"{ADMIN} or {OWNER}"),
    _r("identity:validate_token", f"{ADMIN_OR_SYSTEM_READER} or rule:service_role or "
       f"{TOKEN_SUBJECT}"),
    _r("identity:check_token", f"{ADMIN_OR_SYSTEM_READER} or rule:service_role or "
       f"{TOKEN_SUBJECT}"),
    _r("identity:revoke_token", f"{ADMIN} or rule:service_role or {TOKEN_SUBJECT}"),
    _r("identity:get_auth_catalog", ""),
    _r("identity:get_auth_projects", ""),
    _r("identity:get_auth_domains", ""),
    _r("identity:get_auth_system", ""),
]
