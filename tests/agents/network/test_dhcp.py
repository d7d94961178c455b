"""The DHCP agent part against the real kernel: a stub ``network.rpc`` answers a fixed
``dhcp_state``; the host namespace and the network's bridge are made by hand (as the L2 agent
would). Clients are namespaces asking with busybox udhcpc; a hook script records the options
and applies the address, MTU and classless routes, so the metadata route is pinged too.
Plus the files dnsmasq is given, without a kernel."""

from __future__ import annotations

import copy
import os
import secrets
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest

from pocketstack.agents.kernel import cleanup, run
from pocketstack.agents.kernel import names as kn
from pocketstack.agents.kernel.names import KernelNames
from pocketstack.agents.network import dhcp
from pocketstack.agents.network.base import AgentContext
from pocketstack.agents.network.dhcp import DhcpPart
from pocketstack.agents.network.rpc import NetworkRPC

HOST = "h1"
NET = str(uuid.uuid4())
SUBNET = str(uuid.uuid4())
DHCP_PORT = str(uuid.uuid4())
VM1, VM2 = str(uuid.uuid4()), str(uuid.uuid4())
MAC1, MAC2 = "fa:16:3e:00:01:05", "fa:16:3e:00:01:06"


def _missing() -> str | None:
    reason = run.missing()
    if reason is None and shutil.which("busybox") is None:
        reason = "the DHCP tests need busybox (udhcpc)"
    return reason


kernel = pytest.mark.skipif(_missing() is not None, reason=str(_missing()))


def _subnet(subnet_id: str = SUBNET, cidr: str = "10.0.0.0/24", **extra: Any) -> dict[str, Any]:
    base = {"id": subnet_id, "cidr": cidr, "ip_version": 4,
            "gateway_ip": cidr.replace("0/24", "1"), "enable_dhcp": True,
            "dns_nameservers": ["10.0.0.53"],
            "host_routes": [{"destination": "10.5.0.0/16", "nexthop": "10.0.0.9"}],
            "ipv6_address_mode": None, "ipv6_ra_mode": None}
    return {**base, **extra}


def _port(port_id: str, mac: str, address: str, owner: str = "compute:nova",
          subnet_id: str = SUBNET) -> dict[str, Any]:
    return {"id": port_id, "mac_address": mac, "device_owner": owner, "name": "",
            "fixed_ips": [{"subnet_id": subnet_id, "ip_address": address}]}


def _state() -> dict[str, Any]:
    dhcp_port = _port(DHCP_PORT, "fa:16:3e:00:00:02", "10.0.0.2", "network:dhcp")
    return {"networks": [{
        "id": NET, "mtu": 1450, "subnets": [_subnet()],
        "ports": [dhcp_port, _port(VM1, MAC1, "10.0.0.5")],
        "dhcp_port": copy.deepcopy({k: dhcp_port[k] for k in ("id", "mac_address",
                                                              "fixed_ips")})}]}


class StubRPC:
    def __init__(self, state: dict[str, Any]) -> None:
        self.state = state
        self.calls: list[tuple[str, dict[str, Any]]] = []

    async def call(self, op: str, **args: Any) -> Any:
        self.calls.append((op, args))
        assert op == "dhcp_state"
        return copy.deepcopy(self.state)


def _ctx(names: KernelNames, rpc: StubRPC, state_dir: Path) -> AgentContext:
    return AgentContext(host=HOST, names=names, rpc=cast(NetworkRPC, rpc), state_dir=state_dir,
                        underlay_ip="10.254.0.2", underlay_prefixlen=24, physnet_gateways={},
                        physical_networks=(), metadata_secret="s",
                        metadata_url="http://127.0.0.1/metadata")


HOOK = """#!/bin/sh
# udhcpc hook: record the options, then apply address, MTU and classless routes
[ "$1" = bound ] || exit 0
env | grep -E '^(ip|mask|router|dns|mtu|staticroutes|msstaticroutes|hostname|lease|tftp)=' \\
    | sort > "$0.$interface.out"
ip addr add "$ip/$mask" dev "$interface"
[ -n "$mtu" ] && ip link set "$interface" mtu "$mtu"
set -- $staticroutes
while [ $# -ge 2 ]; do
    if [ "$2" = 0.0.0.0 ]; then ip route replace "$1" dev "$interface"
    else ip route replace "$1" via "$2" dev "$interface"; fi
    shift 2
done
exit 0
"""


class Lab:
    """The hand-made host namespace and bridge, clients, and the part under test."""

    def __init__(self, tmp_path: Path) -> None:
        self.names = KernelNames("pt" + secrets.token_hex(2))
        self.tmp = tmp_path
        self.rpc = StubRPC(_state())
        self.part = DhcpPart(_ctx(self.names, self.rpc, tmp_path / "run" / "network" / HOST))
        self.host_ns = self.names.host_ns(HOST)
        self.make_host()
        self.hook = tmp_path / "hook.sh"
        self.hook.write_text(HOOK)
        self.hook.chmod(0o755)

    def make_host(self) -> None:
        run.ensure_netns(self.host_ns)
        bridge = kn.bridge(NET)
        run.ip_batch([f"link add {bridge} type bridge", f"link set {bridge} up"], self.host_ns)

    def sync(self) -> None:
        import asyncio

        asyncio.run(self.part.sync())
        # what the L2 agent does with the DHCP port's tap
        tap = kn.tap(self.part.served()[NET]["port_id"]) if NET in self.part.served() else None
        if tap is not None:
            run.ip_batch([f"link set {tap} master {kn.bridge(NET)}", f"link set {tap} up"],
                         self.host_ns)

    def client(self, name: str, mac: str) -> str:
        netns = self.names.guest_ns(name)
        run.ensure_netns(netns)
        tap = f"tap{name}"
        run.ip_batch([f"link add eth0 type veth peer name {tap} netns {self.host_ns}",
                      f"link set eth0 address {mac} up"], netns)
        run.ip_batch([f"link set {tap} master {kn.bridge(NET)}", f"link set {tap} up"],
                     self.host_ns)
        return netns

    def udhcpc(self, netns: str, *options: str, tries: int = 5) -> tuple[int, dict[str, str]]:
        out = Path(f"{self.hook}.eth0.out")
        out.unlink(missing_ok=True)
        argv = ["busybox", "udhcpc", "-i", "eth0", "-n", "-q", "-f", "-t", str(tries), "-T", "1",
                *options, "-s", str(self.hook)]
        proc = subprocess.run(run.in_netns(argv, netns), capture_output=True, text=True,
                              timeout=20, check=False)
        got = {}
        if out.exists():
            got = dict(line.split("=", 1) for line in out.read_text().splitlines())
        return proc.returncode, got

    def dnsmasq_pid(self) -> int:
        pid = dhcp.read_pid(self.part.files(NET).pid)
        assert pid is not None and dhcp.cmdline(pid)
        return pid


@pytest.fixture()
def lab(tmp_path: Path) -> Iterator[Lab]:
    made = Lab(tmp_path)
    try:
        yield made
    finally:
        cleanup.remove_all(made.names, tmp_path)
        assert not [ns for ns in run.netns_list() if made.names.owns(ns)]


@kernel
def test_clients_get_their_addresses_and_changes_need_no_restart(lab: Lab) -> None:
    started = time.monotonic()
    lab.sync()
    print(f"\nfirst sync (namespace, veth, files, dnsmasq): "
          f"{(time.monotonic() - started) * 1000:.0f} ms")
    served = lab.part.served()
    netns = lab.names.dhcp_ns(NET)
    assert served == {NET: {"netns": netns, "port_id": DHCP_PORT,
                            "device": kn.dhcp_dev(DHCP_PORT), "addresses": ["10.0.0.2"]}}
    link = run.ip_json(["addr", "show", "dev", kn.dhcp_dev(DHCP_PORT)], netns)[0]
    assert link["address"] == "fa:16:3e:00:00:02" and link["mtu"] == 1450
    assert {f"{a['local']}/{a['prefixlen']}" for a in link["addr_info"]} >= \
        {"10.0.0.2/24", "169.254.169.254/32"}
    pid = lab.dnsmasq_pid()
    args = dhcp.cmdline(pid)
    assert Path(args[0]).name == f"{lab.names.prefix}-dnsmasq"
    assert f"--dhcp-range=set:subnet-{SUBNET},10.0.0.0,static,255.255.255.0,86400s" in args
    assert dhcp.in_netns(pid, netns)
    assert lab.part.configurations()["networks"] == 1
    assert lab.part.configurations()["ports"] == 2

    vm1 = lab.client("vm1", MAC1)
    started = time.monotonic()
    rc, got = lab.udhcpc(vm1, "-O", "mtu", "-O", "staticroutes", "-O", "msstaticroutes")
    lease_ms = (time.monotonic() - started) * 1000
    print(f"\nDHCP lease (busybox udhcpc, discover to bound): {lease_ms:.0f} ms")
    assert rc == 0, got
    assert got["ip"] == "10.0.0.5" and got["mask"] == "24"
    assert got["router"] == "10.0.0.1" and got["dns"] == "10.0.0.53"
    assert got["mtu"] == "1450" and got["hostname"] == "host-10-0-0-5"
    routes = "10.5.0.0/16 10.0.0.9 169.254.169.254/32 10.0.0.2 0.0.0.0/0 10.0.0.1"
    assert got["staticroutes"] == routes and got["msstaticroutes"] == routes
    # the hook applied them: the metadata address answers through the DHCP port
    route = run.run(["ip", "route", "get", "169.254.169.254"], vm1)
    assert "via 10.0.0.2" in route, route
    run.run(["ping", "-c", "1", "-W", "2", "169.254.169.254"], vm1)
    assert run.ip_json(["link", "show", "eth0"], vm1)[0]["mtu"] == 1450
    # option 121 asked for by number
    run.run(["ip", "addr", "flush", "dev", "eth0"], vm1)
    rc, got = lab.udhcpc(vm1, "-O", "121")
    assert rc == 0 and got["staticroutes"] == routes

    # an unknown MAC gets nothing (static mode)
    vm2 = lab.client("vm2", MAC2)
    rc, got = lab.udhcpc(vm2, tries=2)
    assert rc != 0 and not got
    # the port appears in the model: new files, SIGHUP, same dnsmasq
    lab.rpc.state["networks"][0]["ports"].append(dict(
        _port(VM2, MAC2, "10.0.0.6"),
        extra_dhcp_opts=[{"opt_name": "tftp-server", "opt_value": "10.0.0.7", "ip_version": 4}]))
    hosts_before = lab.part.files(NET).hosts.read_text()
    started = time.monotonic()
    lab.sync()
    print(f"sync of a new port (files, SIGHUP): {(time.monotonic() - started) * 1000:.0f} ms")
    assert lab.dnsmasq_pid() == pid
    assert lab.part.files(NET).hosts.read_text() != hosts_before
    rc, got = lab.udhcpc(vm2, "-O", "tftp")
    assert rc == 0 and got["ip"] == "10.0.0.6"
    assert got["tftp"] == "10.0.0.7"  # the port's extra DHCP option, for that port only
    run.run(["ip", "addr", "flush", "dev", "eth0"], vm1)
    rc, got = lab.udhcpc(vm1, "-O", "tftp")
    assert rc == 0 and got["ip"] == "10.0.0.5" and "tftp" not in got
    assert lab.part.configurations()["ports"] == 3
    # a sync with nothing new touches nothing
    mtime = lab.part.files(NET).hosts.stat().st_mtime_ns
    started = time.monotonic()
    lab.sync()
    print(f"sync with nothing to do: {(time.monotonic() - started) * 1000:.0f} ms")
    assert lab.dnsmasq_pid() == pid
    assert lab.part.files(NET).hosts.stat().st_mtime_ns == mtime

    # the network is no longer served: dnsmasq, namespace and files go
    lab.rpc.state["networks"] = []
    lab.sync()
    assert not run.netns_exists(netns)
    assert not dhcp.cmdline(pid)
    assert not lab.part.files(NET).dir.exists()
    assert lab.part.served() == {} and lab.part.configurations()["networks"] == 0


@kernel
def test_a_deleted_ports_address_goes_to_the_next_port(lab: Lab) -> None:
    """The model reuses a freed address at once; dnsmasq would refuse it to the new MAC while
    the old lease stands ("no address available"), so that lease must go."""
    lab.sync()
    vm1 = lab.client("vm1", MAC1)
    rc, got = lab.udhcpc(vm1)
    assert rc == 0 and got["ip"] == "10.0.0.5"
    assert MAC1 in lab.part.files(NET).leases.read_text()
    network = lab.rpc.state["networks"][0]
    network["ports"] = [p for p in network["ports"] if p["id"] != VM1]
    network["ports"].append(_port(VM2, MAC2, "10.0.0.5"))
    lab.sync()
    assert MAC1 not in lab.part.files(NET).leases.read_text()
    vm2 = lab.client("vm2", MAC2)
    rc, got = lab.udhcpc(vm2, tries=3)
    assert rc == 0 and got["ip"] == "10.0.0.5"
    # current leases are kept (no restart for them)
    pid = lab.dnsmasq_pid()
    lab.sync()
    assert lab.dnsmasq_pid() == pid and MAC2 in lab.part.files(NET).leases.read_text()


def test_stale_leases() -> None:
    hosts = "fa:16:3e:00:00:01,host-10-0-0-5.openstacklocal.,10.0.0.5\n" \
            "fa:16:3e:00:00:02,host-fd00--5.openstacklocal.,[fd00::5]\n"
    leases = ("1 fa:16:3e:00:00:01 10.0.0.5 host-10-0-0-5 01:fa:16:3e:00:00:01\n"
              "1 FA:16:3E:00:00:09 10.0.0.5 host-10-0-0-5 *\n"
              "1 fa:16:3e:00:00:01 10.0.0.6 * *\n"
              "duid 00:01:00:01\n"
              "1 1234 fd00::5 * 00:01\n")
    assert dhcp.stale_leases(leases, hosts) == ["1 FA:16:3E:00:00:09 10.0.0.5 host-10-0-0-5 *",
                                                "1 fa:16:3e:00:00:01 10.0.0.6 * *"]


@kernel
def test_restart_only_for_new_ranges_or_a_dead_dnsmasq(lab: Lab) -> None:
    lab.sync()
    pid = lab.dnsmasq_pid()
    # dnsmasq dies: the next sync starts it again
    os.kill(pid, 9)
    lab.sync()
    second = lab.dnsmasq_pid()
    assert second != pid
    # a second subnet (no gateway): the DHCP port gets an address there, dnsmasq a new range
    other = str(uuid.uuid4())
    network = lab.rpc.state["networks"][0]
    network["subnets"].append(_subnet(other, "10.1.0.0/24", gateway_ip=None, host_routes=[],
                                      dns_nameservers=[]))
    for where in (network["dhcp_port"], network["ports"][0]):
        where["fixed_ips"].append({"subnet_id": other, "ip_address": "10.1.0.2"})
    network["ports"][1]["fixed_ips"].append({"subnet_id": other, "ip_address": "10.1.0.5"})
    lab.sync()
    third = lab.dnsmasq_pid()
    assert third != second
    assert f"--dhcp-range=set:subnet-{other},10.1.0.0,static,255.255.255.0,86400s" in \
        dhcp.cmdline(third)
    assert lab.part.served()[NET]["addresses"] == ["10.0.0.2", "10.1.0.2"]
    # a client on the second subnet only: no router, but the metadata route and on-link routes
    vm = lab.client("vm9", "fa:16:3e:00:02:09")
    network["ports"].append(_port(str(uuid.uuid4()), "fa:16:3e:00:02:09", "10.1.0.9",
                                  subnet_id=other))
    lab.sync()
    assert lab.dnsmasq_pid() == third
    rc, got = lab.udhcpc(vm, "-O", "staticroutes")
    assert rc == 0 and got["ip"] == "10.1.0.9"
    assert "router" not in got and "dns" not in got
    assert got["staticroutes"] == "169.254.169.254/32 10.1.0.2 10.0.0.0/24 0.0.0.0"
    run.run(["ping", "-c", "1", "-W", "2", "169.254.169.254"], vm)
    # the DHCP port is replaced (a new id): the old device goes, a new one serves
    new_port = str(uuid.uuid4())
    network["dhcp_port"]["id"] = new_port
    lab.sync()
    devices = set(run.links(lab.names.dhcp_ns(NET)))
    assert kn.dhcp_dev(new_port) in devices and kn.dhcp_dev(DHCP_PORT) not in devices
    assert kn.tap(DHCP_PORT) not in run.links(lab.host_ns)
    run.run(["ip", "addr", "flush", "dev", "eth0"], vm)
    rc, got = lab.udhcpc(vm)
    assert rc == 0 and got["ip"] == "10.1.0.9"


@kernel
def test_dhcpv6_stateful_subnet_gets_a_range_and_an_address(lab: Lab) -> None:
    # no DHCPv6 client is installed here: only dnsmasq's side is checked
    v6 = str(uuid.uuid4())
    network = lab.rpc.state["networks"][0]
    network["subnets"].append({
        "id": v6, "cidr": "2001:db8::/64", "ip_version": 6, "gateway_ip": "2001:db8::1",
        "enable_dhcp": True, "dns_nameservers": [], "host_routes": [],
        "ipv6_address_mode": "dhcpv6-stateful", "ipv6_ra_mode": "dhcpv6-stateful"})
    network["dhcp_port"]["fixed_ips"].append({"subnet_id": v6, "ip_address": "2001:db8::2"})
    lab.sync()
    args = dhcp.cmdline(lab.dnsmasq_pid())
    assert f"--dhcp-range=set:subnet-{v6},2001:db8::,static,64,86400s" in args
    link = run.ip_json(["addr", "show", "dev", kn.dhcp_dev(DHCP_PORT)], lab.names.dhcp_ns(NET))
    assert "2001:db8::2" in {a["local"] for a in link[0]["addr_info"]}
    log = lab.part.files(NET).log
    deadline = time.monotonic() + 2
    while "DHCPv6, static" not in log.read_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "DHCPv6, static leases only on 2001:db8::" in log.read_text()


@kernel
def test_waits_for_the_host_namespace_and_plugs_again_into_a_new_one(lab: Lab) -> None:
    run.delete_netns(lab.host_ns)
    lab.sync()
    assert lab.part.served() == {}
    assert not run.netns_exists(lab.names.dhcp_ns(NET))
    lab.make_host()
    lab.sync()
    pid = lab.dnsmasq_pid()
    # the host namespace is made again (its veth ends went with it): a new veth, a new dnsmasq
    # (the old pair may linger a moment while the kernel tears the old namespace down)
    run.delete_netns(lab.host_ns)
    lab.make_host()
    lab.sync()
    assert kn.dhcp_dev(DHCP_PORT) in run.links(lab.names.dhcp_ns(NET))
    assert lab.dnsmasq_pid() != pid
    rc, got = lab.udhcpc(lab.client("vm1", MAC1))
    assert rc == 0 and got["ip"] == "10.0.0.5"


# -- the files, without a kernel ----------------------------------------------------------
def test_hosts_and_opts_files() -> None:
    network = _state()["networks"][0]
    v6 = str(uuid.uuid4())
    slaac = str(uuid.uuid4())
    network["subnets"] += [
        {"id": v6, "cidr": "2001:db8::/64", "ip_version": 6, "gateway_ip": "2001:db8::1",
         "enable_dhcp": True, "dns_nameservers": ["2001:db8::53"], "host_routes": [],
         "ipv6_address_mode": "dhcpv6-stateful", "ipv6_ra_mode": "dhcpv6-stateful"},
        {"id": slaac, "cidr": "2001:db9::/64", "ip_version": 6, "gateway_ip": "2001:db9::1",
         "enable_dhcp": True, "dns_nameservers": [], "host_routes": [],
         "ipv6_address_mode": "slaac", "ipv6_ra_mode": "slaac"}]
    network["ports"][1]["fixed_ips"] += [{"subnet_id": v6, "ip_address": "2001:db8::5"},
                                         {"subnet_id": slaac, "ip_address": "2001:db9::f"}]
    assert dhcp.hosts_file(network) == (
        "fa:16:3e:00:00:02,host-10-0-0-2.openstacklocal.,10.0.0.2\n"
        "fa:16:3e:00:01:05,host-10-0-0-5.openstacklocal.,10.0.0.5\n"
        "fa:16:3e:00:01:05,host-2001-db8--5.openstacklocal.,[2001:db8::5]\n")
    network["ports"][1]["extra_dhcp_opts"] = [
        {"opt_name": "tftp-server", "opt_value": "10.0.0.7", "ip_version": 4},
        {"opt_name": "150", "opt_value": "10.0.0.8", "ip_version": 4},
        {"opt_name": "bootfile-url", "opt_value": "tftp://x/y", "ip_version": 6}]
    assert dhcp.hosts_file(network).splitlines()[1] == \
        f"fa:16:3e:00:01:05,set:port-{VM1},host-10-0-0-5.openstacklocal.,10.0.0.5"
    assert dhcp.opts_file(network).splitlines()[-3:] == [
        f"tag:port-{VM1},option:tftp-server,10.0.0.7", f"tag:port-{VM1},150,10.0.0.8",
        f"tag:port-{VM1},option6:bootfile-url,tftp://x/y"]
    network["ports"][1]["extra_dhcp_opts"] = []
    tag = f"tag:subnet-{SUBNET}"
    routes = "10.5.0.0/16,10.0.0.9,169.254.169.254/32,10.0.0.2,0.0.0.0/0,10.0.0.1"
    assert dhcp.opts_file(network) == (
        f"{tag},option:router,10.0.0.1\n{tag},option:dns-server,10.0.0.53\n"
        f"{tag},option:classless-static-route,{routes}\n{tag},249,{routes}\n"
        f"{tag},option:mtu,1450\n"
        f"tag:subnet-{v6},option6:dns-server,[2001:db8::53]\n")
    assert dhcp.dhcp_ranges(network, 600) == [
        f"--dhcp-range=set:subnet-{SUBNET},10.0.0.0,static,255.255.255.0,600s",
        f"--dhcp-range=set:subnet-{v6},2001:db8::,static,64,600s"]
    assert dhcp.lease_max(network) == 2 ** 24
    assert dhcp.port_addresses(network) == ["10.0.0.2/24", "169.254.169.254/32"]
    network["subnets"][0]["enable_dhcp"] = False
    assert dhcp.opts_file(network).startswith(f"tag:subnet-{v6},")
    assert "10.0.0.5" not in dhcp.hosts_file(network)
