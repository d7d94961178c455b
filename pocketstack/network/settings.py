"""The network service's options (read with ``settings.section(NetworkSettings)``)."""

from __future__ import annotations

from dataclasses import dataclass

from pocketstack.config import _opt


@dataclass(frozen=True)
class NetworkSettings:
    """Provider networks, tenant segmentation ranges, MTU, quotas and agents (ML2-like)."""

    network_physical_networks: str = _opt(
        "public,net172_16_0",
        "Physical networks flat and VLAN provider networks may use (comma-separated), as "
        "ML2's flat_networks/network_vlan_ranges names.")
    network_vlan_ranges: str = _opt(
        "", "VLAN ids for tenant VLAN networks: PHYSNET:MIN:MAX,... (empty: no tenant VLANs).")
    network_vni_ranges: str = _opt(
        "1:1000", "VXLAN VNIs for tenant networks: MIN:MAX[,MIN:MAX...].")
    network_gre_ranges: str = _opt("1:1000", "GRE tunnel ids for tenant networks: MIN:MAX.")
    network_geneve_ranges: str = _opt("1:1000", "Geneve VNIs for tenant networks: MIN:MAX.")
    network_tenant_types: str = _opt(
        "vxlan", "Tenant network types, in order of preference (ML2's tenant_network_types).")
    network_mtu: int = _opt(1500, "MTU of the physical network (ML2's global_physnet_mtu); "
                            "overlays subtract their header (VXLAN 50, GRE 42, Geneve 58).")
    network_mechanism: str = _opt(
        "linuxbridge", "Port binding mechanism: linuxbridge (vif_type bridge) or openvswitch "
        "(vif_type ovs).")
    network_agent_report_interval: float = _opt(
        30.0, "Seconds between in-process network agent heartbeats.")
    network_agent_down_time: int = _opt(
        75, "An agent silent this long is reported not alive.")
    network_dns_domain: str = _opt("openstacklocal.", "DNS domain of ports (unused by the API).")
    network_default_topology: bool = _opt(
        True, "Create devstack's public/private/shared networks and router1 on first start.")
    network_quota_network: int = _opt(100, "Default networks per project (-1: unlimited).")
    network_quota_subnet: int = _opt(100, "Default subnets per project.")
    network_quota_port: int = _opt(500, "Default ports per project.")
    network_quota_router: int = _opt(10, "Default routers per project.")
    network_quota_floatingip: int = _opt(50, "Default floating IPs per project.")
    network_quota_security_group: int = _opt(10, "Default security groups per project.")
    network_quota_security_group_rule: int = _opt(100, "Default security group rules.")
    network_quota_subnetpool: int = _opt(-1, "Default subnet pools per project.")
    network_quota_rbac_policy: int = _opt(10, "Default RBAC policies per project.")
