"""The L2 agent part against the real kernel: two hosts, hand-made instances (a namespace
with ``eth0``, its veth's host end ``tap<port>`` DOWN in the host namespace, as the drivers
leave it), a stub ``network.rpc`` answering fixed ``l2_state``s. Instances ping each other
over VXLAN on one network and not across networks; a flat network reaches its physnet's
gateway; deleted bridges come back, stale taps go, flood entries follow the peers."""

from __future__ import annotations

import asyncio
import copy
import json
import secrets
import subprocess
from pathlib import Path
from typing import Any, cast

import pytest

from pocketstack.agents.kernel import cleanup, run
from pocketstack.agents.kernel import names as kn
from pocketstack.agents.kernel.names import KernelNames
from pocketstack.agents.network.base import AgentContext
from pocketstack.agents.network.l2 import L2Part

pytestmark = pytest.mark.skipif(run.missing() is not None, reason=str(run.missing()))

NET_A = "aaaaaaaa-0000-4000-8000-000000000001"  # vxlan 101
NET_B = "bbbbbbbb-0000-4000-8000-000000000002"  # vxlan 102
NET_F = "ffffffff-0000-4000-8000-000000000003"  # flat on public
NET_V = "vvvvvvvv-0000-4000-8000-000000000004"  # vlan: refused
UNDERLAY = {"h1": "10.254.0.2", "h2": "10.254.0.3"}
NETWORKS = {
    NET_A: {"network_type": "vxlan", "physical_network": None, "segmentation_id": 101,
            "mtu": 1450},
    NET_B: {"network_type": "vxlan", "physical_network": None, "segmentation_id": 102,
            "mtu": 1450},
    NET_F: {"network_type": "flat", "physical_network": "public", "segmentation_id": None,
            "mtu": 1500},
    NET_V: {"network_type": "vlan", "physical_network": "public", "segmentation_id": 7,
            "mtu": 1500},
}
# port id -> (host, network, mac, address)
PORTS = {
    "a1000000-0000-4000-8000-00000000000a": ("h1", NET_A, "fa:16:3e:00:01:01", "10.1.0.11"),
    "a2000000-0000-4000-8000-00000000000a": ("h2", NET_A, "fa:16:3e:00:01:02", "10.1.0.12"),
    "b2000000-0000-4000-8000-00000000000b": ("h2", NET_B, "fa:16:3e:00:02:02", "10.1.0.13"),
    "f1000000-0000-4000-8000-00000000000f": ("h1", NET_F, "fa:16:3e:00:03:01", "172.24.4.20"),
    "v1000000-0000-4000-8000-00000000000c": ("h1", NET_V, "fa:16:3e:00:04:01", "10.9.0.2"),
}
A1, A2, B2, F1, V1 = PORTS


class StubRPC:
    """``network.rpc`` as the L2 part uses it: a fixed model, statuses written back."""

    def __init__(self) -> None:
        self.status = {port: "DOWN" for port in PORTS}
        self.admin_down: set[str] = set()
        self.peers: dict[str, dict[str, list[str]]] = {
            "h1": {NET_A: [UNDERLAY["h2"]], NET_F: [UNDERLAY["h2"]]},
            "h2": {NET_A: [UNDERLAY["h1"]], NET_B: []},
        }
        self.reports: list[dict[str, Any]] = []

    async def call(self, op: str, **args: Any) -> Any:
        host = args["host"]
        if op == "l2_state":
            ports = [{"id": pid, "network_id": net, "mac_address": mac, "device_owner":
                      "compute:nova", "admin_state_up": pid not in self.admin_down,
                      "status": self.status[pid],
                      "fixed_ips": [{"subnet_id": "s", "ip_address": ip}],
                      "port_security_enabled": False, "security_group_ids": [],
                      "allowed_address_pairs": []}
                     for pid, (h, net, mac, ip) in PORTS.items() if h == host]
            nets = {p["network_id"]: NETWORKS[p["network_id"]] for p in ports}
            return copy.deepcopy({"ports": ports, "networks": nets,
                                  "peers": self.peers[host], "security_groups": {}})
        if op == "set_port_status":
            self.reports.append(args)
            self.status.update({p: "ACTIVE" for p in args["up"]})
            self.status.update({p: "DOWN" for p in args["down"]})
            return {}
        raise AssertionError(op)


def sh(*argv: str, netns: str | None = None, check: bool = True) -> str:
    return run.run(list(argv), netns, check=check)


def pings(netns: str, address: str) -> bool:
    proc = subprocess.run(["ip", "netns", "exec", netns, "ping", "-c", "1", "-W", "1", address],
                          capture_output=True, check=False)
    return proc.returncode == 0


def make_instance(names: KernelNames, port_id: str) -> str:
    """A guest as the drivers leave it: the tap DOWN in its host namespace, not enslaved."""
    host, net, mac, address = PORTS[port_id]
    guest = names.guest_ns(port_id[:8])
    run.ensure_netns(guest)
    prefix = 24
    run.ip_batch([f"link add {kn.tap(port_id)} type veth peer name eth0 netns {guest}"],
                 names.host_ns(host))
    run.ip_batch([f"link set eth0 address {mac} mtu {NETWORKS[net]['mtu']} up",
                  f"addr add {address}/{prefix} dev eth0"], guest)
    return guest


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Any:
    names = KernelNames("pt" + secrets.token_hex(2))
    rpc = StubRPC()
    parts = {}
    for host, address in UNDERLAY.items():
        ctx = AgentContext(host=host, names=names, rpc=cast(Any, rpc),
                           state_dir=Path(tmp_path_factory.mktemp(host)),
                           underlay_ip=address, underlay_prefixlen=24,
                           physnet_gateways={"public": "172.24.4.1/24"},
                           physical_networks=("public",), metadata_secret="", metadata_url="")
        parts[host] = L2Part(ctx)
    try:
        asyncio.run(sync_all(parts))  # the layout first: host namespaces exist
        guests = {port: make_instance(names, port) for port in PORTS}
        asyncio.run(sync_all(parts))
        yield names, rpc, parts, guests
    finally:
        cleanup.remove_all(names)


async def sync_all(parts: dict[str, L2Part]) -> None:
    await asyncio.gather(*(part.sync() for part in parts.values()))


def links(names: KernelNames, host: str) -> dict[str, dict[str, Any]]:
    return run.links(names.host_ns(host))


def flood(names: KernelNames, host: str, dev: str) -> set[str]:
    out = json.loads(sh("bridge", "-j", "fdb", "show", "dev", dev, netns=names.host_ns(host)))
    return {e["dst"] for e in out if e.get("mac") == "00:00:00:00:00:00" and "dst" in e}


def test_layout_and_ports_wired(cloud: Any) -> None:
    names, rpc, parts, _ = cloud
    h1 = links(names, "h1")
    assert h1[kn.tap(A1)]["master"] == kn.bridge(NET_A) and "UP" in h1[kn.tap(A1)]["flags"]
    assert h1[kn.tap(A1)]["mtu"] == 1450 and h1[kn.bridge(NET_A)]["mtu"] == 1450
    assert h1["vxlan-101"]["master"] == kn.bridge(NET_A)
    assert h1[kn.physnet_dev("public")]["master"] == kn.bridge(NET_F)
    assert "vxlan-102" not in h1 and kn.bridge(NET_V) not in h1  # no ports here / refused
    assert kn.tap(V1) in h1 and "master" not in h1[kn.tap(V1)]
    under = run.links(names.underlay_ns())
    assert under[kn.host_link("h1")]["master"] == kn.UNDERLAY_BRIDGE
    assert sh("cat", "/proc/sys/net/bridge/bridge-nf-call-iptables",
              netns=names.host_ns("h1")).strip() == "1"
    assert not [a for a in run.ip_json(["addr", "show", "dev", kn.bridge(NET_A)],
                                       names.host_ns("h1"))[0]["addr_info"]]
    assert rpc.status == {A1: "ACTIVE", A2: "ACTIVE", B2: "ACTIVE", F1: "ACTIVE", V1: "DOWN"}
    assert parts["h1"].configurations()["tunneling_ip"] == "10.254.0.2"
    assert parts["h1"].configurations()["devices"] == 2


def test_same_vxlan_network_pings_across_hosts_other_vni_does_not(cloud: Any) -> None:
    names, _, _, guests = cloud
    assert pings(guests[A1], "10.1.0.12")
    assert not pings(guests[A1], "10.1.0.13")  # same subnet, other VNI, other host


def test_flat_network_reaches_the_physnet_gateway(cloud: Any) -> None:
    _, _, _, guests = cloud
    assert pings(guests[F1], "172.24.4.1")


def test_deleted_bridge_comes_back(cloud: Any) -> None:
    names, _, parts, guests = cloud
    sh("ip", "link", "del", kn.bridge(NET_A), netns=names.host_ns("h2"))
    asyncio.run(parts["h2"].sync())
    assert links(names, "h2")[kn.tap(A2)]["master"] == kn.bridge(NET_A)
    assert pings(guests[A1], "10.1.0.12")


def test_stale_tap_is_removed_and_status_follows(cloud: Any) -> None:
    names, rpc, parts, _ = cloud
    stray = names.guest_ns("stray")
    run.ensure_netns(stray)
    run.ip_batch([f"link add tapdeadbeef-00 type veth peer name eth0 netns {stray}"],
                 names.host_ns("h1"))
    unplugged = kn.tap(F1)
    sh("ip", "link", "del", unplugged, netns=names.host_ns("h1"))  # the guest went away
    asyncio.run(parts["h1"].sync())
    h1 = links(names, "h1")
    assert "tapdeadbeef-00" not in h1
    assert rpc.status[F1] == "DOWN" and rpc.reports[-1] == {"host": "h1", "up": [],
                                                            "down": [F1]}


def test_flood_entries_follow_the_peers(cloud: Any) -> None:
    names, rpc, parts, _ = cloud
    assert flood(names, "h1", "vxlan-101") == {"10.254.0.3"}
    rpc.peers["h1"][NET_A] = ["10.254.0.3", "10.254.0.9"]
    asyncio.run(parts["h1"].sync())
    assert flood(names, "h1", "vxlan-101") == {"10.254.0.3", "10.254.0.9"}
    rpc.peers["h1"][NET_A] = ["10.254.0.9"]
    asyncio.run(parts["h1"].sync())
    assert flood(names, "h1", "vxlan-101") == {"10.254.0.9"}
    rpc.peers["h1"][NET_A] = ["10.254.0.3"]
    asyncio.run(parts["h1"].sync())
    assert flood(names, "h1", "vxlan-101") == {"10.254.0.3"}


def test_networks_without_ports_here_lose_their_bridge(cloud: Any) -> None:
    names, rpc, parts, _ = cloud
    moved = PORTS.pop(B2)
    try:
        asyncio.run(parts["h2"].sync())
        h2 = links(names, "h2")
        assert kn.bridge(NET_B) not in h2 and "vxlan-102" not in h2
        assert kn.tap(B2) not in h2  # its tap belongs to no port bound here any more
    finally:
        PORTS[B2] = moved


def test_admin_down_port_goes_down_and_comes_back(cloud: Any) -> None:
    names, rpc, parts, guests = cloud
    rpc.admin_down.add(A2)
    try:
        asyncio.run(parts["h2"].sync())
        assert "UP" not in links(names, "h2")[kn.tap(A2)]["flags"]
        assert rpc.status[A2] == "DOWN" and not pings(guests[A1], "10.1.0.12")
    finally:
        rpc.admin_down.discard(A2)
    asyncio.run(parts["h2"].sync())
    assert rpc.status[A2] == "ACTIVE" and pings(guests[A1], "10.1.0.12")


def test_pocketstack_clean_removes_the_clouds_namespaces(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from pocketstack import cli
    from pocketstack.agents.network import layout

    names = KernelNames("pt" + secrets.token_hex(2))
    try:
        layout.ensure_host_ns(names, "c1")
        run.ensure_netns(names.underlay_ns())
        assert cli.main(["clean", "--state-dir", str(tmp_path),
                         "--kernel-prefix", names.prefix]) == 0
        assert not any(names.owns(ns) for ns in run.netns_list())
        out = capsys.readouterr().out
        assert f"removed namespace {names.host_ns('c1')}" in out and "2 namespaces" in out
    finally:
        cleanup.remove_all(names)


def test_new_taps_go_up_only_after_the_firewall(cloud: Any) -> None:
    names, rpc, parts, _ = cloud
    part, new = parts["h1"], "a3000000-0000-4000-8000-00000000000a"
    seen: list[tuple[str, list[str], bool]] = []

    def firewall(netns: str, kernel: KernelNames, ports: list[dict[str, Any]],
                 groups: dict[str, Any]) -> None:
        assert kernel == names and groups == {}
        tap = run.links(netns)[kn.tap(new)]
        seen.append((netns, sorted(p["id"] for p in ports), "UP" in tap["flags"]))
        if len(seen) == 1:
            raise RuntimeError("nft said no")

    PORTS[new] = ("h1", NET_A, "fa:16:3e:00:01:03", "10.1.0.14")
    rpc.status[new] = "DOWN"
    part.firewall = firewall
    try:
        guest = make_instance(names, new)
        with pytest.raises(RuntimeError):
            asyncio.run(part.sync())
        assert "UP" not in links(names, "h1")[kn.tap(new)]["flags"]  # not up unfiltered
        assert rpc.status[new] == "DOWN"
        asyncio.run(part.sync())
        assert seen[-1] == (names.host_ns("h1"), sorted([A1, F1, V1, new]), False)
        assert "UP" in links(names, "h1")[kn.tap(new)]["flags"]
        assert rpc.status[new] == "ACTIVE" and pings(guest, "10.1.0.12")
    finally:
        part.firewall = None
        del PORTS[new]
        asyncio.run(part.sync())
    assert kn.tap(new) not in links(names, "h1")


def test_root_link_reaches_a_flat_instance_and_goes_with_clean(
        tmp_path: Path) -> None:
    """``physnet_root_links``: the machine's namespace gets the physnet's gateway address on
    a PREFIX-PHYSNET veth (devstack's br-ex), reaches an instance on the flat network, and
    ``cleanup.remove_all`` takes the link away. Addresses from 198.18.0.0/15 (benchmarking),
    inside namespaces this test makes."""
    names = KernelNames("pt" + secrets.token_hex(2))
    rpc = StubRPC()
    ctx = AgentContext(host="h1", names=names, rpc=cast(Any, rpc), state_dir=tmp_path,
                       underlay_ip="10.254.0.2", underlay_prefixlen=24,
                       physnet_gateways={"public": "198.18.7.1/24"},
                       physical_networks=("public",), metadata_secret="", metadata_url="",
                       physnet_root_links=("public",))
    part = L2Part(ctx)
    link = names.root_link("public")
    try:
        asyncio.run(part.sync())
        machine = run.ip_json(["addr", "show", "dev", link])
        assert [a["local"] for a in machine[0]["addr_info"] if a["family"] == "inet"] == [
            "198.18.7.1"]
        # the gateway address is on the machine's end, not on the physnet bridge
        phys = run.ip_json(["addr", "show", "dev", kn.PHYS_BRIDGE], names.physnet_ns("public"))
        assert not [a for a in phys[0]["addr_info"] if a["family"] == "inet"]
        guest = names.guest_ns("root0001")
        run.ensure_netns(guest)
        run.ip_batch([f"link add {kn.tap(F1)} type veth peer name eth0 netns {guest}"],
                     names.host_ns("h1"))
        run.ip_batch(["link set eth0 address fa:16:3e:00:03:01 up",
                      "addr add 198.18.7.20/24 dev eth0"], guest)
        asyncio.run(part.sync())
        proc = subprocess.run(["ping", "-c", "1", "-W", "2", "198.18.7.20"],
                              capture_output=True, check=False)
        assert proc.returncode == 0, proc.stdout
    finally:
        removed = cleanup.remove_all(names)
    assert f"link {link}" in removed
    assert link not in run.links(None)
