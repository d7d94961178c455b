"""``network.rpc`` ops of the L2 agent (``l2_state``, ``set_port_status``) against a real
(SQLite) database: which ports, segments, peers and security groups a host is told about,
and status writes that move revisions."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import sqlalchemy as sa

from pocketstack.common import migrate
from pocketstack.common.context import RequestContext
from pocketstack.common.db import Database
from pocketstack.network import tables as t
from pocketstack.network.domain import agents, networks, ports, security_groups, segments, subnets
from pocketstack.network.rpc import AgentRPC

CONFIG = segments.SegmentConfig.parse("public", "", "100:200", "", "", "vxlan", 1500)
QUOTAS = {k: -1 for k in ("network", "subnet", "port", "router", "floatingip",
                          "security_group", "security_group_rule", "subnetpool",
                          "rbac_policy")}
ADMIN = RequestContext(project_id="p1", roles=["admin"])
BINDING = ports.BindingConfig()


@pytest.fixture()
def world(tmp_path: Path) -> dict[str, Any]:
    db = Database(f"sqlite:///{tmp_path / 'net.db'}")
    migrate.upgrade(db)
    for host, ip in (("h1", "10.254.0.2"), ("h2", "10.254.0.3"), ("h3", "10.254.0.4")):
        db.write(agents.report, "Linux bridge agent", "neutron-linuxbridge-agent", "N/A",
                 host, None, {"tunneling_ip": ip, "tunnel_types": ["vxlan"],
                              "bridge_mappings": {"public": "ph-public"}})
    db.write(agents.report, "DHCP agent", "neutron-dhcp-agent", "dhcp_agent", "h4", "nova",
             {"tunneling_ip": "10.254.0.5"})  # not an L2 agent: never a peer

    def make(conn: Any) -> dict[str, Any]:
        net_a = networks.create(conn, ADMIN, {"project_id": "p1"}, [], CONFIG, QUOTAS)
        net_b = networks.create(conn, ADMIN, {"project_id": "p1"}, [], CONFIG, QUOTAS)
        flat = networks.create(conn, ADMIN, {"project_id": "p1"}, [
            {"network_type": "flat", "physical_network": "public", "segmentation_id": None}],
            CONFIG, QUOTAS)
        for net, cidr in ((net_a, "10.0.0.0/24"), (net_b, "10.1.0.0/24"),
                          (flat, "172.24.4.0/24")):
            subnets.create(conn, ADMIN, {"project_id": "p1", "network_id": net["id"],
                                         "cidr": cidr, "ip_version": 4}, QUOTAS)
        web = security_groups.create(conn, ADMIN, {"project_id": "p1", "name": "web"},
                                     QUOTAS)
        peers = security_groups.create(conn, ADMIN, {"project_id": "p1", "name": "peers"},
                                       QUOTAS)
        rule = security_groups.create_rule(conn, ADMIN, {
            "security_group_id": web["id"], "direction": "ingress", "ethertype": "IPv4",
            "protocol": "tcp", "port_range_min": 22, "port_range_max": 22,
            "remote_group_id": peers["id"]}, QUOTAS)

        def port(net: dict[str, Any], host: str, groups: list[str], **extra: Any) -> Any:
            return ports.create(conn, ADMIN, {"project_id": "p1", "network_id": net["id"],
                                              "binding:host_id": host,
                                              "security_groups": groups, **extra},
                                QUOTAS, BINDING)
        made = {
            "a1": port(net_a, "h1", [web["id"]]),
            "a2": port(net_a, "h2", [peers["id"]]),
            "a3": port(net_a, "h3", [peers["id"]]),
            "b2": port(net_b, "h2", []),
            "f1": port(flat, "h1", []),
            "loose": port(net_a, "", [peers["id"]]),  # unbound: no peer, but a member
        }
        return {"net_a": net_a, "net_b": net_b, "flat": flat, "web": web, "peers": peers,
                "rule": rule, **made}

    made = db.write(make)
    # h3's L2 agent went silent: still a peer (its instances keep forwarding)
    db.write(lambda c: c.execute(sa.update(t.agents).where(t.agents.c.host == "h3").values(
        heartbeat_timestamp=dt.datetime(2000, 1, 1))))
    service = SimpleNamespace(db=db, binding=BINDING)
    return {"db": db, "rpc": AgentRPC(service), **made}  # type: ignore[arg-type]


def call(world: dict[str, Any], **msg: Any) -> Any:
    return asyncio.run(world["rpc"].handle(msg))


def test_l2_state_of_a_host(world: dict[str, Any]) -> None:
    state = call(world, op="l2_state", host="h1")
    a1, f1 = world["a1"], world["f1"]
    net_a, flat = world["net_a"], world["flat"]
    assert sorted(p["id"] for p in state["ports"]) == sorted([a1["id"], f1["id"]])
    port = next(p for p in state["ports"] if p["id"] == a1["id"])
    assert port["network_id"] == net_a["id"] and port["mac_address"] == a1["mac_address"]
    assert port["fixed_ips"] == [{"subnet_id": a1["fixed_ips"][0]["subnet_id"],
                                  "ip_address": a1["fixed_ips"][0]["ip_address"]}]
    assert port["security_group_ids"] == [world["web"]["id"]]
    assert port["port_security_enabled"] is True and port["admin_state_up"] is True
    assert port["allowed_address_pairs"] == [] and "status" in port
    vni = net_a["segments"][0]["segmentation_id"] if "segments" in net_a else \
        net_a["provider:segmentation_id"]
    assert state["networks"][net_a["id"]] == {"network_type": "vxlan", "physical_network": None,
                                              "segmentation_id": vni, "mtu": 1450}
    assert state["networks"][flat["id"]] == {"network_type": "flat",
                                             "physical_network": "public",
                                             "segmentation_id": None, "mtu": 1500}
    # h2 and h3 have ports on net_a (h3's agent is not alive, but its kernel state forwards
    # still: as Neutron's l2population, it stays a peer); the unbound port counts not
    assert state["peers"] == {net_a["id"]: ["10.254.0.3", "10.254.0.4"], flat["id"]: []}
    web, peers = state["security_groups"][world["web"]["id"]], world["peers"]["id"]
    assert world["rule"]["id"] in [r["id"] for r in web["rules"]]
    rule = next(r for r in web["rules"] if r["id"] == world["rule"]["id"])
    assert rule == {"id": world["rule"]["id"], "direction": "ingress", "ethertype": "IPv4",
                    "protocol": "tcp", "port_range_min": 22, "port_range_max": 22,
                    "remote_ip_prefix": None, "remote_group_id": peers}
    assert web["members"] == {"IPv4": [a1["fixed_ips"][0]["ip_address"]], "IPv6": []}
    # the remote group is there too, with every port in it (bound anywhere or not)
    expected = sorted(world[k]["fixed_ips"][0]["ip_address"] for k in ("a2", "a3", "loose"))
    assert state["security_groups"][peers]["members"]["IPv4"] == expected


def test_a_live_migrations_source_keeps_serving_the_port(world: dict[str, Any]) -> None:
    """While a live migration moves b2's guest from h2 to h3 (the port bound to h3, its
    profile ``migrating_from: h2``), both hosts wire it and each is the other's peer; a
    binding without the source ends that (the guest has left h2), and h2's status report of
    a port bound elsewhere changes nothing."""
    from pocketstack.network.domain import instances

    db, b2, net_b = world["db"], world["b2"], world["net_b"]
    b2_id = b2["id"]
    db.write(instances.allocate, ADMIN, "vm-b2", "h3", [{"port_id": b2_id}], None, QUOTAS,
             BINDING, "h2")
    shown = db.read(ports.get_visible, ADMIN, b2_id)
    assert shown["binding_host_id"] == "h3"
    assert shown["binding_profile"] == {"migrating_from": "h2"}
    on_source, on_dest = call(world, op="l2_state", host="h2"), call(world, op="l2_state",
                                                                    host="h3")
    assert b2_id in [p["id"] for p in on_source["ports"]]
    assert b2_id in [p["id"] for p in on_dest["ports"]]
    assert on_source["peers"][net_b["id"]] == ["10.254.0.4"]  # h3
    assert on_dest["peers"][net_b["id"]] == ["10.254.0.3"]  # h2
    assert call(world, op="l2_state", host="h1")["peers"].get(net_b["id"]) is None
    call(world, op="set_port_status", host="h2", up=[], down=[b2_id])
    assert db.read(ports.get_visible, ADMIN, b2_id)["status"] == shown["status"]

    db.write(instances.allocate, ADMIN, "vm-b2", "h3", [{"port_id": b2_id}], None, QUOTAS,
             BINDING)
    assert db.read(ports.get_visible, ADMIN, b2_id)["binding_profile"] == {}
    assert b2_id not in [p["id"] for p in call(world, op="l2_state", host="h2")["ports"]]
    assert call(world, op="l2_state", host="h3")["peers"][net_b["id"]] == []


def test_l2_state_of_a_host_without_ports(world: dict[str, Any]) -> None:
    assert call(world, op="l2_state", host="nowhere") == {
        "ports": [], "networks": {}, "peers": {}, "security_groups": {}}


def test_set_port_status_writes_changes_and_revisions(world: dict[str, Any]) -> None:
    db, a1, a2 = world["db"], world["a1"], world["a2"]

    def row(port_id: str) -> tuple[str, int]:
        return db.read(lambda c: c.execute(sa.select(t.ports.c.status, t.ports.c.revision_number)
                                           .where(t.ports.c.id == port_id)).one().tuple())

    before = {p: row(world[p]["id"]) for p in ("a1", "a2", "f1")}
    assert call(world, op="set_port_status", host="h1", up=[a1["id"]],
                down=[world["f1"]["id"]]) == {}
    # a port bound elsewhere is not this host's to report
    assert call(world, op="set_port_status", host="h1", up=[a2["id"]], down=[]) == {}
    assert row(a1["id"])[0] == "ACTIVE" and row(world["f1"]["id"])[0] == "DOWN"
    for key in ("a1", "f1"):
        moved = before[key][0] != row(world[key]["id"])[0]
        assert row(world[key]["id"])[1] == before[key][1] + (1 if moved else 0)
    assert row(a2["id"]) == before["a2"]
    revision = row(a1["id"])[1]
    call(world, op="set_port_status", host="h1", up=[a1["id"]], down=[])  # no change
    assert row(a1["id"])[1] == revision
    call(world, op="set_port_status", host="h1", up=[], down=[a1["id"]])
    assert row(a1["id"]) == ("DOWN", revision + 1)
    state = call(world, op="l2_state", host="h1")
    assert {p["id"]: p["status"] for p in state["ports"]}[a1["id"]] == "DOWN"
