"""Nova policy rule names and defaults (secure RBAC personas)."""

from __future__ import annotations

from pocketstack.common.policy import Rule

ADMIN = "rule:context_is_admin"
PROJECT_READER_OR_ADMIN = "rule:context_is_admin or rule:project_reader"
PROJECT_MEMBER_OR_ADMIN = "rule:context_is_admin or rule:project_member"
PROJECT_MANAGER_OR_ADMIN = "rule:context_is_admin or rule:project_manager"
ANY = "@"
ADMIN_OR_OWNER = "rule:context_is_admin or user_id:%(user_id)s"


def _r(name: str, check: str) -> Rule:
    return Rule(f"os_compute_api:{name}", check, name)


_SERVER_READ = ("servers:index", "servers:detail", "servers:show", "ips:index", "ips:show",
                "os-instance-actions:list", "os-instance-actions:show",
                "server-metadata:index", "server-metadata:show", "os-server-tags:index",
                "os-server-tags:show", "os-console-output", "os-server-groups:index",
                "os-server-groups:show", "os-simple-tenant-usage:show", "os-quota-sets:show",
                "os-quota-sets:detail", "os-availability-zone:list", "limits",
                "os-security-groups:list", "os-attach-interfaces:list",
                "os-attach-interfaces:show", "os-networks:list", "os-networks:view",
                "os-tenant-networks:list", "os-tenant-networks:show",
                "os-floating-ip-pools:list", "os-floating-ips:list", "os-floating-ips:show",
                "os-security-groups:get", "os-security-groups:show",
                "os-volumes-attachments:index", "os-volumes-attachments:show",
                "os-server-password:show", "os-volumes:list", "os-volumes:detail",
                "os-volumes:show", "os-volumes:snapshots:list", "os-volumes:snapshots:detail",
                "os-volumes:snapshots:show")
_SERVER_WRITE = ("servers:create", "servers:update", "servers:delete", "servers:start",
                 "servers:stop", "servers:reboot", "servers:rebuild", "servers:resize",
                 "servers:confirm_resize", "servers:revert_resize", "servers:create_image",
                 "os-pause-server:pause", "os-pause-server:unpause", "os-suspend-server:suspend",
                 "os-suspend-server:resume", "os-lock-server:lock", "os-lock-server:unlock",
                 "os-shelve:shelve", "os-shelve:unshelve", "os-shelve:shelve_offload",
                 "os-rescue", "os-unrescue", "server-metadata:create",
                 "server-metadata:update", "server-metadata:update_all",
                 "server-metadata:delete", "os-server-tags:update", "os-server-tags:update_all",
                 "os-server-tags:delete", "os-server-tags:delete_all",
                 "os-server-groups:create", "os-server-groups:delete",
                 "servers:create:forced_host",
                 "os-admin-password", "os-attach-interfaces:create",
                 "os-volumes-attachments:create", "os-volumes-attachments:delete",
                 "os-attach-interfaces:delete", "os-security-groups:add",
                 "os-security-groups:remove", "os-floating-ips:create",
                 "os-floating-ips:delete", "os-floating-ips:add", "os-floating-ips:remove",
                 "os-security-groups:create",
                 "os-security-groups:update", "os-security-groups:delete",
                 "os-security-groups:rule:create", "os-security-groups:rule:delete",
                 "os-server-password:clear", "os-create-backup",
                 "os-deferred-delete:restore", "os-deferred-delete:force",
                 "os-volumes:create", "os-volumes:delete", "os-volumes:snapshots:create",
                 "os-volumes:snapshots:delete", "os-remote-consoles")
_ADMIN_ONLY = ("os-console-auth-tokens", "servers:migrate", "servers:migrate_live",
               "os-migrate-server:migrate",
               "os-migrate-server:migrate_live",
               "servers:index:get_all_tenants", "servers:detail:get_all_tenants",
               "servers:show:host_status", "os-extended-server-attributes",
               "os-lock-server:unlock:unlock_override", "os-services:list",
               "os-services:update", "os-services:delete", "os-hypervisors:list",
               "os-hypervisors:list-detail", "os-hypervisors:show",
               "os-hypervisors:statistics", "os-hypervisors:servers", "os-hypervisors:search",
               "os-hypervisors:uptime", "os-aggregates:index", "os-aggregates:create",
               "os-aggregates:show", "os-aggregates:update", "os-aggregates:delete",
               "os-volumes-attachments:update",
               "os-aggregates:add_host", "os-aggregates:remove_host",
               "os-aggregates:set_metadata", "os-availability-zone:detail",
               "os-flavor-manage:create", "os-flavor-manage:update",
               "os-flavor-manage:delete", "os-flavor-extra-specs:create",
               "os-flavor-extra-specs:update", "os-flavor-extra-specs:delete",
               "os-flavor-access:add_tenant_access", "os-flavor-access:remove_tenant_access",
               "os-flavor-access", "os-quota-sets:update",
               "os-quota-sets:delete", "os-simple-tenant-usage:list", "servers:force_delete",
               "os-instance-actions:events", "os-instance-actions:events:details",
               "servers:allow_all_filters", "os-server-groups:index:all_projects",
               "limits:other_project", "os-keypairs:other_user", "scheduler:explain",
               "os-admin-actions:reset_state", "os-admin-actions:inject_network_info",
               "os-hosts:list", "os-hosts:show",
               "os-hosts:update", "os-hosts:start", "os-hosts:shutdown", "os-hosts:reboot",
               "os-quota-class-sets:show", "os-quota-class-sets:update",
               "os-shelve:unshelve_to_host")

RULES: list[Rule] = [
    *(_r(n, PROJECT_READER_OR_ADMIN) for n in _SERVER_READ),
    *(_r(n, PROJECT_MEMBER_OR_ADMIN) for n in _SERVER_WRITE),
    *(_r(n, ADMIN) for n in _ADMIN_ONLY),
    _r("os-flavor-extra-specs:index", ANY),
    _r("os-flavor-extra-specs:show", ANY),
    _r("flavors", ANY),
    _r("os-quota-sets:defaults", ANY),
    _r("extensions", ANY),
    _r("os-server-diagnostics", ADMIN),
    _r("os-instance-usage-audit-log:list", ADMIN),
    _r("os-instance-usage-audit-log:show", ADMIN),
    _r("os-server-external-events:create", f"{ADMIN} or rule:service_role"),
    _r("os-assisted-volume-snapshots:create", f"{ADMIN} or rule:service_role"),
    _r("os-assisted-volume-snapshots:delete", f"{ADMIN} or rule:service_role"),
    _r("os-migrations:index", PROJECT_MANAGER_OR_ADMIN),
    _r("os-migrations:index:all_projects", ADMIN),
    _r("os-migrations:index:host", ADMIN),
    _r("servers:migrations:index", PROJECT_MANAGER_OR_ADMIN),
    _r("servers:migrations:index:host", ADMIN),
    _r("servers:migrations:show", ADMIN),
    _r("servers:migrations:delete", ADMIN),
    _r("servers:migrations:force_complete", ADMIN),
    *(_r(f"os-keypairs:{n}", ADMIN_OR_OWNER) for n in ("index", "show", "create", "delete")),
]
