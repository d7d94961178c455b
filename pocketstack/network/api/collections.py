"""Each Neutron collection as a :class:`Resource`: its table, attributes, filters, view and
domain functions."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pocketstack.common.api.app import ApiRequest
from pocketstack.common.context import RequestContext
from pocketstack.network import schemas
from pocketstack.network.api import views
from pocketstack.network.api.resources import Resource, Rows
from pocketstack.network.domain import (
    floatingips,
    networks,
    ports,
    rbac,
    routers,
    segments,
    subnetpools,
    subnets,
)
from pocketstack.network.domain import security_groups as sgs
from pocketstack.network.domain.common import ListQuery

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

STD = {"id": "id", "name": "name", "description": "description", "tenant_id": "project_id",
       "project_id": "project_id", "created_at": "created_at", "updated_at": "updated_at",
       "revision_number": "revision_number"}
UNNAMED = {k: v for k, v in STD.items() if k != "name"}  # resources without a name attribute


# -- networks ----------------------------------------------------------------------------------
def _list_networks(req: ApiRequest, conn: Connection, ctx: RequestContext,
                   q: ListQuery) -> Rows:
    provider: dict[str, list[Any]] = {}
    for api, column in (("provider:network_type", "network_type"),
                        ("provider:physical_network", "physical_network"),
                        ("provider:segmentation_id", "segmentation_id")):
        values = req.query.getlist(api)
        if values:
            provider[column] = [int(v) if column == "segmentation_id" and v.isdigit() else v
                                for v in values]
    return networks.list_networks(conn, ctx, q, provider)


def _create_network(svc: Any, conn: Connection, ctx: RequestContext, values: dict[str, Any],
                    tags: list[str] | None) -> dict[str, Any]:
    requested: list[dict[str, Any]] = []
    if values.get("segments"):
        if any(k.startswith("provider:") for k in values):
            raise schemas.errors.bad_request(
                "SegmentsSetInConjunctionWithProviders",
                "Segments and provider values cannot both be set.")
        requested = [segments.validate(svc.segment_config, s) for s in values["segments"]]
    elif values.get("provider:network_type"):
        requested = [segments.validate(svc.segment_config, {
            k: v for k, v in values.items() if k.startswith("provider:")})]
    elif values.get("provider:physical_network") or \
            values.get("provider:segmentation_id") is not None:
        raise schemas.errors.InvalidInput("provider:network_type required")
    return networks.create(conn, ctx, values, requested, svc.segment_config,
                           svc.quota_defaults, tags)


NETWORKS = Resource(
    "networks", "networks", "network", schemas.NETWORK,
    {**STD, "admin_state_up": "admin_state_up", "status": "status", "shared": "shared",
     "router:external": "external", "mtu": "mtu", "is_default": "is_default",
     "port_security_enabled": "port_security_enabled"},
    views.network, networks.get_visible, _list_networks, _create_network,
    lambda svc, conn, ctx, i, v, rev: networks.update(conn, ctx, i, v, rev,
                                                      svc.segment_config),
    lambda svc, conn, ctx, i: networks.delete(conn, ctx, i),
)

SUBNETS = Resource(
    "subnets", "subnets", "subnet", schemas.SUBNET,
    {**STD, "network_id": "network_id", "ip_version": "ip_version", "cidr": "cidr",
     "gateway_ip": "gateway_ip", "enable_dhcp": "enable_dhcp", "ipv6_ra_mode": "ipv6_ra_mode",
     "ipv6_address_mode": "ipv6_address_mode", "subnetpool_id": "subnetpool_id"},
    views.subnet, subnets.get_visible,
    lambda req, conn, ctx, q: subnets.list_subnets(conn, ctx, q),
    lambda svc, conn, ctx, v, tags: subnets.create(conn, ctx, v, svc.quota_defaults, tags),
    lambda svc, conn, ctx, i, v, rev: subnets.update(conn, ctx, i, v, rev),
    lambda svc, conn, ctx, i: subnets.delete(conn, ctx, i),
)


# -- ports -------------------------------------------------------------------------------------
def _list_ports(req: ApiRequest, conn: Connection, ctx: RequestContext, q: ListQuery,
                known: Callable[[dict[str, Any]], bool] | None = None) -> Rows:
    fixed: list[dict[str, str]] = []
    for value in req.query.getlist("fixed_ips"):
        wanted: dict[str, str] = {}
        for part in value.split(","):
            key, _, val = part.partition("=")
            if key in ("ip_address", "subnet_id", "ip_address_substr") and val:
                wanted[key] = val
        if wanted:
            fixed.append(wanted)
    groups = req.query.getlist("security_groups")
    return ports.list_ports(conn, ctx, q, fixed, groups, known)


def _ensure_default_sg(svc: Any, ctx: RequestContext) -> None:
    if ctx.project_id:
        svc.ensure_default_security_group(ctx.project_id)


PORTS = Resource(
    "ports", "ports", "port", schemas.PORT,
    {**STD, "network_id": "network_id", "mac_address": "mac_address",
     "admin_state_up": "admin_state_up", "status": "status", "device_id": "device_id",
     "device_owner": "device_owner", "port_security_enabled": "port_security_enabled",
     "binding:host_id": "binding_host_id", "binding:vif_type": "binding_vif_type",
     "binding:vnic_type": "binding_vnic_type"},
    views.port, ports.get_visible, _list_ports,
    lambda svc, conn, ctx, v, tags: ports.create(conn, ctx, v, svc.quota_defaults,
                                                 svc.binding, tags),
    lambda svc, conn, ctx, i, v, rev: ports.update(conn, ctx, i, v, svc.binding, rev),
    lambda svc, conn, ctx, i: ports.delete(conn, ctx, i),
    list_cached=lambda req, conn, ctx, q, known: _list_ports(req, conn, ctx, q, known),
    decorate_rows=ports.by_ids,
)

SECURITY_GROUPS = Resource(
    "security-groups", "security_groups", "security_group", schemas.SECURITY_GROUP,
    {**STD, "stateful": "stateful"},
    views.security_group, sgs.get_visible,
    lambda req, conn, ctx, q: sgs.list_groups(conn, ctx, q),
    lambda svc, conn, ctx, v, tags: sgs.create(conn, ctx, v, svc.quota_defaults, tags),
    lambda svc, conn, ctx, i, v, rev: sgs.update(conn, ctx, i, v, rev),
    lambda svc, conn, ctx, i: sgs.delete(conn, ctx, i),
    before=_ensure_default_sg,
)

SECURITY_GROUP_RULES = Resource(
    "security-group-rules", "security_group_rules", "security_group_rule",
    schemas.SECURITY_GROUP_RULE,
    {**UNNAMED, "security_group_id": "security_group_id", "direction": "direction",
     "ethertype": "ethertype", "protocol": "protocol", "port_range_min": "port_range_min",
     "port_range_max": "port_range_max", "remote_ip_prefix": "remote_ip_prefix",
     "remote_group_id": "remote_group_id"},
    views.security_group_rule, sgs.get_rule,
    lambda req, conn, ctx, q: sgs.list_rules(conn, ctx, q),
    lambda svc, conn, ctx, v, tags: sgs.create_rule(conn, ctx, v, svc.quota_defaults),
    None,
    lambda svc, conn, ctx, i: sgs.delete_rule(conn, ctx, i),
    tags=False, before=_ensure_default_sg,
)

ROUTERS = Resource(
    "routers", "routers", "router", schemas.ROUTER,
    {**STD, "admin_state_up": "admin_state_up", "status": "status"},
    views.router, routers.get_visible,
    lambda req, conn, ctx, q: routers.list_routers(conn, ctx, q),
    lambda svc, conn, ctx, v, tags: routers.create(conn, ctx, v, svc.quota_defaults,
                                                   svc.binding, tags),
    lambda svc, conn, ctx, i, v, rev: routers.update(conn, ctx, i, v, svc.binding, rev),
    lambda svc, conn, ctx, i: routers.delete(conn, ctx, i),
)

FLOATINGIPS = Resource(
    "floatingips", "floatingips", "floatingip", schemas.FLOATINGIP,
    {**UNNAMED, "floating_ip_address": "floating_ip_address",
     "floating_network_id": "floating_network_id", "router_id": "router_id",
     "port_id": "fixed_port_id", "fixed_ip_address": "fixed_ip_address", "status": "status"},
    views.floatingip, floatingips.get_visible,
    lambda req, conn, ctx, q: floatingips.list_fips(conn, ctx, q),
    lambda svc, conn, ctx, v, tags: floatingips.create(conn, ctx, v, svc.quota_defaults,
                                                       svc.binding, tags),
    lambda svc, conn, ctx, i, v, rev: floatingips.update(conn, ctx, i, v, rev),
    lambda svc, conn, ctx, i: floatingips.delete(conn, ctx, i),
)

SUBNETPOOLS = Resource(
    "subnetpools", "subnetpools", "subnetpool", schemas.SUBNETPOOL,
    {**STD, "ip_version": "ip_version", "shared": "shared", "is_default": "is_default",
     "default_prefixlen": "default_prefixlen", "min_prefixlen": "min_prefixlen",
     "max_prefixlen": "max_prefixlen"},
    views.subnetpool, subnetpools.get_visible,
    lambda req, conn, ctx, q: subnetpools.list_pools(conn, ctx, q),
    lambda svc, conn, ctx, v, tags: subnetpools.create(conn, ctx, v, svc.quota_defaults, tags),
    lambda svc, conn, ctx, i, v, rev: subnetpools.update(conn, ctx, i, v, rev),
    lambda svc, conn, ctx, i: subnetpools.delete(conn, ctx, i),
)

RBAC_POLICIES = Resource(
    "rbac-policies", "rbac_policies", "rbac_policy", schemas.RBAC_POLICY,
    {"id": "id", "tenant_id": "project_id", "project_id": "project_id",
     "object_type": "object_type", "object_id": "object_id", "action": "action",
     "target_tenant": "target_project", "target_project": "target_project"},
    views.rbac_policy, rbac.get_visible,
    lambda req, conn, ctx, q: rbac.list_policies(conn, ctx, q),
    lambda svc, conn, ctx, v, tags: rbac.create(conn, ctx, v, svc.quota_defaults),
    lambda svc, conn, ctx, i, v, rev: rbac.update(conn, ctx, i, v),
    lambda svc, conn, ctx, i: rbac.delete(conn, ctx, i),
    tags=False,
)

ALL = (NETWORKS, SUBNETS, PORTS, SECURITY_GROUPS, SECURITY_GROUP_RULES, ROUTERS, FLOATINGIPS,
       SUBNETPOOLS, RBAC_POLICIES)
