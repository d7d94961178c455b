"""Security groups in nftables (pocketstack.agents.network.firewall).

Rendering tests are pure. Kernel tests (root, ip/nft) build a host namespace with one bridge,
three instance namespaces and an unfiltered client on veths, load the rules with
``sync_firewall`` and check them with real pings, TCP connections and ARP.
"""

from __future__ import annotations

import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pocketstack.agents.kernel import names as kn
from pocketstack.agents.kernel import run
from pocketstack.agents.kernel.cleanup import remove_all
from pocketstack.agents.kernel.names import KernelNames
from pocketstack.agents.network.firewall import (
    FirewallCache,
    remove_firewall,
    render,
    sync_firewall,
)

NET = "0e7f1c2a-5b6d-4e8f-9a0b-1c2d3e4f5a6b"
ALL_EGRESS = [{"direction": "egress", "ethertype": "IPv4", "protocol": None},
              {"direction": "egress", "ethertype": "IPv6", "protocol": None}]


def _port(pid: str, mac: str, ips: list[str], groups: list[str] | None = None,
          security: bool = True, pairs: list[dict[str, str]] | None = None,
          owner: str = "compute:nova") -> dict[str, Any]:
    return {"id": pid, "network_id": NET, "mac_address": mac, "device_owner": owner,
            "admin_state_up": True,
            "fixed_ips": [{"subnet_id": "s", "ip_address": ip} for ip in ips],
            "port_security_enabled": security,
            "security_group_ids": ["default"] if groups is None else groups,
            "allowed_address_pairs": pairs or []}


def _rule(direction: str, protocol: str | None = None, low: int | None = None,
          high: int | None = None, prefix: str | None = None, group: str | None = None,
          ethertype: str = "IPv4") -> dict[str, Any]:
    return {"id": secrets.token_hex(4), "direction": direction, "ethertype": ethertype,
            "protocol": protocol, "port_range_min": low, "port_range_max": high,
            "remote_ip_prefix": prefix, "remote_group_id": group}


# --- rendering (pure) ------------------------------------------------------------------------

NAMES = KernelNames("ptunit")
P1 = _port("11111111-aaaa-4bbb-8ccc-000000000001", "fa:16:3e:00:00:11", ["10.0.0.11"])


def _chain(text: str, family: str, chain: str) -> str:
    table = text.split(f"table {family} ptunit_sg {{\n", 1)[1]
    body = table.split(f"  chain {chain} {{", 1)[1]
    return body.split("\n  }", 1)[0]


def test_render_replaces_both_tables_in_one_script() -> None:
    text = render(NAMES, [P1], {"default": {"rules": ALL_EGRESS, "members": {}}})
    lines = text.splitlines()
    assert lines[:4] == ["table bridge ptunit_sg {}", "delete table bridge ptunit_sg",
                         "table inet ptunit_sg {}", "delete table inet ptunit_sg"]
    assert "table bridge ptunit_sg {" in lines and "table inet ptunit_sg {" in lines
    tap = kn.tap(P1["id"])
    assert f'"{tap}" : jump from_1' in text and f'"{tap}" : jump to_1' in text
    # rendering is deterministic (the agent compares texts) and independent of port order
    p2 = _port("22222222-aaaa-4bbb-8ccc-000000000002", "fa:16:3e:00:00:12", ["10.0.0.12"])
    sgs = {"default": {"rules": ALL_EGRESS, "members": {}}}
    assert render(NAMES, [P1, p2], sgs) == render(NAMES, [p2, P1], sgs)


def test_render_default_deny_and_dhcp() -> None:
    text = render(NAMES, [P1], {"default": {"rules": ALL_EGRESS, "members": {}}})
    ingress = _chain(text, "inet", "in_1")
    assert "udp sport 67 udp dport 68 return" in ingress
    assert ingress.strip().endswith("drop;")
    egress = _chain(text, "inet", "out_1")
    # the port may not answer DHCP; that drop comes before anything allows
    assert egress.index("udp sport 67 udp dport 68 drop") < egress.index("return")
    assert "icmpv6 type nd-router-advert drop" in egress
    assert "meta nfproto ipv4 return;" in egress and egress.strip().endswith("drop;")


def test_render_no_egress_rules_means_no_egress() -> None:
    text = render(NAMES, [P1], {"default": {"rules": [], "members": {}}})
    egress = _chain(text, "inet", "out_1")
    assert "meta nfproto ipv4 return;" not in egress
    assert "udp sport 68 udp dport 67 return" in egress  # DHCP client still allowed


def test_render_rule_translation() -> None:
    rules = [
        _rule("ingress", "tcp", 22, 22, prefix="10.0.0.0/24"),
        _rule("ingress", "udp", 1000, 2000),
        _rule("ingress", "icmp", 8, 0),
        _rule("ingress", "icmp", 8),
        _rule("ingress", "icmp", ethertype="IPv6"),
        _rule("ingress", "47"),
        _rule("ingress", "6", 80, 80),
        _rule("ingress", "tcp", 1, 65535),
        _rule("egress", "udp", 53, 53, prefix="192.168.1.1/32"),
        _rule("ingress", "tcp", prefix="fd00::/64"),  # family mismatch: matches nothing
        _rule("ingress", "bogus"),
        _rule("ingress", "0", prefix="10.9.0.0/16"),  # "0" is any protocol
        _rule("ingress", "1", ethertype="IPv6"),  # a number is taken as it is
        # what nft would refuse matches nothing (and the rest still loads)
        _rule("ingress", "icmp", 300), _rule("ingress", "tcp", 90, 80),
        _rule("ingress", "tcp", 70000, 70000), _rule("ingress", "tcp", "x", 3),
    ]
    text = render(NAMES, [P1], {"default": {"rules": rules, "members": {}}})
    ingress = _chain(text, "inet", "in_1")
    assert "meta nfproto ipv4 ip saddr 10.0.0.0/24 meta l4proto tcp th dport 22 return" in ingress
    assert "meta l4proto udp th dport 1000-2000 return" in ingress
    assert "meta l4proto icmp icmp type 8 icmp code 0 return" in ingress
    assert "meta l4proto icmp icmp type 8 return" in ingress
    assert "meta nfproto ipv6 meta l4proto icmpv6 return" in ingress
    assert "meta nfproto ipv4 meta l4proto 47 return" in ingress
    assert "meta l4proto tcp th dport 80 return" in ingress
    assert "meta nfproto ipv4 meta l4proto tcp return" in ingress  # the full range
    assert "fd00" not in ingress and "bogus" not in text
    assert "300" not in ingress and "90" not in ingress and "70000" not in ingress
    assert "meta nfproto ipv4 ip saddr 10.9.0.0/16 return" in ingress
    assert "meta nfproto ipv6 meta l4proto icmp return" in ingress
    egress = _chain(text, "inet", "out_1")
    assert "ip daddr 192.168.1.1 meta l4proto udp th dport 53 return" in egress


def test_render_remote_groups_are_sets_of_members() -> None:
    sgs: dict[str, Any] = {"default": {"rules": [_rule("ingress", group="peers"),
                                 _rule("ingress", "tcp", 22, 22, group="peers",
                                       ethertype="IPv6")],
                       "members": {}},
           "peers": {"rules": [], "members": {"IPv4": ["10.0.0.12", "10.0.0.13", "10.0.0.12"],
                                              "IPv6": ["fd00::12"]}}}
    text = render(NAMES, [P1], sgs)
    assert "elements = { 10.0.0.12/31 }" in text  # .12 and .13, duplicates merged
    assert "elements = { fd00::12 }" in text
    ingress = _chain(text, "inet", "in_1")
    assert "ip saddr @g1_4 return" in ingress
    assert "ip6 saddr @g1_6 meta l4proto tcp th dport 22 return" in ingress
    # a group that has no members yet still gives a (empty) set
    sgs["peers"]["members"] = {}
    text = render(NAMES, [P1], sgs)
    assert "ip saddr @g1_4 return" in _chain(text, "inet", "in_1")


def _set_elements(text: str, family: str, name: str) -> set[str]:
    table = text.split(f"table {family} ptunit_sg {{\n", 1)[1]
    block = table.split(f"  set {name} {{", 1)[1].split("\n  }", 1)[0]
    if "elements = { " not in block:
        return set()
    return set(block.split("elements = { ", 1)[1].rsplit(" }", 1)[0].split(", "))


def test_render_anti_spoofing_and_pairs() -> None:
    port = dict(P1, fixed_ips=[{"ip_address": "10.0.0.11"}, {"ip_address": "fd00::11"}],
                allowed_address_pairs=[{"ip_address": "10.0.0.0/28"},
                                       {"ip_address": "10.0.1.5",
                                        "mac_address": "FA:16:3E:00:00:99"}])
    text = render(NAMES, [port], {"default": {"rules": [], "members": {}}})
    tap = kn.tap(P1["id"])
    assert _set_elements(text, "bridge", "macs") == {f'"{tap}" . fa:16:3e:00:00:11',
                                                     f'"{tap}" . fa:16:3e:00:00:99'}
    # the fixed IP lies in the pair's prefix with the same MAC: one interval
    assert _set_elements(text, "bridge", "addr4") == {
        f'"{tap}" . fa:16:3e:00:00:11 . 10.0.0.0/28', f'"{tap}" . fa:16:3e:00:00:99 . 10.0.1.5'}
    assert _set_elements(text, "bridge", "addr6") == {
        f'"{tap}" . fa:16:3e:00:00:11 . fd00::11',
        f'"{tap}" . fa:16:3e:00:00:11 . fe80::f816:3eff:fe00:11',  # EUI-64 link-local
        f'"{tap}" . fa:16:3e:00:00:99 . fe80::f816:3eff:fe00:99'}
    assert "iifname . arp saddr ether . arp saddr ip @addr4 accept" in _chain(
        text, "bridge", "spoofarp")
    spoof = _chain(text, "bridge", "spoof")
    assert "iifname . ether saddr != @macs drop" in spoof
    assert spoof.strip().endswith("drop;")  # other ethertypes (VLAN tags...) are dropped


def test_render_ports_with_the_same_groups_share_chains() -> None:
    p2 = _port("22222222-aaaa-4bbb-8ccc-000000000002", "fa:16:3e:00:00:12", ["10.0.0.12"])
    p3 = _port("33333333-aaaa-4bbb-8ccc-000000000003", "fa:16:3e:00:00:13", ["10.0.0.13"],
               groups=["web", "default"])
    sgs = {"default": {"rules": ALL_EGRESS, "members": {}},
           "web": {"rules": [_rule("ingress", "tcp", 80, 80)], "members": {}}}
    text = render(NAMES, [P1, p2, p3], sgs)
    assert "in_2" in text and "in_3" not in text
    forward = _chain(text, "bridge", "forward")
    for port, n in ((P1, 1), (p2, 1), (p3, 2)):
        assert f'"{kn.tap(port["id"])}" : jump from_{n}' in forward
    assert "th dport 80 return" in _chain(text, "inet", "in_2")
    assert "th dport 80" not in _chain(text, "inet", "in_1")


def test_render_unfiltered_ports() -> None:
    open_port = _port("33333333-aaaa-4bbb-8ccc-000000000003", "fa:16:3e:00:00:13",
                      ["10.0.0.13"], security=False, groups=[])
    dhcp = _port("44444444-aaaa-4bbb-8ccc-000000000004", "fa:16:3e:00:00:02", ["10.0.0.2"],
                 owner="network:dhcp", groups=[])
    text = render(NAMES, [open_port, dhcp, P1], {"default": {"rules": [], "members": {}}})
    assert kn.tap(open_port["id"]) not in text and kn.tap(dhcp["id"]) not in text
    assert kn.tap(P1["id"]) in text
    assert "jump in_1" in text and "in_2" not in text
    assert "elements" not in _chain(text, "bridge", "forward")
    assert {e.split(" . ")[0] for e in _set_elements(text, "bridge", "macs")} == {
        f'"{kn.tap(P1["id"])}"'}
    # all ports of the host set the conntrack zone of their bridge
    assert f'"{kn.bridge(NET)}" :' in text


def test_render_no_ports() -> None:
    text = render(NAMES, [], {})
    assert "vmap" not in _chain(text, "bridge", "forward")
    assert "vmap" not in _chain(text, "inet", "forward")


# --- kernel ----------------------------------------------------------------------------------

kernel = pytest.mark.skipif(run.missing() is not None, reason=str(run.missing()))

PROBE_CONNECT = ("import socket,sys\n"
                 "socket.create_connection((sys.argv[1], int(sys.argv[2])), "
                 "timeout=float(sys.argv[3])).close()\n")
LISTENER = ("import select,socket,sys\n"
            "ss=[]\n"
            "for p in sys.argv[1:]:\n"
            "    s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
            "    s.bind(('0.0.0.0', int(p))); s.listen(16); ss.append(s)\n"
            "print('ready', flush=True)\n"
            "while True:\n"
            "    for s in select.select(ss, [], [])[0]:\n"
            "        s.accept()[0].close()\n")


class Lab:
    """One host namespace, its bridge, and namespaces plugged into it by veths."""

    def __init__(self) -> None:
        self.names = KernelNames("pt" + secrets.token_hex(2))
        self.host = self.names.host_ns("h1")
        self.ns: dict[str, str] = {}
        self.cache = FirewallCache()
        self.ports = {
            "vm1": _port("a1000000-0000-4000-8000-000000000001", "fa:16:3e:00:01:11",
                         ["10.0.0.11", "fd00::11"]),
            "vm2": _port("a2000000-0000-4000-8000-000000000002", "fa:16:3e:00:01:12",
                         ["10.0.0.12"]),
            "vm3": _port("a3000000-0000-4000-8000-000000000003", "fa:16:3e:00:01:13",
                         ["10.0.0.13"]),
            "client": _port("c0000000-0000-4000-8000-000000000020", "fa:16:3e:00:01:20",
                            ["10.0.0.20", "fd00::20"], security=False, groups=[]),
            # Neutron's own port: never filtered, whatever its port security says
            "dhcp": _port("d0000000-0000-4000-8000-000000000002", "fa:16:3e:00:01:02",
                          ["10.0.0.2"], groups=[], owner="network:dhcp"),
        }

    def build(self) -> None:
        run.ensure_netns(self.host)
        brq = kn.bridge(NET)
        host_cmds = [f"link add {brq} type bridge", f"link set {brq} up"]
        for name, port in self.ports.items():
            ns = self.names.guest_ns(name)
            run.ensure_netns(ns)
            self.ns[name] = ns
            tap = kn.tap(port["id"])
            run.run(["ip", "link", "add", tap, "netns", self.host, "type", "veth",
                     "peer", "name", "eth0", "netns", ns])
            cmds = [f"link set eth0 address {port['mac_address']} up"]
            for fixed in port["fixed_ips"]:
                ip = fixed["ip_address"]
                cmds.append(f"addr add {ip}/64 dev eth0 nodad" if ":" in ip
                            else f"addr add {ip}/24 dev eth0")
            run.ip_batch(cmds, ns)
            host_cmds += [f"link set {tap} master {brq} up"]
        run.ip_batch(host_cmds, self.host)
        # the wiring works before any rule is loaded (a veth carries traffic only once its
        # carrier is seen, up to a second after it comes up)
        for name in ("vm1", "vm2", "vm3", "dhcp"):
            address = self.ports[name]["fixed_ips"][0]["ip_address"]
            assert any(self.ping("client", address, True) for _ in range(3))

    def sync(self, groups: dict[str, Any], **changes: dict[str, Any]) -> float:
        """Load the rules for the lab's ports (with ``changes`` per port); answers seconds."""
        ports = [dict(port, **changes.get(name, {})) for name, port in self.ports.items()]
        start = time.perf_counter()
        sync_firewall(self.host, self.names, ports, groups, self.cache)
        return time.perf_counter() - start

    def ping(self, src: str, dst: str, expect: bool, source: str | None = None) -> bool:
        wait = "1" if expect else "0.4"
        argv = ["ping", "-c", "1", "-W", wait, *(["-I", source] if source else []), dst]
        out = subprocess.run(run.in_netns(argv, self.ns[src]), capture_output=True, check=False)
        return out.returncode == 0

    def connect(self, src: str, dst: str, port: int, expect: bool) -> bool:
        wait = "1" if expect else "0.4"
        argv = [sys.executable, "-c", PROBE_CONNECT, dst, str(port), wait]
        out = subprocess.run(run.in_netns(argv, self.ns[src]), capture_output=True, check=False)
        return out.returncode == 0

    def listen(self, name: str, *ports: int) -> subprocess.Popen[str]:
        proc = subprocess.Popen(run.in_netns([sys.executable, "-c", LISTENER,
                                              *map(str, ports)], self.ns[name]),
                                stdout=subprocess.PIPE, text=True)
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        return proc

    def dhcp_lease(self, name: str, expect: bool) -> bool:
        """Whether ``name`` gets a DHCP lease (any server; the address is not applied)."""
        tries = "3" if expect else "1"
        argv = ["busybox", "udhcpc", "-i", "eth0", "-n", "-q", "-f", "-t", tries, "-T", "1",
                "-s", "/bin/true"]
        out = subprocess.run(run.in_netns(argv, self.ns[name]), capture_output=True,
                             check=False)
        return out.returncode == 0

    def ip(self, name: str, *args: str) -> None:
        run.run(["ip", *args], self.ns[name])


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    the_lab = Lab()
    try:
        the_lab.build()
        yield the_lab
    finally:
        remove_all(the_lab.names)


def _groups(*rules: dict[str, Any], extra: dict[str, Any] | None = None) -> dict[str, Any]:
    sgs: dict[str, Any] = {"default": {"rules": ALL_EGRESS + list(rules), "members": {}}}
    sgs.update(extra or {})
    return sgs


@kernel
def test_kernel_sysctls_and_tables(lab: Lab) -> None:
    lab.cache.loaded.clear()
    lab.sync(_groups())
    out = run.run(["sh", "-c", "cat /proc/sys/net/bridge/bridge-nf-call-iptables "
                   "/proc/sys/net/bridge/bridge-nf-call-ip6tables"], lab.host)
    assert out.split() == ["1", "1"]
    listed = run.run(["nft", "list", "tables"], lab.host)
    table = lab.names.nft_table("sg")
    assert f"table bridge {table}" in listed and f"table inet {table}" in listed
    # the same state again is not reloaded; a change is
    assert sync_firewall(lab.host, lab.names, list(lab.ports.values()), _groups(),
                         lab.cache) is False
    assert sync_firewall(lab.host, lab.names, list(lab.ports.values()),
                         _groups(_rule("ingress", "icmp")), lab.cache) is True
    # removed: every port is open, and the next sync loads again
    lab.sync(_groups())
    remove_firewall(lab.host, lab.names, lab.cache)
    assert table not in run.run(["nft", "list", "tables"], lab.host)
    assert lab.ping("client", "10.0.0.11", expect=True)
    lab.sync(_groups())
    assert table in run.run(["nft", "list", "tables"], lab.host)
    assert not lab.ping("client", "10.0.0.11", expect=False)


@kernel
def test_kernel_every_rule_kind_loads(lab: Lab) -> None:
    """nft accepts what render writes for every kind of rule, odd ones included."""
    rules = [_rule(d, proto, low, high, prefix, group, eth)
             for d in ("ingress", "egress") for eth in ("IPv4", "IPv6")
             for proto, low, high in ((None, None, None), ("tcp", 22, 22), ("udp", 1, 1024),
                                      ("icmp", 8, 0), ("icmp", None, None), ("icmpv6", 135, 0),
                                      ("58", 128, None), ("sctp", 5000, 5001), ("132", 9, 9),
                                      ("47", None, None), ("1", 300, None), ("tcp", 9, 1),
                                      ("0", None, None), ("any", None, None), ("vrrp", 1, 2))
             for prefix, group in ((None, None), ("10.1.0.0/16", None), ("fd00:1::/48", None),
                                   (None, "peers"), (None, "missing"))]
    groups = _groups(*rules, extra={"peers": {"rules": [], "members": {
        "IPv4": ["10.0.0.12", "10.0.0.0/30", "10.0.0.3"], "IPv6": ["fd00::12", "fd00::/126"]}}})
    ports = [dict(port, allowed_address_pairs=[{"ip_address": "10.0.0.128/25"},
                                               {"ip_address": "fd00::/64"},
                                               {"ip_address": "10.0.0.11",
                                                "mac_address": "fa:16:3e:00:0a:0b"}])
             for port in lab.ports.values()]
    text = render(lab.names, ports, groups)
    run.run(["nft", "-c", "-f", "-"], lab.host, input=text)  # check only


@kernel
def test_kernel_icmp_rule_opens_and_closes_ping(lab: Lab) -> None:
    lab.sync(_groups())
    assert not lab.ping("client", "10.0.0.11", expect=False)  # default deny ingress
    opened = lab.sync(_groups(_rule("ingress", "icmp")))
    t0 = time.perf_counter()
    assert lab.ping("client", "10.0.0.11", expect=True)
    first_ping = time.perf_counter() - t0
    closed = lab.sync(_groups())
    assert not lab.ping("client", "10.0.0.11", expect=False)
    # ICMP type/code: echo request (8/0) is enough for ping; another type is not
    lab.sync(_groups(_rule("ingress", "icmp", 8, 0)))
    assert lab.ping("client", "10.0.0.11", expect=True)
    lab.sync(_groups(_rule("ingress", "icmp", 13)))
    assert not lab.ping("client", "10.0.0.11", expect=False)
    print(f"\nrule change enforced (render + nft load): open {opened * 1000:.1f} ms, "
          f"close {closed * 1000:.1f} ms; first ping after it {first_ping * 1000:.1f} ms")


@kernel
def test_kernel_rule_change_rechecks_existing_flows(lab: Lab) -> None:
    """One ping flow (one ICMP id) across two changes: an unrelated rule added leaves it
    alone; removing the rule that let it in stops it (Neutron clears its conntrack entries)."""
    icmp = _rule("ingress", "icmp")
    lab.sync(_groups(icmp))
    argv = ["ping", "-D", "-n", "-i", "0.05", "-w", "2", "10.0.0.11"]
    ping = subprocess.Popen(run.in_netns(argv, lab.ns["client"]), stdout=subprocess.PIPE,
                            text=True)
    time.sleep(0.5)
    lab.sync(_groups(icmp, _rule("ingress", "tcp", 22, 22)))
    changed = time.time()
    time.sleep(0.5)
    lab.sync(_groups(_rule("ingress", "tcp", 22, 22)))
    removed = time.time()
    out, _ = ping.communicate(timeout=5)
    replies = [float(line[1:line.index("]")]) for line in out.splitlines()
               if line.startswith("[") and "bytes from" in line]
    assert any(changed < t < removed - 0.1 for t in replies), out  # survived the change
    assert not [t for t in replies if t > removed], out  # stopped by the removal


@kernel
def test_kernel_established_replies_to_egress_pass(lab: Lab) -> None:
    lab.sync(_groups())
    assert lab.ping("vm1", "10.0.0.20", expect=True)  # vm1 may send; the reply comes back
    assert not lab.ping("client", "10.0.0.11", expect=False)
    # without any egress rule vm1 can no longer start anything
    lab.sync({"default": {"rules": [], "members": {}}})
    assert not lab.ping("vm1", "10.0.0.20", expect=False)


@kernel
def test_kernel_tcp_port_rule(lab: Lab) -> None:
    listener = lab.listen("vm1", 8080, 8081)
    try:
        lab.sync(_groups())
        assert not lab.connect("client", "10.0.0.11", 8080, expect=False)
        lab.sync(_groups(_rule("ingress", "tcp", 8080, 8080)))
        assert lab.connect("client", "10.0.0.11", 8080, expect=True)
        assert not lab.connect("client", "10.0.0.11", 8081, expect=False)
        # by protocol number, with a remote prefix that excludes the client
        lab.sync(_groups(_rule("ingress", "6", 8081, 8081, prefix="10.0.0.12/32")))
        assert not lab.connect("client", "10.0.0.11", 8081, expect=False)
        assert lab.connect("vm2", "10.0.0.11", 8081, expect=True)
    finally:
        listener.kill()
        listener.wait()


@kernel
def test_kernel_remote_group(lab: Lab) -> None:
    peers: dict[str, Any] = {"peers": {"rules": ALL_EGRESS,
                       "members": {"IPv4": ["10.0.0.12"], "IPv6": []}}}
    groups = _groups(_rule("ingress", "icmp", group="peers"), extra=peers)
    lab.sync(groups, vm2={"security_group_ids": ["peers"]})
    assert lab.ping("vm2", "10.0.0.11", expect=True)  # a member
    assert not lab.ping("vm3", "10.0.0.11", expect=False)  # not a member
    assert not lab.ping("client", "10.0.0.11", expect=False)
    # membership changes (vm3 joins) are a set change
    peers["peers"]["members"]["IPv4"].append("10.0.0.13")
    lab.sync(groups, vm2={"security_group_ids": ["peers"]},
             vm3={"security_group_ids": ["peers"]})
    assert lab.ping("vm3", "10.0.0.11", expect=True)


@kernel
def test_kernel_ip_spoofing_and_allowed_address_pair(lab: Lab) -> None:
    lab.sync(_groups())
    client_mac, vm2_mac = lab.ports["client"]["mac_address"], lab.ports["vm2"]["mac_address"]
    lab.ip("vm2", "addr", "add", "10.0.0.99/32", "dev", "eth0")
    # static neighbours on both sides: only the IP source check can stop the ping (ARP for
    # the spoofed address is checked too, by the ARP test)
    lab.ip("vm2", "neigh", "replace", "10.0.0.20", "lladdr", client_mac, "dev", "eth0",
           "nud", "permanent")
    lab.ip("client", "neigh", "replace", "10.0.0.99", "lladdr", vm2_mac, "dev", "eth0",
           "nud", "permanent")
    try:
        assert lab.ping("vm2", "10.0.0.20", expect=True)  # its own address
        assert not lab.ping("vm2", "10.0.0.20", expect=False, source="10.0.0.99")
        lab.sync(_groups(), vm2={"allowed_address_pairs": [{"ip_address": "10.0.0.96/29"}]})
        assert lab.ping("vm2", "10.0.0.20", expect=True, source="10.0.0.99")
        # a pair with another MAC does not let the port's own MAC use the address
        lab.sync(_groups(), vm2={"allowed_address_pairs": [
            {"ip_address": "10.0.0.99", "mac_address": "fa:16:3e:00:09:99"}]})
        assert not lab.ping("vm2", "10.0.0.20", expect=False, source="10.0.0.99")
    finally:
        lab.ip("vm2", "addr", "del", "10.0.0.99/32", "dev", "eth0")
        lab.ip("vm2", "neigh", "del", "10.0.0.20", "dev", "eth0")
        lab.ip("client", "neigh", "del", "10.0.0.99", "dev", "eth0")


RAW_SEND = ("import socket,sys\n"
            "s=socket.socket(socket.AF_PACKET, socket.SOCK_RAW); s.bind(('eth0', 0))\n"
            "src=bytes.fromhex(sys.argv[1].replace(':', ''))\n"
            "for _ in range(3): s.send(b'\\xff'*6 + src + b'\\x88\\xb5' + b'pocketstack'*5)\n")
RAW_COUNT = ("import socket,sys,time\n"
             "s=socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x88b5))\n"
             "s.bind(('eth0', 0)); s.settimeout(0.3); print('ready', flush=True); n=0\n"
             "try:\n"
             "    while True: s.recv(2048); n+=1\n"
             "except TimeoutError: print(n)\n")


@kernel
def test_kernel_other_ethertypes_dropped(lab: Lab) -> None:
    """Only IPv4, IPv6 and ARP leave a filtered port (others, VLAN tags among them, would
    pass br_netfilter unseen)."""
    def frames_seen(sender: str) -> int:
        counter = subprocess.Popen(run.in_netns([sys.executable, "-c", RAW_COUNT],
                                                lab.ns["client"]),
                                   stdout=subprocess.PIPE, text=True)
        assert counter.stdout is not None and counter.stdout.readline().strip() == "ready"
        run.run([sys.executable, "-c", RAW_SEND, lab.ports[sender]["mac_address"]],
                lab.ns[sender])
        out, _ = counter.communicate(timeout=5)
        return int(out.strip())

    lab.sync(_groups(), vm3={"port_security_enabled": False})
    assert frames_seen("vm3") == 3  # the control: an open port's frames arrive
    assert frames_seen("vm2") == 0


@kernel
def test_kernel_mac_and_arp_spoofing(lab: Lab) -> None:
    lab.sync(_groups())
    arping = ["busybox", "arping", "-c", "1", "-w", "1", "-I", "eth0"]
    out = subprocess.run(run.in_netns([*arping, "-s", "10.0.0.12", "10.0.0.20"],
                                      lab.ns["vm2"]), capture_output=True, check=False)
    assert out.returncode == 0  # its own address: answered
    lab.ip("vm2", "addr", "add", "10.0.0.11/32", "dev", "eth0")
    try:
        out = subprocess.run(run.in_netns([*arping, "-s", "10.0.0.11", "10.0.0.20"],
                                          lab.ns["vm2"]), capture_output=True, check=False)
        assert out.returncode != 0  # claiming vm1's address: dropped
    finally:
        lab.ip("vm2", "addr", "del", "10.0.0.11/32", "dev", "eth0")
    lab.ip("vm2", "link", "set", "eth0", "address", "fa:16:3e:00:07:77")
    try:
        assert not lab.ping("vm2", "10.0.0.20", expect=False)
    finally:
        lab.ip("vm2", "link", "set", "eth0", "address", lab.ports["vm2"]["mac_address"])
    assert lab.ping("vm2", "10.0.0.20", expect=True)


@kernel
def test_kernel_port_security_disabled_is_open(lab: Lab) -> None:
    lab.sync(_groups())
    assert not lab.ping("client", "10.0.0.13", expect=False)
    lab.sync(_groups(), vm3={"port_security_enabled": False, "security_group_ids": []})
    assert lab.ping("client", "10.0.0.13", expect=True)
    lab.ip("vm3", "addr", "add", "10.0.0.98/32", "dev", "eth0")
    try:
        assert lab.ping("vm3", "10.0.0.20", expect=True, source="10.0.0.98")  # no anti-spoofing
    finally:
        lab.ip("vm3", "addr", "del", "10.0.0.98/32", "dev", "eth0")


@kernel
def test_kernel_ipv6_neighbour_discovery_and_rule(lab: Lab) -> None:
    lab.sync(_groups())
    run.run(["ip", "neigh", "flush", "all"], lab.ns["client"])
    assert not lab.ping("client", "fd00::11", expect=False)
    # ...but neighbour discovery went through (solicitation in, advertisement out)
    neigh = run.ip_json(["-6", "neigh", "show", "fd00::11"], lab.ns["client"])
    assert [n.get("lladdr") for n in neigh] == [lab.ports["vm1"]["mac_address"]]
    lab.sync(_groups(_rule("ingress", "icmp", ethertype="IPv6")))  # icmp means ICMPv6 here
    assert lab.ping("client", "fd00::11", expect=True)
    assert not lab.ping("client", "10.0.0.11", expect=False)  # IPv4 stays closed


@kernel
def test_kernel_dhcp_client_allowed_rogue_server_dropped(lab: Lab, tmp_path: Path) -> None:
    # vm1 has no egress rule at all: DHCP to and from the network's server still passes
    lab.sync({"default": {"rules": [], "members": {}}})
    dnsmasq = subprocess.Popen(run.in_netns(
        ["dnsmasq", "--no-hosts", "--no-resolv", "--keep-in-foreground", "--conf-file=/dev/null",
         f"--pid-file={tmp_path}/dnsmasq.pid", f"--dhcp-leasefile={tmp_path}/leases",
         "--interface=eth0", "--bind-interfaces", "--except-interface=lo", "--port=0",
         "--dhcp-range=10.0.0.0,static,255.255.255.0,600s",
         f"--dhcp-host={lab.ports['vm1']['mac_address']},10.0.0.11"], lab.ns["dhcp"]),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(0.2)
        assert lab.dhcp_lease("vm1", expect=True)
    finally:
        dnsmasq.kill()
        dnsmasq.wait()
    # vm2 runs a DHCP server of its own: its offers never leave the port, even though its
    # group allows all egress (and the requests in)
    server = _groups(_rule("ingress", "udp", 67, 67))
    conf = tmp_path / "udhcpd.conf"
    conf.write_text(f"interface eth0\nstart 10.0.0.150\nend 10.0.0.160\n"
                    f"lease_file {tmp_path}/udhcpd.leases\npidfile {tmp_path}/udhcpd.pid\n")
    rogue = subprocess.Popen(run.in_netns(["busybox", "udhcpd", "-f", str(conf)], lab.ns["vm2"]),
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        lab.sync(server, vm2={"port_security_enabled": False})  # first, the server works
        assert lab.dhcp_lease("vm1", expect=True)
        lab.sync(server)
        assert not lab.dhcp_lease("vm1", expect=False)
    finally:
        rogue.kill()
        rogue.wait()
