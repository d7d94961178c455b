"""``pocketstack trace SERVER|PORT --to ADDRESS|SERVER``: the path of a packet, hop by hop.

An operator tool like ``explain``: it reads the cloud's database (``--state-dir`` or
``--database-url``), follows the packet through the model
(:mod:`pocketstack.network.domain.trace`), and with ``--live`` checks every hop's kernel
object in the cloud's namespaces and sends one real probe from the source guest.
"""

from __future__ import annotations

import ipaddress
import json
import subprocess
import sys
import time
from typing import Any

from pocketstack.config import Settings
from pocketstack.network.domain import trace as tr


class TraceError(Exception):
    pass


def _servers(settings: Settings, name_or_id: str) -> list[tuple[str, str, str | None]]:
    from pocketstack.cloud import Cloud
    from pocketstack.compute.interface import ServerLookup

    cloud = Cloud(settings)
    try:
        lookup = cloud.runtime.interfaces.find(ServerLookup)
        return lookup.find_servers(name_or_id) if lookup is not None else []
    finally:
        cloud.close()


def _ports_of(settings: Settings, model: tr.Model, ref: str) -> tuple[str, list[dict[str, Any]]]:
    """A port (by id or name) or a server's ports (by uuid or name)."""
    if ref in model.ports:
        return f"port {ref}", [model.ports[ref]]
    named = [p for p in model.ports.values() if p["name"] == ref]
    if len(named) == 1:
        return f"port {ref}", named
    ports = tr.ports_of_device(model, ref)
    if ports:
        return f"server {ref}", ports
    servers = _servers(settings, ref)
    if len(servers) > 1:
        raise TraceError(f"more than one server is named {ref}; use its id")
    if not servers:
        raise TraceError(f"no server or port {ref}")
    uuid, name, _host = servers[0]
    ports = tr.ports_of_device(model, uuid)
    if not ports:
        raise TraceError(f"server {name} ({uuid}) has no ports")
    return f"server {name} ({uuid})", ports


def _pick(model: tr.Model, ports: list[dict[str, Any]],
          dest: ipaddress.IPv4Address | ipaddress.IPv6Address) -> dict[str, Any]:
    """The port a packet to ``dest`` leaves by: one on dest's network, else one with a
    gateway of dest's family."""
    for port in ports:
        if model.subnet_of(port["network_id"], dest) is not None:
            return port
    for port in ports:
        for ip in port["fixed_ips"]:
            subnet = model.subnets.get(ip["subnet_id"])
            if subnet and subnet["ip_version"] == dest.version and subnet["gateway_ip"]:
                return port
    return ports[0]


def _destination(settings: Settings, model: tr.Model, to: str,
                 sources: list[dict[str, Any]]) -> str:
    try:
        return str(ipaddress.ip_address(to))
    except ValueError:
        pass
    _, ports = _ports_of(settings, model, to)
    networks = {p["network_id"] for p in sources}
    ordered = sorted(ports, key=lambda p: p["network_id"] not in networks)
    for port in ordered:
        for ip in port["fixed_ips"]:
            if ipaddress.ip_address(ip["ip_address"]).version == 4:
                return str(ip["ip_address"])
    for port in ordered:
        if port["fixed_ips"]:
            return str(port["fixed_ips"][0]["ip_address"])
    raise TraceError(f"{to} has no address")


def render(result: tr.Trace, checks: dict[int, str] | None = None) -> str:
    port = f" port {result.port}" if result.port is not None else ""
    lines = [f"trace {result.protocol}{port} from {result.source} to {result.destination}"]
    for n, hop in enumerate(result.hops, 1):
        where = hop.where or "-"
        lines.append(f"{n:3d}  {hop.what:<15} {where:<12} {hop.device:<28} {hop.detail}")
        if checks and n in checks:
            lines.append(f"     live: {checks[n]}")
    lines.append(f"result: {result.verdict}: {result.reason}")
    return "\n".join(lines)


def live_checks(settings: Settings, result: tr.Trace) -> dict[int, str]:
    """Each hop's kernel object, looked up in the cloud's namespaces."""
    from pocketstack.agents.kernel import run
    from pocketstack.agents.kernel.names import KernelNames

    names = KernelNames.for_settings(settings.kernel_prefix, settings.state_path)
    out: dict[int, str] = {}
    for n, hop in enumerate(result.hops, 1):
        netns = f"{names.prefix}-{hop.netns}"
        if hop.what in ("nat", "security-group") or " " in hop.device:
            continue
        if not run.netns_exists(netns):
            out[n] = f"MISSING namespace {netns}"
            continue
        links = run.links(netns)
        link = links.get(hop.device)
        if link is None:
            out[n] = f"MISSING device {hop.device} in {netns}"
            continue
        flags = link.get("flags", [])
        state = "up" if "UP" in flags else "DOWN"
        master = f", in {link['master']}" if link.get("master") else ""
        out[n] = f"{hop.device} {state}{master}"
    return out


def probe(settings: Settings, result: tr.Trace, server_id: str | None) -> str:
    """One real packet from the source guest (a ``namespace`` driver instance)."""
    from pocketstack.agents.kernel import run
    from pocketstack.agents.kernel.names import KernelNames

    if server_id is None:
        return "no probe: the source is not a server"
    names = KernelNames.for_settings(settings.kernel_prefix, settings.state_path)
    netns = names.guest_ns(server_id)
    if not run.netns_exists(netns):
        return f"no probe: no guest namespace {netns} (not a namespace-driver instance here)"
    if result.protocol == "icmp":
        cmd = ["ping", "-c", "1", "-W", "2", result.destination]
    elif result.protocol in ("tcp", "udp") and result.port is not None:
        cmd = ["busybox", "nc", "-w", "2", *(["-u"] if result.protocol == "udp" else []),
               result.destination, str(result.port)]
    else:
        return "no probe for this protocol"
    started = time.monotonic()
    proc = subprocess.run(["ip", "netns", "exec", netns, *cmd], capture_output=True,
                          text=True, input="", timeout=10, check=False)
    took = (time.monotonic() - started) * 1000
    if proc.returncode == 0:
        return f"probe: answered in {took:.1f} ms ({' '.join(cmd)})"
    return f"probe: no answer ({' '.join(cmd)}; exit {proc.returncode})"


def main(settings: Settings, source: str, to: str, protocol: str = "icmp",
         port: int | None = None, as_json: bool = False, live: bool = False) -> int:
    from pocketstack.common.db import Database

    db = Database(settings.effective_database_url)
    try:
        model = db.read(tr.load)
    finally:
        db.dispose()
    try:
        label, ports = _ports_of(settings, model, source)
        dest = _destination(settings, model, to, ports)
    except TraceError as exc:
        print(f"trace: {exc}", file=sys.stderr)
        return 2
    src = _pick(model, ports, ipaddress.ip_address(dest))
    result = tr.trace(model, src["id"], dest, protocol, port)
    result.source = f"{label} {result.source}"
    server_id = src["device_id"] if str(src["device_owner"]).startswith("compute:") else None
    checks = live_checks(settings, result) if live else None
    probe_line = probe(settings, result, server_id) if live else None
    if as_json:
        data = result.to_dict()
        if live:
            data["live"] = {"hops": checks, "probe": probe_line}
        print(json.dumps(data, indent=2))
    else:
        print(render(result, checks))
        if probe_line:
            print(probe_line)
    return 0 if result.verdict == "delivered" else 1
