"""``GET /servers/{id}/os-security-groups``: the security groups of a server's ports.

Security groups belong to the networking service (Neutron), read through its NetworkAPI and
shown in Nova's proxy shape (``ip_protocol``, ``from_port``/``to_port``, ``ip_range``,
``group``); a cloud without networking has no ports, so the list is empty (404 for a server
the caller cannot see).
"""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from pocketstack.common.api.app import ApiRequest, json_response
from pocketstack.compute.api.admin_common import is_admin
from pocketstack.compute.api.common import enforce, svc
from pocketstack.compute.domain.instance_access import load_instance


def nova_rule(rule: dict[str, Any], names: dict[str, str]) -> dict[str, Any]:
    """A Neutron rule as Nova's proxy shows it (ingress rules only are listed)."""
    remote = rule.get("remote_group_id")
    protocol = rule.get("protocol")
    ports = (rule.get("port_range_min"), rule.get("port_range_max"))
    if protocol in ("icmp", "ipv6-icmp") and ports == (None, None):
        ports = (-1, -1)
    return {"id": rule["id"], "parent_group_id": rule["security_group_id"],
            "ip_protocol": protocol, "from_port": ports[0], "to_port": ports[1],
            "ip_range": {} if remote else {"cidr": rule.get("remote_ip_prefix") or (
                "::/0" if rule.get("ethertype") == "IPv6" else "0.0.0.0/0")},
            "group": {"name": names.get(remote, ""), "tenant_id": rule.get("project_id")}
            if remote else {}}


def nova_group(group: dict[str, Any]) -> dict[str, Any]:
    names = {group["id"]: group["name"]}
    return {"id": group["id"], "name": group["name"], "description": group["description"],
            "tenant_id": group["project_id"],
            "rules": [nova_rule(r, names) for r in group.get("security_group_rules") or []
                      if r.get("direction") == "ingress"]}


def index(req: ApiRequest) -> Response:
    def read(conn: Any) -> str:
        inst = load_instance(conn, req.ctx.project_id, is_admin(req),
                             req.path_params["server_id"])
        enforce(req, "os_compute_api:os-security-groups:list",
                {"project_id": inst["project_id"]})
        return str(inst["uuid"])

    uuid = svc(req).db.read(read)
    network = svc(req).network
    groups = network.instance_security_groups([uuid]).get(uuid, []) if network else []
    return json_response({"security_groups": [nova_group(g) for g in groups]})
