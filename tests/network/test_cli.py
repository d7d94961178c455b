"""The stock `openstack` CLI against the network service: the seed's flat provider network,
devstack's default topology, security groups, routers, floating IPs, agents, quotas, RBAC."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import LiveCloud, own_cloud, unique


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveCloud]:
    """A cloud of this module's own: it leaves networks of demo's own and shared ones behind,
    which the session cloud's other modules (servers booted without --nic) cannot have."""
    yield from own_cloud(tmp_path_factory, "netcli")


def test_seed_flat_network_and_subnet(cloud: LiveCloud) -> None:
    net = cloud.osc("network", "create", "--share", "--provider-network-type", "flat",
                    "--provider-physical-network", "net172_16_0", "jiage")
    assert net["provider:network_type"] == "flat" and net["shared"] is True
    assert net["provider:physical_network"] == "net172_16_0" and net["mtu"] == 1500
    sub = cloud.osc("subnet", "create", "--network", "jiage", "--allocation-pool",
                    "start=172.16.0.1,end=172.16.0.250", "--dns-nameserver", "223.5.5.5",
                    "--gateway", "172.16.0.254", "--subnet-range", "172.16.0.0/24", "jiage-sub")
    assert sub["allocation_pools"] == [{"start": "172.16.0.1", "end": "172.16.0.250"}]
    assert sub["gateway_ip"] == "172.16.0.254" and sub["dns_nameservers"] == ["223.5.5.5"]
    names = {n["Name"] for n in cloud.osc("network", "list")}
    assert {"jiage", "public", "private", "shared"} <= names
    # the physical network is taken now; a second flat network on it is refused
    again = cloud.osc("network", "create", "--provider-network-type", "flat",
                      "--provider-physical-network", "net172_16_0", unique("n"), check=False)
    assert again.returncode != 0 and "in use" in again.stderr
    # a member of another project sees the shared network and can put a port on it
    port = cloud.osc("port", "create", "--network", "jiage", unique("p"), cloud="pocketstack")
    assert port["fixed_ips"][0]["ip_address"] == "172.16.0.1"


def test_default_topology(cloud: LiveCloud) -> None:
    public = cloud.osc("network", "show", "public")
    assert public["router:external"] is True
    assert public["provider:network_type"] == "flat"
    assert public["provider:physical_network"] == "public"
    subnets = {s["Name"]: s for s in cloud.osc("subnet", "list")}
    assert subnets["public-subnet"]["Subnet"] == "172.24.4.0/24"
    assert subnets["private-subnet"]["Subnet"] == "10.0.0.0/26"
    assert "ipv6-private-subnet" in subnets
    router = cloud.osc("router", "show", "router1", cloud="pocketstack")
    assert router["external_gateway_info"]["network_id"] == public["id"]
    assert {i["subnet_id"] for i in router["interfaces_info"]} == {
        subnets["private-subnet"]["ID"], subnets["ipv6-private-subnet"]["ID"]}
    private = cloud.osc("network", "show", "private", cloud="pocketstack")
    assert private["mtu"] == 1450
    pools = {p["Name"] for p in cloud.osc("subnet", "pool", "list")}
    assert "shared-default-subnetpool-v4" in pools


def test_security_groups(cloud: LiveCloud) -> None:
    groups = cloud.osc("security", "group", "list", cloud="pocketstack-alt")
    assert [g["Name"] for g in groups] == ["default"]
    rules = cloud.osc("security", "group", "rule", "list", "default", cloud="pocketstack-alt")
    assert len(rules) == 4
    name = unique("sg")
    cloud.osc("security", "group", "create", name, cloud="pocketstack-alt")
    rule = cloud.osc("security", "group", "rule", "create", "--protocol", "tcp",
                     "--dst-port", "22", "--ingress", name, cloud="pocketstack-alt")
    assert rule["port_range_min"] == 22 and rule["remote_ip_prefix"] == "0.0.0.0/0"
    dup = cloud.osc("security", "group", "rule", "create", "--protocol", "tcp",
                    "--dst-port", "22", "--ingress", name, cloud="pocketstack-alt",
                    check=False)
    assert dup.returncode != 0 and "already exists" in dup.stderr
    icmp = cloud.osc("security", "group", "rule", "create", "--protocol", "icmp",
                     "--remote-group", "default", name, cloud="pocketstack-alt")
    assert icmp["protocol"] == "icmp" and icmp["remote_group_id"]
    cloud.osc("security", "group", "delete", name, cloud="pocketstack-alt", as_json=False)


def test_router_gateway_interfaces_and_floating_ip(cloud: LiveCloud) -> None:
    net, sub, router = unique("n"), unique("s"), unique("r")
    cloud.osc("network", "create", net, cloud="pocketstack")
    cloud.osc("subnet", "create", "--network", net, "--subnet-range", "10.60.0.0/24", sub,
              cloud="pocketstack")
    cloud.osc("router", "create", router, cloud="pocketstack")
    cloud.osc("router", "add", "subnet", router, sub, cloud="pocketstack", as_json=False)
    cloud.osc("router", "set", "--external-gateway", "public", router, cloud="pocketstack",
              as_json=False)
    shown = cloud.osc("router", "show", router, cloud="pocketstack")
    assert shown["external_gateway_info"]["external_fixed_ips"][0]["ip_address"].startswith(
        "172.24.4.")
    assert shown["interfaces_info"][0]["ip_address"] == "10.60.0.1"
    port = cloud.osc("port", "create", "--network", net, unique("p"), cloud="pocketstack")
    fip = cloud.osc("floating", "ip", "create", "public", cloud="pocketstack")
    assert fip["status"] == "DOWN" and fip["port_id"] is None
    cloud.osc("floating", "ip", "set", "--port", port["id"], fip["floating_ip_address"],
              cloud="pocketstack", as_json=False)
    fip = cloud.osc("floating", "ip", "show", fip["id"], cloud="pocketstack")
    assert fip["fixed_ip_address"] == port["fixed_ips"][0]["ip_address"]
    assert fip["router_id"] == shown["id"] and fip["status"] == "ACTIVE"
    busy = cloud.osc("router", "remove", "subnet", router, sub, cloud="pocketstack",
                     check=False, as_json=False)
    assert busy.returncode != 0 and "floating IP" in busy.stderr
    cloud.osc("floating", "ip", "unset", "--port", fip["id"], cloud="pocketstack",
              as_json=False)
    cloud.osc("floating", "ip", "delete", fip["id"], cloud="pocketstack", as_json=False)
    cloud.osc("port", "delete", port["id"], cloud="pocketstack", as_json=False)
    inuse = cloud.osc("router", "delete", router, cloud="pocketstack", check=False,
                      as_json=False)
    assert inuse.returncode != 0
    cloud.osc("router", "remove", "subnet", router, sub, cloud="pocketstack", as_json=False)
    cloud.osc("router", "delete", router, cloud="pocketstack", as_json=False)
    cloud.osc("network", "delete", net, cloud="pocketstack", as_json=False)


def test_floating_ip_needs_a_router_to_the_port(cloud: LiveCloud) -> None:
    net = unique("n")
    cloud.osc("network", "create", net, cloud="pocketstack")
    cloud.osc("subnet", "create", "--network", net, "--subnet-range", "10.61.0.0/24",
              unique("s"), cloud="pocketstack")
    port = cloud.osc("port", "create", "--network", net, unique("p"), cloud="pocketstack")
    fip = cloud.osc("floating", "ip", "create", "public", cloud="pocketstack")
    refused = cloud.osc("floating", "ip", "set", "--port", port["id"], fip["id"],
                        cloud="pocketstack", check=False, as_json=False)
    assert refused.returncode != 0 and "not reachable" in refused.stderr
    # demo's only network stays `private` for the other modules sharing this cloud (--nic auto)
    cloud.osc("floating", "ip", "delete", fip["id"], cloud="pocketstack", as_json=False)
    cloud.osc("port", "delete", port["id"], cloud="pocketstack", as_json=False)
    cloud.osc("network", "delete", net, cloud="pocketstack", as_json=False)


def test_agents_and_ports(cloud: LiveCloud) -> None:
    agents = cloud.osc("network", "agent", "list")
    assert {a["Agent Type"] for a in agents} >= {"Linux bridge agent", "DHCP agent",
                                                 "L3 agent", "Metadata agent"}
    assert all(a["Alive"] for a in agents)
    ports = cloud.osc("port", "list", "--network", "private", "--long")
    assert any(p["Fixed IP Addresses"] for p in ports)


def test_quota_show_and_set(cloud: LiveCloud) -> None:
    cloud.osc("quota", "set", "--networks", "42", "--ports", "77", "alt_demo", as_json=False)
    shown = cloud.osc("quota", "show", "alt_demo")
    values = {row["Resource"]: row["Limit"] for row in shown} if isinstance(shown, list) \
        else shown
    assert values["networks"] == 42 and values["ports"] == 77
    cloud.osc("quota", "set", "--networks", "100", "--ports", "500", "alt_demo",
              as_json=False)


@pytest.mark.parametrize("args", [("subnet", "pool", "create", "--pool-prefix",
                                   "10.200.0.0/16", "--default-prefix-length", "24")])
def test_subnet_from_pool_and_rbac(cloud: LiveCloud, args: tuple[str, ...]) -> None:
    pool = unique("pool")
    cloud.osc(*args, pool, cloud="pocketstack")
    net = unique("n")
    cloud.osc("network", "create", net, cloud="pocketstack")
    sub = cloud.osc("subnet", "create", "--network", net, "--subnet-pool", pool, unique("s"),
                    cloud="pocketstack")
    assert sub["cidr"] == "10.200.0.0/24"
    second = cloud.osc("subnet", "create", "--network", net, "--subnet-pool", pool,
                       "--prefix-length", "26", unique("s"), cloud="pocketstack")
    assert second["cidr"] == "10.200.1.0/26"
    alt = cloud.osc("project", "show", "alt_demo")["id"]
    rbac = cloud.osc("network", "rbac", "create", "--type", "network", "--action",
                     "access_as_shared", "--target-project", alt, net, cloud="pocketstack")
    assert rbac["target_project_id"] == alt
    seen = cloud.osc("network", "show", net, cloud="pocketstack-alt")
    assert seen["shared"] is True
