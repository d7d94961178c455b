"""Neutron v2.0 over HTTP: versions, extensions, standard attributes, list controls, the
provider extension, subnets/IPAM, ports and binding, errors in Neutron's body."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import LiveCloud, own_cloud, unique


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveCloud]:
    """A cloud of this module's own: it leaves networks of demo's own and shared ones behind,
    which the session cloud's other modules (servers booted without --nic) cannot have."""
    yield from own_cloud(tmp_path_factory, "netapi")


def err(r: httpx.Response, status: int, kind: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body = r.json()["NeutronError"]
    assert body["type"] == kind, body
    assert body["message"]
    return body  # type: ignore[no-any-return]


def make_net(client: httpx.Client, **extra: Any) -> dict[str, Any]:
    r = client.post("/networks", json={"network": {"name": unique("net"), **extra}})
    assert r.status_code == 201, r.text
    return r.json()["network"]  # type: ignore[no-any-return]


def make_subnet(client: httpx.Client, network_id: str, cidr: str,
                **extra: Any) -> dict[str, Any]:
    version = ipaddress.ip_network(cidr).version
    r = client.post("/subnets", json={"subnet": {"network_id": network_id, "cidr": cidr,
                                                 "ip_version": version, **extra}})
    assert r.status_code == 201, r.text
    return r.json()["subnet"]  # type: ignore[no-any-return]


def test_version_documents_are_public(cloud: LiveCloud) -> None:
    r = httpx.get(cloud.url + "/networking")
    assert r.status_code == 200
    assert [v["id"] for v in r.json()["versions"]] == ["v2.0"]
    r = httpx.get(cloud.url + "/networking/v2.0/")
    names = {res["name"] for res in r.json()["resources"]}
    assert {"network", "subnet", "port", "router"} <= names


def test_catalog_lists_neutron(cloud: LiveCloud) -> None:
    _, token = cloud.token()
    entry = [s for s in token["catalog"] if s["type"] == "network"]
    assert entry and entry[0]["name"] == "neutron"
    assert entry[0]["endpoints"][0]["url"].endswith("/networking")


def test_extensions_list_and_show(net: httpx.Client) -> None:
    aliases = {e["alias"] for e in net.get("/extensions").json()["extensions"]}
    assert {"router", "external-net", "security-group", "quotas", "agent", "binding",
            "provider", "extraroute", "standard-attr-tag", "revision-if-match"} <= aliases
    assert "dvr" not in aliases
    assert net.get("/extensions/router").json()["extension"]["alias"] == "router"
    err(net.get("/extensions/dvr"), 404, "HTTPNotFound")


def test_network_not_found_body(net: httpx.Client) -> None:
    body = err(net.get("/networks/2c6f6e2f-9b6b-4a5e-a3c9-1d5b8f6b8d11"), 404,
               "NetworkNotFound")
    assert "2c6f6e2f-9b6b-4a5e-a3c9-1d5b8f6b8d11" in body["message"]


def test_tenant_network_gets_vxlan_segment_and_mtu(net: httpx.Client) -> None:
    a, b = make_net(net), make_net(net)
    assert a["provider:network_type"] == "vxlan" and a["mtu"] == 1450
    assert a["provider:segmentation_id"] != b["provider:segmentation_id"]
    assert a["status"] == "ACTIVE" and a["subnets"] == [] and a["revision_number"] == 0


def test_provider_validation(net: httpx.Client, demo_net: httpx.Client) -> None:
    err(net.post("/networks", json={"network": {"provider:network_type": "flat",
                                                "provider:physical_network": "nowhere"}}),
        400, "InvalidInput")
    err(net.post("/networks", json={"network": {"provider:network_type": "bogus"}}),
        400, "InvalidInput")
    err(net.post("/networks", json={"network": {"provider:network_type": "vxlan",
                                                "provider:segmentation_id": 2 ** 24}}),
        400, "InvalidInput")
    taken = make_net(net, **{"provider:network_type": "vxlan",
                             "provider:segmentation_id": 777})
    assert taken["provider:segmentation_id"] == 777
    err(net.post("/networks", json={"network": {"provider:network_type": "vxlan",
                                                "provider:segmentation_id": 777}}),
        409, "TunnelIdInUse")
    vlan = make_net(net, **{"provider:network_type": "vlan",
                            "provider:physical_network": "net172_16_0",
                            "provider:segmentation_id": 100})
    assert vlan["mtu"] == 1500
    err(net.post("/networks", json={"network": {"provider:network_type": "vlan",
                                                "provider:physical_network": "net172_16_0",
                                                "provider:segmentation_id": 100}}),
        409, "VlanIdInUse")
    err(demo_net.post("/networks", json={"network": {"provider:network_type": "local"}}),
        403, "PolicyNotAuthorized")
    # a member does not see provider attributes
    mine = make_net(demo_net)
    assert "provider:network_type" not in mine


def test_multi_segment_network(net: httpx.Client) -> None:
    n = make_net(net, segments=[
        {"provider:network_type": "vlan", "provider:physical_network": "net172_16_0",
         "provider:segmentation_id": 201},
        {"provider:network_type": "vxlan"}])
    assert [s["provider:network_type"] for s in n["segments"]] == ["vlan", "vxlan"]
    assert n["mtu"] == 1450


def test_update_with_if_match(net: httpx.Client) -> None:
    n = make_net(net)
    r = net.put(f"/networks/{n['id']}", json={"network": {"name": "renamed"}},
                headers={"If-Match": "revision_number=0"})
    assert r.status_code == 200 and r.json()["network"]["revision_number"] == 1
    err(net.put(f"/networks/{n['id']}", json={"network": {"name": "again"}},
                headers={"If-Match": "revision_number=0"}), 412,
        "RevisionNumberConstraintFailed")
    assert net.get(f"/networks/{n['id']}").json()["network"]["name"] == "renamed"
    err(net.put(f"/networks/{n['id']}", json={"network": {"bogus": 1}}), 400,
        "HTTPBadRequest")
    err(net.put(f"/networks/{n['id']}", json={"network": {"admin_state_up": "maybe"}}), 400,
        "HTTPBadRequest")


def test_tags_api_and_filters(net: httpx.Client) -> None:
    n = make_net(net)
    url = f"/networks/{n['id']}/tags"
    assert net.put(url, json={"tags": ["red", "blue"]}).json() == {"tags": ["blue", "red"]}
    assert net.put(url + "/green").status_code == 201
    assert net.get(url + "/green").status_code == 204
    assert net.get(url + "/black").status_code == 404
    assert sorted(net.get(url).json()["tags"]) == ["blue", "green", "red"]
    assert net.delete(url + "/blue").status_code == 204
    ids = [x["id"] for x in net.get("/networks", params={"tags": "red,green"})
           .json()["networks"]]
    assert ids == [n["id"]]
    assert n["id"] not in [x["id"] for x in net.get("/networks", params={"not-tags": "red"})
                           .json()["networks"]]
    shown = net.get(f"/networks/{n['id']}").json()["network"]
    assert shown["revision_number"] >= 3
    assert net.delete(url).status_code == 204
    assert net.get(url).json()["tags"] == []


def test_fields_sort_and_pages(net: httpx.Client) -> None:
    prefix = unique("page")
    made = [make_net(net, name=f"{prefix}-{i}") for i in range(5)]
    r = net.get("/networks", params=[("name", n["name"]) for n in made] +
                [("fields", "id"), ("fields", "name")])
    items = r.json()["networks"]
    assert len(items) == 5 and all(set(i) == {"id", "name"} for i in items)
    ordered = sorted(made, key=lambda n: n["name"], reverse=True)
    seen: list[str] = []
    params: list[tuple[str, str]] = [("name", n["name"]) for n in made] + [
        ("sort_key", "name"), ("sort_dir", "desc"), ("limit", "2")]
    page = net.get("/networks", params=params).json()
    while True:
        seen += [n["name"] for n in page["networks"]]
        nxt = [link["href"] for link in page.get("networks_links", []) if link["rel"] == "next"]
        if not nxt:
            break
        page = net.get(nxt[0]).json()
    assert seen == [n["name"] for n in ordered]
    prev = [link["href"] for link in page["networks_links"] if link["rel"] == "previous"]
    back = net.get(prev[0]).json()
    assert [n["name"] for n in back["networks"]] == seen[2:4]
    err(net.get("/networks", params={"sort_key": "bogus"}), 400, "HTTPBadRequest")
    err(net.get("/networks", params={"limit": "x"}), 400, "HTTPBadRequest")


def test_subnet_validation(net: httpx.Client) -> None:
    n = make_net(net)
    s = make_subnet(net, n["id"], "10.20.0.0/24")
    assert s["gateway_ip"] == "10.20.0.1"
    assert s["allocation_pools"] == [{"start": "10.20.0.2", "end": "10.20.0.254"}]
    for body, status, kind in [
        ({"cidr": "10.20.0.128/25"}, 400, "InvalidInput"),  # overlap
        ({"cidr": "10.21.0.5/24"}, 400, "InvalidInput"),  # not a network address
        ({"cidr": "banana"}, 400, "InvalidInput"),
        ({"cidr": "10.22.0.0/24", "allocation_pools": [{"start": "10.22.1.1",
                                                        "end": "10.22.1.5"}]},
         400, "OutOfBoundsAllocationPool"),
        ({"cidr": "10.23.0.0/24", "allocation_pools": [
            {"start": "10.23.0.10", "end": "10.23.0.20"},
            {"start": "10.23.0.15", "end": "10.23.0.30"}]}, 409, "OverlappingAllocationPools"),
        ({"cidr": "10.24.0.0/24", "gateway_ip": "10.24.0.10",
          "allocation_pools": [{"start": "10.24.0.5", "end": "10.24.0.20"}]},
         409, "GatewayConflictWithAllocationPools"),
        ({"cidr": "10.25.0.0/24", "dns_nameservers": ["1.1.1.1", "1.1.1.1"]},
         400, "InvalidInput"),
        ({"cidr": "2001:db8:5::/64", "ip_version": 6, "ipv6_address_mode": "slaac",
          "ipv6_ra_mode": "dhcpv6-stateful"}, 400, "InvalidInput"),
        ({"cidr": "2001:db8:6::/80", "ip_version": 6, "ipv6_address_mode": "slaac"},
         400, "InvalidInput"),
    ]:
        payload = {"network_id": n["id"], "ip_version": 4, **body}
        err(net.post("/subnets", json={"subnet": payload}), status, kind)
    nogw = make_subnet(net, n["id"], "10.26.0.0/29", gateway_ip=None,
                       host_routes=[{"destination": "0.0.0.0/0", "nexthop": "10.26.0.1"}])
    assert nogw["gateway_ip"] is None
    assert nogw["allocation_pools"] == [{"start": "10.26.0.1", "end": "10.26.0.6"}]
    shown = net.get(f"/networks/{n['id']}").json()["network"]
    assert sorted(shown["subnets"]) == sorted([s["id"], nogw["id"]])


def test_port_ips_macs_and_conflicts(net: httpx.Client) -> None:
    n = make_net(net)
    s4 = make_subnet(net, n["id"], "10.30.0.0/28")
    s6 = make_subnet(net, n["id"], "2001:db8:30::/64", ipv6_ra_mode="slaac",
                     ipv6_address_mode="slaac")
    r = net.post("/ports", json={"port": {"network_id": n["id"]}})
    assert r.status_code == 201, r.text
    port = r.json()["port"]
    assert port["mac_address"].startswith("fa:16:3e:")
    by_subnet = {ip["subnet_id"]: ip["ip_address"] for ip in port["fixed_ips"]}
    assert by_subnet[s4["id"]] == "10.30.0.2"
    mac = port["mac_address"].split(":")
    first = int(mac[0], 16) ^ 2
    expected = ipaddress.IPv6Address(
        int(ipaddress.IPv6Address("2001:db8:30::")) | int.from_bytes(
            bytes([first] + [int(x, 16) for x in mac[1:3]] + [0xFF, 0xFE] +
                  [int(x, 16) for x in mac[3:]]), "big"))
    assert by_subnet[s6["id"]] == str(expected)
    assert port["status"] == "DOWN" and port["binding:vif_type"] == "unbound"
    assert len(port["security_groups"]) == 1
    err(net.post("/ports", json={"port": {"network_id": n["id"],
                                          "fixed_ips": [{"ip_address": "10.30.0.2"}]}}),
        409, "IpAddressAlreadyAllocated")
    err(net.post("/ports", json={"port": {"network_id": n["id"],
                                          "mac_address": port["mac_address"]}}),
        409, "MacAddressInUse")
    err(net.post("/ports", json={"port": {"network_id": n["id"],
                                          "fixed_ips": [{"ip_address": "10.99.0.2"}]}}),
        400, "InvalidInput")
    err(net.delete(f"/networks/{n['id']}"), 409, "NetworkInUse")
    err(net.delete(f"/subnets/{s4['id']}"), 409, "SubnetInUse")
    found = net.get("/ports", params={"fixed_ips": "ip_address=10.30.0.2"}).json()["ports"]
    assert [p["id"] for p in found] == [port["id"]]
    updated = net.put(f"/ports/{port['id']}", json={"port": {
        "fixed_ips": [{"subnet_id": s4["id"], "ip_address": "10.30.0.9"}],
        "allowed_address_pairs": [{"ip_address": "10.30.0.100"}]}}).json()["port"]
    assert [ip["ip_address"] for ip in updated["fixed_ips"]] == ["10.30.0.9"]
    assert updated["allowed_address_pairs"] == [
        {"ip_address": "10.30.0.100", "mac_address": port["mac_address"]}]
    assert net.delete(f"/ports/{port['id']}").status_code == 204
    assert net.delete(f"/networks/{n['id']}").status_code == 204
    err(net.get(f"/subnets/{s4['id']}"), 404, "SubnetNotFound")


def test_exhausted_pool(net: httpx.Client) -> None:
    n = make_net(net)
    make_subnet(net, n["id"], "10.31.0.0/30")  # one host address besides the gateway
    assert net.post("/ports", json={"port": {"network_id": n["id"]}}).status_code == 201
    err(net.post("/ports", json={"port": {"network_id": n["id"]}}), 409,
        "IpAddressGenerationFailure")


def test_binding_follows_agents(net: httpx.Client) -> None:
    n = make_net(net)
    make_subnet(net, n["id"], "10.32.0.0/24")
    bound = net.post("/ports", json={"port": {"network_id": n["id"],
                                              "binding:host_id": "compute1"}}).json()["port"]
    assert bound["binding:vif_type"] == "bridge" and bound["status"] == "ACTIVE"
    assert bound["binding:vif_details"]["connectivity"] == "l2"
    failed = net.post("/ports", json={"port": {"network_id": n["id"],
                                               "binding:host_id": "nowhere"}}).json()["port"]
    assert failed["binding:vif_type"] == "binding_failed"
    rebound = net.put(f"/ports/{failed['id']}",
                      json={"port": {"binding:host_id": "compute1"}}).json()["port"]
    assert rebound["binding:vif_type"] == "bridge"


def test_other_projects_resources_are_404(net: httpx.Client, demo_net: httpx.Client,
                                          alt_net: httpx.Client) -> None:
    mine = make_net(demo_net)
    err(alt_net.get(f"/networks/{mine['id']}"), 404, "NetworkNotFound")
    err(alt_net.delete(f"/networks/{mine['id']}"), 404, "NetworkNotFound")
    assert mine["id"] not in [n["id"] for n in alt_net.get("/networks").json()["networks"]]
    # shared through RBAC: visible to the target, and it may attach a port
    make_subnet(demo_net, mine["id"], "10.33.0.0/24")
    alt_project = alt_net.get("/quotas/tenant").json()["tenant"]["tenant_id"]
    r = demo_net.post("/rbac-policies", json={"rbac_policy": {
        "object_type": "network", "object_id": mine["id"], "action": "access_as_shared",
        "target_tenant": alt_project}})
    assert r.status_code == 201, r.text
    seen = alt_net.get(f"/networks/{mine['id']}").json()["network"]
    assert seen["shared"] is True
    port = alt_net.post("/ports", json={"port": {"network_id": mine["id"]}})
    assert port.status_code == 201, port.text
    err(demo_net.delete(f"/rbac-policies/{r.json()['rbac_policy']['id']}"), 409,
        "RbacPolicyInUse")


def test_quotas_show_set_and_enforce(net: httpx.Client, alt_net: httpx.Client) -> None:
    project = alt_net.get("/quotas/tenant").json()["tenant"]["tenant_id"]
    quota = alt_net.get(f"/quotas/{project}").json()["quota"]
    assert quota["network"] == 100 and quota["port"] == 500
    err(alt_net.put(f"/quotas/{project}", json={"quota": {"network": 1}}), 403,
        "PolicyNotAuthorized")
    used = alt_net.get(f"/quotas/{project}/details").json()["quota"]["network"]["used"]
    r = net.put(f"/quotas/{project}", json={"quota": {"network": used + 1}})
    assert r.status_code == 200 and r.json()["quota"]["network"] == used + 1
    make_net(alt_net)
    err(alt_net.post("/networks", json={"network": {"name": "over"}}), 409, "OverQuota")
    assert net.delete(f"/quotas/{project}").status_code == 204
    assert alt_net.get(f"/quotas/{project}").json()["quota"]["network"] == 100
    err(net.put(f"/quotas/{project}", json={"quota": {"bogus": 1}}), 400, "HTTPBadRequest")


def test_agents_admin_only(net: httpx.Client, demo_net: httpx.Client) -> None:
    agents = net.get("/agents").json()["agents"]
    types = {a["agent_type"] for a in agents}
    assert {"Linux bridge agent", "DHCP agent", "L3 agent", "Metadata agent"} <= types
    assert all(a["alive"] for a in agents)
    assert demo_net.get("/agents").json() == {"agents": []}
    err(demo_net.get(f"/agents/{agents[0]['id']}"), 403, "PolicyNotAuthorized")


def test_quota_check_limit(net: httpx.Client, demo_net: httpx.Client) -> None:
    project = demo_net.get("/quotas/tenant").json()["tenant"]["tenant_id"]
    err(net.put(f"/quotas/{project}", json={"quota": {"network": 0, "check_limit": True}}),
        400, "InvalidQuotaValue")
    assert net.put(f"/quotas/{project}", json={"quota": {"network": 100,
                                                         "check_limit": True}}).status_code == 200


def test_external_subnets_hidden_from_other_projects(net: httpx.Client,
                                                     demo_net: httpx.Client) -> None:
    public = net.get("/networks", params={"name": "public"}).json()["networks"][0]
    seen = demo_net.get("/networks", params={"router:external": "True"}).json()["networks"]
    assert public["id"] in [n["id"] for n in seen]
    subnet_ids = {s["id"] for s in demo_net.get("/subnets").json()["subnets"]}
    assert not set(public["subnets"]) & subnet_ids
    assert set(public["subnets"]) <= {s["id"] for s in net.get("/subnets").json()["subnets"]}


def test_rule_port_range_needs_a_minimum(demo_net: httpx.Client) -> None:
    group = demo_net.post("/security-groups", json={"security_group": {
        "name": unique("sg")}}).json()["security_group"]
    assert len(group["security_group_rules"]) == 2  # egress IPv4 and IPv6
    for rule, kind in [
        ({"protocol": "tcp", "port_range_max": 6}, "SecurityGroupInvalidPortRange"),
        ({"protocol": "tcp", "port_range_min": 9, "port_range_max": 6},
         "SecurityGroupInvalidPortRange"),
        ({"protocol": "tcp", "port_range_min": 65536}, "SecurityGroupInvalidPortValue"),
        ({"port_range_min": 22}, "SecurityGroupProtocolRequiredWithPorts"),
        ({"protocol": "bogus"}, "SecurityGroupRuleInvalidProtocol"),
        ({"remote_ip_prefix": "::/0"}, "SecurityGroupRuleParameterConflict"),
    ]:
        body = {"security_group_id": group["id"], "direction": "ingress", **rule}
        err(demo_net.post("/security-group-rules", json={"security_group_rule": body}), 400,
            kind)
    ok = demo_net.post("/security-group-rules", json={"security_group_rule": {
        "security_group_id": group["id"], "direction": "ingress", "protocol": "17",
        "port_range_min": 53, "remote_ip_prefix": "10.0.0.7/8"}})
    assert ok.status_code == 201, ok.text
    rule = ok.json()["security_group_rule"]
    # as Neutron: remote_ip_prefix keeps the host bits given, normalized_cidr drops them
    assert rule["port_range_max"] == 53 and rule["remote_ip_prefix"] == "10.0.0.7/8"
    assert rule["normalized_cidr"] == "10.0.0.0/8"
    host = demo_net.post("/security-group-rules", json={"security_group_rule": {
        "security_group_id": group["id"], "direction": "ingress", "protocol": "tcp",
        "remote_ip_prefix": "192.0.2.9"}}).json()["security_group_rule"]
    assert (host["remote_ip_prefix"], host["normalized_cidr"]) == ("192.0.2.9/32",
                                                                   "192.0.2.9/32")
    err(demo_net.post("/security-group-rules", json={"security_group_rule": {
        "security_group_id": group["id"], "direction": "ingress", "protocol": "udp",
        "port_range_min": 53, "port_range_max": 53, "remote_ip_prefix": "10.0.0.0/8"}}),
        409, "SecurityGroupRuleExists")


def test_extra_dhcp_opts(net: httpx.Client) -> None:
    n = make_net(net)
    port = net.post("/ports", json={"port": {"network_id": n["id"], "extra_dhcp_opts": [
        {"opt_name": "bootfile-name", "opt_value": "pxelinux.0"},
        {"opt_name": "tftp-server", "opt_value": "123.123.123.123"}]}}).json()["port"]
    assert {o["opt_name"] for o in port["extra_dhcp_opts"]} == {"bootfile-name", "tftp-server"}
    updated = net.put(f"/ports/{port['id']}", json={"port": {"extra_dhcp_opts": [
        {"opt_name": "tftp-server", "opt_value": None},
        {"opt_name": "bootfile-name", "opt_value": "changed.0"}]}}).json()["port"]
    assert updated["extra_dhcp_opts"] == [{"opt_name": "bootfile-name",
                                           "opt_value": "changed.0", "ip_version": 4}]
    err(net.post("/ports", json={"port": {"network_id": n["id"], "extra_dhcp_opts": [
        {"opt_value": "x"}]}}), 400, "InvalidInput")


def test_delete_external_network_takes_its_floating_ips(net: httpx.Client) -> None:
    ext = make_net(net, **{"router:external": True})
    make_subnet(net, ext["id"], "10.34.0.0/24")
    fip = net.post("/floatingips", json={"floatingip": {
        "floating_network_id": ext["id"]}}).json()["floatingip"]
    assert fip["floating_ip_address"] == "10.34.0.2"
    assert net.delete(f"/networks/{ext['id']}").status_code == 204
    err(net.get(f"/floatingips/{fip['id']}"), 404, "FloatingIPNotFound")


def test_router_gateway_snat_is_admin_only(net: httpx.Client, demo_net: httpx.Client) -> None:
    public = net.get("/networks", params={"name": "public"}).json()["networks"][0]
    err(demo_net.post("/routers", json={"router": {"name": unique("r"),
                                                   "external_gateway_info": {
                                                       "network_id": public["id"],
                                                       "enable_snat": False}}}),
        403, "PolicyNotAuthorized")
    router = net.post("/routers", json={"router": {"name": unique("r"), "external_gateway_info": {
        "network_id": public["id"], "enable_snat": False,
        "external_fixed_ips": [{"ip_address": "172.24.4.200"}]}}}).json()["router"]
    info = router["external_gateway_info"]
    assert info["enable_snat"] is False
    assert info["external_fixed_ips"][0]["ip_address"] == "172.24.4.200"
    err(net.post("/routers", json={"router": {"name": unique("r"), "external_gateway_info": {
        "network_id": public["id"], "external_fixed_ips": [{"ip_address": "172.24.4.200"}]}}}),
        409, "IpAddressAlreadyAllocated")
    routes = net.put(f"/routers/{router['id']}", json={"router": {"routes": [
        {"destination": "10.200.0.0/24", "nexthop": "172.24.4.50"}]}})
    assert routes.json()["router"]["routes"] == [{"destination": "10.200.0.0/24",
                                                  "nexthop": "172.24.4.50"}]
    err(net.put(f"/routers/{router['id']}", json={"router": {"routes": [
        {"destination": "10.201.0.0/24", "nexthop": "10.99.0.1"}]}}), 400, "InvalidRoutes")


def test_disabled_l2_agent_cannot_bind(net: httpx.Client) -> None:
    agents = net.get("/agents", params={"agent_type": "Linux bridge agent",
                                        "host": "compute1"}).json()["agents"]
    assert len(agents) == 1
    agent = agents[0]
    n = make_net(net)
    make_subnet(net, n["id"], "10.35.0.0/24")
    try:
        r = net.put(f"/agents/{agent['id']}", json={"agent": {"admin_state_up": False,
                                                              "description": "drained"}})
        assert r.json()["agent"]["admin_state_up"] is False
        port = net.post("/ports", json={"port": {"network_id": n["id"],
                                                 "binding:host_id": "compute1"}}).json()["port"]
        assert port["binding:vif_type"] == "binding_failed"
    finally:
        net.put(f"/agents/{agent['id']}", json={"agent": {"admin_state_up": True}})
    err(net.put(f"/agents/{agent['id']}", json={"agent": {"host": "x"}}), 400,
        "HTTPBadRequest")


def test_port_list_follows_every_change(net: httpx.Client) -> None:
    """Lists come from a view cache keyed by revision: every change must show."""
    n = make_net(net)
    s4 = make_subnet(net, n["id"], "10.39.0.0/24")
    port = net.post("/ports", json={"port": {"network_id": n["id"]}}).json()["port"]

    def listed() -> dict[str, Any]:
        found = net.get("/ports", params={"network_id": n["id"]}).json()["ports"]
        return next(p for p in found if p["id"] == port["id"])

    assert listed() == net.get(f"/ports/{port['id']}").json()["port"]
    net.put(f"/ports/{port['id']}/tags/blue")
    assert listed()["tags"] == ["blue"]
    s6 = make_subnet(net, n["id"], "2001:db8:39::/64", ipv6_ra_mode="slaac",
                     ipv6_address_mode="slaac")
    assert {ip["subnet_id"] for ip in listed()["fixed_ips"]} == {s4["id"], s6["id"]}
    assert net.delete(f"/subnets/{s6['id']}").status_code == 204
    assert {ip["subnet_id"] for ip in listed()["fixed_ips"]} == {s4["id"]}
    router = net.post("/routers", json={"router": {"name": unique("r")}}).json()["router"]
    net.put(f"/routers/{router['id']}/add_router_interface", json={"port_id": port["id"]})
    shown = listed()
    assert shown["device_owner"] == "network:router_interface"
    assert shown["device_id"] == router["id"] and shown["security_groups"] == []
    assert shown == net.get(f"/ports/{port['id']}").json()["port"]


def test_stateful_ipv6_ports(net: httpx.Client) -> None:
    n = make_net(net)
    s6 = make_subnet(net, n["id"], "2001:db8:40::/64", ipv6_ra_mode="dhcpv6-stateful",
                     ipv6_address_mode="dhcpv6-stateful")
    assert s6["allocation_pools"] == [{"start": "2001:db8:40::2",
                                       "end": "2001:db8:40:0:ffff:ffff:ffff:ffff"}]
    first = net.post("/ports", json={"port": {"network_id": n["id"]}}).json()["port"]
    second = net.post("/ports", json={"port": {"network_id": n["id"], "allowed_address_pairs": [
        {"ip_address": "2001:db8:40::/120"}]}}).json()["port"]
    assert first["fixed_ips"][0]["ip_address"] == "2001:db8:40::2"
    assert second["fixed_ips"][0]["ip_address"] == "2001:db8:40::3"
    high = net.post("/ports", json={"port": {"network_id": n["id"], "fixed_ips": [
        {"ip_address": "2001:db8:40::ffff:ffff:ffff:fffe"}]}})
    assert high.status_code == 201, high.text
    found = net.get("/ports", params={"fixed_ips": "ip_address=2001:db8:40::3"}).json()
    assert [p["id"] for p in found["ports"]] == [second["id"]]


def test_port_pages_and_delete_if_match(net: httpx.Client) -> None:
    n = make_net(net)
    make_subnet(net, n["id"], "10.41.0.0/24")
    made = [net.post("/ports", json={"port": {"network_id": n["id"], "name": f"p{i}"}})
            .json()["port"] for i in range(5)]
    params = {"network_id": n["id"], "sort_key": "name", "sort_dir": "asc", "limit": "2"}
    seen: list[str] = []
    page = net.get("/ports", params=params).json()
    while True:
        seen += [p["name"] for p in page["ports"]]
        nxt = [link["href"] for link in page.get("ports_links", []) if link["rel"] == "next"]
        if not nxt:
            break
        page = net.get(nxt[0]).json()
    assert seen == ["p0", "p1", "p2", "p3", "p4"]
    only = net.get("/ports", params={"network_id": n["id"], "fields": "name"}).json()["ports"]
    assert sorted(p["name"] for p in only) == seen and all(set(p) == {"name"} for p in only)
    victim = made[0]
    err(net.delete(f"/ports/{victim['id']}", headers={"If-Match": "revision_number=7"}), 412,
        "RevisionNumberConstraintFailed")
    assert net.delete(f"/ports/{victim['id']}",
                      headers={"If-Match": "revision_number=0"}).status_code == 204


def test_every_filter_and_sort_key_of_every_collection_answers(net: httpx.Client) -> None:
    """Each attribute a collection filters on is one its rows have: filtering or sorting by it
    is never a 500 (floating IPs and rules have no ``name``: that was one)."""
    from pocketstack.network.api import collections
    from pocketstack.network.api.resources import Resource

    resources = [r for r in vars(collections).values() if isinstance(r, Resource)]
    assert len(resources) >= 9
    for res in resources:
        for attr in res.filters:
            for params in ({attr: "x"}, {"sort_key": attr, "sort_dir": "desc"}):
                r = net.get(f"/{res.path}", params=params)
                assert r.status_code < 500, (res.path, params, r.text)
    assert net.get("/floatingips", params={"name": "x"}).status_code == 200
    bad = net.get("/security-group-rules", params={"created_at": ""})  # a 500 on PostgreSQL
    assert bad.status_code == 400 and bad.json()["NeutronError"]["type"] == "HTTPBadRequest"
