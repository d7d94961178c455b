"""``dhcp_state``: the network host's DHCP ports (made once, addresses following the DHCP
subnets, gone with the last DHCP subnet) and what the DHCP agent is told, against a real
(SQLite) database; deleting subnets and networks that hold only a DHCP port."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest
import sqlalchemy as sa

from pocketstack.common import migrate
from pocketstack.common.context import RequestContext
from pocketstack.common.db import Database
from pocketstack.network import tables as t
from pocketstack.network.domain import agents, networks, ports, quotas, segments, subnets
from pocketstack.network.domain.dhcpstate import DHCP_OWNER, device_id, dhcp_state
from pocketstack.network.rpc import _ops

CONFIG = segments.SegmentConfig.parse("public", "", "5:20", "", "", "vxlan", 1500)
QUOTAS = {k: -1 for k in ("network", "subnet", "port", "router", "floatingip",
                          "security_group", "security_group_rule", "subnetpool",
                          "rbac_policy")}
HOST = "node1"
CTX = RequestContext(project_id="p1", roles=["admin"])


@pytest.fixture()
def svc(tmp_path: Path) -> SimpleNamespace:
    database = Database(f"sqlite:///{tmp_path / 'net.db'}")
    migrate.upgrade(database)
    hints: list[tuple[str, list[str]]] = []
    return SimpleNamespace(db=database, binding=ports.BindingConfig(), hints=hints,
                           changed=lambda resource, ids: hints.append((resource, ids)))


def _network(svc: SimpleNamespace) -> dict[str, Any]:
    return dict(svc.db.write(networks.create, CTX, {"project_id": "p1"}, [], CONFIG, QUOTAS))


def _subnet(svc: SimpleNamespace, network_id: str, cidr: str, **extra: Any) -> dict[str, Any]:
    values = {"network_id": network_id, "project_id": "p1", "cidr": cidr, **extra}
    return dict(svc.db.write(subnets.create, CTX, values, QUOTAS))


def _dhcp_ports(svc: SimpleNamespace, network_id: str) -> list[dict[str, Any]]:
    def read(conn: Any) -> list[dict[str, Any]]:
        rows = [dict(r) for r in conn.execute(sa.select(t.ports).where(
            t.ports.c.network_id == network_id, t.ports.c.device_owner == DHCP_OWNER)
        ).mappings()]
        return ports.decorate(conn, rows)
    return list(svc.db.read(read))


def _state(svc: SimpleNamespace, host: str = HOST) -> dict[str, dict[str, Any]]:
    answer = dhcp_state(cast(Any, svc), {"op": "dhcp_state", "host": host})
    return {n["id"]: n for n in answer["networks"]}


def test_op_is_registered() -> None:
    assert _ops()["dhcp_state"] is dhcp_state


def test_answered_over_the_endpoint_as_plain_json(svc: SimpleNamespace) -> None:
    import asyncio
    import json

    from pocketstack.network.rpc import AgentRPC

    net = _network(svc)
    _subnet(svc, net["id"], "10.0.0.0/24")
    answer = asyncio.run(AgentRPC(cast(Any, svc)).handle({"op": "dhcp_state", "host": HOST}))
    assert [n["id"] for n in answer["networks"]] == [net["id"]]
    assert json.loads(json.dumps(answer)) == answer


def test_device_id_is_neutrons() -> None:
    # uuid5(NAMESPACE_DNS, "node1"), as Neutron's DHCP agent computes it
    assert device_id("node1", "N") == "dhcp8461c769-9756-5dd2-a662-868702182d0e-N"


def test_port_made_once_with_an_address_on_each_dhcp_subnet(svc: SimpleNamespace) -> None:
    net = _network(svc)
    other = _network(svc)
    _subnet(svc, other["id"], "10.9.0.0/24", enable_dhcp=False)
    a = _subnet(svc, net["id"], "10.0.0.0/24", dns_nameservers=["10.0.0.53"],
                host_routes=[{"destination": "10.5.0.0/16", "nexthop": "10.0.0.9"}])
    state = _state(svc)
    assert list(state) == [net["id"]]  # no DHCP subnet on the other network: not served
    served = state[net["id"]]
    assert served["mtu"] == 1450
    made = _dhcp_ports(svc, net["id"])
    assert len(made) == 1
    port = made[0]
    assert port["device_id"] == device_id(HOST, net["id"])
    assert port["binding_host_id"] == HOST and port["project_id"] == "p1"
    assert port["security_groups"] == []
    assert [ip["subnet_id"] for ip in port["fixed_ips"]] == [a["id"]]
    assert served["dhcp_port"] == {"id": port["id"], "mac_address": port["mac_address"],
                                   "fixed_ips": port["fixed_ips"]}
    assert served["dhcp_port"]["fixed_ips"][0]["ip_address"] == "10.0.0.2"
    sub = served["subnets"][0]
    assert sub["gateway_ip"] == "10.0.0.1" and sub["dns_nameservers"] == ["10.0.0.53"]
    assert sub["host_routes"] == [{"destination": "10.5.0.0/16", "nexthop": "10.0.0.9"}]
    assert set(sub) == {"id", "cidr", "ip_version", "gateway_ip", "enable_dhcp",
                        "dns_nameservers", "host_routes", "ipv6_address_mode", "ipv6_ra_mode"}
    assert svc.hints == [("port", [port["id"]])]
    # again: nothing to do, the same port, no hint
    again = _state(svc)
    assert again == state and len(_dhcp_ports(svc, net["id"])) == 1
    assert len(svc.hints) == 1
    # an instance port shows up in the next answer
    opts = [{"opt_name": "tftp-server", "opt_value": "10.0.0.7"}]
    vm = svc.db.write(ports.create, CTX, {"network_id": net["id"], "project_id": "p1",
                                          "device_owner": "compute:nova",
                                          "extra_dhcp_opts": opts}, QUOTAS, svc.binding)
    listed = {p["id"]: p for p in _state(svc)[net["id"]]["ports"]}
    assert set(listed) == {port["id"], vm["id"]}
    assert listed[vm["id"]] == {"id": vm["id"], "mac_address": vm["mac_address"],
                                "fixed_ips": vm["fixed_ips"], "device_owner": "compute:nova",
                                "name": "", "extra_dhcp_opts": [
                                    {"opt_name": "tftp-server", "opt_value": "10.0.0.7",
                                     "ip_version": 4}]}
    # counts in the project's port usage, as a port the API made would
    assert svc.db.read(quotas.usage, "p1")["port"] == 2


def test_a_second_host_gets_its_own_port(svc: SimpleNamespace) -> None:
    net = _network(svc)
    _subnet(svc, net["id"], "10.0.0.0/24")
    one = _state(svc, "node1")[net["id"]]["dhcp_port"]
    two = _state(svc, "node2")[net["id"]]["dhcp_port"]
    assert one["id"] != two["id"]
    assert len(_dhcp_ports(svc, net["id"])) == 2


def test_addresses_follow_the_dhcp_subnets(svc: SimpleNamespace) -> None:
    net = _network(svc)
    a = _subnet(svc, net["id"], "10.0.0.0/24")
    port_id = _state(svc)[net["id"]]["dhcp_port"]["id"]
    revision = _dhcp_ports(svc, net["id"])[0]["revision_number"]
    b = _subnet(svc, net["id"], "10.1.0.0/24")
    c = _subnet(svc, net["id"], "2001:db8::/64", ip_version=6,
                ipv6_address_mode="dhcpv6-stateful", ipv6_ra_mode="dhcpv6-stateful")
    served = _state(svc)[net["id"]]
    assert served["dhcp_port"]["id"] == port_id
    ips = {ip["subnet_id"]: ip["ip_address"] for ip in served["dhcp_port"]["fixed_ips"]}
    assert ips == {a["id"]: "10.0.0.2", b["id"]: "10.1.0.2", c["id"]: "2001:db8::2"}
    port = _dhcp_ports(svc, net["id"])[0]
    assert port["revision_number"] > revision
    # DHCP off on b: its address is released, the others stay
    svc.db.write(subnets.update, CTX, b["id"], {"enable_dhcp": False}, None)
    served = _state(svc)[net["id"]]
    ips = {ip["subnet_id"]: ip["ip_address"] for ip in served["dhcp_port"]["fixed_ips"]}
    assert ips == {a["id"]: "10.0.0.2", c["id"]: "2001:db8::2"}
    assert {s["id"]: s["enable_dhcp"] for s in served["subnets"]} == \
        {a["id"]: True, b["id"]: False, c["id"]: True}
    # the last DHCP subnets deleted or turned off: the port goes, the network is not served
    svc.db.write(subnets.delete, CTX, c["id"])  # holds the DHCP port's address
    svc.db.write(subnets.update, CTX, a["id"], {"enable_dhcp": False}, None)
    assert _state(svc) == {}
    assert _dhcp_ports(svc, net["id"]) == []
    assert svc.hints[-1] == ("port", [port_id])


def test_full_subnet_leaves_the_network_out(svc: SimpleNamespace) -> None:
    net = _network(svc)
    full = _subnet(svc, net["id"], "10.0.0.0/30")  # one address, taken below
    svc.db.write(ports.create, CTX, {"network_id": net["id"], "project_id": "p1"}, QUOTAS,
                 svc.binding)
    ok = _network(svc)
    _subnet(svc, ok["id"], "10.1.0.0/24")
    state = _state(svc)
    assert list(state) == [ok["id"]]
    assert _dhcp_ports(svc, net["id"]) == []
    del full


def test_subnet_delete_releases_the_dhcp_address(svc: SimpleNamespace) -> None:
    net = _network(svc)
    a = _subnet(svc, net["id"], "10.0.0.0/24")
    b = _subnet(svc, net["id"], "10.1.0.0/24")
    _state(svc)
    svc.db.write(subnets.delete, CTX, a["id"])
    port = _dhcp_ports(svc, net["id"])[0]
    assert [ip["subnet_id"] for ip in port["fixed_ips"]] == [b["id"]]


def test_network_delete_with_only_the_dhcp_port(svc: SimpleNamespace) -> None:
    net = _network(svc)
    _subnet(svc, net["id"], "10.0.0.0/24")
    _subnet(svc, net["id"], "2001:db8::/64", ip_version=6, ipv6_address_mode="slaac",
            ipv6_ra_mode="slaac")
    assert _state(svc)[net["id"]]["dhcp_port"]["fixed_ips"]
    svc.db.write(networks.delete, CTX, net["id"])
    assert _dhcp_ports(svc, net["id"]) == []
    assert svc.db.read(lambda conn: conn.execute(
        sa.select(sa.func.count()).select_from(t.ip_allocations)).scalar()) == 0
    assert _state(svc) == {}


def test_network_with_an_instance_port_is_still_in_use(svc: SimpleNamespace) -> None:
    from pocketstack.common import exceptions

    net = _network(svc)
    _subnet(svc, net["id"], "10.0.0.0/24")
    _state(svc)
    svc.db.write(ports.create, CTX, {"network_id": net["id"], "project_id": "p1",
                                     "device_owner": "compute:nova"}, QUOTAS, svc.binding)
    with pytest.raises(exceptions.Conflict):
        svc.db.write(networks.delete, CTX, net["id"])


def test_bound_again_once_the_l2_agent_is_alive(svc: SimpleNamespace) -> None:
    net = _network(svc)
    _subnet(svc, net["id"], "10.0.0.0/24")
    _state(svc)
    assert _dhcp_ports(svc, net["id"])[0]["binding_vif_type"] == "binding_failed"
    svc.db.write(agents.report, "Linux bridge agent", "neutron-linuxbridge-agent", "N/A", HOST,
                 None, {"tunnel_types": ["vxlan"]}, True)
    _state(svc)
    port = _dhcp_ports(svc, net["id"])[0]
    assert port["binding_vif_type"] == "bridge" and port["binding_host_id"] == HOST
    hints = len(svc.hints)
    _state(svc)
    assert len(svc.hints) == hints  # bound: nothing more to do


def test_an_administratively_down_network_is_not_served(svc: SimpleNamespace) -> None:
    net = _network(svc)
    _subnet(svc, net["id"], "10.0.0.0/24")
    assert list(_state(svc)) == [net["id"]]
    svc.db.write(networks.update, CTX, net["id"], {"admin_state_up": False}, None, CONFIG)
    assert _state(svc) == {}
    assert len(_dhcp_ports(svc, net["id"])) == 1  # the port stays, as in Neutron
