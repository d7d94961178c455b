"""A cloud with the openvswitch mechanism and no default topology: OVS agents, vif_type
``ovs``, and an empty network list."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import LiveCloud, own_cloud


@pytest.fixture(scope="module")
def ovs_cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveCloud]:
    yield from own_cloud(tmp_path_factory, "ovs", {
        "POCKETSTACK_NETWORK_MECHANISM": "openvswitch",
        "POCKETSTACK_NETWORK_DEFAULT_TOPOLOGY": "0",
        "POCKETSTACK_NETWORK_TENANT_TYPES": "geneve"})


def test_openvswitch_binding(ovs_cloud: LiveCloud) -> None:
    token, _ = ovs_cloud.token()
    with httpx.Client(base_url=ovs_cloud.url + "/networking/v2.0",
                      headers={"X-Auth-Token": token}, timeout=60) as net:
        assert net.get("/networks").json()["networks"] == []
        agents = net.get("/agents").json()["agents"]
        assert "Open vSwitch agent" in {a["agent_type"] for a in agents}
        n = net.post("/networks", json={"network": {"name": "g"}}).json()["network"]
        assert n["provider:network_type"] == "geneve" and n["mtu"] == 1442
        net.post("/subnets", json={"subnet": {"network_id": n["id"], "ip_version": 4,
                                              "cidr": "10.0.0.0/24"}}).raise_for_status()
        port = net.post("/ports", json={"port": {"network_id": n["id"],
                                                 "binding:host_id": "compute1"}}).json()["port"]
        assert port["binding:vif_type"] == "ovs"
        assert port["binding:vif_details"]["bridge_name"] == "br-int"
