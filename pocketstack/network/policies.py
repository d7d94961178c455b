"""Neutron policy defaults: members act on their project's resources, admins on all;
agents and quota changes are admin-only. Visibility (shared, external, RBAC) is applied by
the domain queries, so ``get_*`` rules only gate who may read at all."""

from __future__ import annotations

from pocketstack.common.policy import Rule

ADMIN = "rule:admin_only"
OWNER = "rule:admin_only or project_id:%(project_id)s"
_MEMBERS = ("network", "subnet", "port", "security_group", "security_group_rule", "router",
            "floatingip", "subnetpool", "rbac_policy")

RULES: list[Rule] = [
    Rule("admin_only", "role:admin", "Cloud administrator."),
]
for _member in _MEMBERS:
    RULES += [
        Rule(f"get_{_member}", "", f"Read {_member}s the caller can see."),
        Rule(f"create_{_member}", OWNER, f"Create a {_member}."),
        Rule(f"update_{_member}", OWNER, f"Update a {_member}."),
        Rule(f"delete_{_member}", OWNER, f"Delete a {_member}."),
    ]
RULES += [
    Rule("add_router_interface", OWNER, "Attach a subnet or port to a router."),
    Rule("remove_router_interface", OWNER, "Detach a router interface."),
    Rule("get_agent", ADMIN, "List and show agents."),
    Rule("update_agent", ADMIN, "Change an agent's admin state."),
    Rule("delete_agent", ADMIN, "Delete an agent."),
    Rule("get_quota", OWNER, "Show a project's quotas."),
    Rule("update_quota", ADMIN, "Set a project's quotas."),
    Rule("delete_quota", ADMIN, "Reset a project's quotas."),
]
