"""The NetworkAPI compute will use: allocate and bind an instance's ports on a host (all or
none), addresses with floating IPs, release; against a real (SQLite) database."""

from __future__ import annotations

from pathlib import Path

import pytest

from pocketstack.common import exceptions, migrate
from pocketstack.common.bus import InProcessBus
from pocketstack.common.context import RequestContext
from pocketstack.common.db import Database
from pocketstack.common.service import Runtime
from pocketstack.config import Settings
from pocketstack.network.domain import agents, floatingips, networks, ports, routers, subnets
from pocketstack.network.interface import NetworkAPI, PortRequest
from pocketstack.network.service import NetworkService


@pytest.fixture()
def service(tmp_path: Path) -> NetworkService:
    db = Database(f"sqlite:///{tmp_path / 'net.db'}")
    migrate.upgrade(db)
    settings = Settings(state_dir=str(tmp_path), dataplane="none")  # the in-process heartbeats
    svc = NetworkService(Runtime(settings, db, InProcessBus(), tmp_path))
    role = svc.roles()[0]
    role.report(starting=True)  # type: ignore[attr-defined]
    return svc


def test_allocate_addresses_release(service: NetworkService) -> None:
    api: NetworkAPI = service.provides()[NetworkAPI]  # type: ignore[assignment]
    ctx = RequestContext(project_id="p1", roles=["member"])
    admin = RequestContext(project_id="p1", roles=["admin"])
    db, q = service.db, service.quota_defaults
    net = db.write(networks.create, ctx, {"name": "n1", "project_id": "p1"}, [],
                   service.segment_config, q)
    sub = db.write(subnets.create, ctx, {"network_id": net["id"], "project_id": "p1",
                                         "cidr": "10.9.0.0/24", "ip_version": 4}, q)
    ext = db.write(networks.create, admin, {"name": "ext", "project_id": "p1",
                                            "router:external": True}, [],
                   service.segment_config, q)
    db.write(subnets.create, admin, {"network_id": ext["id"], "project_id": "p1",
                                     "cidr": "172.30.0.0/24", "ip_version": 4}, q)
    router = db.write(routers.create, ctx, {"project_id": "p1", "external_gateway_info": {
        "network_id": ext["id"]}}, q, service.binding)
    db.write(routers.add_interface, ctx, router["id"], {"subnet_id": sub["id"]},
             service.binding)
    mine = db.write(ports.create, ctx, {"network_id": net["id"], "project_id": "p1"}, q,
                    service.binding)

    vifs = api.allocate_for_instance(ctx, "vm-1", "compute1", [
        PortRequest(network_id=net["id"], fixed_ip="10.9.0.50"),
        PortRequest(port_id=mine["id"])])
    assert [v.vif_type for v in vifs] == ["bridge", "bridge"]
    assert vifs[0].fixed_ips[0].address == "10.9.0.50" and vifs[0].mtu == 1450
    assert vifs[0].network_type == "vxlan" and vifs[1].created is False

    fip = db.write(floatingips.create, ctx, {"project_id": "p1",
                                             "floating_network_id": ext["id"],
                                             "port_id": vifs[0].port_id}, q, service.binding)
    addresses = api.instance_addresses(["vm-1"])["vm-1"]["n1"]
    assert {(a["addr"], a["OS-EXT-IPS:type"]) for a in addresses} == {
        ("10.9.0.50", "fixed"), (fip["floating_ip_address"], "floating"),
        (mine["fixed_ips"][0]["ip_address"], "fixed")}

    # all or none: a taken address refuses the whole request and leaves nothing behind
    with pytest.raises(exceptions.Conflict):
        api.allocate_for_instance(ctx, "vm-2", "compute1", [
            PortRequest(network_id=net["id"]), PortRequest(network_id=net["id"],
                                                           fixed_ip="10.9.0.50")])
    assert api.instance_addresses(["vm-2"]) == {"vm-2": {}}
    groups = api.instance_security_groups(["vm-1", "vm-9"])
    assert [g["name"] for g in groups["vm-1"]] == ["default"] and groups["vm-9"] == []
    assert len(groups["vm-1"][0]["security_group_rules"]) == 4
    failed = api.allocate_for_instance(ctx, "vm-3", "nowhere", [
        PortRequest(network_id=net["id"])])
    assert failed[0].vif_type == "binding_failed"

    api.deallocate_for_instance(ctx, "vm-1", keep_port_ids=(mine["id"],))
    assert api.instance_addresses(["vm-1"]) == {"vm-1": {}}
    kept = db.read(ports.get_visible, ctx, mine["id"])
    assert kept["device_id"] == "" and kept["binding_vif_type"] == "unbound"
    made = db.read(lambda conn: ports.list_ports(conn, ctx, networks.ListQuery(
        filters={"device_id": ["vm-1"]}), [], [])[0])
    assert made == []
    assert api.auto_networks(ctx) == [net["id"]]
    role = service.roles()[0]
    role.report()  # type: ignore[attr-defined]
    listed = db.read(lambda conn: agents.list_agents(conn, networks.ListQuery())[0])
    l3 = next(a for a in listed if a["agent_type"] == "L3 agent")
    assert l3["configurations"]["routers"] == 1 and l3["configurations"]["gateways"] == 1
    assert l3["configurations"]["floating_ips"] == 0  # its port is gone with vm-1


def test_instance_ports_rebind_and_detach_one(service: NetworkService) -> None:
    api: NetworkAPI = service.provides()[NetworkAPI]  # type: ignore[assignment]
    ctx = RequestContext(project_id="p1", roles=["member"])
    db, q = service.db, service.quota_defaults
    net = db.write(networks.create, ctx, {"name": "n1", "project_id": "p1"}, [],
                   service.segment_config, q)
    db.write(subnets.create, ctx, {"network_id": net["id"], "project_id": "p1",
                                   "cidr": "10.9.0.0/24", "ip_version": 4}, q)
    vifs = api.allocate_for_instance(ctx, "vm-1", "compute1", [
        PortRequest(network_id=net["id"]), PortRequest(network_id=net["id"])])
    found = api.instance_ports("vm-1")
    assert {v.port_id for v in found} == {v.port_id for v in vifs}
    assert {v.status for v in found} == {"ACTIVE"}
    # rebinding: the same ports, asked for by id, move to another host (or none)
    api.allocate_for_instance(ctx, "vm-1", "", [PortRequest(port_id=v.port_id) for v in vifs])
    unbound = db.read(ports.get_visible, ctx, vifs[0].port_id)
    assert unbound["binding_host_id"] == "" and unbound["device_id"] == "vm-1"
    api.allocate_for_instance(ctx, "vm-1", "compute1",
                              [PortRequest(port_id=v.port_id) for v in vifs])
    assert db.read(ports.get_visible, ctx, vifs[0].port_id)["binding_host_id"] == "compute1"
    # detaching one port leaves the other
    api.deallocate_for_instance(ctx, "vm-1", (), only_port_ids=(vifs[0].port_id,))
    assert [v.port_id for v in api.instance_ports("vm-1")] == [vifs[1].port_id]
    with pytest.raises(exceptions.NotFound):
        db.read(ports.get_visible, ctx, vifs[0].port_id)
