"""Garbage in every body field of every collection: always Neutron's 4xx body, never a 500,
and nothing half-written."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import LiveCloud, own_cloud, unique


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveCloud]:
    """A cloud of this module's own: its garbage updates may make the admin's networks shared
    (visible to demo), which the session cloud's other modules cannot have."""
    yield from own_cloud(tmp_path_factory, "netbad")


GARBAGE: list[Any] = [None, 1, -1, "x", "", True, [], {}, [1], ["x"], [{}], [{"a": 1}],
                      {"a": 1}, "10.0.0.0/33", "::/200", 2 ** 70]

FIELDS = {
    "networks": ["name", "admin_state_up", "shared", "mtu", "provider:network_type",
                 "provider:segmentation_id", "segments", "availability_zone_hints", "tags",
                 "port_security_enabled"],
    "subnets": ["cidr", "ip_version", "gateway_ip", "allocation_pools", "dns_nameservers",
                "host_routes", "ipv6_ra_mode", "ipv6_address_mode", "subnetpool_id",
                "prefixlen", "enable_dhcp"],
    "ports": ["fixed_ips", "mac_address", "security_groups", "allowed_address_pairs",
              "binding:host_id", "binding:profile", "extra_dhcp_opts", "device_id"],
    "security-group-rules": ["direction", "ethertype", "protocol", "port_range_min",
                             "port_range_max", "remote_ip_prefix", "remote_group_id"],
    "routers": ["external_gateway_info", "admin_state_up", "name"],
    "floatingips": ["floating_ip_address", "port_id", "subnet_id", "fixed_ip_address"],
    "subnetpools": ["prefixes", "default_prefixlen", "min_prefixlen", "max_prefixlen"],
}
MEMBER = {"networks": "network", "subnets": "subnet", "ports": "port",
          "security-group-rules": "security_group_rule", "routers": "router",
          "floatingips": "floatingip", "subnetpools": "subnetpool"}


def test_no_garbage_gives_a_500(net: httpx.Client) -> None:
    network = net.post("/networks", json={"network": {"name": unique("g")}}).json()["network"]
    net.post("/subnets", json={"subnet": {"network_id": network["id"], "ip_version": 4,
                                          "cidr": "10.36.0.0/24"}}).raise_for_status()
    group = net.post("/security-groups", json={"security_group": {
        "name": unique("sg")}}).json()["security_group"]
    public = net.get("/networks", params={"name": "public"}).json()["networks"][0]
    base = {
        "networks": {},
        "subnets": {"network_id": network["id"], "ip_version": 4, "cidr": "10.37.0.0/24"},
        "ports": {"network_id": network["id"]},
        "security-group-rules": {"security_group_id": group["id"], "direction": "ingress"},
        "routers": {},
        "floatingips": {"floating_network_id": public["id"]},
        "subnetpools": {"prefixes": ["10.230.0.0/16"]},
    }
    before = {c: len(net.get(f"/{c}").json()[c.replace("-", "_")]) for c in FIELDS}
    failures = []
    for collection, fields in FIELDS.items():
        for field in fields:
            for value in GARBAGE:
                body = {MEMBER[collection]: {**base[collection], field: value}}
                r = net.post(f"/{collection}", json=body)
                if r.status_code >= 500 or (r.status_code >= 400
                                            and "NeutronError" not in r.json()):
                    failures.append((collection, field, value, r.status_code))
                    continue
                if r.status_code >= 400:
                    continue
                else:
                    made = r.json()[MEMBER[collection]]
                    assert net.delete(f"/{collection}/{made['id']}").status_code == 204
    assert failures == []
    after = {c: len(net.get(f"/{c}").json()[c.replace("-", "_")]) for c in FIELDS}
    assert after == before
    for raw in (b"", b"{", b"[]", b'"x"', b'{"network": []}', b'{"networks": {}}'):
        r = net.post("/networks", content=raw, headers={"Content-Type": "application/json"})
        assert r.status_code == 400 and "NeutronError" in r.json(), (raw, r.text)


UPDATES = {
    "networks": ["name", "admin_state_up", "mtu", "shared", "router:external"],
    "subnets": ["gateway_ip", "allocation_pools", "dns_nameservers", "host_routes",
                "enable_dhcp", "cidr"],
    "ports": ["fixed_ips", "security_groups", "allowed_address_pairs", "binding:host_id",
              "mac_address", "extra_dhcp_opts", "port_security_enabled"],
    "routers": ["routes", "external_gateway_info"],
    "floatingips": ["port_id", "fixed_ip_address"],
}


def test_no_garbage_update_gives_a_500_or_a_change(net: httpx.Client) -> None:
    network = net.post("/networks", json={"network": {"name": unique("u")}}).json()["network"]
    subnet = net.post("/subnets", json={"subnet": {"network_id": network["id"],
                                                   "ip_version": 4, "cidr": "10.38.0.0/24"}}
                      ).json()["subnet"]
    port = net.post("/ports", json={"port": {"network_id": network["id"]}}).json()["port"]
    router = net.post("/routers", json={"router": {"name": unique("r")}}).json()["router"]
    public = net.get("/networks", params={"name": "public"}).json()["networks"][0]
    fip = net.post("/floatingips", json={"floatingip": {
        "floating_network_id": public["id"]}}).json()["floatingip"]
    ids = {"networks": network["id"], "subnets": subnet["id"], "ports": port["id"],
           "routers": router["id"], "floatingips": fip["id"]}
    failures = []
    for collection, fields in UPDATES.items():
        url = f"/{collection}/{ids[collection]}"
        for field in fields:
            for value in GARBAGE:
                before = net.get(url).json()[MEMBER[collection]]
                r = net.put(url, json={MEMBER[collection]: {field: value}})
                if r.status_code >= 500 or (r.status_code >= 400
                                            and "NeutronError" not in r.json()):
                    failures.append((collection, field, value, r.status_code))
                elif r.status_code >= 400:
                    after = net.get(url).json()[MEMBER[collection]]
                    if after != before:
                        failures.append((collection, field, value, "half-written"))
    assert failures == []
    assert 68 <= net.get(f"/networks/{network['id']}").json()["network"]["mtu"] <= 1450
