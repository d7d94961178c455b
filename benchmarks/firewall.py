"""Security group benchmark: render and load times of the nftables firewall
(pocketstack.agents.network.firewall) for hosts with 10 to 1,000 filtered ports.

For each size: ports spread over networks of 50 ports, three groups each (the default one,
a web group with port rules and prefixes, an app group whose rules name a remote group holding
every port's addresses); it prints the script size, the render time, the first load into a
fresh namespace and a reload after one rule changed (p50 of several), as the L2 agent pays
them. Needs root and nft; the namespaces carry a prefix of their own and are removed.

    .venv/bin/python benchmarks/firewall.py [--sizes 10,100,1000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a file: make `pocketstack` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pocketstack.agents.kernel import run  # noqa: E402
from pocketstack.agents.kernel.cleanup import remove_all  # noqa: E402
from pocketstack.agents.kernel.names import KernelNames  # noqa: E402
from pocketstack.agents.network.firewall import FirewallCache, render, sync_firewall  # noqa: E402


def rule(direction: str, protocol: str | None = None, low: int | None = None,
         high: int | None = None, prefix: str | None = None, group: str | None = None,
         ethertype: str = "IPv4") -> dict[str, Any]:
    return {"id": secrets.token_hex(8), "direction": direction, "ethertype": ethertype,
            "protocol": protocol, "port_range_min": low, "port_range_max": high,
            "remote_ip_prefix": prefix, "remote_group_id": group}


def model(size: int) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    ports: list[dict[str, Any]] = []
    for n in range(size):
        net, host = divmod(n, 50)
        ports.append({
            "id": f"{n:08x}-0000-4000-8000-{n:012x}", "network_id": f"net-{net:04d}",
            "mac_address": f"fa:16:3e:00:{n >> 8 & 0xff:02x}:{n & 0xff:02x}",
            "device_owner": "compute:nova", "admin_state_up": True,
            "fixed_ips": [{"subnet_id": "s", "ip_address": f"10.{net}.0.{host + 10}"},
                          {"subnet_id": "s6", "ip_address": f"fd00:{net:x}::{host + 10:x}"}],
            "port_security_enabled": True,
            "security_group_ids": ["default", "web", "app"],
            "allowed_address_pairs": [{"ip_address": f"10.{net}.1.{host}"}] if n % 5 == 0 else [],
        })
    v4 = [ip["ip_address"] for p in ports for ip in p["fixed_ips"] if ":" not in ip["ip_address"]]
    v6 = [ip["ip_address"] for p in ports for ip in p["fixed_ips"] if ":" in ip["ip_address"]]
    groups = {
        "default": {"rules": [rule("egress"), rule("egress", ethertype="IPv6"),
                              rule("ingress", group="default"),
                              rule("ingress", group="default", ethertype="IPv6")],
                    "members": {"IPv4": v4, "IPv6": v6}},
        "web": {"rules": [rule("ingress", "tcp", 80, 80), rule("ingress", "tcp", 443, 443),
                          rule("ingress", "tcp", 22, 22, prefix="192.168.0.0/16"),
                          rule("ingress", "icmp", 8, 0), rule("ingress", "icmp", ethertype="IPv6"),
                          rule("ingress", "udp", 5000, 5100, prefix="172.16.0.0/12")],
                "members": {"IPv4": v4, "IPv6": v6}},
        "app": {"rules": [rule("ingress", "tcp", 8000, 8999, group="web"),
                          rule("ingress", "47", group="web"),
                          rule("egress", "udp", 53, 53, prefix="10.0.0.2/32")],
                "members": {"IPv4": v4, "IPv6": v6}},
    }
    return ports, groups


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10,100,500,1000")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    why = run.missing()
    if why is not None:
        print(f"firewall benchmark skipped: {why}")
        return 0
    names = KernelNames("pb" + secrets.token_hex(2))
    print(f"{'ports':>6} {'script':>9} {'render':>9} {'first load':>11} {'reload':>9} "
          f"{'no-op':>7}")
    try:
        for size in (int(s) for s in args.sizes.split(",")):
            netns = names.host_ns(f"bench{size}")
            run.ensure_netns(netns)
            ports, groups = model(size)
            renders = []
            for _ in range(args.repeat):
                t0 = time.perf_counter()
                text = render(names, ports, groups)
                renders.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            sync_firewall(netns, names, ports, groups)
            first = time.perf_counter() - t0
            reloads = []
            for n in range(args.repeat):
                groups["web"]["rules"][0]["port_range_min"] = 8080 + n
                groups["web"]["rules"][0]["port_range_max"] = 8080 + n
                t0 = time.perf_counter()
                sync_firewall(netns, names, ports, groups)
                reloads.append(time.perf_counter() - t0)
            cache = FirewallCache()
            sync_firewall(netns, names, ports, groups, cache)
            t0 = time.perf_counter()
            sync_firewall(netns, names, ports, groups, cache)
            noop = time.perf_counter() - t0
            run.delete_netns(netns)
            render_ms = statistics.median(renders) * 1000
            print(f"{size:>6} {len(text) / 1024:>7.0f}KB {render_ms:>7.1f}ms"
                  f" {first * 1000:>9.1f}ms {statistics.median(reloads) * 1000:>7.1f}ms"
                  f" {noop * 1000:>5.1f}ms", flush=True)
    finally:
        remove_all(names)
    return 0


if __name__ == "__main__":
    sys.exit(main())
