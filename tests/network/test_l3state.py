"""The L3 agent's ops (``l3_state``, ``set_floatingip_status``) against a real (SQLite)
database holding devstack's default topology, a port and a floating IP."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import sqlalchemy as sa

from pocketstack.common import migrate
from pocketstack.common.context import RequestContext
from pocketstack.common.db import Database
from pocketstack.network import rpc
from pocketstack.network import tables as t
from pocketstack.network.domain import agents, bootstrap, floatingips, ports, routers, segments

CONFIG = segments.SegmentConfig.parse("public,physnet1", "physnet1:10:11", "5:20", "", "",
                                      "vxlan", 1500)
QUOTAS = {k: -1 for k in ("network", "subnet", "port", "router", "floatingip",
                          "security_group", "security_group_rule", "subnetpool",
                          "rbac_policy")}
BINDING = ports.BindingConfig()
HOST = "net1"


class Service(SimpleNamespace):
    def __init__(self, db: Database) -> None:
        super().__init__(db=db, binding=BINDING, hints=[])

    def changed(self, resource: str, ids: list[str]) -> None:
        self.hints.append((resource, ids))


@pytest.fixture()
def cloud(tmp_path: Path) -> dict[str, Any]:
    db = Database(f"sqlite:///{tmp_path / 'net.db'}")
    migrate.upgrade(db)
    ctx = RequestContext(project_id="demo", roles=["admin", "member"])

    def build(conn: Any) -> dict[str, Any]:
        agents.report(conn, "Linux bridge agent", "neutron-linuxbridge-agent", "N/A", HOST,
                      None, {"interface_mappings": {"public": "ph-public"},
                             "tunnel_types": ["vxlan"]}, True)
        assert bootstrap.create_default_topology(conn, "admin", "demo", CONFIG, QUOTAS, BINDING)
        private = conn.execute(sa.select(t.networks.c.id).where(t.networks.c.name == "private")
                               ).scalar()
        public = conn.execute(sa.select(t.networks.c.id).where(t.networks.c.name == "public")
                              ).scalar()
        router = conn.execute(sa.select(t.routers).where(t.routers.c.name == "router1")
                              ).mappings().one()
        vm = ports.create(conn, ctx, {"network_id": private, "project_id": "demo",
                                      "device_owner": "compute:nova", "device_id": "vm1"},
                          QUOTAS, BINDING)
        fip = floatingips.create(conn, ctx, {"floating_network_id": public,
                                             "project_id": "demo", "port_id": vm["id"]},
                                 QUOTAS, BINDING)
        spare = floatingips.create(conn, ctx, {"floating_network_id": public,
                                               "project_id": "demo"}, QUOTAS, BINDING)
        return {"router": dict(router), "vm": vm, "fip": fip, "spare": spare,
                "private": private, "public": public}

    made = db.write(build)
    made["service"] = Service(db)
    return made


def _router_ports(db: Database) -> list[dict[str, Any]]:
    return db.read(lambda conn: [dict(r) for r in conn.execute(sa.select(t.ports).where(
        t.ports.c.device_owner.in_((routers.INTERFACE, routers.GATEWAY)))).mappings()])


def test_l3_state_binds_router_ports_and_describes_the_router(cloud: dict[str, Any]) -> None:
    service = cloud["service"]
    assert {p["binding_host_id"] for p in _router_ports(service.db)} == {""}
    op = rpc._ops()["l3_state"]
    answer = op(service, {"op": "l3_state", "host": HOST})
    bound = _router_ports(service.db)
    assert len(bound) == 3  # gateway, v4 and v6 interfaces
    assert {(p["binding_host_id"], p["binding_vif_type"]) for p in bound} == {(HOST, "bridge")}
    assert service.hints == [("ports", sorted(p["id"] for p in bound))]
    revisions = {p["id"]: p["revision_number"] for p in bound}

    (router,) = answer["routers"]
    assert router["id"] == cloud["router"]["id"]
    assert router["admin_state_up"] is True and router["enable_snat"] is True
    gw = router["gateway"]
    assert gw["network_id"] == cloud["public"] and gw["mtu"] == 1500
    (gw_ip,) = gw["fixed_ips"]
    assert gw_ip["prefixlen"] == 24 and gw_ip["gateway_ip"] == "172.24.4.1"
    assert gw_ip["ip_address"].startswith("172.24.4.")
    assert gw["port_id"] == cloud["router"]["gw_port_id"]
    by_version = sorted(router["interfaces"], key=lambda i: ":" in i["fixed_ips"][0]["ip_address"])
    v4, v6 = by_version
    assert v4["fixed_ips"] == [{"ip_address": "10.0.0.1", "prefixlen": 26,
                                "subnet_id": v4["fixed_ips"][0]["subnet_id"],
                                "cidr": "10.0.0.0/26"}]
    assert v4["network_id"] == cloud["private"] and v4["mtu"] == 1450
    assert v6["fixed_ips"][0]["prefixlen"] == 64 and v6["fixed_ips"][0]["cidr"].endswith("/64")
    assert router["routes"] == []
    # only the associated floating IP, with its fixed address and status
    assert router["floating_ips"] == [{
        "id": cloud["fip"]["id"], "floating_ip_address": cloud["fip"]["floating_ip_address"],
        "fixed_ip_address": cloud["vm"]["fixed_ips"][0]["ip_address"],
        "port_id": cloud["vm"]["id"], "status": cloud["fip"]["status"]}]

    # a second call binds nothing again (no hint, no revision bump)
    again = op(service, {"op": "l3_state", "host": HOST})
    assert again == answer
    assert service.hints == [("ports", sorted(revisions))]
    assert {p["id"]: p["revision_number"] for p in _router_ports(service.db)} == revisions


def test_l3_state_carries_extra_routes_and_no_gateway(cloud: dict[str, Any]) -> None:
    service = cloud["service"]
    admin = RequestContext(project_id="demo", roles=["admin"])
    router_id = cloud["router"]["id"]

    def change(conn: Any) -> None:
        routers.update(conn, admin, router_id, {"routes": [
            {"destination": "192.168.77.0/24", "nexthop": "10.0.0.9"}]}, BINDING, None)
        made = routers.create(conn, admin, {"name": "bare", "project_id": "demo"}, QUOTAS,
                              BINDING)
        routers.update(conn, admin, made["id"], {"admin_state_up": False}, BINDING, None)

    service.db.write(change)
    answer = rpc._ops()["l3_state"](service, {"host": HOST})
    by_id = {r["id"]: r for r in answer["routers"]}
    assert by_id[router_id]["routes"] == [{"destination": "192.168.77.0/24",
                                           "nexthop": "10.0.0.9"}]
    (bare,) = [r for r in answer["routers"] if r["id"] != router_id]
    assert bare["gateway"] is None and bare["interfaces"] == [] and bare["floating_ips"] == []
    assert bare["admin_state_up"] is False


def test_set_floatingip_status_writes_what_changed(cloud: dict[str, Any]) -> None:
    service = cloud["service"]
    fip_id, router_id = cloud["fip"]["id"], cloud["router"]["id"]

    def status(table: Any, object_id: str) -> tuple[str, int]:
        row = service.db.read(lambda conn: conn.execute(
            sa.select(table.c.status, table.c.revision_number).where(table.c.id == object_id)
        ).one())
        return str(row[0]), int(row[1])

    op = rpc._ops()["set_floatingip_status"]
    _, revision = status(t.floatingips, fip_id)
    assert op(service, {"statuses": {fip_id: "DOWN"}}) == {}
    assert status(t.floatingips, fip_id) == ("DOWN", revision + 1)
    assert op(service, {"statuses": {fip_id: "ACTIVE"}, "routers": {router_id: "ERROR"}}) == {}
    assert status(t.floatingips, fip_id) == ("ACTIVE", revision + 2)
    assert status(t.routers, router_id)[0] == "ERROR"
    # the same status again is no write; unknown ids are ignored; bad statuses refused
    op(service, {"statuses": {fip_id: "ACTIVE", "gone": "DOWN"}})
    assert status(t.floatingips, fip_id) == ("ACTIVE", revision + 2)
    with pytest.raises(ValueError):
        op(service, {"statuses": {fip_id: "UP"}})
    answer = rpc._ops()["l3_state"](service, {"host": HOST})
    assert answer["routers"][0]["floating_ips"][0]["status"] == "ACTIVE"


def test_binding_that_failed_is_tried_again_once_the_l2_agent_lives(
        cloud: dict[str, Any]) -> None:
    service = cloud["service"]
    # the network host's L2 agent has not reported yet
    service.db.write(lambda conn: conn.execute(sa.delete(t.agents)))
    rpc._ops()["l3_state"](service, {"host": HOST})
    assert {(p["binding_host_id"], p["binding_vif_type"])
            for p in _router_ports(service.db)} == {(HOST, "binding_failed")}
    rpc._ops()["l3_state"](service, {"host": HOST})
    assert len(service.hints) == 1  # nothing to try again while no agent lives
    service.db.write(lambda conn: agents.report(
        conn, "Linux bridge agent", "neutron-linuxbridge-agent", "N/A", HOST, None,
        {"interface_mappings": {"public": "ph-public"}, "tunnel_types": ["vxlan"]}, True))
    rpc._ops()["l3_state"](service, {"host": HOST})
    assert {(p["binding_host_id"], p["binding_vif_type"])
            for p in _router_ports(service.db)} == {(HOST, "bridge")}
    assert len(service.hints) == 2
