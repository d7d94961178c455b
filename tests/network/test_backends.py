"""The network service on PostgreSQL and MariaDB: the default topology, the CLI flow, and
IPAM, MACs and quotas under concurrency (row locks and unique keys, not SQLite's one writer)."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.conftest import LiveCloud, fresh_database, start_cloud, unique


@pytest.fixture(scope="module", params=["postgresql", "mysql"])
def backend_cloud(request: pytest.FixtureRequest,
                  tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveCloud]:
    url, drop = fresh_database(request.param)
    state = tmp_path_factory.mktemp(request.param) / "state"
    state.mkdir()
    live = start_cloud(state, database_url=url)
    try:
        yield live
    finally:
        live.stop()
        drop()


def test_topology_and_cli_on_backend(backend_cloud: LiveCloud) -> None:
    names = {n["Name"] for n in backend_cloud.osc("network", "list")}
    assert {"public", "private", "shared"} <= names
    net = unique("n")
    backend_cloud.osc("network", "create", net, cloud="pocketstack")
    backend_cloud.osc("subnet", "create", "--network", net, "--subnet-range", "10.70.0.0/24",
                      unique("s"), cloud="pocketstack")
    router = backend_cloud.osc("router", "show", "router1", cloud="pocketstack")
    assert router["external_gateway_info"]["external_fixed_ips"]
    port = backend_cloud.osc("port", "create", "--network", "private", unique("p"),
                             cloud="pocketstack")
    fip = backend_cloud.osc("floating", "ip", "create", "--port", port["id"], "public",
                            cloud="pocketstack")
    assert fip["router_id"] == router["id"]


def test_concurrent_ports_and_quota_on_backend(backend_cloud: LiveCloud) -> None:
    token, _ = backend_cloud.token()
    base = backend_cloud.url + "/networking/v2.0"
    headers = {"X-Auth-Token": token}
    network = httpx.post(base + "/networks", headers=headers, json={"network": {
        "name": unique("conc")}}).json()["network"]
    httpx.post(base + "/subnets", headers=headers, json={"subnet": {
        "network_id": network["id"], "cidr": "10.71.0.0/26", "ip_version": 4}})

    def create(_: int) -> httpx.Response:
        return httpx.post(base + "/ports", headers=headers, timeout=120,
                          json={"port": {"network_id": network["id"]}})

    with ThreadPoolExecutor(30) as pool:
        responses = list(pool.map(create, range(70)))
    made = [r.json()["port"] for r in responses if r.status_code == 201]
    assert len(made) == 61, [r.text for r in responses if r.status_code not in (201, 409)][:3]
    assert {r.status_code for r in responses} == {201, 409}
    assert len({p["fixed_ips"][0]["ip_address"] for p in made}) == 61
    # a quota of 3 networks for alt_demo, 8 concurrent creates: exactly the room left is used
    alt_token, body = backend_cloud.token("alt_demo", project="alt_demo")
    project = body["project"]["id"]
    httpx.put(base + f"/quotas/{project}", headers=headers,
              json={"quota": {"network": 3}}).raise_for_status()

    def create_net(_: int) -> int:
        return httpx.post(base + "/networks", headers={"X-Auth-Token": alt_token}, timeout=120,
                          json={"network": {"name": unique("q")}}).status_code

    with ThreadPoolExecutor(8) as pool:
        codes = sorted(pool.map(create_net, range(8)))
    assert codes == [201] * 3 + [409] * 5


def test_ipv6_and_lists_on_backend(backend_cloud: LiveCloud) -> None:
    token, _ = backend_cloud.token()
    with httpx.Client(base_url=backend_cloud.url + "/networking/v2.0", timeout=60,
                      headers={"X-Auth-Token": token}) as net:
        n = net.post("/networks", json={"network": {"name": unique("v6")}}).json()["network"]
        r = net.post("/subnets", json={"subnet": {
            "network_id": n["id"], "ip_version": 6, "cidr": "2001:db8:77::/64",
            "ipv6_ra_mode": "dhcpv6-stateful", "ipv6_address_mode": "dhcpv6-stateful"}})
        assert r.status_code == 201, r.text
        made = [net.post("/ports", json={"port": {"network_id": n["id"]}}).json()["port"]
                for _ in range(3)]
        assert [p["fixed_ips"][0]["ip_address"] for p in made] == [
            "2001:db8:77::2", "2001:db8:77::3", "2001:db8:77::4"]
        net.put(f"/ports/{made[0]['id']}", json={"port": {"name": "renamed"}})
        for _ in range(2):  # the second list is served from cached views
            listed = {p["id"]: p for p in net.get("/ports", params={
                "network_id": n["id"]}).json()["ports"]}
            assert listed[made[0]["id"]]["name"] == "renamed"
            assert listed[made[0]["id"]]["revision_number"] == 1
            assert listed[made[1]["id"]]["created_at"].endswith("Z")
