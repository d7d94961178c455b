"""The whole Keystone v3 surface, one line per route."""

from __future__ import annotations

from pocketstack.common.api.app import Route
from pocketstack.identity.api import (
    app_creds,
    assignments,
    auth,
    catalog,
    credentials,
    domains,
    groups,
    projects,
    roles,
    users,
    versions,
)


def _grants(prefix: str) -> list[Route]:
    """List / check / grant / revoke for one (target, actor) pair of path segments."""
    return [
        Route("GET", f"{prefix}/roles", assignments.list_grants),
        Route("PUT", f"{prefix}/roles/{{role_id}}", assignments.create_grant),
        Route("GET", f"{prefix}/roles/{{role_id}}", assignments.check_grant),
        Route("DELETE", f"{prefix}/roles/{{role_id}}", assignments.revoke_grant),
    ]


def _inherited(prefix: str) -> list[Route]:
    return [
        Route("GET", f"{prefix}/roles/inherited_to_projects", assignments.list_grants),
        Route("PUT", f"{prefix}/roles/{{role_id}}/inherited_to_projects",
              assignments.create_grant),
        Route("GET", f"{prefix}/roles/{{role_id}}/inherited_to_projects",
              assignments.check_grant),
        Route("DELETE", f"{prefix}/roles/{{role_id}}/inherited_to_projects",
              assignments.revoke_grant),
    ]


ROUTES: list[Route] = [
    Route("GET", "/", versions.list_versions, public=True),
    Route("GET", "/v3", versions.show_v3, public=True),
    # auth
    Route("POST", "/v3/auth/tokens", auth.issue_token, public=True),
    Route("GET", "/v3/auth/tokens", auth.validate_token),
    Route("HEAD", "/v3/auth/tokens", auth.check_token),
    Route("DELETE", "/v3/auth/tokens", auth.revoke_token),
    Route("GET", "/v3/auth/catalog", auth.auth_catalog),
    Route("GET", "/v3/auth/projects", auth.auth_projects),
    Route("GET", "/v3/auth/domains", auth.auth_domains),
    Route("GET", "/v3/auth/system", auth.auth_system),
    # domains
    Route("GET", "/v3/domains", domains.list_domains),
    Route("POST", "/v3/domains", domains.create_domain),
    Route("GET", "/v3/domains/{domain_id}", domains.get_domain),
    Route("PATCH", "/v3/domains/{domain_id}", domains.update_domain),
    Route("DELETE", "/v3/domains/{domain_id}", domains.delete_domain),
    # projects
    Route("GET", "/v3/projects", projects.list_projects),
    Route("POST", "/v3/projects", projects.create_project),
    Route("GET", "/v3/projects/{project_id}", projects.get_project),
    Route("PATCH", "/v3/projects/{project_id}", projects.update_project),
    Route("DELETE", "/v3/projects/{project_id}", projects.delete_project),
    Route("GET", "/v3/projects/{project_id}/tags", projects.list_tags),
    Route("PUT", "/v3/projects/{project_id}/tags", projects.replace_tags),
    Route("DELETE", "/v3/projects/{project_id}/tags", projects.delete_all_tags),
    Route("GET", "/v3/projects/{project_id}/tags/{tag}", projects.check_tag),
    Route("PUT", "/v3/projects/{project_id}/tags/{tag}", projects.add_tag),
    Route("DELETE", "/v3/projects/{project_id}/tags/{tag}", projects.delete_tag),
    # users
    Route("GET", "/v3/users", users.list_users),
    Route("POST", "/v3/users", users.create_user),
    Route("GET", "/v3/users/{user_id}", users.get_user),
    Route("PATCH", "/v3/users/{user_id}", users.update_user),
    Route("DELETE", "/v3/users/{user_id}", users.delete_user),
    Route("POST", "/v3/users/{user_id}/password", users.change_password, public=True),
    Route("GET", "/v3/users/{user_id}/projects", users.list_user_projects),
    Route("GET", "/v3/users/{user_id}/groups", users.list_user_groups),
    Route("GET", "/v3/users/{user_id}/application_credentials", app_creds.list_app_creds),
    Route("POST", "/v3/users/{user_id}/application_credentials", app_creds.create_app_cred),
    Route("GET", "/v3/users/{user_id}/application_credentials/{cred_id}",
          app_creds.get_app_cred),
    Route("DELETE", "/v3/users/{user_id}/application_credentials/{cred_id}",
          app_creds.delete_app_cred),
    # groups
    Route("GET", "/v3/groups", groups.list_groups),
    Route("POST", "/v3/groups", groups.create_group),
    Route("GET", "/v3/groups/{group_id}", groups.get_group),
    Route("PATCH", "/v3/groups/{group_id}", groups.update_group),
    Route("DELETE", "/v3/groups/{group_id}", groups.delete_group),
    Route("GET", "/v3/groups/{group_id}/users", groups.list_members),
    Route("PUT", "/v3/groups/{group_id}/users/{user_id}", groups.add_member),
    Route("GET", "/v3/groups/{group_id}/users/{user_id}", groups.check_member),
    Route("DELETE", "/v3/groups/{group_id}/users/{user_id}", groups.remove_member),
    # roles and implications
    Route("GET", "/v3/roles", roles.list_roles),
    Route("POST", "/v3/roles", roles.create_role),
    Route("GET", "/v3/roles/{role_id}", roles.get_role),
    Route("PATCH", "/v3/roles/{role_id}", roles.update_role),
    Route("DELETE", "/v3/roles/{role_id}", roles.delete_role),
    Route("GET", "/v3/roles/{prior_role_id}/implies", roles.list_implied),
    Route("PUT", "/v3/roles/{prior_role_id}/implies/{implied_role_id}", roles.create_implied),
    Route("GET", "/v3/roles/{prior_role_id}/implies/{implied_role_id}", roles.get_implied),
    Route("HEAD", "/v3/roles/{prior_role_id}/implies/{implied_role_id}", roles.check_implied),
    Route("DELETE", "/v3/roles/{prior_role_id}/implies/{implied_role_id}",
          roles.delete_implied),
    Route("GET", "/v3/role_inferences", roles.list_inferences),
    # assignments
    Route("GET", "/v3/role_assignments", assignments.list_role_assignments),
    *_grants("/v3/projects/{project_id}/users/{user_id}"),
    *_grants("/v3/projects/{project_id}/groups/{group_id}"),
    *_grants("/v3/domains/{domain_id}/users/{user_id}"),
    *_grants("/v3/domains/{domain_id}/groups/{group_id}"),
    *_grants("/v3/system/users/{user_id}"),
    *_grants("/v3/system/groups/{group_id}"),
    *_inherited("/v3/OS-INHERIT/domains/{domain_id}/users/{user_id}"),
    *_inherited("/v3/OS-INHERIT/domains/{domain_id}/groups/{group_id}"),
    *_inherited("/v3/OS-INHERIT/projects/{project_id}/users/{user_id}"),
    *_inherited("/v3/OS-INHERIT/projects/{project_id}/groups/{group_id}"),
    # catalog
    Route("GET", "/v3/services", catalog.list_services),
    Route("POST", "/v3/services", catalog.create_service),
    Route("GET", "/v3/services/{service_id}", catalog.get_service),
    Route("PATCH", "/v3/services/{service_id}", catalog.update_service),
    Route("DELETE", "/v3/services/{service_id}", catalog.delete_service),
    Route("GET", "/v3/endpoints", catalog.list_endpoints),
    Route("POST", "/v3/endpoints", catalog.create_endpoint),
    Route("GET", "/v3/endpoints/{endpoint_id}", catalog.get_endpoint),
    Route("PATCH", "/v3/endpoints/{endpoint_id}", catalog.update_endpoint),
    Route("DELETE", "/v3/endpoints/{endpoint_id}", catalog.delete_endpoint),
    Route("GET", "/v3/regions", catalog.list_regions),
    Route("POST", "/v3/regions", catalog.create_region),
    Route("GET", "/v3/regions/{region_id}", catalog.get_region),
    Route("PUT", "/v3/regions/{region_id}", catalog.create_region_with_id),
    Route("PATCH", "/v3/regions/{region_id}", catalog.update_region),
    Route("DELETE", "/v3/regions/{region_id}", catalog.delete_region),
    # credentials
    Route("GET", "/v3/credentials", credentials.list_credentials),
    Route("POST", "/v3/credentials", credentials.create_credential),
    Route("GET", "/v3/credentials/{credential_id}", credentials.get_credential),
    Route("PATCH", "/v3/credentials/{credential_id}", credentials.update_credential),
    Route("DELETE", "/v3/credentials/{credential_id}", credentials.delete_credential),
]
