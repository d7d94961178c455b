"""Neutron's tables.

Every API resource row carries the standard attributes (``project_id``, ``description``,
``created_at``, ``updated_at``, ``revision_number``); tags of any resource live in one table.
Races are settled by unique keys: segmentation ids (``segment_allocations``), fixed IPs
(``ip_allocations``: one address once per subnet), MACs per network, one default security
group per project; and per-project counting (quotas, duplicate rules) runs under the
project's row in ``project_locks``.
"""

from __future__ import annotations

import sqlalchemy as sa

from pocketstack.common.schema import metadata

UUID = sa.String(36)
NAME = sa.String(255)
PROJECT = sa.String(64)
DESC = sa.String(1024)


def _standard() -> list[sa.Column[object]]:
    return [
        sa.Column("description", DESC, nullable=False, default=""),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
        sa.Column("revision_number", sa.Integer, nullable=False, default=0),
    ]


networks = sa.Table(
    "neutron_networks", metadata,
    sa.Column("id", UUID, primary_key=True),
    sa.Column("project_id", PROJECT, nullable=False, index=True),
    sa.Column("name", NAME, nullable=False, default=""),
    sa.Column("admin_state_up", sa.Boolean, nullable=False, default=True),
    sa.Column("status", sa.String(16), nullable=False, default="ACTIVE"),
    sa.Column("shared", sa.Boolean, nullable=False, default=False),
    sa.Column("external", sa.Boolean, nullable=False, default=False),
    sa.Column("is_default", sa.Boolean, nullable=False, default=False),
    sa.Column("mtu", sa.Integer, nullable=False),
    sa.Column("port_security_enabled", sa.Boolean, nullable=False, default=True),
    sa.Column("availability_zone_hints", sa.JSON, nullable=False),
    *_standard(),
)

segments = sa.Table(
    "neutron_segments", metadata,
    sa.Column("id", UUID, primary_key=True),
    sa.Column("network_id", UUID, sa.ForeignKey("neutron_networks.id", ondelete="CASCADE"),
              nullable=False, index=True),
    sa.Column("network_type", sa.String(16), nullable=False),
    sa.Column("physical_network", sa.String(64), nullable=True),
    sa.Column("segmentation_id", sa.Integer, nullable=True),
    sa.Column("segment_index", sa.Integer, nullable=False, default=0),
)

# One row per segment that holds a physical resource; the primary key makes two networks
# taking the same (type, physnet, id) impossible, however the requests interleave.
segment_allocations = sa.Table(
    "neutron_segment_allocations", metadata,
    sa.Column("network_type", sa.String(16), primary_key=True),
    sa.Column("physical_network", sa.String(64), primary_key=True),  # "" for tunnels
    sa.Column("segmentation_id", sa.Integer, primary_key=True),  # 0 for flat
    sa.Column("segment_id", UUID, sa.ForeignKey("neutron_segments.id", ondelete="CASCADE"),
              nullable=False, index=True),
)

subnetpools = sa.Table(
    "neutron_subnetpools", metadata,
    sa.Column("id", UUID, primary_key=True),
    sa.Column("project_id", PROJECT, nullable=False, index=True),
    sa.Column("name", NAME, nullable=False, default=""),
    sa.Column("ip_version", sa.Integer, nullable=False),
    sa.Column("prefixes", sa.JSON, nullable=False),
    sa.Column("default_prefixlen", sa.Integer, nullable=False),
    sa.Column("min_prefixlen", sa.Integer, nullable=False),
    sa.Column("max_prefixlen", sa.Integer, nullable=False),
    sa.Column("shared", sa.Boolean, nullable=False, default=False),
    sa.Column("is_default", sa.Boolean, nullable=False, default=False),
    sa.Column("default_quota", sa.Integer, nullable=True),
    *_standard(),
)

subnets = sa.Table(
    "neutron_subnets", metadata,
    sa.Column("id", UUID, primary_key=True),
    sa.Column("project_id", PROJECT, nullable=False, index=True),
    sa.Column("network_id", UUID, sa.ForeignKey("neutron_networks.id"), nullable=False,
              index=True),
    sa.Column("name", NAME, nullable=False, default=""),
    sa.Column("ip_version", sa.Integer, nullable=False),
    sa.Column("cidr", sa.String(64), nullable=False),
    sa.Column("gateway_ip", sa.String(64), nullable=True),
    sa.Column("enable_dhcp", sa.Boolean, nullable=False, default=True),
    sa.Column("ipv6_ra_mode", sa.String(16), nullable=True),
    sa.Column("ipv6_address_mode", sa.String(16), nullable=True),
    sa.Column("subnetpool_id", UUID, sa.ForeignKey("neutron_subnetpools.id"), nullable=True,
              index=True),
    sa.Column("allocation_pools", sa.JSON, nullable=False),
    sa.Column("dns_nameservers", sa.JSON, nullable=False),
    sa.Column("host_routes", sa.JSON, nullable=False),
    sa.Column("service_types", sa.JSON, nullable=False),
    *_standard(),
)

ports = sa.Table(
    "neutron_ports", metadata,
    sa.Column("id", UUID, primary_key=True),
    sa.Column("project_id", PROJECT, nullable=False, index=True),
    sa.Column("network_id", UUID, sa.ForeignKey("neutron_networks.id"), nullable=False,
              index=True),
    sa.Column("name", NAME, nullable=False, default=""),
    sa.Column("mac_address", sa.String(32), nullable=False),
    sa.Column("admin_state_up", sa.Boolean, nullable=False, default=True),
    sa.Column("status", sa.String(16), nullable=False, default="DOWN"),
    sa.Column("device_id", NAME, nullable=False, default="", index=True),
    sa.Column("device_owner", NAME, nullable=False, default="", index=True),
    sa.Column("port_security_enabled", sa.Boolean, nullable=False, default=True),
    sa.Column("binding_host_id", NAME, nullable=False, default=""),
    sa.Column("binding_vif_type", sa.String(32), nullable=False, default="unbound"),
    sa.Column("binding_vif_details", sa.JSON, nullable=False),
    sa.Column("binding_vnic_type", sa.String(32), nullable=False, default="normal"),
    sa.Column("binding_profile", sa.JSON, nullable=False),
    sa.Column("allowed_address_pairs", sa.JSON, nullable=False),
    sa.Column("extra_dhcp_opts", sa.JSON, nullable=False),
    *_standard(),
    sa.UniqueConstraint("network_id", "mac_address", name="uq_neutron_ports_network_mac"),
)

ip_allocations = sa.Table(
    "neutron_ip_allocations", metadata,
    sa.Column("subnet_id", UUID, sa.ForeignKey("neutron_subnets.id"), primary_key=True),
    sa.Column("ip_address", sa.String(64), primary_key=True),
    sa.Column("port_id", UUID, sa.ForeignKey("neutron_ports.id", ondelete="CASCADE"),
              nullable=False, index=True),
    sa.Column("network_id", UUID, nullable=False, index=True),
    # the address less the subnet's network address, when it fits (not for EUI-64 ones):
    # the allocator finds the lowest free address of a pool with one indexed query
    sa.Column("ip_offset", sa.BigInteger, nullable=True),
    sa.Index("ix_neutron_ip_allocations_subnet_offset", "subnet_id", "ip_offset"),
)

security_groups = sa.Table(
    "neutron_security_groups", metadata,
    sa.Column("id", UUID, primary_key=True),
    sa.Column("project_id", PROJECT, nullable=False, index=True),
    sa.Column("name", NAME, nullable=False, default=""),
    sa.Column("stateful", sa.Boolean, nullable=False, default=True),
    *_standard(),
)

default_security_groups = sa.Table(
    "neutron_default_security_groups", metadata,
    sa.Column("project_id", PROJECT, primary_key=True),
    sa.Column("security_group_id", UUID,
              sa.ForeignKey("neutron_security_groups.id", ondelete="CASCADE"), nullable=False),
)

security_group_rules = sa.Table(
    "neutron_security_group_rules", metadata,
    sa.Column("id", UUID, primary_key=True),
    sa.Column("project_id", PROJECT, nullable=False, index=True),
    sa.Column("security_group_id", UUID,
              sa.ForeignKey("neutron_security_groups.id", ondelete="CASCADE"), nullable=False,
              index=True),
    sa.Column("direction", sa.String(16), nullable=False),
    sa.Column("ethertype", sa.String(8), nullable=False),
    sa.Column("protocol", sa.String(40), nullable=True),
    sa.Column("port_range_min", sa.Integer, nullable=True),
    sa.Column("port_range_max", sa.Integer, nullable=True),
    sa.Column("remote_ip_prefix", sa.String(64), nullable=True),
    sa.Column("remote_group_id", UUID,
              sa.ForeignKey("neutron_security_groups.id", ondelete="CASCADE"), nullable=True),
    *_standard(),
)

port_security_groups = sa.Table(
    "neutron_port_security_groups", metadata,
    sa.Column("port_id", UUID, sa.ForeignKey("neutron_ports.id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("security_group_id", UUID, sa.ForeignKey("neutron_security_groups.id"),
              primary_key=True, index=True),
)

routers = sa.Table(
    "neutron_routers", metadata,
    sa.Column("id", UUID, primary_key=True),
    sa.Column("project_id", PROJECT, nullable=False, index=True),
    sa.Column("name", NAME, nullable=False, default=""),
    sa.Column("admin_state_up", sa.Boolean, nullable=False, default=True),
    sa.Column("status", sa.String(16), nullable=False, default="ACTIVE"),
    sa.Column("gw_port_id", UUID, sa.ForeignKey("neutron_ports.id"), nullable=True),
    sa.Column("enable_snat", sa.Boolean, nullable=False, default=True),
    sa.Column("routes", sa.JSON, nullable=False),
    sa.Column("availability_zone_hints", sa.JSON, nullable=False),
    *_standard(),
)

floatingips = sa.Table(
    "neutron_floatingips", metadata,
    sa.Column("id", UUID, primary_key=True),
    sa.Column("project_id", PROJECT, nullable=False, index=True),
    sa.Column("floating_network_id", UUID, sa.ForeignKey("neutron_networks.id"),
              nullable=False),
    sa.Column("floating_port_id", UUID, sa.ForeignKey("neutron_ports.id"), nullable=False),
    sa.Column("floating_ip_address", sa.String(64), nullable=False),
    sa.Column("fixed_port_id", UUID, sa.ForeignKey("neutron_ports.id"), nullable=True,
              index=True),
    sa.Column("fixed_ip_address", sa.String(64), nullable=True),
    sa.Column("router_id", UUID, sa.ForeignKey("neutron_routers.id"), nullable=True),
    sa.Column("status", sa.String(16), nullable=False, default="DOWN"),
    *_standard(),
)

rbac_policies = sa.Table(
    "neutron_rbac_policies", metadata,
    sa.Column("id", UUID, primary_key=True),
    sa.Column("project_id", PROJECT, nullable=False, index=True),
    sa.Column("object_type", sa.String(32), nullable=False),
    sa.Column("object_id", UUID, nullable=False, index=True),
    sa.Column("action", sa.String(32), nullable=False),
    sa.Column("target_project", PROJECT, nullable=False),
    sa.UniqueConstraint("object_type", "object_id", "action", "target_project",
                        name="uq_neutron_rbac_policies_target"),
)

tags = sa.Table(
    "neutron_tags", metadata,
    sa.Column("resource_type", sa.String(32), primary_key=True),
    sa.Column("resource_id", UUID, primary_key=True),
    sa.Column("tag", sa.String(255), primary_key=True),
)

quotas = sa.Table(
    "neutron_quotas", metadata,
    sa.Column("project_id", PROJECT, primary_key=True),
    sa.Column("resource", sa.String(32), primary_key=True),
    sa.Column("hard_limit", sa.Integer, nullable=False),
)

project_locks = sa.Table(
    "neutron_project_locks", metadata,
    sa.Column("project_id", PROJECT, primary_key=True),
    sa.Column("counter", sa.Integer, nullable=False, default=0),
)

agents = sa.Table(
    "neutron_agents", metadata,
    sa.Column("id", UUID, primary_key=True),
    sa.Column("agent_type", sa.String(64), nullable=False),
    sa.Column("binary", sa.String(64), nullable=False),
    sa.Column("topic", sa.String(64), nullable=False),
    sa.Column("host", NAME, nullable=False),
    sa.Column("admin_state_up", sa.Boolean, nullable=False, default=True),
    sa.Column("availability_zone", sa.String(64), nullable=True),
    sa.Column("configurations", sa.JSON, nullable=False),
    sa.Column("description", DESC, nullable=True),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("started_at", sa.DateTime, nullable=False),
    sa.Column("heartbeat_timestamp", sa.DateTime, nullable=False),
    sa.UniqueConstraint("agent_type", "host", name="uq_neutron_agents_type_host"),
)
