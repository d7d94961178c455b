"""The L3 agent against the real kernel: a stub ``network.rpc`` answers a fixed ``l3_state``;
the test builds the host namespace (a bridge per network, doing the L2 agent's part of
enslaving the router's taps), an "external world" namespace on the external bridge
(172.24.4.1/24, like devstack's br-ex) and instance namespaces on the tenant bridges, each
running a TCP server that answers the address it sees the client coming from."""

from __future__ import annotations

import asyncio
import copy
import secrets
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest

from pocketstack.agents.kernel import cleanup, run
from pocketstack.agents.kernel import names as kn
from pocketstack.agents.kernel.names import KernelNames
from pocketstack.agents.network import router as routerns
from pocketstack.agents.network.base import AgentContext
from pocketstack.agents.network.l3 import L3Part
from pocketstack.agents.network.rpc import NetworkRPC

HOST = "net1"
PORT = 7000
SERVER = """
import socket, sys
s = socket.socket(socket.AF_INET6); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
s.bind(("::", int(sys.argv[1]))); s.listen(16); print("ready", flush=True)
while True:
    c, peer = s.accept(); c.sendall(peer[0].removeprefix("::ffff:").encode()); c.close()
"""
CLIENT = """
import socket, sys
try:
    c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=float(sys.argv[3]))
    print(c.recv(64).decode())
except OSError:
    print("unreachable")
"""


def _id() -> str:
    return str(uuid.uuid4())


class StubRPC:
    """``l3_state`` answers :attr:`routers`; statuses are written back into them."""

    def __init__(self) -> None:
        self.routers: list[dict[str, Any]] = []
        self.statuses: list[dict[str, Any]] = []
        self.hints: list[dict[str, Any]] = []

    async def call(self, op: str, **args: Any) -> Any:
        if op == "l3_state":
            assert args == {"host": HOST}
            return {"routers": copy.deepcopy(self.routers)}
        assert op == "set_floatingip_status"
        self.statuses.append(args)
        for router in self.routers:
            router["status"] = args["routers"].get(router["id"], router.get("status"))
            for fip in router["floating_ips"]:
                fip["status"] = args["statuses"].get(fip["id"], fip["status"])
        return {}

    async def hint(self, message: dict[str, Any]) -> None:
        self.hints.append(message)


class Lab:
    """The namespaces of one test (all under its own prefix)."""

    def __init__(self, names: KernelNames, rpc: Any = None, ext: str | None = None,
                 t1: str | None = None, instances: bool = True) -> None:
        self.names = names
        self.host_ns = names.host_ns(HOST)
        self.procs: list[subprocess.Popen[str]] = []
        self.rpc = StubRPC() if rpc is None else rpc
        self.ext, self.t1, self.t2 = ext or _id(), t1 or _id(), _id()
        run.ensure_netns(self.host_ns)
        run.ip_batch([f"link add {kn.bridge(n)} type bridge" for n in (self.ext, self.t1, self.t2)]
                     + [f"link set {kn.bridge(n)} up" for n in (self.ext, self.t1, self.t2)],
                     self.host_ns)
        self.world = self.plug("world", self.ext, "172.24.4.1/24", None)
        if instances:
            self.a = self.plug("a", self.t1, "10.0.0.5/24", "10.0.0.1")
            self.c = self.plug("c", self.t1, "10.0.0.6/24", "10.0.0.1")
            self.b = self.plug("b", self.t2, "10.1.0.5/24", "10.1.0.1")
        ctx = AgentContext(host=HOST, names=names, rpc=cast(NetworkRPC, self.rpc),
                           state_dir=Path("/nonexistent"), underlay_ip="10.254.0.2",
                           underlay_prefixlen=24, physnet_gateways={},
                           physical_networks=(), metadata_secret="", metadata_url="")
        self.part = L3Part(ctx)

    def plug(self, name: str, network: str, address: str, gateway: str | None) -> str:
        netns = self.names.guest_ns(name)
        run.ensure_netns(netns)
        run.sysctl(netns, "net.ipv6.conf.default.accept_dad", "0")
        tap = f"tapi{name}"
        run.run(["ip", "link", "add", "eth0", "type", "veth", "peer", "name", tap,
                 "netns", self.host_ns], netns)
        run.ip_batch([f"link set {tap} master {kn.bridge(network)} up"], self.host_ns)
        run.ip_batch([f"addr add {address} dev eth0", "link set eth0 up"]
                     + ([f"route add default via {gateway}"] if gateway else []), netns)
        proc = subprocess.Popen(["ip", "netns", "exec", netns, sys.executable, "-c", SERVER,
                                 str(PORT)], stdout=subprocess.PIPE, text=True)
        self.procs.append(proc)
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        return netns

    def sync(self) -> None:
        """One agent sync, then the L2 agent's part: router taps into their bridges, up."""
        asyncio.run(self.part.sync())
        links = run.links(self.host_ns)
        lines = []
        routers = asyncio.run(self.rpc.call("l3_state", host=HOST))["routers"]
        for router in routers:
            ports = list(router["interfaces"]) + ([router["gateway"]] if router["gateway"]
                                                  else [])
            for port in ports:
                tap = kn.tap(port["port_id"])
                if tap in links and "master" not in links[tap]:
                    lines.append(f"link set {tap} master {kn.bridge(port['network_id'])} up")
        run.ip_batch(lines, self.host_ns)

    def seen_from(self, netns: str, address: str, timeout: float = 2.0) -> str:
        """The source address ``address``'s server saw a connection from ``netns`` come from."""
        return run.run([sys.executable, "-c", CLIENT, address, str(PORT), str(timeout)],
                       netns).strip()

    def ping(self, netns: str, address: str, wait: str = "1") -> bool:
        return run.run(["ping", "-c1", "-W", wait, address], netns, check=False,
                       timeout=5).count(" 0% packet loss") == 1

    def close(self) -> None:
        for proc in self.procs:
            proc.kill()
            proc.wait()
        cleanup.remove_all(self.names)


def _port(network: str, mac: str, mtu: int, ips: list[dict[str, Any]]) -> dict[str, Any]:
    return {"port_id": _id(), "mac_address": mac, "network_id": network, "mtu": mtu,
            "fixed_ips": ips}


def _router(lab: Lab, with_t2: bool = True) -> dict[str, Any]:
    interfaces = [_port(lab.t1, "fa:16:3e:00:01:01", 1450, [
        {"ip_address": "10.0.0.1", "prefixlen": 24, "subnet_id": _id(), "cidr": "10.0.0.0/24"}])]
    if with_t2:
        interfaces.append(_port(lab.t2, "fa:16:3e:00:02:01", 1450, [
            {"ip_address": "10.1.0.1", "prefixlen": 24, "subnet_id": _id(),
             "cidr": "10.1.0.0/24"}]))
    gateway = _port(lab.ext, "fa:16:3e:00:00:10", 1500, [
        {"ip_address": "172.24.4.10", "prefixlen": 24, "subnet_id": _id(),
         "gateway_ip": "172.24.4.1"}])
    return {"id": _id(), "admin_state_up": True, "status": "ACTIVE", "enable_snat": True,
            "gateway": gateway, "interfaces": interfaces, "routes": [], "floating_ips": []}


@pytest.fixture()
def lab() -> Iterator[Lab]:
    reason = run.missing()
    if reason is not None:
        pytest.skip(reason)
    names = KernelNames("pt" + secrets.token_hex(2))
    try:
        made = Lab(names)
    except BaseException:
        cleanup.remove_all(names)  # kills the servers inside the namespaces too
        raise
    try:
        yield made
    finally:
        made.close()
        assert not [ns for ns in run.netns_list() if made.names.owns(ns)]


def test_nat_script_replaces_the_table_atomically() -> None:
    router = {"id": "r", "enable_snat": True, "floating_ips": [
        {"id": "f", "floating_ip_address": "172.24.4.50", "fixed_ip_address": "10.0.0.5"}],
        "gateway": {"port_id": "gwport-0123456789", "fixed_ips": [
            {"ip_address": "172.24.4.10", "prefixlen": 24, "gateway_ip": "172.24.4.1"}]},
        "interfaces": [{"port_id": "p", "fixed_ips": [{"ip_address": "10.0.0.1",
                                                       "cidr": "10.0.0.0/24"},
                                                      {"ip_address": "fd00::1",
                                                       "cidr": "fd00::/64"}]}]}
    script = routerns.nat_script("ps00_nat", router)
    lines = [line.strip() for line in script.splitlines()]
    assert lines[:4] == ["table ip ps00_nat {", "}", "delete table ip ps00_nat",
                         "table ip ps00_nat {"]
    assert lines.count("ip daddr 172.24.4.50 dnat to 10.0.0.5") == 2  # prerouting and output
    assert 'oifname "qg-gwport-0123" ip saddr 10.0.0.5 snat to 172.24.4.50' in lines
    assert 'oifname "qg-gwport-0123" ip saddr { 10.0.0.0/24 } snat to 172.24.4.10' in lines
    assert lines.index('oifname "qg-gwport-0123" ip saddr 10.0.0.5 snat to 172.24.4.50') < \
        lines.index('oifname "qg-gwport-0123" ip saddr { 10.0.0.0/24 } snat to 172.24.4.10')
    no_snat = routerns.nat_script("ps00_nat", dict(router, enable_snat=False))
    assert "10.0.0.0/24" not in no_snat and "snat to 172.24.4.50" in no_snat


def test_snat_floating_ip_and_its_removal(lab: Lab) -> None:
    router = _router(lab)
    lab.rpc.routers = [router]
    lab.sync()
    rns = lab.names.router_ns(router["id"])
    assert run.run(["cat", "/proc/sys/net/ipv4/ip_forward"], rns).strip() == "1"
    links = run.links(rns)
    qg = kn.gateway_dev(router["gateway"]["port_id"])
    qr = kn.router_dev(router["interfaces"][0]["port_id"])
    assert links[qr]["address"] == "fa:16:3e:00:01:01" and links[qr]["mtu"] == 1450
    assert links[qg]["address"] == "fa:16:3e:00:00:10"
    assert {h["resource"] for h in lab.rpc.hints} == {"ports"}
    assert sorted(lab.rpc.hints[0]["ids"]) == sorted(
        [p["port_id"] for p in router["interfaces"]] + [router["gateway"]["port_id"]])
    # no floating IP: the world sees the instance as the router's gateway address
    assert lab.seen_from(lab.a, "172.24.4.1") == "172.24.4.10"

    fip = {"id": _id(), "floating_ip_address": "172.24.4.50", "fixed_ip_address": "10.0.0.5",
           "port_id": _id(), "status": "DOWN"}
    router["floating_ips"] = [fip]
    # the world still maps the address to its last owner's MAC: the gratuitous ARP fixes it
    run.ip_batch(["neigh replace 172.24.4.50 lladdr 02:00:00:00:00:01 dev eth0 nud reachable"],
                 lab.world)
    start = time.monotonic()
    lab.sync()
    synced = time.monotonic() - start
    while not lab.ping(lab.world, "172.24.4.50", "0.2"):
        assert time.monotonic() - start < 5, "the floating IP never answered"
    print(f"\nfloating IP: sync {synced * 1000:.0f} ms, reachable (ping) after "
          f"{(time.monotonic() - start) * 1000:.0f} ms")
    assert lab.rpc.statuses[-1]["statuses"] == {fip["id"]: "ACTIVE"}
    assert "fa:16:3e:00:00:10" in run.run(["ip", "neigh", "show", "172.24.4.50"], lab.world)
    assert lab.seen_from(lab.world, "172.24.4.50") == "172.24.4.1"  # DNAT keeps the source
    assert lab.seen_from(lab.a, "172.24.4.1") == "172.24.4.50"  # outbound from the FIP
    assert lab.seen_from(lab.c, "172.24.4.1") == "172.24.4.10"  # no FIP: still SNAT
    # an instance on the same network reaches the FIP through the router (hairpin)
    assert lab.seen_from(lab.c, "172.24.4.50") == "172.24.4.10"
    # and again: the router sent no ICMP redirect that would make c skip it
    assert lab.seen_from(lab.c, "172.24.4.50") == "172.24.4.10"
    assert lab.ping(lab.c, "172.24.4.50") and lab.ping(lab.c, "172.24.4.50")
    icmp = [line.split() for line in run.run(["cat", "/proc/net/snmp"], rns).splitlines()
            if line.startswith("Icmp:")]
    assert dict(zip(icmp[0], icmp[1], strict=True))["OutRedirects"] == "0"
    calls = len(lab.rpc.statuses)
    lab.sync()  # nothing changed: no status written
    assert len(lab.rpc.statuses) == calls

    def tracked() -> str:
        return run.run(["conntrack", "-L", "--orig-dst", "172.24.4.50"], rns, check=False)

    assert "dst=172.24.4.50" in tracked()
    router["floating_ips"] = []
    lab.sync()
    assert "dst=172.24.4.50" not in tracked()  # its flows are forgotten, not left to expire
    assert not lab.ping(lab.world, "172.24.4.50")
    assert lab.seen_from(lab.world, "172.24.4.50", 1.0) == "unreachable"
    assert lab.seen_from(lab.a, "172.24.4.1") == "172.24.4.10"
    addresses = run.run(["ip", "-4", "-o", "addr", "show", "dev", qg], rns)
    assert "172.24.4.50" not in addresses and "172.24.4.10/24" in addresses


def test_subnets_route_to_each_other_and_extra_routes(lab: Lab) -> None:
    router = _router(lab)
    for port, net in zip(router["interfaces"], ("fd00:1::", "fd00:2::"), strict=True):
        port["fixed_ips"].append({"ip_address": f"{net}1", "prefixlen": 64,
                                  "subnet_id": _id(), "cidr": f"{net}/64"})
    for netns, net in ((lab.a, "fd00:1::"), (lab.b, "fd00:2::")):
        run.ip_batch([f"addr add {net}5/64 dev eth0 nodad", f"route add ::/0 via {net}1"],
                     netns)
    lab.rpc.routers = [router]
    lab.sync()
    rns = lab.names.router_ns(router["id"])
    assert lab.seen_from(lab.a, "10.1.0.5") == "10.0.0.5"  # no SNAT between its subnets
    assert lab.seen_from(lab.b, "10.0.0.5") == "10.1.0.5"
    assert lab.seen_from(lab.a, "fd00:2::5") == "fd00:1::5"  # IPv6 forwarding too

    # the agent restarts: it finds everything in place and makes no new taps
    hints = len(lab.rpc.hints)
    lab.part = L3Part(lab.part.ctx)
    lab.sync()
    assert len(lab.rpc.hints) == hints
    assert lab.seen_from(lab.b, "10.0.0.5") == "10.1.0.5"

    # an MTU change reaches both ends of the veth
    router["interfaces"][0]["mtu"] = 1400
    lab.sync()
    qr = kn.router_dev(router["interfaces"][0]["port_id"])
    tap = kn.tap(router["interfaces"][0]["port_id"])
    assert run.links(rns)[qr]["mtu"] == 1400 and run.links(lab.host_ns)[tap]["mtu"] == 1400

    # without SNAT the world cannot answer a tenant address
    router["enable_snat"] = False
    lab.sync()
    assert lab.seen_from(lab.a, "172.24.4.1", 0.5) == "unreachable"
    router["enable_snat"] = True
    lab.sync()
    assert lab.seen_from(lab.a, "172.24.4.1") == "172.24.4.10"

    # an extra route: 192.168.77.0/24 lives behind instance a
    run.ip_batch(["addr add 192.168.77.1/32 dev lo"], lab.a)
    run.sysctl(lab.a, "net.ipv4.ip_forward", "0")
    assert not lab.ping(lab.b, "192.168.77.1", "0.5")
    router["routes"] = [{"destination": "192.168.77.0/24", "nexthop": "10.0.0.5"}]
    lab.sync()
    assert "192.168.77.0/24 via 10.0.0.5" in run.run(["ip", "route", "show"], rns)
    assert lab.ping(lab.b, "192.168.77.1")
    router["routes"] = []
    lab.sync()
    assert "192.168.77.0/24" not in run.run(["ip", "route", "show"], rns)
    assert not lab.ping(lab.b, "192.168.77.1", "0.5")

    # an interface removed from the model goes from the namespace (and its tap with it)
    gone = router["interfaces"].pop()
    lab.sync()
    assert kn.router_dev(gone["port_id"]) not in run.links(rns)
    assert kn.tap(gone["port_id"]) not in run.links(lab.host_ns)
    assert lab.seen_from(lab.a, "10.1.0.5", 0.5) == "unreachable"
    assert lab.seen_from(lab.a, "172.24.4.1") == "172.24.4.10"


def test_router_down_passes_nothing_and_deleted_loses_its_namespace(lab: Lab) -> None:
    router = _router(lab, with_t2=False)
    router["floating_ips"] = [{"id": _id(), "floating_ip_address": "172.24.4.51",
                               "fixed_ip_address": "10.0.0.5", "port_id": _id(),
                               "status": "DOWN"}]
    lab.rpc.routers = [router]
    lab.sync()
    rns = lab.names.router_ns(router["id"])
    assert run.netns_exists(rns) and lab.ping(lab.world, "172.24.4.51")
    router["admin_state_up"] = False
    lab.sync()
    # down: its ports stay plugged (the L2 agent keeps them ACTIVE, as Neutron shows a down
    # router's interfaces: Tempest's RoutersTest waits for that) but nothing answers or passes
    assert run.netns_exists(rns)
    devs = {p["port_id"]: kn.router_dev(p["port_id"]) for p in router["interfaces"]}
    devs[router["gateway"]["port_id"]] = kn.gateway_dev(router["gateway"]["port_id"])
    inside = {link["ifname"]: link for link in run.ip_json(["addr", "show"], rns)}
    for port_id, dev in devs.items():
        assert kn.tap(port_id) in run.links(lab.host_ns)
        assert not [a for a in inside[dev].get("addr_info") or [] if a["family"] == "inet"]
    assert not lab.ping(lab.world, "172.24.4.51")
    assert not lab.ping(lab.world, "172.24.4.10")
    assert "dnat" not in run.run(["nft", "list", "ruleset"], rns)
    assert lab.rpc.statuses[-1]["statuses"] == {router["floating_ips"][0]["id"]: "DOWN"}
    router["admin_state_up"] = True
    lab.sync()
    assert lab.ping(lab.world, "172.24.4.51")
    lab.rpc.routers = []
    lab.sync()
    assert not run.netns_exists(rns)
    assert kn.tap(router["gateway"]["port_id"]) not in run.links(lab.host_ns)
    assert lab.part.configurations()["routers"] == 0


def test_waits_for_the_host_namespace_of_the_l2_agent(tmp_path: Path) -> None:
    names = KernelNames("pt" + secrets.token_hex(2))
    stub = StubRPC()
    stub.routers = [{"id": _id(), "admin_state_up": True, "status": "ACTIVE",
                     "enable_snat": True, "gateway": None, "interfaces": [], "routes": [],
                     "floating_ips": []}]
    ctx = AgentContext(host=HOST, names=names, rpc=cast(NetworkRPC, stub), state_dir=tmp_path,
                       underlay_ip="10.254.0.2", underlay_prefixlen=24, physnet_gateways={},
                       physical_networks=(), metadata_secret="", metadata_url="")
    asyncio.run(L3Part(ctx).sync())
    assert not [ns for ns in run.netns_list() if names.owns(ns)]
    assert stub.statuses == [] and stub.hints == []


def test_a_router_that_cannot_be_made_reports_error(lab: Lab) -> None:
    bad, good = _router(lab, with_t2=False), _router(lab, with_t2=False)
    bad["interfaces"][0].update(network_id=lab.t2, mac_address="fa:16:3e:00:02:01", fixed_ips=[
        {"ip_address": "10.1.0.1", "prefixlen": 24, "subnet_id": _id(), "cidr": "10.1.0.0/24"}])
    bad["interfaces"][0]["mtu"] = 10  # below the minimum of a veth: ip refuses it
    bad["gateway"].update(mac_address="fa:16:3e:00:00:11")
    bad["gateway"]["fixed_ips"][0]["ip_address"] = "172.24.4.11"
    fip = {"id": _id(), "floating_ip_address": "172.24.4.60", "fixed_ip_address": "10.0.0.5",
           "port_id": _id(), "status": "DOWN"}
    bad["floating_ips"] = [fip]
    lab.rpc.routers = [bad, good]
    lab.sync()
    assert lab.rpc.statuses[-1] == {"statuses": {fip["id"]: "ERROR"},
                                    "routers": {bad["id"]: "ERROR"}}
    assert lab.seen_from(lab.a, "172.24.4.1") == "172.24.4.10"  # the other one works
    bad["interfaces"][0]["mtu"] = 1450
    lab.sync()
    assert lab.rpc.statuses[-1] == {"statuses": {fip["id"]: "ACTIVE"},
                                    "routers": {bad["id"]: "ACTIVE"}}
    assert lab.seen_from(lab.b, "172.24.4.1") == "172.24.4.11"
