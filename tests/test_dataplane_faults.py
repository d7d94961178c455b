"""Faults on the real data plane (issue 10, "Bad input and faults"), with the stock CLI on one
live ``namespace``-driver cloud: a vlan network is refused at binding with the reason (the
server ends in ERROR, its ports and claims released), a wiring failure leaves nothing
half-plugged, the periodic resync repairs deleted bridges and taps, a flushed firewall and a
killed dnsmasq, and restarting ``pocketstack up`` keeps the guests' networking."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from pocketstack.agents.kernel import names as kn
from pocketstack.agents.kernel import run
from tests.compute.test_servers import IMAGE
from tests.conftest import BIN, LiveCloud, start_cloud

pytestmark = pytest.mark.skipif(run.missing() is not None, reason=str(run.missing()))

GUEST_TOOLS = ("busybox", "dropbear", "ping")
ENV = {"POCKETSTACK_DATAPLANE": "linux", "POCKETSTACK_COMPUTE_DRIVER": "namespace",
       "POCKETSTACK_COMPUTE_HOSTS": "1", "POCKETSTACK_DATAPLANE_RESYNC_INTERVAL": "1"}


def _ns(netns: str, *cmd: str, timeout: float = 20) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", "netns", "exec", netns, *cmd], capture_output=True, text=True,
                          timeout=timeout, check=False)


def _until(what: str, check: Any, timeout: float = 20.0, interval: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"{what}: not within {timeout} s (last: {last!r})")


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveCloud]:
    missing = [tool for tool in GUEST_TOOLS if subprocess.run(
        ["sh", "-c", f"command -v {tool}"], capture_output=True, check=False).returncode]
    if missing:
        pytest.skip(f"namespace guests need {', '.join(missing)}")
    state = tmp_path_factory.mktemp("faults") / "state"
    state.mkdir()
    prefix = "pt" + secrets.token_hex(2)
    live = start_cloud(state, {**ENV, "POCKETSTACK_KERNEL_PREFIX": prefix})
    live.env["PREFIX"] = prefix
    try:
        yield live
    finally:
        live.stop()
        subprocess.run([str(BIN / "pocketstack"), "clean", "--state-dir", str(state)],
                       env=live.env, capture_output=True, timeout=60, check=False)
        leftovers = [n for n in run.netns_list() if n.startswith(prefix + "-")]
        assert not leftovers, f"namespaces left behind: {leftovers}"


def _server(cloud: LiveCloud, name: str, network: str, wait: bool = True) -> dict[str, Any]:
    args = ["server", "create", "--flavor", "m1.tiny", "--image", IMAGE, "--network", network,
            *(["--wait"] if wait else []), name]
    return dict(cloud.osc(*args))


def _settled(cloud: LiveCloud, name: str) -> dict[str, Any]:
    return dict(_until(f"{name} settles", lambda: (lambda s: s if s["status"] in (
        "ACTIVE", "ERROR") else None)(cloud.osc("server", "show", name)), timeout=40))


def _address(server: dict[str, Any], network: str) -> str:
    addresses = server["addresses"]
    if isinstance(addresses, dict):
        return str(next(a for a in addresses[network] if "." in a))
    for part in str(addresses).split(";"):
        name, _, ips = part.strip().partition("=")
        if name == network:
            return next(ip.strip() for ip in ips.split(",") if "." in ip)
    raise AssertionError(f"no address on {network}: {addresses}")


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
    _until("its ports released", lambda: not _ports(cloud, server["id"]))
    assert _usage(cloud, server["id"]) == {}
    cloud.osc("server", "delete", "--wait", "onvlan", as_json=False)
