"""Faults on the real data plane (issue 10, "Bad input and faults"), with the stock CLI on one
live ``namespace``-driver cloud: a vlan network is refused at binding with the reason (the
server ends in ERROR, its ports and claims released), a wiring failure leaves nothing
half-plugged, the periodic resync repairs deleted bridges and taps, a flushed firewall and a
killed dnsmasq, and restarting ``pocketstack up`` keeps the guests' networking."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from pocketstack.agents.kernel import names as kn
from pocketstack.agents.kernel import run
from tests.compute.test_servers import IMAGE
from tests.conftest import LiveCloud, start_cloud
from tests.dataplane_kit import address, dataplane_cloud, ns, skip_without_guest_tools, until

pytestmark = pytest.mark.skipif(run.missing() is not None, reason=str(run.missing()))

GUEST_TOOLS = ("busybox", "dropbear", "ping")
ENV = {"POCKETSTACK_DATAPLANE": "linux", "POCKETSTACK_COMPUTE_DRIVER": "namespace",
       "POCKETSTACK_COMPUTE_HOSTS": "1", "POCKETSTACK_DATAPLANE_RESYNC_INTERVAL": "1",
       "POCKETSTACK_HEARTBEAT_INTERVAL": "1"}


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveCloud]:
    skip_without_guest_tools(GUEST_TOOLS)
    with dataplane_cloud(tmp_path_factory.mktemp("faults") / "state", ENV) as live:
        yield live


def _server(cloud: LiveCloud, name: str, network: str, wait: bool = True) -> dict[str, Any]:
    args = ["server", "create", "--flavor", "m1.tiny", "--image", IMAGE, "--network", network,
            *(["--wait"] if wait else []), name]
    return dict(cloud.osc(*args))


def _settled(cloud: LiveCloud, name: str) -> dict[str, Any]:
    return dict(until(f"{name} settles", lambda: (lambda s: s if s["status"] in (
        "ACTIVE", "ERROR") else None)(cloud.osc("server", "show", name)), timeout=40))


def _ports(cloud: LiveCloud, device: str) -> list[dict[str, Any]]:
    return list(cloud.osc("port", "list", "--device-id", device))


def _usage(cloud: LiveCloud, server_id: str) -> Any:
    token, _ = cloud.token()
    r = httpx.get(f"{cloud.url}/placement/allocations/{server_id}",
                  headers={"X-Auth-Token": token}, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()["allocations"]


def test_vlan_network_is_refused_at_binding_with_the_reason(cloud: LiveCloud) -> None:
    agents = cloud.osc("network", "agent", "list", "--agent-type", "linux-bridge", "--long")
    assert agents, "no Linux bridge agent"
    shown = cloud.osc("network", "agent", "show", agents[0]["ID"])
    config = next(v for k, v in shown.items() if k.lower().startswith("configuration"))
    assert isinstance(config, dict), shown
    assert config["vlan_supported"] is False and "vlan" not in config["network_types"]
    assert "vxlan" in config["tunnel_types"]

    cloud.osc("network", "create", "--provider-network-type", "vlan",
              "--provider-physical-network", "public", "--provider-segment", "100", "vlan100")
    cloud.osc("subnet", "create", "--network", "vlan100", "--subnet-range", "10.9.0.0/24",
              "--no-dhcp", "vsub")
    _server(cloud, "onvlan", "vlan100", wait=False)
    server = _settled(cloud, "onvlan")
    assert server["status"] == "ERROR"
    fault = str(server.get("fault"))
    assert "vlan not supported by the host's L2 agent" in fault, fault
    assert "Binding failed" in fault, fault
    until("its ports released", lambda: not _ports(cloud, server["id"]))
    assert _usage(cloud, server["id"]) == {}
    cloud.osc("server", "delete", "--wait", "onvlan", as_json=False)


def _open_icmp(cloud: LiveCloud) -> None:
    if cloud.env.get("ICMP_OPEN"):
        return
    group = next(g["ID"] for g in cloud.osc("security", "group", "list", "--project", "admin")
                 if g["Name"] == "default")
    cloud.osc("security", "group", "rule", "create", "--protocol", "icmp", group)
    cloud.env["ICMP_OPEN"] = "1"


def _private(cloud: LiveCloud) -> str:
    return str(cloud.osc("network", "show", "private")["id"])


def _pid(pidfile: Path) -> int:
    """The pid in a pid file, 0 while the file is absent (between a kill and the restart)."""
    try:
        return int(pidfile.read_text() or 0)
    except FileNotFoundError:
        return 0


def _pings(netns: str, address: str) -> bool:
    return ns(netns, "ping", "-c", "1", "-W", "1", address).returncode == 0


def test_periodic_resync_repairs_the_kernel(cloud: LiveCloud) -> None:
    prefix = cloud.env["PREFIX"]
    _open_icmp(cloud)
    vm = _server(cloud, "repaired", "private")
    ip, net = address(vm, "private"), _private(cloud)
    host_ns, dhcp_ns = f"{prefix}-host-compute1", f"{prefix}-qdhcp-{net}"
    until("the DHCP namespace pings the guest", lambda: _pings(dhcp_ns, ip))
    port = _ports(cloud, vm["id"])[0]["ID"]
    tap, bridge = kn.tap(port), kn.bridge(net)

    # a deleted bridge comes back, with the taps in it
    run.run(["ip", "link", "del", bridge], host_ns)  # (the next tick may be at once)
    until("the bridge is back and the guest answers", lambda: _pings(dhcp_ns, ip),
           timeout=10)
    assert run.links(host_ns)[tap].get("master") == bridge

    # a tap taken out of its bridge goes back in
    run.run(["ip", "link", "set", tap, "nomaster"], host_ns)
    until("the tap is back in its bridge",
           lambda: run.links(host_ns)[tap].get("master") == bridge, timeout=10)
    until("the guest answers again", lambda: _pings(dhcp_ns, ip), timeout=10)

    # a deleted tap (and with it the guest's eth0): the driver plugs the guest again, the
    # L2 agent wires the new tap, the guest takes its address by DHCP again
    old_index = run.links(host_ns)[tap]["ifindex"]
    run.run(["ip", "link", "del", tap], host_ns)
    until("a new tap in its bridge", lambda: (lambda link: link is not None and link.get(
        "master") == bridge and link["ifindex"] != old_index)(run.links(host_ns).get(tap)),
        timeout=10)
    until("the guest answers on its new veth", lambda: _pings(dhcp_ns, ip), timeout=15)

    # a flushed ruleset: the security groups are loaded again (ping allowed by a rule
    # survives only through them; the table itself is what is checked)
    table = f"{prefix}_sg"
    run.run(["nft", "flush", "ruleset"], host_ns)
    until("the security group tables are back", lambda: all(
        f"table {family} {table}" in run.run(["nft", "list", "tables"], host_ns)
        for family in ("bridge", "inet")), timeout=10)
    until("the guest answers through the reloaded firewall", lambda: _pings(dhcp_ns, ip),
           timeout=10)

    # a killed dnsmasq is started again
    pidfile = cloud.state_dir / "run" / "network" / "compute1" / "dhcp" / net / "dnsmasq.pid"
    old = int(pidfile.read_text())
    os.kill(old, signal.SIGKILL)
    until("dnsmasq runs again", lambda: (lambda pid: pid not in (0, old) and os.path.exists(
        f"/proc/{pid}"))(_pid(pidfile)), timeout=10)
    # and serves: a new guest gets its address
    other = _server(cloud, "afterwards", "private")
    until("a new guest answers", lambda: _pings(dhcp_ns, address(other, "private")))
    cloud.osc("server", "delete", "--wait", "afterwards", as_json=False)
    cloud.osc("server", "delete", "--wait", "repaired", as_json=False)


def test_wiring_failure_leaves_error_and_nothing_half_plugged(cloud: LiveCloud) -> None:
    prefix = cloud.env["PREFIX"]
    port = cloud.osc("port", "create", "--network", "private", "unpluggable")
    tap = kn.tap(port["id"])
    host_ns, blocker = f"{prefix}-host-compute1", f"{prefix}-block"
    run.ensure_netns(blocker)
    try:
        # the tap's name is taken in the host namespace (an altname of a link of ours that
        # is no stale tap: the driver cannot clear it), so the guest's veth cannot be made
        run.ip_batch([f"link add blk0 type veth peer name blk1 netns {blocker}",
                      f"link property add dev blk0 altname {tap}"], host_ns)
        cloud.osc("server", "create", "--flavor", "m1.tiny", "--image", IMAGE,
                  "--nic", f"port-id={port['id']}", "wired")
        server = _settled(cloud, "wired")
        assert server["status"] == "ERROR", server
        fault = str(server.get("fault"))
        assert tap in fault and "File exists" in fault, fault
        # nothing half-plugged: no guest namespace, no veth end, no instance files
        assert not run.netns_exists(f"{prefix}-inst-{server['id']}")
        assert sorted(run.links(host_ns)).count("blk0") == 1
        assert not [n for n in run.links(host_ns) if n == tap]
        assert not list(cloud.state_dir.rglob(f"instances/{server['id']}/*"))
        assert _usage(cloud, server["id"]) == {}
        kept = cloud.osc("port", "show", port["id"])
        assert kept["device_id"] == "" and kept["binding_host_id"] in ("", None), kept
    finally:
        run.delete_netns(blocker)
    cloud.osc("server", "delete", "--wait", "wired", as_json=False)
    cloud.osc("port", "delete", port["id"], as_json=False)


def _init_pid(cloud: LiveCloud, uuid: str) -> str:
    found = list(cloud.state_dir.rglob(f"instances/{uuid}/init.pid"))
    assert len(found) == 1, found
    return found[0].read_text()


def test_restarting_up_keeps_the_guests_networking(cloud: LiveCloud) -> None:
    """Last in this module: it replaces the cloud's process."""
    prefix = cloud.env["PREFIX"]
    _open_icmp(cloud)
    vm = _server(cloud, "survivor", "private")
    ip, net = address(vm, "private"), _private(cloud)
    host_ns, dhcp_ns = f"{prefix}-host-compute1", f"{prefix}-qdhcp-{net}"
    try:
        until("the guest answers", lambda: _pings(dhcp_ns, ip))
    except AssertionError:
        inst = f"{prefix}-inst-{vm['id']}"
        diag = [ns(dhcp_ns, "ip", "neigh").stdout, ns(inst, "ip", "addr").stdout,
                ns(host_ns, "ip", "-d", "link").stdout, ns(host_ns, "nft", "list",
                                                             "ruleset").stdout[-3000:],
                str(vm), cloud.osc("console", "log", "show", "survivor", as_json=False)]
        raise AssertionError("\n----\n".join(diag)) from None
    tap = kn.tap(_ports(cloud, vm["id"])[0]["ID"])
    pidfile = cloud.state_dir / "run" / "network" / "compute1" / "dhcp" / net / "dnsmasq.pid"
    before = {"dnsmasq": pidfile.read_text(), "tap": run.links(host_ns)[tap]["ifindex"],
              "init": _init_pid(cloud, vm["id"])}

    pinger = subprocess.Popen(["ip", "netns", "exec", dhcp_ns, "ping", "-i", "0.2", "-W", "1",
                               ip], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True)
    try:
        time.sleep(0.5)
        cloud.process.send_signal(signal.SIGTERM)
        assert cloud.process.wait(timeout=30) == 0
        time.sleep(1.0)  # nobody runs the agents now: the kernel state alone forwards
        assert _pings(dhcp_ns, ip)
        port = int(cloud.url.rsplit(":", 1)[1])
        again = start_cloud(cloud.state_dir, {**ENV, "POCKETSTACK_KERNEL_PREFIX": prefix},
                            port=port)
        cloud.process = again.process
        until("the agents resynced", lambda: all(
            a["State"] is True or a["Alive"] in (True, ":-)")
            for a in cloud.osc("network", "agent", "list")), timeout=10)
        time.sleep(2.5)  # a couple of resync ticks
    finally:
        pinger.send_signal(signal.SIGINT)
        out, _ = pinger.communicate(timeout=10)
    sent = [line for line in out.splitlines() if "packets transmitted" in line]
    assert sent and " 0% packet loss" in sent[0], out[-400:]

    after = {"dnsmasq": pidfile.read_text(), "tap": run.links(host_ns)[tap]["ifindex"],
             "init": _init_pid(cloud, vm["id"])}
    assert after == before
    shown = cloud.osc("server", "show", "survivor")
    assert shown["status"] == "ACTIVE" and shown["OS-EXT-STS:power_state"] in ("Running", 1)
    assert _pings(dhcp_ns, ip)
