"""A killed network agent (issue 10, "Bad input and faults"): ``pocketstack agent network``
serves compute2 in a process of its own, joined over RabbitMQ; its hand-made guest pings a
guest of compute1 over VXLAN. The agent is killed (SIGKILL): ``network agent list`` shows it
not alive after the down time, and the guests keep forwarding (the kernel state stays)."""

from __future__ import annotations

import ipaddress
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest

from pocketstack.agents.kernel import names as kn
from pocketstack.agents.kernel import run
from pocketstack.agents.kernel.names import KernelNames
from tests.conftest import BIN, LiveCloud
from tests.dataplane_kit import dataplane_cloud, rabbitmq_vhost, until

pytestmark = pytest.mark.skipif(run.missing() is not None, reason=str(run.missing()))

DOWN_TIME = 3


@pytest.fixture()
def amqp_url() -> Iterator[str]:
    with rabbitmq_vhost() as url:
        yield url


@pytest.fixture()
def cloud(tmp_path: Any, amqp_url: str) -> Iterator[LiveCloud]:
    with dataplane_cloud(tmp_path / "state", {
            "POCKETSTACK_TRANSPORT_URL": amqp_url,
            "POCKETSTACK_COMPUTE_HOSTS": "1",
            "POCKETSTACK_DATAPLANE_RESYNC_INTERVAL": "1",
            "POCKETSTACK_NETWORK_AGENT_REPORT_INTERVAL": "0.5",
            "POCKETSTACK_NETWORK_AGENT_DOWN_TIME": str(DOWN_TIME)}) as live:
        live.env["AMQP"] = amqp_url
        yield live


def _alive(cloud: LiveCloud) -> dict[str, bool]:
    return {a["Host"]: a["Alive"] in (True, ":-)") for a in cloud.osc(
        "network", "agent", "list", "--agent-type", "linux-bridge")}


def _guest(cloud: LiveCloud, names: KernelNames, host: str, prefixlen: int,
           mtu: int) -> tuple[str, str]:
    port = cloud.osc("port", "create", "--network", "private", "--host", host,
                     "--disable-port-security", f"p-{host}")
    netns = names.guest_ns(port["id"][:8])
    run.ensure_netns(netns)
    run.ip_batch([f"link add {kn.tap(port['id'])} type veth peer name eth0 netns {netns}"],
                 names.host_ns(host))
    address = next(f["ip_address"] for f in port["fixed_ips"] if "." in f["ip_address"])
    run.ip_batch([f"link set eth0 address {port['mac_address']} mtu {mtu} up",
                  f"addr add {address}/{prefixlen} dev eth0"], netns)
    until(f"the port on {host} goes ACTIVE", lambda: cloud.osc(
        "port", "show", port["id"])["status"] == "ACTIVE")
    return netns, address


def test_killed_agent_is_reported_down_and_its_guests_keep_forwarding(
        cloud: LiveCloud) -> None:
    names = KernelNames(cloud.env["PREFIX"])
    agent = subprocess.Popen(
        [str(BIN / "pocketstack"), "agent", "network", "--host", "compute2", "--host-index",
         "2", "--transport-url", cloud.env["AMQP"], "--state-dir", str(cloud.state_dir),
         "--kernel-prefix", names.prefix],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=cloud.env)
    try:
        until("compute2's agent reports", lambda: _alive(cloud).get("compute2"))
        net = cloud.osc("network", "show", "private")
        cidr = next(cloud.osc("subnet", "show", s)["cidr"] for s in net["subnets"]
                    if "." in cloud.osc("subnet", "show", s)["cidr"])
        prefixlen = ipaddress.ip_network(cidr).prefixlen
        one, _ = _guest(cloud, names, "compute1", prefixlen, int(net["mtu"]))
        _, two = _guest(cloud, names, "compute2", prefixlen, int(net["mtu"]))
        ping = ["ip", "netns", "exec", one, "ping", "-c", "1", "-W", "1", two]
        until("compute1's guest pings compute2's over VXLAN",
               lambda: subprocess.run(ping, capture_output=True).returncode == 0)

        agent.kill()
        agent.wait(timeout=10)
        killed = time.monotonic()
        until("compute2's agent is not alive", lambda: _alive(cloud) == {
            "compute1": True, "compute2": False}, timeout=DOWN_TIME + 10)
        assert time.monotonic() - killed >= DOWN_TIME - 1.5  # not before the down time
        for _ in range(3):
            assert subprocess.run(ping, capture_output=True).returncode == 0
        assert kn.bridge(net["id"]) in run.links(names.host_ns("compute2"))
    finally:
        if agent.poll() is None:
            agent.kill()
            agent.wait(timeout=10)
