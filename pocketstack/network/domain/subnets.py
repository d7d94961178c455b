"""Subnets: CIDR, gateway and pool validation (IPv4 and IPv6, SLAAC modes), prefixes from
subnet pools, overlap refusal within a network, update, and delete (refused while ports hold
addresses from it)."""

from __future__ import annotations

import ipaddress
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from pocketstack.common.context import RequestContext
from pocketstack.network import errors
from pocketstack.network import tables as t
from pocketstack.network.domain import common, ipam, networks, quotas, subnetpools
from pocketstack.network.domain.common import ListQuery

KIND = "Subnet"
RESOURCE = "subnets"
IPV6_MODES = ("slaac", "dhcpv6-stateful", "dhcpv6-stateless")


def visible_clause(ctx: RequestContext) -> ColumnElement[bool] | None:
    """Subnets the caller owns or that lie on a network shared with it (an external
    network's subnets are not listed to other projects, as in Neutron)."""
    net_clause = networks.visible_clause(ctx, with_external=False)
    if net_clause is None:
        return None
    return sa.or_(t.subnets.c.project_id == (ctx.project_id or ""),
                  t.subnets.c.network_id.in_(sa.select(t.networks.c.id).where(net_clause)))


def get_visible(conn: Connection, ctx: RequestContext, subnet_id: str) -> dict[str, Any]:
    query = sa.select(t.subnets).where(t.subnets.c.id == subnet_id)
    clause = visible_clause(ctx)
    if clause is not None:
        query = query.where(clause)
    row = conn.execute(query).mappings().first()
    if row is None:
        raise errors.not_found(KIND, subnet_id)
    return decorate(conn, [dict(row)])[0]


def decorate(conn: Connection, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    tags = common.tags_of(conn, RESOURCE, [r["id"] for r in rows])
    return [dict(r, tags=tags[r["id"]]) for r in rows]


def list_subnets(conn: Connection, ctx: RequestContext,
                 q: ListQuery) -> tuple[list[dict[str, Any]], bool]:
    clause = visible_clause(ctx)
    rows, more = common.list_rows(conn, t.subnets, RESOURCE, q,
                                  [] if clause is None else [clause], KIND)
    return decorate(conn, rows), more


def of_network(conn: Connection, network_id: str) -> list[dict[str, Any]]:
    return [dict(r) for r in conn.execute(
        sa.select(t.subnets).where(t.subnets.c.network_id == network_id)
        .order_by(t.subnets.c.created_at, t.subnets.c.id)).mappings()]


def _ip(value: Any, what: str) -> str:
    try:
        return str(ipaddress.ip_address(str(value)))
    except ValueError:
        raise errors.InvalidInput(f"'{value}' is not a valid IP address") from None


def _nameservers(values: list[Any]) -> list[str]:
    out: list[str] = []
    for value in values:
        address = _ip(value, "nameserver")
        if address in out:
            raise errors.InvalidInput(f"Duplicate nameserver '{value}'")
        out.append(address)
    return out


def _host_routes(values: list[Any], version: int) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    for route in values:
        if not isinstance(route, dict) or set(route) != {"destination", "nexthop"}:
            raise errors.InvalidInput(f"Invalid data format for hostroute: '{route}'")
        try:
            dest = ipaddress.ip_network(str(route["destination"]), strict=False)
        except ValueError:
            raise errors.InvalidInput(f"'{route['destination']}' is not a valid IP "
                                      "subnet") from None
        nexthop = _ip(route["nexthop"], "nexthop")
        if dest.version != version or ipaddress.ip_address(nexthop).version != version:
            raise errors.InvalidInput(f"Invalid route {route} for an IPv{version} subnet")
        entry = {"destination": str(dest), "nexthop": nexthop}
        if entry in out:
            raise errors.InvalidInput(f"Duplicate hostroute '{route}'")
        out.append(entry)
    return out


def _gateway(net: ipam.IPNetwork, value: Any) -> str | None:
    if value is None:
        return None
    gateway = _ip(value, "gateway")
    ip = ipaddress.ip_address(gateway)
    if ip.version != net.version:
        raise errors.InvalidInput("Gateway IP version inconsistent with allocation pool "
                                  "version")
    if net.version == 4 and net.prefixlen < 31 and ip in (net.network_address,
                                                          net.broadcast_address):
        raise errors.InvalidInput(f"Gateway is not valid on subnet {net}")
    return gateway


def _check_ipv6_modes(version: int, ra: str | None, addr: str | None, enable_dhcp: bool,
                      net: ipam.IPNetwork) -> None:
    for mode in (ra, addr):
        if mode is not None and mode not in IPV6_MODES:
            raise errors.InvalidInput(f"'{mode}' is not in {list(IPV6_MODES)}")
    if ra is None and addr is None:
        return
    if version != 6:
        raise errors.InvalidInput("ipv6_ra_mode or ipv6_address_mode cannot be set when "
                                  "ip_version is 4")
    if not enable_dhcp:
        raise errors.InvalidInput("ipv6_ra_mode or ipv6_address_mode cannot be set when "
                                  "enable_dhcp is set to False")
    if ra is not None and addr is not None and ra != addr:
        raise errors.InvalidInput(f"ipv6_ra_mode set to '{ra}' with ipv6_address_mode set to "
                                  f"'{addr}' is not valid. If both attributes are set, they "
                                  "must be the same value")
    if addr in ipam.AUTO_MODES and net.prefixlen != 64:
        raise errors.InvalidInput(f"Invalid CIDR {net} for IPv6 address mode. OpenStack uses "
                                  "the EUI-64 address format, which requires the prefix to "
                                  "be /64")


def _check_overlap(conn: Connection, network_id: str, net: ipam.IPNetwork,
                   skip: str | None = None) -> None:
    for other in of_network(conn, network_id):
        if other["id"] == skip:
            continue
        if ipaddress.ip_network(other["cidr"]).overlaps(net):  # type: ignore[arg-type]
            raise errors.InvalidInput(f"Requested subnet with cidr: {net} for network: "
                                      f"{network_id} overlaps with another subnet")


def create(conn: Connection, ctx: RequestContext, values: dict[str, Any],
           quota_defaults: dict[str, int], tags: list[str] | None = None) -> dict[str, Any]:
    network = networks.get_visible(conn, ctx, values["network_id"])
    if not ctx.is_admin and network["project_id"] != ctx.project_id:
        raise errors.PolicyNotAuthorized("(rule:create_subnet) is disallowed by policy")
    project_id = values["project_id"]
    quotas.check(conn, project_id, "subnet", quota_defaults)
    version = values.get("ip_version")
    pool = None
    pool_id = values.get("subnetpool_id")
    if pool_id is None and values.get("use_default_subnetpool"):
        pool_id = subnetpools.default_id(conn, version or 4)
        if pool_id is None:
            raise errors.InvalidInput(f"No default subnetpool found for IPv{version or 4}")
    if pool_id is not None:
        pool = subnetpools.get_visible(conn, ctx, pool_id)
    cidr_text = values.get("cidr")
    if cidr_text is None:
        if pool is None:
            raise errors.bad_request("BadRequest", "Bad subnets request: a cidr must be "
                                     "specified in the absence of a subnet pool.")
        net = subnetpools.allocate_prefix(conn, pool, values.get("prefixlen"))
    else:
        try:
            net = ipaddress.ip_network(str(cidr_text), strict=False)
        except ValueError:
            raise errors.InvalidInput(f"'{cidr_text}' is not a valid IP subnet") from None
        if str(net) != str(cidr_text) and "/" in str(cidr_text):
            raise errors.InvalidInput(f"'{cidr_text}' isn't a recommended CIDR, '{net}' "
                                      "should be specified instead")
        if "/" not in str(cidr_text):
            raise errors.InvalidInput(f"'{cidr_text}' is not a valid IP subnet")
        if pool is not None:
            subnetpools.claim_prefix(conn, pool, net)
    if version is None:
        version = net.version
    if version != net.version:
        raise errors.InvalidInput("Invalid CIDR for IP version")
    if net.version == 4 and net.prefixlen == 0:
        raise errors.InvalidInput("0.0.0.0/0 is not allowed as a subnet")
    enable_dhcp = values.get("enable_dhcp", True)
    ra, addr_mode = values.get("ipv6_ra_mode"), values.get("ipv6_address_mode")
    _check_ipv6_modes(version, ra, addr_mode, enable_dhcp, net)
    _check_overlap(conn, network["id"], net)
    if "gateway_ip" in values:
        gateway = _gateway(net, values["gateway_ip"])
    else:
        low, _ = ipam.host_bounds(net)
        gateway = str(ipaddress.ip_address(low)) if net.num_addresses > 2 else None
    if values.get("allocation_pools"):
        pools = ipam.check_pools(net, values["allocation_pools"], gateway)
    else:
        pools = ipam.default_pools(net, gateway)
    subnet_id = common.new_id()
    row = {
        "id": subnet_id, "project_id": project_id, "network_id": network["id"],
        "name": values.get("name") or "", "ip_version": version, "cidr": str(net),
        "gateway_ip": gateway, "enable_dhcp": enable_dhcp, "ipv6_ra_mode": ra,
        "ipv6_address_mode": addr_mode, "subnetpool_id": pool["id"] if pool else None,
        "allocation_pools": pools,
        "dns_nameservers": _nameservers(values.get("dns_nameservers") or []),
        "host_routes": _host_routes(values.get("host_routes") or [], version),
        "service_types": list(values.get("service_types") or []),
        **common.standard(values.get("description")),
    }
    conn.execute(sa.insert(t.subnets).values(**row))
    if ipam.is_auto_address(row):
        _address_existing_ports(conn, row)
    if tags:
        common.replace_tags(conn, RESOURCE, subnet_id, tags)
    common.bump(conn, t.networks, network["id"])
    return get_visible(conn, ctx, subnet_id)


def _address_existing_ports(conn: Connection, subnet: dict[str, Any]) -> None:
    """A new SLAAC subnet gives every (non-router) port on the network its EUI-64 address."""
    for port in conn.execute(sa.select(t.ports.c.id, t.ports.c.mac_address,
                                       t.ports.c.device_owner)
                             .where(t.ports.c.network_id == subnet["network_id"])):
        if port.device_owner in ipam.ROUTER_OWNERS:
            continue
        address = ipam.eui64(subnet["cidr"], port.mac_address)
        conn.execute(sa.insert(t.ip_allocations).values(
            **ipam.allocation(subnet, address, port.id)))
        common.bump(conn, t.ports, port.id)


def update(conn: Connection, ctx: RequestContext, subnet_id: str, values: dict[str, Any],
           if_match: int | None) -> dict[str, Any]:
    current = get_visible(conn, ctx, subnet_id)
    net = ipaddress.ip_network(current["cidr"])
    for key in ("cidr", "ip_version", "network_id", "subnetpool_id", "ipv6_ra_mode",
                "ipv6_address_mode", "prefixlen"):
        if key in values and values[key] != current.get(key):
            raise errors.HTTPBadRequest(f"Cannot update read-only attribute {key}")
    columns: dict[str, Any] = {}
    for key in ("name", "description", "enable_dhcp"):
        if key in values:
            columns[key] = values[key]
    gateway = current["gateway_ip"]
    if "gateway_ip" in values:
        gateway = columns["gateway_ip"] = _gateway(net, values["gateway_ip"])
    if "allocation_pools" in values:
        columns["allocation_pools"] = ipam.check_pools(net, values["allocation_pools"] or [],
                                                       gateway)
    elif "gateway_ip" in values and gateway is not None:
        ipam.check_pools(net, current["allocation_pools"], gateway)
    if "dns_nameservers" in values:
        columns["dns_nameservers"] = _nameservers(values["dns_nameservers"] or [])
    if "host_routes" in values:
        columns["host_routes"] = _host_routes(values["host_routes"] or [], net.version)
    if columns.get("enable_dhcp") is False and current["ipv6_address_mode"]:
        raise errors.InvalidInput("ipv6_ra_mode or ipv6_address_mode cannot be set when "
                                  "enable_dhcp is set to False")
    common.update_row(conn, t.subnets, subnet_id, columns, KIND, if_match)
    return get_visible(conn, ctx, subnet_id)


def delete(conn: Connection, ctx: RequestContext, subnet_id: str) -> None:
    subnet = get_visible(conn, ctx, subnet_id)
    auto = ipam.is_auto_address(subnet)
    holders = conn.execute(
        sa.select(t.ports.c.id, t.ports.c.device_owner)
        .join(t.ip_allocations, t.ip_allocations.c.port_id == t.ports.c.id)
        .where(t.ip_allocations.c.subnet_id == subnet_id)).all()
    for holder in holders:
        if holder.device_owner in networks.SERVICE_OWNERS:
            continue
        if auto and holder.device_owner not in ipam.ROUTER_OWNERS:
            continue
        raise errors.conflict("SubnetInUse", f"Unable to complete operation on subnet "
                              f"{subnet_id}: One or more ports have an IP allocation from "
                              "this subnet.")
    conn.execute(sa.delete(t.ip_allocations).where(t.ip_allocations.c.subnet_id == subnet_id))
    for holder in holders:  # ports that lost an (automatic or service) address
        common.bump(conn, t.ports, holder.id)
    common.drop_tags(conn, RESOURCE, subnet_id)
    conn.execute(sa.delete(t.subnets).where(t.subnets.c.id == subnet_id))
    common.bump(conn, t.networks, subnet["network_id"])
