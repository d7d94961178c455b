"""Security groups of one host, enforced by nftables in its host namespace.

:func:`render` turns the host's ports and their groups (the ``l2_state`` shapes of
docs/dataplane.md) into one ``nft -f`` script; :func:`sync_firewall` loads it. Two tables,
both named ``names.nft_table("sg")``, are replaced together in one transaction:

* ``bridge``: a forward chain (priority -200) sees every bridged frame with its bridge ports.
  It tags the frame with ``meta mark``: bits 16..31 the profile of the filtered port it came
  from, bits 0..15 the one it goes to. Frames from a filtered port must carry its MAC and one
  of its addresses (fixed IPs, EUI-64 link-local, allowed address pairs with their MAC); ARP
  likewise; other ethertypes (VLAN tags would slip past br_netfilter) are dropped.
* ``inet``: reached through br_netfilter (``net.bridge.bridge-nf-call-ip{,6}tables = 1``),
  stateful as Neutron's drivers are: established/related pass, invalid is dropped, then the
  egress chain of the sending port and the ingress chain of the receiving one (picked by the
  mark) must both let a new flow through. A conntrack zone per bridge (network) keeps
  overlapping addresses of two networks apart. Remote groups are sets of member addresses,
  one per group and family. Ports with the same groups share their chains (a *profile*);
  the mark names profiles, the bridge table's sets name ports. Flows are tagged with the
  rules' generation (ct mark) so a rule change is re-checked on the flows it let in.

There is no ``ct`` in bridge tables on this kernel (no NF_CONNTRACK_BRIDGE), hence the two
stages. Ports with ``port_security_enabled = false`` and Neutron's own ports (``device_owner``
``network:*``) are not filtered (their mark half stays 0).
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from pocketstack.agents.kernel import names as kn
from pocketstack.agents.kernel import run
from pocketstack.agents.kernel.names import KernelNames

LOG = logging.getLogger(__name__)
FROM_SHIFT = 16
MAX_PORTS = 0xFFFF

#: Neutron's protocol names (and ``icmpv6``) with their IP protocol numbers
PROTOCOLS = {
    "hopopt": 0, "icmp": 1, "igmp": 2, "ipip": 4, "tcp": 6, "egp": 8, "udp": 17,
    "ipv6-encap": 41, "ipv6-route": 43, "ipv6-frag": 44, "rsvp": 46, "gre": 47, "esp": 50,
    "ah": 51, "icmpv6": 58, "ipv6-icmp": 58, "ipv6-nonxt": 59, "ipv6-opts": 60, "ospf": 89,
    "pgm": 113, "vrrp": 112, "sctp": 132, "udplite": 136, "dccp": 33,
}
#: protocols whose rules may carry a port range
PORTED = {6: "tcp", 17: "udp", 33: "dccp", 132: "sctp", 136: "udplite"}
ICMP4, ICMP6 = 1, 58

# ICMPv6 Neutron lets through whatever the groups say: multicast listener query, router
# advertisement, neighbour solicitation/advertisement in; listener reports (v1, v2), router
# solicitation, neighbour solicitation/advertisement out.
ICMP6_IN = "130, 134, 135, 136"
ICMP6_OUT = "131, 133, 135, 136, 143"
ICMP6_FROM_UNSPECIFIED = "131, 135, 143"  # DAD and MLD before the port has an address


def _filtered(port: dict[str, Any]) -> bool:
    if str(port.get("device_owner") or "").startswith("network:"):
        return False
    return port.get("port_security_enabled", True) is not False


def _mac(text: str) -> str:
    return text.strip().lower()


def _link_local(mac: str) -> ipaddress.IPv6Address:
    """The EUI-64 link-local address a port derives from its MAC."""
    octets = [int(part, 16) for part in mac.split(":")]
    octets[0] ^= 0x02
    eui = octets[:3] + [0xFF, 0xFE] + octets[3:]
    return ipaddress.IPv6Address(bytes([0xFE, 0x80, 0, 0, 0, 0, 0, 0, *eui]))


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _net(text: str) -> Network | None:
    try:
        return ipaddress.ip_network(str(text).strip(), strict=False)
    except ValueError:
        return None


def _pairs(port: dict[str, Any]) -> list[tuple[str, Network]]:
    """(MAC, address or prefix) pairs a port may send from."""
    mac = _mac(port["mac_address"])
    pairs: list[tuple[str, Network]] = []
    for fixed in port.get("fixed_ips") or []:
        net = _net(fixed.get("ip_address", ""))
        if net is not None:
            pairs.append((mac, net))
    macs = {mac}
    for pair in port.get("allowed_address_pairs") or []:
        pair_mac = _mac(pair.get("mac_address") or mac)
        net = _net(pair.get("ip_address", ""))
        if net is not None:
            pairs.append((pair_mac, net))
        macs.add(pair_mac)
    for each in sorted(macs):
        pairs.append((each, ipaddress.IPv6Network(_link_local(each))))
    seen: set[tuple[str, Network]] = set()
    unique = []
    for item in pairs:
        if item not in seen:
            seen.add(item)
            unique.append(item)
    return unique


def _addr(net: Network) -> str:
    """An address or a prefix as nft writes it."""
    if net.prefixlen == net.max_prefixlen:
        return str(net.network_address)
    return str(net)


def _elements(addresses: Iterable[str], version: int) -> list[str]:
    nets = [n for n in (_net(a) for a in addresses) if n is not None and n.version == version]
    collapsed = ipaddress.collapse_addresses(nets)  # type: ignore[type-var]
    return [_addr(n) for n in collapsed]


UNKNOWN = -1


def _protocol(value: Any, ethertype: str) -> int | None:
    """The rule's IP protocol number; None for any, UNKNOWN when it cannot be expressed."""
    if value is None:
        return None
    text = str(value).strip().lower()
    if text in ("", "any", "0"):  # "0", as iptables' "-p 0", is any protocol
        return None
    if text.isdigit():
        number = int(text)
    elif text in PROTOCOLS:
        number = PROTOCOLS[text]
        if ethertype == "IPv6" and text == "icmp":
            number = ICMP6  # Neutron reads "icmp" in an IPv6 rule as ICMPv6
    else:
        return UNKNOWN
    return number if number <= 255 else UNKNOWN


def _rule_match(rule: dict[str, Any], ingress: bool, set_names: dict[tuple[str, int], str],
                ) -> str | None:
    """The nft match of one group rule (without verdict), or None when it matches nothing."""
    ethertype = rule.get("ethertype") or "IPv4"
    if ethertype not in ("IPv4", "IPv6"):
        return None
    version = 4 if ethertype == "IPv4" else 6
    fam = "ip" if version == 4 else "ip6"
    parts = [f"meta nfproto ipv{version}"]
    remote_dir = "saddr" if ingress else "daddr"
    prefix = rule.get("remote_ip_prefix")
    if prefix:
        net = _net(prefix)
        if net is None or net.version != version:
            return None
        if net.prefixlen:
            parts.append(f"{fam} {remote_dir} {_addr(net)}")
    group = rule.get("remote_group_id")
    if group:
        set_name = set_names.get((group, version))
        if set_name is None:
            return None
        parts.append(f"{fam} {remote_dir} @{set_name}")
    proto = _protocol(rule.get("protocol"), ethertype)
    if proto == UNKNOWN:
        return None
    try:
        low, high = _number(rule.get("port_range_min")), _number(rule.get("port_range_max"))
    except ValueError:
        return None
    if proto in (ICMP4, ICMP6):
        kind = "icmp" if proto == ICMP4 else "icmpv6"
        parts.append(f"meta l4proto {kind}")
        if low is not None:
            if low > 255 or (high is not None and high > 255):
                return None
            parts.append(f"{kind} type {low}")
            if high is not None:
                parts.append(f"{kind} code {high}")
    elif proto is not None:
        name = PORTED.get(proto)
        parts.append(f"meta l4proto {name or proto}")
        if name is not None and (low is not None or high is not None):
            first = low if low is not None else high
            last = high if high is not None else first
            assert first is not None and last is not None
            if first > last or last > 65535:
                return None
            if (first, last) != (1, 65535) and (first, last) != (0, 65535):
                parts.append(f"th dport {first}" if first == last else f"th dport {first}-{last}")
    return " ".join(parts)


def _number(value: Any) -> int | None:
    """A port or ICMP type/code of a rule (ValueError when it is not a number >= 0)."""
    if value is None or value == "":
        return None
    number = int(value)
    if number < 0:
        raise ValueError(value)
    return number


def _zone(network_id: str) -> int:
    """A stable conntrack zone (1..65535) for a network."""
    return int(hashlib.sha1(network_id.encode()).hexdigest()[:8], 16) % 65535 + 1


def _profile(port: dict[str, Any]) -> tuple[str, ...]:
    """What decides a port's inet chains: its groups (nothing else there is per port)."""
    return tuple(sorted(set(port.get("security_group_ids") or [])))


Pairs = list[tuple[str, Network]]


def _spoof_elements(taps: list[tuple[str, Pairs]], version: int) -> list[str]:
    """``tap . mac . address`` elements, overlapping prefixes of one (tap, MAC) merged."""
    out = []
    for tap, pairs in taps:
        by_mac: dict[str, list[Network]] = {}
        for mac, net in pairs:
            if net.version == version:
                by_mac.setdefault(mac, []).append(net)
        for mac in sorted(by_mac):
            nets = by_mac[mac]
            merged = nets if len(nets) == 1 else ipaddress.collapse_addresses(nets)  # type: ignore[type-var]
            for net in merged:
                out.append(f'"{tap}" . {mac} . {_addr(net)}')
    return out


def _set(name: str, kind: str, elements: list[str], interval: bool = False,
         comment: str = "") -> list[str]:
    flags = " flags interval;" if interval else ""
    out = [f"  set {name} {{{'  # ' + comment if comment else ''}",
           f"    type {kind};{flags}"]
    if elements:
        out.append(f"    elements = {{ {', '.join(elements)} }}")
    out.append("  }")
    return out


def _bridge_table(table: str, taps: list[tuple[str, Pairs]],
                  profile_of: dict[str, int]) -> list[str]:
    """Stage 1: anti-spoofing of every filtered port, and the mark naming the profiles of the
    filtered ports a frame comes from (bits 16..31) and goes to (bits 0..15)."""
    out = [f"table bridge {table} {{"]
    macs = sorted({f'"{tap}" . {mac}' for tap, pairs in taps for mac, _ in pairs})
    out += _set("macs", "ifname . ether_addr", macs)
    out += _set("addr4", "ifname . ether_addr . ipv4_addr", _spoof_elements(taps, 4), True)
    out += _set("addr6", "ifname . ether_addr . ipv6_addr", _spoof_elements(taps, 6), True)
    out.append("  chain spoof {")
    out.append("    iifname . ether saddr != @macs drop;")
    out.append("    ether type vmap { ip : goto spoof4, ip6 : goto spoof6, arp : goto spoofarp };")
    out.append("    drop;")  # anything else (VLAN tags would pass br_netfilter unseen)
    out.append("  }")
    out.append("  chain spoof4 {")
    out.append("    iifname . ether saddr . ip saddr @addr4 accept;")
    out.append("    iifname . ether saddr @macs ip saddr 0.0.0.0 udp sport 68 udp dport 67 accept;")
    out.append("    drop;")
    out.append("  }")
    out.append("  chain spoof6 {")
    out.append("    iifname . ether saddr . ip6 saddr @addr6 accept;")
    out.append(f"    iifname . ether saddr @macs ip6 saddr :: "
               f"icmpv6 type {{ {ICMP6_FROM_UNSPECIFIED} }} accept;")
    out.append("    drop;")
    out.append("  }")
    out.append("  chain spoofarp {")  # sender fields: one of the port's pairs, or a probe
    out.append("    iifname . arp saddr ether . arp saddr ip @addr4 accept;")
    out.append("    iifname . arp saddr ether @macs arp saddr ip 0.0.0.0 accept;")
    out.append("    drop;")
    out.append("  }")
    for n in sorted(set(profile_of.values())):
        out.append(f"  chain to_{n} {{")
        out.append(f"    meta mark set meta mark or 0x{n:x};")
        out.append("  }")
        out.append(f"  chain from_{n} {{")
        out.append(f"    meta mark set meta mark or 0x{n << FROM_SHIFT:x};")
        out.append("    goto spoof;")
        out.append("  }")
    out.append("  chain forward {")
    out.append("    type filter hook forward priority -200; policy accept;")
    out.append("    meta mark set 0;")
    if taps:
        to_map = ", ".join(f'"{tap}" : jump to_{profile_of[tap]}' for tap, _ in taps)
        from_map = ", ".join(f'"{tap}" : jump from_{profile_of[tap]}' for tap, _ in taps)
        out.append(f"    oifname vmap {{ {to_map} }};")
        out.append(f"    iifname vmap {{ {from_map} }};")
    out.append("  }")
    out.append("}")
    return out


def _inet_table(table: str, profiles: list[tuple[str, ...]], all_ports: list[dict[str, Any]],
                security_groups: dict[str, Any]) -> list[str]:
    """Stage 2: conntrack zones, and the stateful chains of each profile (set of groups)."""
    out = [f"table inet {table} {{"]
    # one set per remote group named by a rule of a filtered port, and family
    used = sorted({rule["remote_group_id"] for profile in profiles for gid in profile
                   for rule in (security_groups.get(gid) or {}).get("rules") or []
                   if rule.get("remote_group_id")})
    set_names: dict[tuple[str, int], str] = {}
    for n, gid in enumerate(used, start=1):
        members = ((security_groups.get(gid) or {}).get("members")) or {}
        for version, key, kind in ((4, "IPv4", "ipv4_addr"), (6, "IPv6", "ipv6_addr")):
            name = f"g{n}_{version}"
            set_names[(gid, version)] = name
            out += _set(name, kind, _elements(members.get(key) or [], version), True,
                        comment=f"group {gid}")
    # conntrack zone per network (its bridge), set before conntrack sees the packet
    bridges = sorted({kn.bridge(str(port["network_id"])): _zone(str(port["network_id"]))
                      for port in all_ports if port.get("network_id")}.items())
    out.append("  chain zone {")
    out.append("    type filter hook prerouting priority raw; policy accept;")
    if bridges:
        zone_map = ", ".join(f'"{brq}" : {zone}' for brq, zone in bridges)
        out.append(f"    ct zone set iifname map {{ {zone_map} }};")
    out.append("  }")
    for n, profile in enumerate(profiles, start=1):
        rules = _profile_rules(profile, security_groups, set_names)
        groups = ", ".join(profile) or "no group"
        out.append(f"  chain out_{n} {{  # egress: {groups}")
        out.append("    meta nfproto ipv4 udp sport 67 udp dport 68 drop;")
        out.append("    meta nfproto ipv4 udp sport 68 udp dport 67 return;")
        out.append("    meta nfproto ipv6 udp sport 547 udp dport 546 drop;")
        out.append("    meta nfproto ipv6 udp sport 546 udp dport 547 return;")
        out.append("    icmpv6 type nd-router-advert drop;")
        out.append(f"    icmpv6 type {{ {ICMP6_OUT} }} return;")
        out.extend(f"    {match} return;" for match in rules["egress"])
        out.append("    drop;")
        out.append("  }")
        out.append(f"  chain in_{n} {{  # ingress: {groups}")
        out.append("    meta nfproto ipv4 udp sport 67 udp dport 68 return;")
        out.append("    meta nfproto ipv6 udp sport 547 udp dport 546 return;")
        out.append(f"    icmpv6 type {{ {ICMP6_IN} }} return;")
        out.extend(f"    {match} return;" for match in rules["ingress"])
        out.append("    drop;")
        out.append("  }")
    # A flow let in under these rules carries their generation (a hash of them) as its ct
    # mark. A flow of an older generation goes through the port chains again with its next
    # packet in the original direction (replies and related packets still pass), so a
    # removed rule stops the flows it let in, as Neutron's conntrack cleanup does.
    generation = int(hashlib.sha1("\n".join(out).encode()).hexdigest()[:8], 16) | 1
    out.append("  chain forward {")
    out.append("    type filter hook forward priority filter; policy accept;")
    out.append("    meta mark 0 accept;")
    out.append("    ct state invalid drop;")
    out.append(f"    ct state established ct mark 0x{generation:08x} accept;")
    out.append("    ct state established ct direction reply accept;")
    out.append("    ct state related accept;")
    if profiles:
        numbers = range(1, len(profiles) + 1)
        out_map = ", ".join(f"0x{n << FROM_SHIFT:x} : jump out_{n}" for n in numbers)
        in_map = ", ".join(f"0x{n:x} : jump in_{n}" for n in numbers)
        out.append(f"    meta mark & 0x{MAX_PORTS << FROM_SHIFT:x} vmap {{ {out_map} }};")
        out.append(f"    meta mark & 0x{MAX_PORTS:x} vmap {{ {in_map} }};")
    out.append(f"    ct mark set 0x{generation:08x} accept;")
    out.append("  }")
    out.append("}")
    return out


def _profile_rules(profile: tuple[str, ...], security_groups: dict[str, Any],
                   set_names: dict[tuple[str, int], str]) -> dict[str, list[str]]:
    rules: dict[str, list[str]] = {"ingress": [], "egress": []}
    for gid in profile:
        for rule in (security_groups.get(gid) or {}).get("rules") or []:
            direction = rule.get("direction")
            if direction not in rules:
                continue
            match = _rule_match(rule, direction == "ingress", set_names)
            if match is not None and match not in rules[direction]:
                rules[direction].append(match)
    return rules


def render(names: KernelNames, ports: list[dict[str, Any]],
           security_groups: dict[str, Any]) -> str:
    """The ``nft -f`` script replacing the host's security group tables (pure)."""
    table = names.nft_table("sg")
    filtered = [p for p in sorted(ports, key=lambda p: str(p["id"])) if _filtered(p)]
    profiles = sorted({_profile(p) for p in filtered})
    if len(profiles) > MAX_PORTS:
        raise ValueError(f"{len(profiles)} sets of groups on one host; at most {MAX_PORTS}")
    number = {profile: n for n, profile in enumerate(profiles, start=1)}
    taps = [(kn.tap(p["id"]), _pairs(p)) for p in filtered]
    profile_of = {kn.tap(p["id"]): number[_profile(p)] for p in filtered}
    lines: list[str] = []
    for family in ("bridge", "inet"):
        lines += [f"table {family} {table} {{}}", f"delete table {family} {table}"]
    lines += _bridge_table(table, taps, profile_of)
    lines += _inet_table(table, profiles, ports, security_groups)
    return "\n".join(lines) + "\n"


@dataclass
class FirewallCache:
    """What was last loaded into each namespace (by the namespace's inode, so a namespace
    made again under the same name is loaded again)."""

    loaded: dict[str, tuple[int, str]] = field(default_factory=dict)

    def is_current(self, netns: str, text: str) -> bool:
        return self.loaded.get(netns) == (_netns_inode(netns), text)

    def remember(self, netns: str, text: str) -> None:
        self.loaded[netns] = (_netns_inode(netns), text)

    def forget(self, netns: str) -> None:
        self.loaded.pop(netns, None)


def _netns_inode(netns: str) -> int:
    try:
        return os.stat(os.path.join(run.NETNS_DIR, netns)).st_ino
    except OSError:
        return -1


def remove_firewall(netns: str, names: KernelNames, cache: FirewallCache | None = None) -> None:
    """Delete the namespace's security group tables (every port open again). Blocking."""
    table = names.nft_table("sg")
    script = "".join(f"table {family} {table} {{}}\ndelete table {family} {table}\n"
                     for family in ("bridge", "inet"))
    run.run(["nft", "-f", "-"], netns, input=script)
    if cache is not None:
        cache.forget(netns)


def _tables_present(netns: str, table: str) -> bool:
    """Whether both of the namespace's security group tables are in the kernel (one cheap
    ``nft list tables``: someone may have flushed the ruleset under the cache)."""
    try:
        out = run.run(["nft", "list", "tables"], netns)
    except run.KernelError:
        return False
    listed = {tuple(line.split()[1:3]) for line in out.splitlines() if line.startswith("table")}
    return {("bridge", table), ("inet", table)} <= listed


BRIDGE_SYSCTLS = ("net.bridge.bridge-nf-call-iptables", "net.bridge.bridge-nf-call-ip6tables")


def sync_firewall(netns: str, names: KernelNames, ports: list[dict[str, Any]],
                  security_groups: dict[str, Any], cache: FirewallCache | None = None) -> bool:
    """Make the namespace's security group tables match ``ports``; True when it loaded
    (False: ``cache`` says the same script is in place already). Blocking."""
    text = render(names, ports, security_groups)
    if cache is not None and cache.is_current(netns, text):
        if _tables_present(netns, names.nft_table("sg")):
            return False
        LOG.warning("%s: security group tables missing from the kernel; loading them again",
                    netns)
        cache.forget(netns)
    # one process for both: the sysctls (without them br_netfilter never calls the inet
    # chain and every rule is silently bypassed) and the load
    script = " && ".join(f"echo 1 > /proc/sys/{key.replace('.', '/')}"
                         for key in BRIDGE_SYSCTLS)
    run.run(["sh", "-c", f"{script} && exec nft -f -"], netns, input=text)
    if cache is not None:
        cache.remember(netns, text)
    return True
