"""Neutron policy defaults: members act on their project's resources, admins on all;
agents and quota changes are admin-only. Visibility (shared, external, RBAC) is applied by
the domain queries, so ``get_*`` rules only gate who may read at all."""

from __future__ import annotations

from oslo_policy import policy

ADMIN = "rule:admin_only"
OWNER = "rule:admin_only or project_id:%(project_id)s"
_MEMBERS = ("network", "subnet", "port", "security_group", "security_group_rule", "router",
            "floatingip", "subnetpool", "rbac_policy")

RULES: list[policy.RuleDefault] = [
    policy.RuleDefault("admin_only", "role:admin", "Cloud administrator."),
]
for _member in _MEMBERS:
    RULES += [
        policy.RuleDefault(f"get_{_member}", "", f"Read {_member}s the caller can see."),
        policy.RuleDefault(f"create_{_member}", OWNER, f"Create a {_member}."),
        policy.RuleDefault(f"update_{_member}", OWNER, f"Update a {_member}."),
        policy.RuleDefault(f"delete_{_member}", OWNER, f"Delete a {_member}."),
    ]
RULES += [
    policy.RuleDefault("add_router_interface", OWNER, "Attach a subnet or port to a router."),
    policy.RuleDefault("remove_router_interface", OWNER, "Detach a router interface."),
    policy.RuleDefault("get_agent", ADMIN, "List and show agents."),
    policy.RuleDefault("update_agent", ADMIN, "Change an agent's admin state."),
    policy.RuleDefault("delete_agent", ADMIN, "Delete an agent."),
    policy.RuleDefault("get_quota", OWNER, "Show a project's quotas."),
    policy.RuleDefault("update_quota", ADMIN, "Set a project's quotas."),
    policy.RuleDefault("delete_quota", ADMIN, "Reset a project's quotas."),
]
