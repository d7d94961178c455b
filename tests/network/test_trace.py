"""`pocketstack trace`: the path of a packet, computed from the model, through the stock CLI's
resources (ports, servers, security groups, routers, floating IPs)."""

from __future__ import annotations

import json
import subprocess
from typing import Any

from tests.compute.test_servers import IMAGE
from tests.conftest import BIN, LiveCloud, unique


def trace(cloud: LiveCloud, source: str, to: str, *extra: str) -> tuple[int, dict[str, Any]]:
    proc = subprocess.run([str(BIN / "pocketstack"), "trace", source, "--to", to, "--json",
                           "--state-dir", str(cloud.state_dir), *extra],
                          capture_output=True, text=True, env=cloud.env, timeout=60)
    assert proc.returncode in (0, 1), proc.stderr
    return proc.returncode, json.loads(proc.stdout)


def kinds(result: dict[str, Any]) -> list[str]:
    return [hop["what"] for hop in result["hops"]]


def test_trace_east_west_security_groups_and_router(cloud: LiveCloud) -> None:
    group = unique("sg")
    cloud.osc("security", "group", "create", group, cloud="pocketstack")
    a = cloud.osc("port", "create", "--network", "private", unique("a"), cloud="pocketstack")
    b = cloud.osc("port", "create", "--network", "private", unique("b"), cloud="pocketstack")
    closed = cloud.osc("port", "create", "--network", "private", "--security-group", group,
                       unique("c"), cloud="pocketstack")
    ip_b = next(ip["ip_address"] for ip in b["fixed_ips"] if "." in ip["ip_address"])
    ip_c = next(ip["ip_address"] for ip in closed["fixed_ips"] if "." in ip["ip_address"])

    # same network, default group: admitted by the default group's remote-group rule
    rc, result = trace(cloud, a["id"], ip_b)
    assert rc == 0 and result["verdict"] == "delivered", result
    assert kinds(result) == ["port", "security-group", "bridge", "security-group", "port"]
    assert "remote" not in result["reason"]
    assert "allowed by rule" in result["hops"][3]["detail"]

    # a group with no ingress rule drops it, and says where
    rc, result = trace(cloud, a["id"], ip_c)
    assert rc == 1 and result["verdict"] == "dropped", result
    assert "ingress" in result["reason"] and group in result["reason"]

    # a rule opens tcp/22 only
    cloud.osc("security", "group", "rule", "create", "--protocol", "tcp", "--dst-port", "22",
              group, cloud="pocketstack")
    assert trace(cloud, a["id"], ip_c, "--protocol", "tcp", "--port", "22")[1]["verdict"] \
        == "delivered"
    assert trace(cloud, a["id"], ip_c, "--protocol", "tcp", "--port", "80")[1]["verdict"] \
        == "dropped"

    # an address nobody has on the network: ARP gets no answer
    rc, result = trace(cloud, a["id"], "10.0.0.62")
    assert result["verdict"] == "unreachable" and "ARP" in result["reason"]

    # off the network: through router1's interface, SNAT to its gateway, out to public
    rc, result = trace(cloud, a["id"], "172.24.4.1")
    assert result["verdict"] == "delivered", result
    nat = [h for h in result["hops"] if h["what"] == "nat"]
    router = cloud.osc("router", "show", "router1", cloud="pocketstack")
    gw_ip = router["external_gateway_info"]["external_fixed_ips"][0]["ip_address"]
    assert nat and nat[0]["device"].endswith(f"-> {gw_ip}"), nat
    assert result["hops"][-1]["what"] == "external"
    assert result["hops"][-1]["netns"] == "phys-public"

    # with a floating IP the packet leaves from it
    fip = cloud.osc("floating", "ip", "create", "--port", a["id"], "public",
                    cloud="pocketstack")
    rc, result = trace(cloud, a["id"], "8.8.8.8")
    nat = [h for h in result["hops"] if h["what"] == "nat"]
    assert nat[0]["device"].endswith(f"-> {fip['floating_ip_address']}"), nat
    # and another port reaches it through the router's DNAT
    rc, result = trace(cloud, b["id"], fip["floating_ip_address"])
    assert result["verdict"] == "delivered", result
    assert any(h["device"].startswith("DNAT") for h in result["hops"])


def test_trace_server_by_name_and_text_output(cloud: LiveCloud) -> None:
    name = unique("vm")
    cloud.osc("server", "create", "--flavor", "m1.tiny", "--image", IMAGE, "--network",
              "private", "--wait", name, cloud="pocketstack")
    proc = subprocess.run([str(BIN / "pocketstack"), "trace", name, "--to", "172.24.4.1",
                           "--state-dir", str(cloud.state_dir)],
                          capture_output=True, text=True, env=cloud.env, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"from server {name}" in proc.stdout
    assert "result: delivered" in proc.stdout
    missing = subprocess.run([str(BIN / "pocketstack"), "trace", unique("nobody"), "--to",
                              "10.0.0.1", "--state-dir", str(cloud.state_dir)],
                             capture_output=True, text=True, env=cloud.env, timeout=60)
    assert missing.returncode == 2 and "no server or port" in missing.stderr
