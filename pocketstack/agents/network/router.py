"""One router's namespace (``P-qrouter-<id>``), made equal to its model (blocking calls).

* forwarding on (IPv4 and IPv6) inside the namespace only, no ICMP redirects, no IPv6 DAD;
* per interface a veth: ``qr-<port>`` here (MAC, addresses, MTU, up) and ``tap<port>`` in
  the host namespace, left down for the L2 agent to put into its network's bridge;
* the gateway the same with ``qg-<port>``, the default route via the external subnet's
  gateway and every floating IP as a /32 on it;
* extra routes (``ip route replace DEST via NEXTHOP``); gateway routes the model no longer
  has are deleted, links of ports it no longer has too;
* the NAT table ``P_nat`` (:func:`nat_script`), replaced in one ``nft -f`` transaction when
  it differs: per floating IP DNAT (prerouting, output) and SNAT out of ``qg``; with
  ``enable_snat`` every IPv4 interface subnet SNATed to the gateway address out of ``qg``
  (traffic between the router's own subnets never leaves through ``qg``, so it keeps its
  addresses); DNATed traffic that came in and goes out through interfaces (an instance
  reaching a floating IP of its own network) SNATed to the gateway address too, so replies
  come back through the router.

Connection tracking entries of a floating IP that went away are deleted (``conntrack -D``),
so its flows stop at once rather than when their entries time out. New gateway addresses
are announced with a gratuitous ARP (:mod:`.garp`) once ``qg`` is up.
"""

from __future__ import annotations

import ipaddress
import logging
import shutil
from dataclasses import dataclass, field
from typing import Any

from pocketstack.agents.kernel import names as kn
from pocketstack.agents.kernel import run
from pocketstack.agents.kernel.names import KernelNames
from pocketstack.agents.network import garp

LOG = logging.getLogger(__name__)

# forwarding on; no ICMP redirects (an instance reaching a floating IP of its own network
# must keep going through the router); no duplicate address detection on the router's ports
# (the model's addresses are unique, and a tentative link-local address delays the first
# forwarded IPv6 packets)
FORWARDING = ("echo 1 > /proc/sys/net/ipv4/ip_forward; "
              "echo 0 > /proc/sys/net/ipv4/conf/all/send_redirects; "
              "echo 0 > /proc/sys/net/ipv4/conf/default/send_redirects; "
              "if [ -e /proc/sys/net/ipv6 ]; then "
              "echo 1 > /proc/sys/net/ipv6/conf/all/forwarding; "
              "echo 0 > /proc/sys/net/ipv6/conf/all/accept_dad; "
              "echo 0 > /proc/sys/net/ipv6/conf/default/accept_dad; fi")


@dataclass(frozen=True)
class Link:
    """A port as one end of a veth in the router namespace."""

    dev: str
    tap: str
    port_id: str
    mac: str
    mtu: int
    addresses: tuple[str, ...]  # "ip/prefixlen", normalised


@dataclass
class RouterMemo:
    """What the agent last applied to one router (kept between syncs)."""

    nat: str = ""
    forwarding: bool = False  # set once per router and agent process
    v6_routes: bool | None = None  # whether IPv6 gateway routes may exist (None: unknown)
    announced: set[str] = field(default_factory=set)  # gateway addresses sent in a GARP
    fips: dict[str, str] = field(default_factory=dict)  # floating -> fixed address


@dataclass
class Applied:
    new_taps: list[str] = field(default_factory=list)  # port ids whose veth was made now
    nat_changed: bool = False


def _iface(address: str, prefixlen: int) -> str:
    return str(ipaddress.ip_interface(f"{address}/{prefixlen}"))


def wanted_links(router: dict[str, Any]) -> dict[str, Link]:
    out: dict[str, Link] = {}
    for port in router.get("interfaces") or []:
        dev = kn.router_dev(port["port_id"])
        out[dev] = Link(dev, kn.tap(port["port_id"]), port["port_id"],
                        port["mac_address"].lower(), int(port["mtu"]),
                        tuple(_iface(ip["ip_address"], ip["prefixlen"])
                              for ip in port["fixed_ips"]))
    gw = router.get("gateway")
    if gw:
        dev = kn.gateway_dev(gw["port_id"])
        fips = tuple(_iface(f["floating_ip_address"], 32) for f in router.get("floating_ips") or [])
        out[dev] = Link(dev, kn.tap(gw["port_id"]), gw["port_id"], gw["mac_address"].lower(),
                        int(gw["mtu"]),
                        tuple(_iface(ip["ip_address"], ip["prefixlen"])
                              for ip in gw["fixed_ips"]) + fips)
    return out


def wanted_routes(router: dict[str, Any]) -> tuple[list[tuple[str, str, str]],
                                                   list[tuple[str, str]]]:
    """(default routes as (destination, gateway, dev), extra routes as (destination, nexthop))."""
    defaults = []
    gw = router.get("gateway")
    if gw:
        dev = kn.gateway_dev(gw["port_id"])
        seen: set[int] = set()
        for ip in gw["fixed_ips"]:
            gateway = ip.get("gateway_ip")
            if not gateway:
                continue
            address = ipaddress.ip_address(gateway)
            if address.version in seen:
                continue
            seen.add(address.version)
            defaults.append(("0.0.0.0/0" if address.version == 4 else "::/0", str(address), dev))
    extras = [(str(ipaddress.ip_network(r["destination"], strict=False)),
               str(ipaddress.ip_address(r["nexthop"]))) for r in router.get("routes") or []]
    return defaults, extras


def gateway_v4(router: dict[str, Any]) -> str | None:
    gw = router.get("gateway")
    for ip in (gw or {}).get("fixed_ips") or []:
        if ipaddress.ip_address(ip["ip_address"]).version == 4:
            return str(ip["ip_address"])
    return None


def nat_script(table: str, router: dict[str, Any]) -> str:
    """The whole NAT table of one router as an ``nft -f`` script that replaces it."""
    pre: list[str] = []
    post: list[str] = []
    gw = router.get("gateway")
    if gw:
        qg = kn.gateway_dev(gw["port_id"])
        gw_ip = gateway_v4(router)
        for fip in router.get("floating_ips") or []:
            floating, fixed = fip["floating_ip_address"], fip["fixed_ip_address"]
            if not fixed or ipaddress.ip_address(fixed).version != 4:
                continue
            pre.append(f"ip daddr {floating} dnat to {fixed}")
            post.append(f'oifname "{qg}" ip saddr {fixed} snat to {floating}')
        if gw_ip is not None:
            if router.get("enable_snat", True):
                cidrs = sorted({ip["cidr"] for port in router.get("interfaces") or []
                                for ip in port["fixed_ips"]
                                if ipaddress.ip_network(ip["cidr"]).version == 4})
                if cidrs:
                    post.append(f'oifname "{qg}" ip saddr {{ {", ".join(cidrs)} }} '
                                f"snat to {gw_ip}")
            if pre:
                post.append(f'iifname != "{qg}" oifname != "{qg}" ct status dnat '
                            f"snat to {gw_ip}")

    def chain(name: str, hook: str, priority: int, rules: list[str]) -> list[str]:
        return [f"\tchain {name} {{",
                f"\t\ttype nat hook {hook} priority {priority}; policy accept;",
                *(f"\t\t{rule}" for rule in rules), "\t}"]

    return "\n".join([
        f"table ip {table} {{", "}", f"delete table ip {table}", f"table ip {table} {{",
        *chain("prerouting", "prerouting", -100, pre),
        *chain("output", "output", -100, pre),
        *chain("postrouting", "postrouting", 100, post),
        "}", ""])


def _current_addresses(link: dict[str, Any]) -> set[str]:
    return {_iface(a["local"], a["prefixlen"]) for a in link.get("addr_info") or []
            if a.get("scope") != "link" and "local" in a}


def _gateway_routes(netns: str, v6: bool = True) -> list[tuple[str, str, str]]:
    """Routes of the main tables that go through a gateway: (destination, gateway, dev)."""
    out = []
    for family in ("-4", "-6") if v6 else ("-4",):
        for route in run.ip_json([family, "route", "show"], netns):
            gateway = route.get("gateway")
            if not gateway:
                continue
            dst = route.get("dst", "default")
            if dst == "default":
                dst = "0.0.0.0/0" if family == "-4" else "::/0"
            out.append((str(ipaddress.ip_network(dst, strict=False)),
                        str(ipaddress.ip_address(gateway)), str(route.get("dev", ""))))
    return out


def router_ids(names: KernelNames) -> list[str]:
    """Routers that have a namespace now."""
    start = names.router_ns("")
    return [ns[len(start):] for ns in run.netns_list() if ns.startswith(start)]


def remove(names: KernelNames, router_id: str) -> None:
    run.delete_netns(names.router_ns(router_id))


def _forget_connections(netns: str, addresses: list[str]) -> None:
    if not addresses or shutil.which("conntrack") is None:
        return
    for address in addresses:
        for selector in ("--orig-dst", "--reply-dst"):
            run.run(["conntrack", "-D", selector, address], netns, check=False)


def apply(names: KernelNames, host: str, router: dict[str, Any], memo: RouterMemo) -> Applied:
    """Make ``P-qrouter-<id>`` equal to ``router`` (an ``l3_state`` entry)."""
    netns = names.router_ns(router["id"])
    host_ns = names.host_ns(host)
    done = Applied()
    if run.ensure_netns(netns):  # new (or made again): nothing of the memo holds
        memo.nat, memo.fips, memo.announced, memo.v6_routes = "", {}, set(), False
        memo.forwarding = False
    if not memo.forwarding:
        run.run(["sh", "-c", FORWARDING], netns)
        memo.forwarding = True
    want = wanted_links(router)
    current = {link["ifname"]: link for link in run.ip_json(["addr", "show"], netns)}
    gone_fips: list[str] = []
    lines: list[str] = []
    for dev in sorted(current):
        if dev.startswith(("qr-", "qg-")) and dev not in want:
            lines.append(f"link del {dev}")
            if dev.startswith("qg-"):
                gone_fips += [a.split("/")[0] for a in _current_addresses(current[dev])
                              if a.endswith("/32")]
    tap_mtu: list[str] = []
    for dev, link in sorted(want.items()):
        have = current.get(dev)
        addresses: set[str] = set()
        if have is None:
            if not run.netns_exists(host_ns):
                raise run.KernelError(f"{host_ns} does not exist yet (the L2 agent makes it)")
            lines.append(f"link add {dev} address {link.mac} mtu {link.mtu} type veth "
                         f"peer name {link.tap} mtu {link.mtu} netns {host_ns}")
            done.new_taps.append(link.port_id)
        else:
            addresses = _current_addresses(have)
            if str(have.get("address", "")).lower() != link.mac:
                lines.append(f"link set {dev} address {link.mac}")
            if int(have.get("mtu", 0)) != link.mtu:
                lines.append(f"link set {dev} mtu {link.mtu}")
                tap_mtu.append(f"link set {link.tap} mtu {link.mtu}")
        for address in sorted(addresses - set(link.addresses)):
            lines.append(f"addr del {address} dev {dev}")
            if dev.startswith("qg-") and address.endswith("/32"):
                gone_fips.append(address.split("/")[0])
        for address in link.addresses:
            if address not in addresses:
                lines.append(f"addr add {address} dev {dev}"
                             + (" nodad" if ":" in address else ""))
        if have is None or "UP" not in (have.get("flags") or []):
            lines.append(f"link set {dev} up")
    defaults, extras = wanted_routes(router)
    v6_wanted = any(":" in g for _, g, _ in defaults) or any(":" in g for _, g in extras)
    routes_before = _gateway_routes(netns, v6=v6_wanted or memo.v6_routes is not False)
    for dst, gateway, dev in defaults:
        if (dst, gateway, dev) not in routes_before:
            lines.append(f"route replace {dst} via {gateway} dev {dev}")
    run.ip_batch(lines, netns)
    if tap_mtu and run.netns_exists(host_ns):
        run.ip_batch(tap_mtu, host_ns, force=True)

    # extra routes may name a nexthop the router cannot reach: they must not stop the rest
    wanted = {(d, g) for d, g, _ in defaults} | set(extras)
    route_lines = [f"route del {d} via {g}" for d, g, dev in routes_before
                   if (d, g) not in wanted and dev in want]
    have_routes = {(d, g) for d, g, _ in routes_before}
    route_lines += [f"route replace {d} via {g}" for d, g in extras if (d, g) not in have_routes]
    if route_lines:
        out = run.run(["ip", "-force", "-batch", "-"], netns, input="\n".join(route_lines) + "\n",
                      check=False)
        if out.strip():
            LOG.debug("router %s routes: %s", router["id"], out.strip())
        failed = [g for d, g in extras if (d, g) not in {(r[0], r[1]) for r in
                                                        _gateway_routes(netns, v6_wanted)}]
        if failed:
            LOG.warning("router %s: extra routes via %s not set (nexthop unreachable)",
                        router["id"], ", ".join(failed))

    table = names.nft_table("nat")
    script = nat_script(table, router)
    if script != memo.nat:  # the memo starts empty with each agent and each namespace
        run.run(["nft", "-f", "-"], netns, input=script)
        memo.nat = script
        done.nat_changed = True
    fips = {f["floating_ip_address"]: f["fixed_ip_address"] or ""
            for f in router.get("floating_ips") or []}
    gone_fips += [f for f, fixed in memo.fips.items() if fips.get(f) not in (None, fixed)]
    _forget_connections(netns, sorted(set(gone_fips)))
    memo.v6_routes = v6_wanted
    memo.fips = fips
    _announce(netns, want, current, memo)
    return done


def _announce(netns: str, want: dict[str, Link], current: dict[str, dict[str, Any]],
              memo: RouterMemo) -> None:
    """Gratuitous ARP for the gateway's IPv4 addresses (its own and floating IPs) not yet
    announced while its link was up (a new router's ``qg`` waits for the L2 agent)."""
    qg = next((link for dev, link in want.items() if dev.startswith("qg-")), None)
    addresses = {a.split("/")[0] for a in qg.addresses if "." in a} if qg else set()
    memo.announced &= addresses
    if qg is None or current.get(qg.dev, {}).get("operstate") != "UP":
        return
    new = sorted(addresses - memo.announced)
    if not new:
        return
    try:
        garp.announce(netns, qg.dev, new)
    except OSError as exc:
        LOG.warning("%s: gratuitous ARP from %s: %s", netns, qg.dev, exc)
        return
    memo.announced |= set(new)
