"""The L2 agents inside a live ``pocketstack up --dataplane linux`` with two compute hosts:
ports bound to each host over the API, hand-made guests with their taps left DOWN in the
host namespaces; the agents (over ``network.rpc``: ``l2_state``, ``set_port_status``) wire
them, the ports go ACTIVE and the guests ping each other over the tenant network's VXLAN."""

from __future__ import annotations

import ipaddress
import secrets
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from pocketstack.agents.kernel import cleanup, run
from pocketstack.agents.kernel import names as kn
from pocketstack.agents.kernel.names import KernelNames
from tests.conftest import start_cloud

pytestmark = pytest.mark.skipif(run.missing() is not None, reason=str(run.missing()))


def v4(port: dict[str, Any]) -> str:
    return next(f["ip_address"] for f in port["fixed_ips"] if "." in f["ip_address"])


def test_ports_on_two_hosts_go_active_and_talk(tmp_path: Path) -> None:
    names = KernelNames("pt" + secrets.token_hex(2))
    state = tmp_path / "state"
    state.mkdir()
    cloud = start_cloud(state, {"POCKETSTACK_DATAPLANE": "linux",
                                "POCKETSTACK_KERNEL_PREFIX": names.prefix,
                                "POCKETSTACK_COMPUTE_HOSTS": "2",
                                "POCKETSTACK_DATAPLANE_RESYNC_INTERVAL": "0.5"})
    try:
        token, _ = cloud.token()
        with cloud.client(token) as api:
            net = api.get("/networking/v2.0/networks?name=private").json()["networks"][0]
            cidrs = [api.get(f"/networking/v2.0/subnets/{s}").json()["subnet"]["cidr"]
                     for s in net["subnets"]]
            prefix = next(ipaddress.ip_network(c) for c in cidrs if "." in c).prefixlen
            ports: list[dict[str, Any]] = []
            for host in ("compute1", "compute2"):
                r = api.post("/networking/v2.0/ports", json={"port": {
                    "network_id": net["id"], "binding:host_id": host,
                    "port_security_enabled": False}})
                assert r.status_code == 201, r.text
                ports.append(r.json()["port"])

            def statuses(want: list[str]) -> list[str]:
                deadline = time.monotonic() + 10
                while True:
                    got = [api.get(f"/networking/v2.0/ports/{p['id']}").json()["port"]["status"]
                           for p in ports]
                    if got == want or time.monotonic() > deadline:
                        return got
                    time.sleep(0.2)

            # bound, but no tap yet: the agents say DOWN (binding alone said ACTIVE)
            assert statuses(["DOWN", "DOWN"]) == ["DOWN", "DOWN"]
            guests = []
            for port, host in zip(ports, ("compute1", "compute2"), strict=True):
                guest = names.guest_ns(port["id"][:8])
                run.ensure_netns(guest)
                run.ip_batch([f"link add {kn.tap(port['id'])} type veth peer name eth0 "
                              f"netns {guest}"], names.host_ns(host))
                address = v4(port)
                run.ip_batch([f"link set eth0 address {port['mac_address']} mtu {net['mtu']} up",
                              f"addr add {address}/{prefix} dev eth0"], guest)
                guests.append(guest)
            assert statuses(["ACTIVE", "ACTIVE"]) == ["ACTIVE", "ACTIVE"]
            agents = api.get("/networking/v2.0/agents?agent_type=Linux bridge agent").json()
            tunnels = {a["host"]: a["configurations"]["tunneling_ip"] for a in agents["agents"]}
            assert tunnels == {"compute1": "10.254.0.2", "compute2": "10.254.0.3"}
        other = v4(ports[1])
        ping = subprocess.run(["ip", "netns", "exec", guests[0], "ping", "-c", "1", "-W", "2",
                               other], capture_output=True, text=True, check=False)
        assert ping.returncode == 0, ping.stdout + ping.stderr
    finally:
        cloud.stop()
        cleanup.remove_all(names)
