"""devstack's default topology, made once on first start: the external flat ``public``
network (physical network ``public``, 172.24.4.0/24), default subnet pools, the demo
project's ``private`` tenant network (10.0.0.0/26 and a SLAAC IPv6 subnet), a ``shared``
network and ``router1`` joining private to public."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from pocketstack.common.context import RequestContext
from pocketstack.network import tables as t
from pocketstack.network.domain import networks, ports, routers, segments, subnetpools, subnets


def _ctx(project_id: str) -> RequestContext:
    return RequestContext(project_id=project_id, roles=["admin", "member", "reader"])


def create_default_topology(conn: Connection, admin_project: str, demo_project: str,
                            config: segments.SegmentConfig, quota_defaults: dict[str, int],
                            binding: ports.BindingConfig) -> bool:
    """Returns False (and does nothing) when a ``public`` network exists already."""
    exists = conn.execute(sa.select(t.networks.c.id).where(t.networks.c.name == "public")
                          ).first()
    if exists is not None:
        return False
    admin = _ctx(admin_project)
    demo = _ctx(demo_project)
    unlimited = {k: -1 for k in quota_defaults}
    public_segments: list[dict[str, Any]] = []
    if "public" in config.physical_networks:
        public_segments = [{"network_type": "flat", "physical_network": "public",
                            "segmentation_id": None}]
    public = networks.create(conn, admin, {
        "name": "public", "project_id": admin_project, "router:external": True,
        "is_default": True, "description": "devstack's external network"},
        public_segments, config, unlimited)
    subnets.create(conn, admin, {
        "name": "public-subnet", "project_id": admin_project, "network_id": public["id"],
        "ip_version": 4, "cidr": "172.24.4.0/24", "gateway_ip": "172.24.4.1",
        "allocation_pools": [{"start": "172.24.4.2", "end": "172.24.4.254"}],
        "enable_dhcp": False}, unlimited)
    pool4 = subnetpools.create(conn, admin, {
        "name": "shared-default-subnetpool-v4", "project_id": admin_project,
        "prefixes": ["10.0.0.0/22"], "default_prefixlen": 26, "shared": True,
        "is_default": True}, unlimited)
    pool6 = subnetpools.create(conn, admin, {
        "name": "shared-default-subnetpool-v6", "project_id": admin_project,
        "prefixes": ["fd5e:7a6b:1a62::/56"], "default_prefixlen": 64, "shared": True,
        "is_default": True}, unlimited)
    private = networks.create(conn, demo, {"name": "private", "project_id": demo_project},
                              [], config, unlimited)
    v4 = subnets.create(conn, demo, {
        "name": "private-subnet", "project_id": demo_project, "network_id": private["id"],
        "ip_version": 4, "cidr": "10.0.0.0/26", "subnetpool_id": pool4["id"]}, unlimited)
    v6 = subnets.create(conn, demo, {
        "name": "ipv6-private-subnet", "project_id": demo_project,
        "network_id": private["id"], "ip_version": 6, "subnetpool_id": pool6["id"],
        "ipv6_ra_mode": "slaac", "ipv6_address_mode": "slaac"}, unlimited)
    shared = networks.create(conn, admin, {"name": "shared", "project_id": admin_project,
                                           "shared": True}, [], config, unlimited)
    subnets.create(conn, admin, {
        "name": "shared-subnet", "project_id": admin_project, "network_id": shared["id"],
        "ip_version": 4, "cidr": "192.168.233.0/24"}, unlimited)
    router = routers.create(conn, demo, {
        "name": "router1", "project_id": demo_project,
        "external_gateway_info": {"network_id": public["id"]}}, unlimited, binding)
    for subnet in (v4, v6):
        routers.add_interface(conn, demo, router["id"], {"subnet_id": subnet["id"]}, binding)
    return True
