"""IPAM under concurrency: 100 simultaneous port creates on a /26 give 61 ports with
distinct addresses (the pool, net of the gateway), the rest 409, and nothing leaks."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx

from tests.conftest import LiveCloud, unique


def test_hundred_ports_on_a_slash_26(cloud: LiveCloud, net: httpx.Client) -> None:
    network = net.post("/networks", json={"network": {"name": unique("conc")}}).json()[
        "network"]
    subnet = net.post("/subnets", json={"subnet": {
        "network_id": network["id"], "cidr": "10.40.0.0/26", "ip_version": 4,
        "enable_dhcp": False}}).json()["subnet"]
    token = net.headers["X-Auth-Token"]

    def create(_: int) -> httpx.Response:
        with httpx.Client(base_url=cloud.url + "/networking/v2.0", timeout=120,
                          headers={"X-Auth-Token": token}) as client:
            return client.post("/ports", json={"port": {"network_id": network["id"]}})

    with ThreadPoolExecutor(100) as pool:
        responses = list(pool.map(create, range(100)))
    created = [r.json()["port"] for r in responses if r.status_code == 201]
    refused = [r for r in responses if r.status_code != 201]
    assert len(created) == 61, [r.text for r in refused][:3]
    assert all(r.status_code == 409 and r.json()["NeutronError"]["type"] ==
               "IpAddressGenerationFailure" for r in refused)
    addresses = [p["fixed_ips"][0]["ip_address"] for p in created]
    assert len(set(addresses)) == 61
    assert "10.40.0.1" not in addresses and "10.40.0.63" not in addresses
    assert len({p["mac_address"] for p in created}) == 61
    listed = net.get("/ports", params={"network_id": network["id"]}).json()["ports"]
    assert {p["id"] for p in listed} == {p["id"] for p in created}
    for port in created:
        assert net.delete(f"/ports/{port['id']}").status_code == 204
    # every address is free again: a port can take the first one
    again = net.post("/ports", json={"port": {"network_id": network["id"]}}).json()["port"]
    assert again["fixed_ips"] == [{"subnet_id": subnet["id"], "ip_address": "10.40.0.2"}]
