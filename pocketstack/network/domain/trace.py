"""The path a packet takes through the virtual network, computed from the model.

:func:`load` reads the part of the model a trace needs in one transaction (:class:`Model`);
:func:`trace` follows one packet from a port to an address hop by hop: the port's tap and
egress security group, its network's bridge, the VXLAN tunnel to the host of the next hop,
a router (which interface, which route, which NAT rule), the external network, and the
destination port's ingress security group. Every hop names the kernel object that carries the
packet (namespace and device) so ``--live`` can check it against the kernel.
"""

from __future__ import annotations

import ipaddress
from dataclasses import asdict, dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from pocketstack.network import tables as t

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
PROTOCOL_NUMBERS = {"icmp": 1, "tcp": 6, "udp": 17, "icmpv6": 58, "ipv6-icmp": 58}


@dataclass
class Hop:
    what: str  # port, bridge, tunnel, router, nat, external, security-group, ...
    where: str  # host (or "network node") the hop happens on
    device: str  # the kernel object: a device, a namespace or an nft rule
    netns: str  # which of the cloud's namespaces holds it (suffix after the prefix)
    detail: str


@dataclass
class Trace:
    source: str
    destination: str
    protocol: str
    port: int | None
    hops: list[Hop] = field(default_factory=list)
    verdict: str = "delivered"  # delivered, dropped, unreachable
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Model:
    networks: dict[str, dict[str, Any]]
    subnets: dict[str, dict[str, Any]]
    ports: dict[str, dict[str, Any]]
    routers: dict[str, dict[str, Any]]
    floatingips: list[dict[str, Any]]
    groups: dict[str, dict[str, Any]]  # id -> {name, rules, members}
    tunnel_ips: dict[str, str]  # host -> underlay address

    def port_by_ip(self, network_id: str, address: str) -> dict[str, Any] | None:
        for port in self.ports.values():
            if port["network_id"] == network_id and any(
                    ip["ip_address"] == address for ip in port["fixed_ips"]):
                return port
        return None

    def subnet_of(self, network_id: str, address: IPAddress) -> dict[str, Any] | None:
        for subnet in self.subnets.values():
            if subnet["network_id"] == network_id and address in ipaddress.ip_network(
                    subnet["cidr"]):
                return subnet
        return None


def load(conn: Connection) -> Model:
    networks = {r["id"]: dict(r) for r in conn.execute(sa.select(t.networks)).mappings()}
    for seg in conn.execute(sa.select(t.segments).order_by(t.segments.c.segment_index)).mappings():
        networks.get(seg["network_id"], {}).setdefault("segment", dict(seg))
    subnets = {r["id"]: dict(r) for r in conn.execute(sa.select(t.subnets)).mappings()}
    ports = {r["id"]: {**dict(r), "fixed_ips": [], "security_group_ids": []}
             for r in conn.execute(sa.select(t.ports)).mappings()}
    for ip in conn.execute(sa.select(t.ip_allocations)).mappings():
        if ip["port_id"] in ports:
            ports[ip["port_id"]]["fixed_ips"].append(
                {"subnet_id": ip["subnet_id"], "ip_address": ip["ip_address"]})
    for row in conn.execute(sa.select(t.port_security_groups)).mappings():
        if row["port_id"] in ports:
            ports[row["port_id"]]["security_group_ids"].append(row["security_group_id"])
    groups: dict[str, dict[str, Any]] = {
        r["id"]: {"name": r["name"], "rules": [], "members": []}
        for r in conn.execute(sa.select(t.security_groups)).mappings()}
    for rule in conn.execute(sa.select(t.security_group_rules)).mappings():
        if rule["security_group_id"] in groups:
            groups[rule["security_group_id"]]["rules"].append(dict(rule))
    for port in ports.values():
        for gid in port["security_group_ids"]:
            if gid in groups:
                groups[gid]["members"] += [ip["ip_address"] for ip in port["fixed_ips"]]
    routers = {r["id"]: dict(r) for r in conn.execute(sa.select(t.routers)).mappings()}
    fips = [dict(r) for r in conn.execute(sa.select(t.floatingips)).mappings()]
    tunnel_ips: dict[str, str] = {}
    for agent in conn.execute(sa.select(t.agents)).mappings():
        tunnel = (agent["configurations"] or {}).get("tunneling_ip")
        if tunnel:
            tunnel_ips[str(agent["host"])] = str(tunnel)
    return Model(networks, subnets, ports, routers, fips, groups, tunnel_ips)


# -- security groups ----------------------------------------------------------------------------
def rule_matches(rule: dict[str, Any], remote: IPAddress, protocol: str, port: int | None,
                 groups: dict[str, dict[str, Any]]) -> bool:
    """Does a security group rule admit this packet (``remote`` is the far end's address)?"""
    family = "IPv4" if remote.version == 4 else "IPv6"
    if rule["ethertype"] != family:
        return False
    proto = rule["protocol"]
    if proto is not None and proto not in ("any", "0"):
        number = PROTOCOL_NUMBERS.get(str(proto), None)
        if number is None and str(proto).isdigit():
            number = int(proto)
        wanted = PROTOCOL_NUMBERS.get(protocol)
        if number != wanted and not (number in (1, 58) and wanted in (1, 58)):
            return False
        if protocol in ("tcp", "udp") and port is not None:
            low, high = rule["port_range_min"], rule["port_range_max"]
            if low is not None and not (low <= port <= (high if high is not None else low)):
                return False
        if protocol in ("icmp", "icmpv6") and rule["port_range_min"] is not None:
            if rule["port_range_min"] not in (8, 128):  # an echo request
                return False
    if rule["remote_ip_prefix"]:
        network = ipaddress.ip_network(rule["remote_ip_prefix"], strict=False)
        if network.version != remote.version or remote not in network:
            return False
    if rule["remote_group_id"]:
        members = groups.get(rule["remote_group_id"], {}).get("members", [])
        if str(remote) not in members:
            return False
    return True


def security_verdict(model: Model, port: dict[str, Any], direction: str, remote: IPAddress,
                     protocol: str, dport: int | None) -> tuple[bool, str]:
    """Whether the port's groups let the packet through in ``direction``, and why."""
    if not port["port_security_enabled"]:
        return True, "port security disabled: not filtered"
    if str(port["device_owner"]).startswith("network:"):
        return True, f"{port['device_owner']} port: not filtered"
    if not port["security_group_ids"]:
        return False, f"no security group: {direction} dropped"
    for gid in port["security_group_ids"]:
        group = model.groups.get(gid)
        if group is None:
            continue
        for rule in group["rules"]:
            if rule["direction"] == direction and rule_matches(rule, remote, protocol, dport,
                                                               model.groups):
                return True, (f"allowed by rule {rule['id']} of group {group['name'] or gid} "
                              f"({_describe(rule)})")
    names = ", ".join(model.groups[g]["name"] or g for g in port["security_group_ids"]
                      if g in model.groups)
    return False, f"no {direction} rule of group(s) {names} matches: dropped"


def _describe(rule: dict[str, Any]) -> str:
    parts = [rule["direction"], rule["ethertype"], rule["protocol"] or "any protocol"]
    if rule["port_range_min"] is not None:
        parts.append(f"{rule['port_range_min']}-{rule['port_range_max']}")
    if rule["remote_ip_prefix"]:
        parts.append(f"from/to {rule['remote_ip_prefix']}")
    if rule["remote_group_id"]:
        parts.append(f"group {rule['remote_group_id']}")
    return " ".join(str(p) for p in parts)


# -- the walk -------------------------------------------------------------------------------------
def _segment(network: dict[str, Any]) -> str:
    seg = network.get("segment") or {}
    kind = seg.get("network_type", "local")
    if kind in ("vxlan", "gre", "geneve", "vlan"):
        return f"{kind} {seg.get('segmentation_id')}"
    if kind == "flat":
        return f"flat on {seg.get('physical_network')}"
    return str(kind)


class _Walk:
    def __init__(self, model: Model, result: Trace, protocol: str, dport: int | None) -> None:
        self.m = model
        self.r = result
        self.protocol = protocol
        self.dport = dport

    def hop(self, what: str, where: str, device: str, netns: str, detail: str) -> None:
        self.r.hops.append(Hop(what, where, device, netns, detail))

    def stop(self, verdict: str, reason: str) -> Trace:
        self.r.verdict, self.r.reason = verdict, reason
        return self.r

    def host_of(self, port: dict[str, Any]) -> str:
        return str(port["binding_host_id"] or "")

    def cross(self, network: dict[str, Any], from_host: str, to_host: str) -> None:
        """The bridge of ``network`` on ``from_host``, and the tunnel to ``to_host``."""
        net_id = network["id"]
        self.hop("bridge", from_host, f"brq{net_id[:11]}", f"host-{from_host}",
                 f"network {network['name'] or net_id} ({_segment(network)})")
        seg = network.get("segment") or {}
        if to_host and from_host and to_host != from_host:
            if seg.get("network_type") == "vxlan":
                vni = seg.get("segmentation_id")
                self.hop("tunnel", from_host, f"vxlan-{vni}", f"host-{from_host}",
                         f"VXLAN VNI {vni} from {self.m.tunnel_ips.get(from_host, '?')} to "
                         f"{to_host} at {self.m.tunnel_ips.get(to_host, '?')} (UDP 4789 over "
                         f"the underlay)")
            elif seg.get("network_type") == "flat":
                phys = seg.get("physical_network")
                self.hop("physical", from_host, f"ph-{phys}", f"host-{from_host}",
                         f"physical network {phys} to {to_host}")
            self.hop("bridge", to_host, f"brq{net_id[:11]}", f"host-{to_host}",
                     f"network {network['name'] or net_id} on {to_host}")

    def deliver(self, port: dict[str, Any], from_host: str, source_ip: IPAddress,
                network: dict[str, Any]) -> Trace:
        to_host = self.host_of(port)
        self.cross(network, from_host, to_host)
        owner = port["device_owner"] or "no owner"
        ok, why = security_verdict(self.m, port, "ingress", source_ip, self.protocol,
                                   self.dport)
        self.hop("security-group", to_host, f"tap{port['id'][:11]}", f"host-{to_host}",
                 f"ingress to port {port['id']}: {why}")
        if not ok:
            return self.stop("dropped", f"ingress security group of port {port['id']}: {why}")
        if not port["admin_state_up"]:
            return self.stop("dropped", f"port {port['id']} is administratively down")
        self.hop("port", to_host, f"tap{port['id'][:11]}", f"host-{to_host}",
                 f"port {port['id']} ({owner} {port['device_id'] or ''})".rstrip())
        return self.stop("delivered", f"to port {port['id']} on {to_host or 'no host'}")

    def on_network(self, network: dict[str, Any], from_host: str, source_ip: IPAddress,
                   dest: IPAddress, depth: int = 0) -> Trace:
        """The packet is on ``network`` (leaving ``from_host``), bound for ``dest``."""
        if depth > 4:
            return self.stop("unreachable", "routing loop (more than 4 routers)")
        net_id = network["id"]
        if self.m.subnet_of(net_id, dest) is not None:
            target = self.m.port_by_ip(net_id, str(dest))
            if target is None:
                self.cross(network, from_host, from_host)
                return self.stop("unreachable", f"no port has {dest} on network "
                                 f"{network['name'] or net_id}: ARP gets no answer")
            return self.deliver(target, from_host, source_ip, network)
        subnet = self.m.subnet_of(net_id, source_ip)
        gateway = subnet["gateway_ip"] if subnet else None
        if gateway is None:
            self.cross(network, from_host, from_host)
            return self.stop("unreachable", f"{dest} is off network {network['name'] or net_id}"
                             " and its subnet has no gateway")
        gw_port = self.m.port_by_ip(net_id, gateway)
        if gw_port is None or not str(gw_port["device_owner"]).startswith("network:router"):
            self.cross(network, from_host, from_host)
            return self.stop("unreachable", f"the gateway {gateway} of subnet "
                             f"{subnet['cidr'] if subnet else '?'} is no router's interface")
        router = self.m.routers.get(gw_port["device_id"])
        if router is None:
            return self.stop("unreachable", f"router {gw_port['device_id']} is gone")
        node = self.host_of(gw_port)
        self.cross(network, from_host, node)
        return self.route(router, node, gw_port, source_ip, dest, depth)

    def route(self, router: dict[str, Any], node: str, inbound: dict[str, Any],
              source_ip: IPAddress, dest: IPAddress, depth: int) -> Trace:
        rid = router["id"]
        ns = f"qrouter-{rid}"
        address = inbound["fixed_ips"][0]["ip_address"] if inbound["fixed_ips"] else "?"
        self.hop("router", node, f"qr-{inbound['id'][:11]}", ns,
                 f"router {router['name'] or rid} receives on {address}")
        if not router["admin_state_up"]:
            return self.stop("dropped", f"router {router['name'] or rid} is administratively down")
        interfaces = [p for p in self.m.ports.values() if p["device_id"] == rid and
                      p["device_owner"] == "network:router_interface"]
        for port in interfaces:
            network = self.m.networks[port["network_id"]]
            if self.m.subnet_of(port["network_id"], dest) is not None:
                self.hop("router", node, f"qr-{port['id'][:11]}", ns,
                         f"connected route to {dest} via interface on "
                         f"{network['name'] or network['id']} (no NAT between the router's own "
                         "subnets)")
                return self.on_network(network, node, source_ip, dest, depth + 1)
        for route in router["routes"] or []:
            if dest in ipaddress.ip_network(route["destination"], strict=False):
                self.hop("router", node, f"route {route['destination']}", ns,
                         f"extra route {route['destination']} via {route['nexthop']}")
                nexthop = ipaddress.ip_address(route["nexthop"])
                for port in interfaces:
                    if self.m.subnet_of(port["network_id"], nexthop) is not None:
                        hopper = self.m.port_by_ip(port["network_id"], str(nexthop))
                        if hopper is None:
                            return self.stop("unreachable", f"next hop {nexthop} answers no ARP")
                        return self.deliver(hopper, node, source_ip,
                                            self.m.networks[port["network_id"]])
                return self.stop("unreachable", f"next hop {nexthop} is on none of the "
                                 "router's subnets")
        # the floating IP of another port: DNAT (hairpin through the gateway)
        for fip in self.m.floatingips:
            if fip["floating_ip_address"] == str(dest) and fip["fixed_port_id"]:
                target = self.m.ports.get(fip["fixed_port_id"])
                if target is not None:
                    self.hop("nat", node, f"DNAT {dest} -> {fip['fixed_ip_address']}", ns,
                             f"floating IP {fip['id']}")
                    fixed = ipaddress.ip_address(fip["fixed_ip_address"])
                    return self.on_network(self.m.networks[target["network_id"]], node,
                                           source_ip, fixed, depth + 1)
        gw = self.m.ports.get(router["gw_port_id"] or "")
        if gw is None:
            return self.stop("unreachable", f"router {router['name'] or rid} has no route to "
                             f"{dest} and no external gateway")
        own: dict[str, Any] | None = next(
            (f for f in self.m.floatingips if f["fixed_ip_address"] == str(source_ip)
             and f["router_id"] == rid), None)
        gw_ip = gw["fixed_ips"][0]["ip_address"] if gw["fixed_ips"] else "?"
        if own is not None:
            self.hop("nat", node, f"SNAT {source_ip} -> {own['floating_ip_address']}", ns,
                     f"floating IP {own['id']}")
            source_ip = ipaddress.ip_address(own["floating_ip_address"])
        elif router["enable_snat"]:
            self.hop("nat", node, f"SNAT {source_ip} -> {gw_ip}", ns,
                     "the router's default SNAT to its gateway address")
            source_ip = ipaddress.ip_address(gw_ip)
        else:
            self.hop("nat", node, "no SNAT", ns, "enable_snat is false: the source address "
                     "leaves unchanged")
        self.hop("router", node, f"qg-{gw['id'][:11]}", ns,
                 f"out of the gateway {gw_ip} to the external network")
        external = self.m.networks[gw["network_id"]]
        if self.m.subnet_of(external["id"], dest) is not None and self.m.port_by_ip(
                external["id"], str(dest)) is not None:
            return self.on_network(external, node, source_ip, dest, depth + 1)
        self.cross(external, node, node)
        seg = external.get("segment") or {}
        phys = seg.get("physical_network") or "?"
        ext_subnet: dict[str, Any] | None = next((s for s in self.m.subnets.values()
                           if s["network_id"] == external["id"] and s["ip_version"] ==
                           dest.version), None)
        via = ext_subnet["gateway_ip"] if ext_subnet else None
        self.hop("external", node, f"ph-{phys}", f"phys-{phys}",
                 f"onto physical network {phys}" + (f" via {via}" if via else ""))
        return self.stop("delivered", f"left the cloud on physical network {phys} "
                         f"from {source_ip}")


def trace(model: Model, source_port_id: str, destination: str, protocol: str = "icmp",
          port: int | None = None) -> Trace:
    """Follow a packet from a port to ``destination`` (an IP address)."""
    src = model.ports[source_port_id]
    dest = ipaddress.ip_address(destination)
    same_family = [ip for ip in src["fixed_ips"]
                   if ipaddress.ip_address(ip["ip_address"]).version == dest.version]
    result = Trace(source=f"port {src['id']}", destination=str(dest), protocol=protocol,
                   port=port)
    walk = _Walk(model, result, protocol, port)
    host = walk.host_of(src)
    if not same_family:
        return walk.stop("unreachable", f"port {src['id']} has no IPv{dest.version} address")
    source_ip = ipaddress.ip_address(same_family[0]["ip_address"])
    result.source = f"port {src['id']} ({source_ip})"
    walk.hop("port", host, f"tap{src['id'][:11]}", f"host-{host}",
             f"port {src['id']} of {src['device_owner'] or 'nothing'} "
             f"{src['device_id'] or ''}, MAC {src['mac_address']}".rstrip())
    if not src["admin_state_up"]:
        return walk.stop("dropped", f"port {src['id']} is administratively down")
    ok, why = security_verdict(model, src, "egress", dest, protocol, port)
    walk.hop("security-group", host, f"tap{src['id'][:11]}", f"host-{host}",
             f"egress from port {src['id']}: {why}")
    if not ok:
        return walk.stop("dropped", f"egress security group of port {src['id']}: {why}")
    return walk.on_network(model.networks[src["network_id"]], host, source_ip, dest)


def ports_of_device(model: Model, device_id: str) -> list[dict[str, Any]]:
    return [p for p in model.ports.values() if p["device_id"] == device_id]
