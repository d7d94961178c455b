"""Keystone policy rule names and defaults (the secure-RBAC personas, scope checks relaxed)."""

from __future__ import annotations

from pocketstack.common.policy import Rule

ADMIN = "rule:admin_required"
ADMIN_OR_SYSTEM_READER = "rule:admin_required or (role:reader and system_scope:all)"
DOMAIN_READER = "(role:reader and domain_id:%(target.domain_id)s)"
DOMAIN_ADMIN = "(role:admin and domain_id:%(target.domain_id)s)"
TOKEN_SUBJECT = "user_id:%(target.token.user_id)s"
OWNER = "user_id:%(target.user_id)s"
TRUSTOR = "user_id:%(target.trust.trustor_user_id)s"
TRUSTEE = "user_id:%(target.trust.trustee_user_id)s"


def _r(name: str, check: str, doc: str = "") -> Rule:
    return Rule(name, check, doc or name)


def _crud(noun: str, read: str, write: str, plural: str | None = None) -> list[Rule]:
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

RULES: list[Rule] = [
    _r("identity:get_domain", f"{ADMIN_OR_SYSTEM_READER} or domain_id:%(target.domain_id)s "
       "or project_domain_id:%(target.domain_id)s"),
    _r("identity:list_domains", ADMIN_OR_SYSTEM_READER),
    _r("identity:create_domain", ADMIN),
    _r("identity:update_domain", ADMIN),
    _r("identity:delete_domain", ADMIN),
    _r("identity:create_domain_config", ADMIN),
    _r("identity:get_domain_config", ADMIN_OR_SYSTEM_READER),
    _r("identity:update_domain_config", ADMIN),
    _r("identity:delete_domain_config", ADMIN),
    _r("identity:get_domain_config_default", ADMIN_OR_SYSTEM_READER),
    _r("identity:get_security_compliance_domain_config", ""),
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
    *_crud("policy", ADMIN_OR_SYSTEM_READER, ADMIN, plural="policies"),
    *_crud("consumer", ADMIN_OR_SYSTEM_READER, ADMIN),
    # OS-FEDERATION
    *_crud("identity_provider", ADMIN_OR_SYSTEM_READER, ADMIN),
    *_crud("protocol", ADMIN_OR_SYSTEM_READER, ADMIN),
    *_crud("mapping", ADMIN_OR_SYSTEM_READER, ADMIN),
    *_crud("service_provider", ADMIN_OR_SYSTEM_READER, ADMIN),
    *_crud("endpoint_group", ADMIN_OR_SYSTEM_READER, ADMIN),
    _r("identity:list_projects_for_endpoint", ADMIN_OR_SYSTEM_READER),
    _r("identity:check_endpoint_in_project", ADMIN_OR_SYSTEM_READER),
    _r("identity:list_endpoints_for_project", ADMIN_OR_SYSTEM_READER),
    _r("identity:add_endpoint_to_project", ADMIN),
    _r("identity:remove_endpoint_from_project", ADMIN),
    _r("identity:list_endpoint_groups_for_project", ADMIN_OR_SYSTEM_READER),
    _r("identity:list_projects_associated_with_endpoint_group", ADMIN_OR_SYSTEM_READER),
    _r("identity:list_endpoints_associated_with_endpoint_group", ADMIN_OR_SYSTEM_READER),
    _r("identity:get_endpoint_group_in_project", ADMIN_OR_SYSTEM_READER),
    _r("identity:add_endpoint_group_to_project", ADMIN),
    _r("identity:remove_endpoint_group_from_project", ADMIN),
    _r("identity:get_region", ""),
    _r("identity:list_regions", ""),
    _r("identity:create_region", ADMIN),
    _r("identity:update_region", ADMIN),
    _r("identity:delete_region", ADMIN),
    _r("identity:get_application_credential", f"{ADMIN_OR_SYSTEM_READER} or {OWNER}"),
    _r("identity:list_application_credentials", f"{ADMIN_OR_SYSTEM_READER} or {OWNER}"),
    _r("identity:create_application_credential", OWNER),
    _r("identity:delete_application_credential", f"{ADMIN} or {OWNER}"),
    _r("identity:get_access_rule", f"{ADMIN_OR_SYSTEM_READER} or {OWNER}"),
    _r("identity:list_access_rules", f"{ADMIN_OR_SYSTEM_READER} or {OWNER}"),
    _r("identity:delete_access_rule", f"{ADMIN} or {OWNER}"),
    _r("identity:ec2_get_credential", f"{ADMIN_OR_SYSTEM_READER} or {OWNER}"),
    _r("identity:ec2_list_credentials", f"{ADMIN_OR_SYSTEM_READER} or {OWNER}"),
    _r("identity:ec2_create_credential", f"{ADMIN} or {OWNER}"),
    _r("identity:ec2_delete_credential", f"{ADMIN} or {OWNER}"),
    _r("identity:get_credential", f"{ADMIN_OR_SYSTEM_READER} or {OWNER}"),
    _r("identity:list_credentials", f"{ADMIN_OR_SYSTEM_READER} or {OWNER}"),
    _r("identity:create_credential", f"{ADMIN} or {OWNER}"),
    _r("identity:update_credential", f"{ADMIN} or {OWNER}"),
    _r("identity:delete_credential", f"{ADMIN} or {OWNER}"),
    _r("identity:create_trust", TRUSTOR),
    _r("identity:list_trusts", ADMIN_OR_SYSTEM_READER),
    _r("identity:list_trusts_for_trustor", f"{ADMIN_OR_SYSTEM_READER} or {TRUSTOR}"),
    _r("identity:list_trusts_for_trustee", f"{ADMIN_OR_SYSTEM_READER} or {TRUSTEE}"),
    _r("identity:get_trust", f"{ADMIN_OR_SYSTEM_READER} or {TRUSTOR} or {TRUSTEE}"),
    _r("identity:list_roles_for_trust", f"{ADMIN_OR_SYSTEM_READER} or {TRUSTOR} or {TRUSTEE}"),
    _r("identity:get_role_for_trust", f"{ADMIN_OR_SYSTEM_READER} or {TRUSTOR} or {TRUSTEE}"),
    _r("identity:delete_trust", f"{ADMIN} or {TRUSTOR}"),
    _r("identity:validate_token", f"{ADMIN_OR_SYSTEM_READER} or rule:service_role or "
       f"{TOKEN_SUBJECT}"),
    _r("identity:check_token", f"{ADMIN_OR_SYSTEM_READER} or rule:service_role or "
       f"{TOKEN_SUBJECT}"),
    _r("identity:revoke_token", f"{ADMIN} or rule:service_role or {TOKEN_SUBJECT}"),
    _r("identity:get_registered_limit", ""),
    _r("identity:list_registered_limits", ""),
    _r("identity:create_registered_limits", ADMIN),
    _r("identity:update_registered_limit", ADMIN),
    _r("identity:delete_registered_limit", ADMIN),
    _r("identity:get_limit_model", ""),
    _r("identity:get_limit", f"{ADMIN_OR_SYSTEM_READER} or "
       "domain_id:%(target.limit.domain_id)s or domain_id:%(target.limit.project.domain_id)s "
       "or project_id:%(target.limit.project_id)s"),
    _r("identity:list_limits", ""),
    _r("identity:create_limits", ADMIN),
    _r("identity:update_limit", ADMIN),
    _r("identity:delete_limit", ADMIN),
    _r("identity:get_auth_catalog", ""),
    _r("identity:get_auth_projects", ""),
    _r("identity:get_auth_domains", ""),
    _r("identity:get_auth_system", ""),
]
