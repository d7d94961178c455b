"""Resources as Neutron writes them (timestamps ``YYYY-MM-DDTHH:MM:SSZ``; admin-only
attributes such as provider and binding details shown to admins only)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pocketstack.common.context import RequestContext
from pocketstack.network.domain import security_groups


def isotime(value: dt.datetime | None) -> str | None:
    return None if value is None else value.isoformat(timespec="seconds") + "Z"


def _standard(row: dict[str, Any]) -> dict[str, Any]:
    return {"description": row.get("description") or "", "tags": list(row.get("tags", [])),
            "created_at": isotime(row["created_at"]), "updated_at": isotime(row["updated_at"]),
            "revision_number": row["revision_number"]}


def _owner(row: dict[str, Any]) -> dict[str, Any]:
    return {"tenant_id": row["project_id"], "project_id": row["project_id"]}


def network(row: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
    view = {
        "id": row["id"], "name": row["name"], **_owner(row),
        "admin_state_up": bool(row["admin_state_up"]), "status": row["status"],
        "subnets": list(row["subnets"]), "shared": bool(row["shared"]),
        "router:external": bool(row["external"]), "mtu": row["mtu"],
        "port_security_enabled": bool(row["port_security_enabled"]),
        "availability_zone_hints": list(row["availability_zone_hints"] or []),
        "availability_zones": [], "ipv4_address_scope": None, "ipv6_address_scope": None,
        "l2_adjacency": True, "is_default": bool(row["is_default"]), **_standard(row),
    }
    if ctx.is_admin:
        segs = row["segments"]
        if len(segs) == 1:
            view.update(_provider(segs[0]))
        elif segs:
            view["segments"] = [_provider(s) for s in segs]
        else:
            view.update({"provider:network_type": None, "provider:physical_network": None,
                         "provider:segmentation_id": None})
    return view


def _provider(seg: dict[str, Any]) -> dict[str, Any]:
    return {"provider:network_type": seg["network_type"],
            "provider:physical_network": seg["physical_network"],
            "provider:segmentation_id": seg["segmentation_id"]}


def subnet(row: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
    return {
        "id": row["id"], "name": row["name"], **_owner(row), "network_id": row["network_id"],
        "ip_version": row["ip_version"], "subnetpool_id": row["subnetpool_id"],
        "enable_dhcp": bool(row["enable_dhcp"]), "ipv6_ra_mode": row["ipv6_ra_mode"],
        "ipv6_address_mode": row["ipv6_address_mode"], "gateway_ip": row["gateway_ip"],
        "cidr": row["cidr"], "allocation_pools": list(row["allocation_pools"]),
        "host_routes": list(row["host_routes"]), "dns_nameservers": list(row["dns_nameservers"]),
        "service_types": list(row["service_types"]), "segment_id": None, **_standard(row),
    }


def port(row: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
    view = {
        "id": row["id"], "name": row["name"], **_owner(row), "network_id": row["network_id"],
        "mac_address": row["mac_address"], "admin_state_up": bool(row["admin_state_up"]),
        "status": row["status"], "device_id": row["device_id"],
        "device_owner": row["device_owner"], "fixed_ips": list(row["fixed_ips"]),
        "allowed_address_pairs": list(row["allowed_address_pairs"]),
        "extra_dhcp_opts": list(row["extra_dhcp_opts"] or []),
        "security_groups": list(row["security_groups"]),
        "port_security_enabled": bool(row["port_security_enabled"]),
        "binding:vnic_type": row["binding_vnic_type"], "ip_allocation": "immediate",
        **_standard(row),
    }
    if ctx.is_admin:
        view.update({"binding:host_id": row["binding_host_id"],
                     "binding:vif_type": row["binding_vif_type"],
                     "binding:vif_details": dict(row["binding_vif_details"] or {}),
                     "binding:profile": dict(row["binding_profile"] or {})})
    return view


def security_group_rule(row: dict[str, Any], ctx: RequestContext | None = None
                        ) -> dict[str, Any]:
    return {
        "id": row["id"], **_owner(row), "security_group_id": row["security_group_id"],
        "direction": row["direction"], "ethertype": row["ethertype"],
        "protocol": row["protocol"], "port_range_min": row["port_range_min"],
        "port_range_max": row["port_range_max"], "remote_ip_prefix": row["remote_ip_prefix"],
        "remote_group_id": row["remote_group_id"], "remote_address_group_id": None,
        "normalized_cidr": security_groups.normalized_cidr(row["remote_ip_prefix"]),
        "belongs_to_default_sg": bool(row.get("belongs_to_default_sg", False)),
        **_standard(row),
    }


def security_group(row: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
    return {
        "id": row["id"], "name": row["name"], **_owner(row),
        "stateful": bool(row["stateful"]), "shared": False,
        "security_group_rules": [security_group_rule(r) for r in row["security_group_rules"]],
        **_standard(row),
    }


def router(row: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
    view = {
        "id": row["id"], "name": row["name"], **_owner(row),
        "admin_state_up": bool(row["admin_state_up"]), "status": row["status"],
        "external_gateway_info": row["external_gateway_info"], "routes": list(row["routes"]),
        "availability_zone_hints": list(row["availability_zone_hints"] or []),
        "availability_zones": [], **_standard(row),
    }
    info = view["external_gateway_info"]
    if info is not None and not ctx.is_admin and ctx.project_id != row["project_id"]:
        view["external_gateway_info"] = {"network_id": info["network_id"]}
    return view


def floatingip(row: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
    return {
        "id": row["id"], **_owner(row), "floating_ip_address": row["floating_ip_address"],
        "floating_network_id": row["floating_network_id"], "router_id": row["router_id"],
        "port_id": row["fixed_port_id"], "fixed_ip_address": row["fixed_ip_address"],
        "status": row["status"], "port_forwardings": [], **_standard(row),
    }


def subnetpool(row: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
    return {
        "id": row["id"], "name": row["name"], **_owner(row), "ip_version": row["ip_version"],
        "prefixes": list(row["prefixes"]), "default_prefixlen": row["default_prefixlen"],
        "min_prefixlen": row["min_prefixlen"], "max_prefixlen": row["max_prefixlen"],
        "shared": bool(row["shared"]), "is_default": bool(row["is_default"]),
        "default_quota": row["default_quota"], "address_scope_id": None, **_standard(row),
    }


def rbac_policy(row: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
    return {"id": row["id"], **_owner(row), "object_type": row["object_type"],
            "object_id": row["object_id"], "action": row["action"],
            "target_tenant": row["target_project"], "target_project": row["target_project"]}


def _agent_time(value: dt.datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S")


def agent(row: dict[str, Any], alive: bool) -> dict[str, Any]:
    return {
        "id": row["id"], "agent_type": row["agent_type"], "binary": row["binary"],
        "topic": row["topic"], "host": row["host"],
        "admin_state_up": bool(row["admin_state_up"]), "alive": alive,
        "availability_zone": row["availability_zone"],
        "configurations": dict(row["configurations"] or {}),
        "description": row["description"], "created_at": _agent_time(row["created_at"]),
        "started_at": _agent_time(row["started_at"]),
        "heartbeat_timestamp": _agent_time(row["heartbeat_timestamp"]),
        "resources_synced": None,
    }
