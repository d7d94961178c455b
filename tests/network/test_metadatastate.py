"""``metadata_lookup`` over the network.rpc endpoint: the instance behind a source address on
a network (compute ports only; the same address on another network is another instance)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from pocketstack.common import migrate
from pocketstack.common.bus import InProcessBus
from pocketstack.common.context import RequestContext
from pocketstack.common.db import Database
from pocketstack.common.service import Runtime
from pocketstack.config import Settings
from pocketstack.network.domain import networks, ports, subnets
from pocketstack.network.interface import NetworkAPI, PortRequest
from pocketstack.network.rpc import AgentRPC
from pocketstack.network.service import NetworkService


@pytest.fixture()
def service(tmp_path: Path) -> NetworkService:
    db = Database(f"sqlite:///{tmp_path / 'net.db'}")
    migrate.upgrade(db)
    settings = Settings(state_dir=str(tmp_path), dataplane="none")  # the in-process heartbeats
    svc = NetworkService(Runtime(settings, db, InProcessBus(), tmp_path))
    svc.roles()[0].report(starting=True)  # type: ignore[attr-defined]
    return svc


def _network(service: NetworkService, ctx: RequestContext, cidr: str) -> str:
    q = service.quota_defaults
    net = service.db.write(networks.create, ctx, {"name": cidr, "project_id": ctx.project_id},
                           [], service.segment_config, q)
    service.db.write(subnets.create, ctx, {"network_id": net["id"], "cidr": cidr,
                                           "project_id": ctx.project_id, "ip_version": 4}, q)
    return str(net["id"])


def test_lookup_by_network_and_address(service: NetworkService) -> None:
    api: NetworkAPI = service.provides()[NetworkAPI]  # type: ignore[assignment]
    ctx = RequestContext(project_id="p1", roles=["member"])
    other = RequestContext(project_id="p2", roles=["member"])
    net1 = _network(service, ctx, "10.9.0.0/24")
    net2 = _network(service, other, "10.9.0.0/24")  # the same addresses, another network
    api.allocate_for_instance(ctx, "vm-1", "compute1",
                              [PortRequest(network_id=net1, fixed_ip="10.9.0.50")])
    api.allocate_for_instance(other, "vm-2", "compute1",
                              [PortRequest(network_id=net2, fixed_ip="10.9.0.50")])
    # a port that is no instance's, with an address of its own
    plain = service.db.write(ports.create, ctx, {"network_id": net1, "project_id": "p1",
                                         "fixed_ips": [{"ip_address": "10.9.0.60"}]},
                     service.quota_defaults, service.binding)
    assert [ip["ip_address"] for ip in plain["fixed_ips"]] == ["10.9.0.60"]
    rpc = AgentRPC(service)

    def ask(**msg: Any) -> Any:
        return asyncio.run(rpc.handle({"op": "metadata_lookup", **msg}))

    assert ask(network_id=net1, address="10.9.0.50") == {"instance_id": "vm-1",
                                                          "project_id": "p1"}
    assert ask(network_id=net2, address="10.9.0.50") == {"instance_id": "vm-2",
                                                          "project_id": "p2"}
    assert ask(network_id=net1, address="::ffff:10.9.0.50")["instance_id"] == "vm-1"
    assert ask(network_id=net1, address="10.9.0.60") == {}
    assert ask(network_id=net1, address="10.9.0.51") == {}
    assert ask(network_id=net1, address="not-an-address") == {}
    assert ask(network_id="no-such-network", address="10.9.0.50") == {}
    api.deallocate_for_instance(ctx, "vm-1")
    assert ask(network_id=net1, address="10.9.0.50") == {}
