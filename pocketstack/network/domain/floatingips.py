"""Floating IPs: an address on an external network (held by a service port), associated
with a port's fixed IP through a router that has an interface on that IP's subnet and its
gateway on the floating network."""

from __future__ import annotations

import ipaddress
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from pocketstack.common.context import RequestContext
from pocketstack.network import errors
from pocketstack.network import tables as t
from pocketstack.network.domain import common, networks, ports, quotas
from pocketstack.network.domain.common import ListQuery

KIND = "FloatingIP"
RESOURCE = "floatingips"
OWNER = "network:floatingip"


def visible_clause(ctx: RequestContext) -> ColumnElement[bool] | None:
    if ctx.is_admin:
        return None
    return t.floatingips.c.project_id == (ctx.project_id or "")


def get_visible(conn: Connection, ctx: RequestContext, fip_id: str) -> dict[str, Any]:
    query = sa.select(t.floatingips).where(t.floatingips.c.id == fip_id)
    clause = visible_clause(ctx)
    if clause is not None:
        query = query.where(clause)
    row = conn.execute(query).mappings().first()
    if row is None:
        raise errors.not_found(KIND, fip_id, f"Floating IP {fip_id} could not be found")
    return decorate(conn, [dict(row)])[0]


def decorate(conn: Connection, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    tags = common.tags_of(conn, RESOURCE, [r["id"] for r in rows])
    return [dict(r, tags=tags[r["id"]]) for r in rows]


def list_fips(conn: Connection, ctx: RequestContext,
              q: ListQuery) -> tuple[list[dict[str, Any]], bool]:
    clause = visible_clause(ctx)
    rows, more = common.list_rows(conn, t.floatingips, RESOURCE, q,
                                  [] if clause is None else [clause], KIND)
    return decorate(conn, rows), more


def _association(conn: Connection, ctx: RequestContext, fip: dict[str, Any], port_id: str,
                 fixed_ip: str | None) -> dict[str, Any]:
    port = ports.get_visible(conn, ctx, port_id)
    if not ctx.is_admin and port["project_id"] != fip["project_id"]:
        raise errors.not_found("Port", port_id)
    v4 = [ip for ip in port["fixed_ips"] if ipaddress.ip_address(ip["ip_address"]).version == 4]
    if fixed_ip is not None:
        chosen = [ip for ip in port["fixed_ips"] if ip["ip_address"] == fixed_ip]
        if not chosen:
            raise errors.bad_request("BadRequest", f"Bad floatingip request: Port {port_id} "
                                     f"does not have fixed ip {fixed_ip}.")
    else:
        if not v4:
            raise errors.bad_request("BadRequest", f"Bad floatingip request: Port {port_id} "
                                     "does not have any IPv4 address.")
        if len(v4) > 1:
            raise errors.bad_request("BadRequest", f"Bad floatingip request: Port {port_id} "
                                     "has multiple fixed IPv4 addresses. Must provide a "
                                     "specific IPv4 address when assigning a floating IP.")
        chosen = v4
    entry = chosen[0]
    taken = conn.execute(sa.select(t.floatingips.c.id).where(
        t.floatingips.c.fixed_port_id == port_id,
        t.floatingips.c.fixed_ip_address == entry["ip_address"],
        t.floatingips.c.id != fip["id"])).first()
    if taken is not None:
        raise errors.conflict("FloatingIPPortAlreadyAssociated", f"Cannot associate floating IP "
                              f"{fip['floating_ip_address']} ({fip['id']}) with port "
                              f"{port_id} using fixed IP {entry['ip_address']}, as that fixed "
                              f"IP already has a floating IP on external network "
                              f"{fip['floating_network_id']}.")
    router_id = _router_for(conn, entry["subnet_id"], fip["floating_network_id"])
    if router_id is None:
        raise errors.not_found("ExternalGatewayForFloatingIP", fip["floating_network_id"],
                               f"External network {fip['floating_network_id']} is not "
                               f"reachable from subnet {entry['subnet_id']}.  Therefore, "
                               f"cannot associate Port {port_id} with a Floating IP.")
    return {"fixed_port_id": port_id, "fixed_ip_address": entry["ip_address"],
            "router_id": router_id, "status": "ACTIVE"}


def _router_for(conn: Connection, subnet_id: str, external_network_id: str) -> str | None:
    interface_routers = sa.select(t.ports.c.device_id).join(
        t.ip_allocations, t.ip_allocations.c.port_id == t.ports.c.id).where(
        t.ports.c.device_owner == "network:router_interface",
        t.ip_allocations.c.subnet_id == subnet_id)
    gateway_ports = sa.select(t.ports.c.id).where(t.ports.c.network_id == external_network_id,
                                                  t.ports.c.device_owner ==
                                                  "network:router_gateway")
    found = conn.execute(sa.select(t.routers.c.id).where(
        t.routers.c.id.in_(interface_routers), t.routers.c.gw_port_id.in_(gateway_ports))
        .order_by(t.routers.c.id)).first()
    return None if found is None else str(found[0])


def create(conn: Connection, ctx: RequestContext, values: dict[str, Any],
           quota_defaults: dict[str, int], binding: ports.BindingConfig,
           tags: list[str] | None = None) -> dict[str, Any]:
    network_id = values.get("floating_network_id")
    if not network_id:
        raise errors.InvalidInput("floating_network_id is required")
    network = networks.get_visible(conn, ctx, str(network_id))
    if not network["external"]:
        raise errors.bad_request("BadRequest", f"Bad floatingip request: Network {network_id} "
                                 "is not a valid external network.")
    quotas.check(conn, values["project_id"], "floatingip", quota_defaults)
    fip_id = common.new_id()
    fixed: list[dict[str, Any]] | None = None
    if values.get("floating_ip_address") or values.get("subnet_id"):
        entry: dict[str, Any] = {}
        if values.get("subnet_id"):
            entry["subnet_id"] = values["subnet_id"]
        if values.get("floating_ip_address"):
            entry["ip_address"] = values["floating_ip_address"]
        fixed = [entry]
    else:
        v4 = [s for s in network["subnets"]
              if conn.execute(sa.select(t.subnets.c.ip_version)
                              .where(t.subnets.c.id == s)).scalar() == 4]
        if not v4:
            raise errors.bad_request("BadRequest", f"Bad floatingip request: Network "
                                     f"{network_id} has no IPv4 subnet.")
        fixed = None
    port = ports.create(conn, ctx, {
        "network_id": network["id"], "project_id": "", "device_owner": OWNER,
        "device_id": fip_id, "fixed_ips": fixed}, None, binding)
    v4_ips = [ip for ip in port["fixed_ips"]
              if ipaddress.ip_address(ip["ip_address"]).version == 4]
    if not v4_ips:
        raise errors.conflict("IpAddressGenerationFailure",
                              f"No more IP addresses available on network {network_id}.")
    row = {"id": fip_id, "project_id": values["project_id"],
           "floating_network_id": network["id"], "floating_port_id": port["id"],
           "floating_ip_address": v4_ips[0]["ip_address"], "fixed_port_id": None,
           "fixed_ip_address": None, "router_id": None, "status": "DOWN",
           **common.standard(values.get("description"))}
    conn.execute(sa.insert(t.floatingips).values(**row))
    if values.get("port_id"):
        assoc = _association(conn, ctx, row, str(values["port_id"]),
                             values.get("fixed_ip_address"))
        conn.execute(sa.update(t.floatingips).where(t.floatingips.c.id == fip_id)
                     .values(**assoc))
    if tags:
        common.replace_tags(conn, RESOURCE, fip_id, tags)
    return get_visible(conn, ctx, fip_id)


def update(conn: Connection, ctx: RequestContext, fip_id: str, values: dict[str, Any],
           if_match: int | None) -> dict[str, Any]:
    fip = get_visible(conn, ctx, fip_id)
    columns: dict[str, Any] = {k: values[k] for k in ("description",) if k in values}
    if "port_id" in values:
        if values["port_id"]:
            columns.update(_association(conn, ctx, fip, str(values["port_id"]),
                                        values.get("fixed_ip_address")))
        else:
            columns.update(fixed_port_id=None, fixed_ip_address=None, router_id=None,
                           status="DOWN")
    common.update_row(conn, t.floatingips, fip_id, columns, KIND, if_match)
    return get_visible(conn, ctx, fip_id)


def delete(conn: Connection, ctx: RequestContext, fip_id: str) -> None:
    fip = get_visible(conn, ctx, fip_id)
    common.drop_tags(conn, RESOURCE, fip_id)
    conn.execute(sa.delete(t.floatingips).where(t.floatingips.c.id == fip_id))
    ports.delete(conn, ctx, fip["floating_port_id"], internal=True)
