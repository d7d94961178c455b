"""IP address management: default and requested allocation pools, SLAAC/EUI-64 addresses,
and allocating fixed IPs so that no address is ever handed out twice (the primary key
(subnet, address) settles concurrent writers; a losing insert moves to the next address).
"""

from __future__ import annotations

import ipaddress
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from pocketstack.network import errors
from pocketstack.network import tables as t

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
AUTO_MODES = ("slaac", "dhcpv6-stateless")
ROUTER_OWNERS = ("network:router_interface", "network:router_interface_distributed",
                 "network:ha_router_replicated_interface", "network:router_gateway")


def is_auto_address(subnet: dict[str, Any]) -> bool:
    return subnet["ip_version"] == 6 and subnet.get("ipv6_address_mode") in AUTO_MODES


def host_bounds(net: IPNetwork) -> tuple[int, int]:
    """First and last address a port may get (IPv4 skips network and broadcast; IPv6 skips
    the subnet-router anycast address)."""
    first = int(net.network_address)
    last = int(net.broadcast_address)
    if net.version == 4:
        if net.prefixlen >= 31:
            return first, last
        return first + 1, last - 1
    if net.prefixlen == 128:
        return first, last
    return first + 1, last


def default_pools(net: IPNetwork, gateway: str | None) -> list[dict[str, str]]:
    low, high = host_bounds(net)
    spans = [(low, high)]
    if gateway is not None:
        gw = int(ipaddress.ip_address(gateway))
        spans = []
        if low <= gw - 1:
            spans.append((low, min(high, gw - 1)))
        if gw + 1 <= high:
            spans.append((max(low, gw + 1), high))
        if not low <= gw <= high:
            spans = [(low, high)]
    cls = ipaddress.ip_address
    return [{"start": str(cls(a) if net.version == 4 else ipaddress.IPv6Address(a)),
             "end": str(cls(b) if net.version == 4 else ipaddress.IPv6Address(b))}
            for a, b in spans if a <= b]


def _addr(net: IPNetwork, value: int) -> str:
    return str(ipaddress.IPv4Address(value) if net.version == 4 else ipaddress.IPv6Address(value))


def check_pools(net: IPNetwork, pools: list[dict[str, Any]],
                gateway: str | None) -> list[dict[str, str]]:
    """Validate requested pools: well-formed, inside the subnet, not overlapping, and clear of
    the gateway."""
    spans = []
    for pool in pools:
        if not isinstance(pool, dict):
            raise errors.InvalidAllocationPool(f"The allocation pool {pool!r} is not valid.")
        text = f"{pool.get('start')}-{pool.get('end')}"
        try:
            start = ipaddress.ip_address(str(pool["start"]))
            end = ipaddress.ip_address(str(pool["end"]))
        except (KeyError, ValueError, TypeError):
            raise errors.InvalidAllocationPool(
                f"The allocation pool {text} is not valid.") from None
        if start.version != net.version or end.version != net.version or int(start) > int(end):
            raise errors.InvalidAllocationPool(f"The allocation pool {text} is not valid.")
        low, high = host_bounds(net)
        if int(start) < low or int(end) > high:
            raise errors.bad_request(
                "OutOfBoundsAllocationPool", f"The allocation pool {text} spans beyond the "
                f"subnet cidr {net}.")
        spans.append((int(start), int(end), text))
    spans.sort()
    for (a_start, a_end, a_text), (b_start, _b_end, b_text) in zip(spans, spans[1:],
                                                                    strict=False):
        if b_start <= a_end:
            raise errors.OverlappingAllocationPools(
                f"Found overlapping allocation pools: {a_text} and {b_text} for subnet {net}.")
        del a_start
    if gateway is not None:
        gw = int(ipaddress.ip_address(gateway))
        for start_i, end_i, text in spans:
            if start_i <= gw <= end_i:
                raise errors.GatewayConflictWithAllocationPools(
                    f"Gateway ip {gateway} conflicts with allocation pool {text}")
    return [{"start": _addr(net, a), "end": _addr(net, b)} for a, b, _ in spans]


def eui64(prefix: str, mac: str) -> str:
    """The SLAAC address of ``mac`` in a /64 (RFC 4291 modified EUI-64)."""
    net = ipaddress.IPv6Network(prefix)
    octets = [int(part, 16) for part in mac.split(":")]
    octets[0] ^= 0x02
    iid = bytes(octets[:3] + [0xFF, 0xFE] + octets[3:])
    return str(ipaddress.IPv6Address(int(net.network_address) | int.from_bytes(iid, "big")))


#: offsets at or past this are not indexed (EUI-64 addresses); pools are searched below it
MAX_OFFSET = 2 ** 62


def offset_of(cidr: str, address: str) -> int | None:
    """The address's offset in its subnet, or None when it is too large to index (EUI-64)."""
    offset = int(ipaddress.ip_address(address)) - int(ipaddress.ip_network(cidr).network_address)
    return offset if 0 <= offset < MAX_OFFSET else None


def allocation(subnet: dict[str, Any], address: str, port_id: str) -> dict[str, Any]:
    return {"subnet_id": subnet["id"], "ip_address": address, "port_id": port_id,
            "network_id": subnet["network_id"], "ip_offset": offset_of(subnet["cidr"], address)}


def _claim(conn: Connection, subnet: dict[str, Any], address: str, port_id: str) -> bool:
    try:
        with conn.begin_nested():
            conn.execute(sa.insert(t.ip_allocations).values(
                **allocation(subnet, address, port_id)))
        return True
    except IntegrityError:
        return False


def allocate_specific(conn: Connection, subnet: dict[str, Any], address: str, port_id: str,
                      device_owner: str) -> str:
    net = ipaddress.ip_network(subnet["cidr"])
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        raise errors.InvalidInput(f"'{address}' is not a valid IP address") from None
    low, high = host_bounds(net)
    if ip.version != net.version or not low <= int(ip) <= high:
        raise errors.bad_request("InvalidIpForSubnet", f"IP address {address} is not a valid "
                                 f"IP for the specified subnet.")
    canonical = str(ip)
    if canonical == subnet["gateway_ip"] and device_owner not in ROUTER_OWNERS:
        raise already_allocated(canonical, subnet["id"])
    if not _claim(conn, subnet, canonical, port_id):
        raise already_allocated(canonical, subnet["id"])
    return canonical


def already_allocated(address: str, subnet_id: str) -> Exception:
    return errors.conflict("IpAddressAlreadyAllocated",
                           f"IP address {address} already allocated in subnet {subnet_id}")


def _lowest_free(conn: Connection, subnet_id: str, low: int, high: int) -> int | None:
    """The lowest offset in [low, high] with no allocation (one indexed anti-join)."""
    a = t.ip_allocations
    first = conn.execute(sa.select(a.c.ip_offset).where(
        a.c.subnet_id == subnet_id, a.c.ip_offset == low)).first()
    if first is None:
        return low
    b = a.alias("b")
    gap = conn.execute(
        sa.select(sa.func.min(a.c.ip_offset + 1)).where(
            a.c.subnet_id == subnet_id, a.c.ip_offset >= low, a.c.ip_offset < high,
            ~sa.exists().where(b.c.subnet_id == subnet_id,
                               b.c.ip_offset == a.c.ip_offset + 1))).scalar()
    return None if gap is None else int(gap)


def allocate_any(conn: Connection, subnet: dict[str, Any], port_id: str) -> str | None:
    """The lowest free address of the subnet's pools, or None when they are full."""
    net = ipaddress.ip_network(subnet["cidr"])
    base = int(net.network_address)
    for pool in subnet["allocation_pools"]:
        low = int(ipaddress.ip_address(pool["start"])) - base
        # an IPv6 pool is far larger than any number of ports: search its indexable part
        high = min(int(ipaddress.ip_address(pool["end"])) - base, MAX_OFFSET - 1)
        for _attempt in range(1000):
            if low > high:
                break
            candidate = _lowest_free(conn, subnet["id"], low, high)
            if candidate is None or candidate > high:
                break
            address = _addr(net, base + candidate)
            if _claim(conn, subnet, address, port_id):
                return address
            low = candidate  # taken meanwhile by another writer: look again from here
    return None


def release_port(conn: Connection, port_id: str) -> None:
    conn.execute(sa.delete(t.ip_allocations).where(t.ip_allocations.c.port_id == port_id))
