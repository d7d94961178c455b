"""Routers: external gateway (a gateway port with external fixed IPs, SNAT), interfaces by
subnet or port (router-owned ports carrying the subnet's gateway address), extra routes."""

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

KIND = "Router"
RESOURCE = "routers"
INTERFACE = "network:router_interface"
GATEWAY = "network:router_gateway"


def visible_clause(ctx: RequestContext) -> ColumnElement[bool] | None:
    if ctx.is_admin:
        return None
    return t.routers.c.project_id == (ctx.project_id or "")


def get_visible(conn: Connection, ctx: RequestContext, router_id: str) -> dict[str, Any]:
    query = sa.select(t.routers).where(t.routers.c.id == router_id)
    clause = visible_clause(ctx)
    if clause is not None:
        query = query.where(clause)
    row = conn.execute(query).mappings().first()
    if row is None:
        raise errors.not_found(KIND, router_id)
    return decorate(conn, [dict(row)])[0]


def decorate(conn: Connection, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    gw_ids = [r["gw_port_id"] for r in rows if r["gw_port_id"]]
    gw_ports = {p["id"]: p for p in ports.decorate(conn, [dict(r) for r in conn.execute(
        sa.select(t.ports).where(t.ports.c.id.in_(gw_ids))).mappings()])} if gw_ids else {}
    tags = common.tags_of(conn, RESOURCE, [r["id"] for r in rows])
    out = []
    for row in rows:
        gw = gw_ports.get(row["gw_port_id"]) if row["gw_port_id"] else None
        info = None
        if gw is not None:
            info = {"network_id": gw["network_id"], "enable_snat": bool(row["enable_snat"]),
                    "external_fixed_ips": gw["fixed_ips"]}
        out.append(dict(row, external_gateway_info=info, tags=tags[row["id"]]))
    return out


def list_routers(conn: Connection, ctx: RequestContext,
                 q: ListQuery) -> tuple[list[dict[str, Any]], bool]:
    clause = visible_clause(ctx)
    rows, more = common.list_rows(conn, t.routers, RESOURCE, q,
                                  [] if clause is None else [clause], KIND)
    return decorate(conn, rows), more


def interface_ports(conn: Connection, router_id: str) -> list[dict[str, Any]]:
    return ports.decorate(conn, [dict(r) for r in conn.execute(
        sa.select(t.ports).where(t.ports.c.device_id == router_id,
                                 t.ports.c.device_owner == INTERFACE)).mappings()])


def _connected_subnets(conn: Connection, router_id: str) -> list[dict[str, Any]]:
    ids = [ip["subnet_id"] for p in interface_ports(conn, router_id) for ip in p["fixed_ips"]]
    if not ids:
        return []
    return [dict(r) for r in conn.execute(sa.select(t.subnets).where(t.subnets.c.id.in_(ids)))
            .mappings()]


def _routes(conn: Connection, router_id: str, values: list[Any]) -> list[dict[str, str]]:
    """Extra routes; each nexthop must lie on a subnet the router has a port on (its
    interfaces or its gateway)."""
    connected = [ipaddress.ip_network(s["cidr"]) for s in _connected_subnets(conn, router_id)]
    gw_subnets = sa.select(t.ip_allocations.c.subnet_id).join(
        t.routers, t.routers.c.gw_port_id == t.ip_allocations.c.port_id).where(
        t.routers.c.id == router_id)
    connected += [ipaddress.ip_network(r[0]) for r in conn.execute(
        sa.select(t.subnets.c.cidr).where(t.subnets.c.id.in_(gw_subnets)))]
    out: list[dict[str, str]] = []
    for route in values:
        if not isinstance(route, dict) or set(route) != {"destination", "nexthop"}:
            raise errors.InvalidRoutes(f"Invalid format for routes: {values}, the route must "
                                       "have destination and nexthop")
        try:
            dest = ipaddress.ip_network(str(route["destination"]), strict=False)
            nexthop = ipaddress.ip_address(str(route["nexthop"]))
        except ValueError:
            raise errors.InvalidRoutes(f"Invalid format for routes: {values}, bad address") \
                from None
        if not any(nexthop in net for net in connected):
            raise errors.InvalidRoutes(f"Invalid format for routes: {values}, the nexthop is "
                                       "not connected with router")
        entry = {"destination": str(dest), "nexthop": str(nexthop)}
        if entry not in out:
            out.append(entry)
    return out


def create(conn: Connection, ctx: RequestContext, values: dict[str, Any],
           quota_defaults: dict[str, int], binding: ports.BindingConfig,
           tags: list[str] | None = None) -> dict[str, Any]:
    quotas.check(conn, values["project_id"], "router", quota_defaults)
    router_id = common.new_id()
    conn.execute(sa.insert(t.routers).values(
        id=router_id, project_id=values["project_id"], name=values.get("name") or "",
        admin_state_up=values.get("admin_state_up", True), status="ACTIVE", gw_port_id=None,
        enable_snat=True, routes=[],
        availability_zone_hints=list(values.get("availability_zone_hints") or []),
        **common.standard(values.get("description"))))
    if values.get("external_gateway_info"):
        _set_gateway(conn, ctx, router_id, values["external_gateway_info"], binding)
    if tags:
        common.replace_tags(conn, RESOURCE, router_id, tags)
    return get_visible(conn, ctx, router_id)


def _set_gateway(conn: Connection, ctx: RequestContext, router_id: str,
                 info: dict[str, Any], binding: ports.BindingConfig) -> None:
    router = common.get_row(conn, t.routers, router_id, KIND)
    unknown = set(info) - {"network_id", "enable_snat", "external_fixed_ips"}
    if unknown:
        raise errors.InvalidInput(f"Unrecognized external_gateway_info attribute(s) "
                                  f"{sorted(unknown)}")
    for key in ("enable_snat", "external_fixed_ips"):
        if key in info and not ctx.is_admin:
            raise errors.PolicyNotAuthorized(f"(rule:update_router and rule:update_router:"
                                             f"external_gateway_info:{key}) is disallowed by "
                                             "policy")
    network_id = info.get("network_id")
    if not network_id:
        raise errors.InvalidInput("external_gateway_info requires network_id")
    network = networks.get_visible(conn, ctx, network_id)
    if not network["external"]:
        raise errors.bad_request("BadRequest", f"Bad router request: Network {network_id} is "
                                 "not an external network.")
    current = None
    if router["gw_port_id"]:
        current = ports.decorate(conn, [common.get_row(conn, t.ports, router["gw_port_id"],
                                                       "Port")])[0]
    enable_snat = info.get("enable_snat", True)
    fixed = info.get("external_fixed_ips")
    if current is not None and current["network_id"] == network_id and fixed is None:
        conn.execute(sa.update(t.routers).where(t.routers.c.id == router_id)
                     .values(enable_snat=enable_snat))
        return
    if current is not None:
        _check_gateway_free(conn, router_id)
        conn.execute(sa.update(t.routers).where(t.routers.c.id == router_id)
                     .values(gw_port_id=None))
        ports.delete(conn, ctx, current["id"], internal=True)
    port = ports.create(conn, ctx, {
        "network_id": network_id, "project_id": "", "device_owner": GATEWAY,
        "device_id": router_id, "fixed_ips": fixed, "admin_state_up": True,
    }, None, binding)
    if not port["fixed_ips"]:
        raise errors.bad_request("BadRequest", f"Bad router request: No subnets on external "
                                 f"network {network_id}.")
    conn.execute(sa.update(t.routers).where(t.routers.c.id == router_id)
                 .values(gw_port_id=port["id"], enable_snat=enable_snat))


def _check_gateway_free(conn: Connection, router_id: str) -> None:
    if conn.execute(sa.select(t.floatingips.c.id).where(t.floatingips.c.router_id == router_id)
                    ).first() is not None:
        raise errors.conflict("RouterExternalGatewayInUseByFloatingIp", f"Gateway cannot be "
                              f"updated for router {router_id}, since a gateway to external "
                              "network is required by one or more floating IPs.")


def update(conn: Connection, ctx: RequestContext, router_id: str, values: dict[str, Any],
           binding: ports.BindingConfig, if_match: int | None) -> dict[str, Any]:
    router = get_visible(conn, ctx, router_id)
    columns: dict[str, Any] = {k: values[k] for k in ("name", "description", "admin_state_up")
                               if k in values}
    if "routes" in values:
        columns["routes"] = _routes(conn, router_id, values["routes"] or [])
    common.update_row(conn, t.routers, router_id, columns, KIND, if_match)
    if "external_gateway_info" in values:
        info = values["external_gateway_info"]
        if info:
            _set_gateway(conn, ctx, router_id, info, binding)
        elif router["gw_port_id"]:
            _check_gateway_free(conn, router_id)
            conn.execute(sa.update(t.routers).where(t.routers.c.id == router_id)
                         .values(gw_port_id=None))
            ports.delete(conn, ctx, router["gw_port_id"], internal=True)
    return get_visible(conn, ctx, router_id)


def delete(conn: Connection, ctx: RequestContext, router_id: str) -> None:
    router = get_visible(conn, ctx, router_id)
    if interface_ports(conn, router_id):
        raise errors.conflict("RouterInUse", f"Router {router_id} still has ports")
    _check_gateway_free(conn, router_id)
    if router["gw_port_id"]:
        conn.execute(sa.update(t.routers).where(t.routers.c.id == router_id)
                     .values(gw_port_id=None))
        ports.delete(conn, ctx, router["gw_port_id"], internal=True)
    common.drop_tags(conn, RESOURCE, router_id)
    conn.execute(sa.delete(t.routers).where(t.routers.c.id == router_id))


def _interface_info(router: dict[str, Any], port: dict[str, Any],
                    subnet_id: str) -> dict[str, Any]:
    return {"id": router["id"], "tenant_id": router["project_id"],
            "project_id": router["project_id"], "port_id": port["id"],
            "network_id": port["network_id"], "subnet_id": subnet_id,
            "subnet_ids": [ip["subnet_id"] for ip in port["fixed_ips"]]}


def _check_no_overlap(conn: Connection, router_id: str, subnet: dict[str, Any]) -> None:
    new = ipaddress.ip_network(subnet["cidr"])
    for other in _connected_subnets(conn, router_id):
        if other["id"] == subnet["id"]:
            raise errors.bad_request("BadRequest", f"Bad router request: Router already has a "
                                     f"port on subnet {subnet['id']}.")
        if ipaddress.ip_network(other["cidr"]).overlaps(new):  # type: ignore[arg-type]
            raise errors.bad_request("BadRequest", f"Bad router request: Cidr {new} of subnet "
                                     f"{subnet['id']} overlaps with cidr {other['cidr']} of "
                                     f"subnet {other['id']}.")


def add_interface(conn: Connection, ctx: RequestContext, router_id: str,
                  body: dict[str, Any], binding: ports.BindingConfig) -> dict[str, Any]:
    router = get_visible(conn, ctx, router_id)
    subnet_id, port_id = body.get("subnet_id"), body.get("port_id")
    if subnet_id and port_id:
        raise errors.bad_request("BadRequest", "Bad router request: Cannot specify both "
                                 "subnet-id and port-id.")
    if not subnet_id and not port_id:
        raise errors.bad_request("BadRequest", "Bad router request: Either subnet_id or "
                                 "port_id must be specified.")
    from pocketstack.network.domain import subnets

    if port_id:
        port = ports.get_visible(conn, ctx, str(port_id))
        if port["device_id"] or port["device_owner"]:
            raise errors.conflict("PortInUse", f"Unable to complete operation on port "
                                  f"{port_id} for network {port['network_id']}. Port already "
                                  f"has an attached device {port['device_id']}.")
        if not port["fixed_ips"]:
            raise errors.bad_request("BadRequest", "Bad router request: Router port must "
                                     "have at least one fixed IP.")
        for ip in port["fixed_ips"]:
            _check_no_overlap(conn, router_id, subnets.get_visible(conn, ctx, ip["subnet_id"]))
        conn.execute(sa.update(t.ports).where(t.ports.c.id == port["id"]).values(
            device_id=router_id, device_owner=INTERFACE, status="ACTIVE"))
        conn.execute(sa.delete(t.port_security_groups)
                     .where(t.port_security_groups.c.port_id == port["id"]))
        common.bump(conn, t.ports, port["id"])
        common.bump(conn, t.routers, router_id)
        return _interface_info(router, port, port["fixed_ips"][0]["subnet_id"])
    subnet = subnets.get_visible(conn, ctx, str(subnet_id))
    if not subnet["gateway_ip"]:
        raise errors.bad_request("BadRequest", "Bad router request: Subnet for router "
                                 "interface must have a gateway IP.")
    _check_no_overlap(conn, router_id, subnet)
    port = ports.create(conn, ctx, {
        "network_id": subnet["network_id"], "project_id": router["project_id"],
        "device_owner": INTERFACE, "device_id": router_id,
        "fixed_ips": [{"subnet_id": subnet["id"], "ip_address": subnet["gateway_ip"]}],
    }, None, binding)
    common.bump(conn, t.routers, router_id)
    return _interface_info(router, port, subnet["id"])


def remove_interface(conn: Connection, ctx: RequestContext, router_id: str,
                     body: dict[str, Any]) -> dict[str, Any]:
    router = get_visible(conn, ctx, router_id)
    subnet_id, port_id = body.get("subnet_id"), body.get("port_id")
    if not subnet_id and not port_id:
        raise errors.bad_request("BadRequest", "Bad router request: Either subnet_id or "
                                 "port_id must be specified.")
    attached = interface_ports(conn, router_id)
    found = None
    for port in attached:
        if port_id and port["id"] != port_id:
            continue
        if subnet_id and not any(ip["subnet_id"] == subnet_id for ip in port["fixed_ips"]):
            continue
        found = port
        break
    if found is None:
        if port_id:
            raise errors.not_found("RouterInterface", str(port_id),
                                   f"Router {router_id} does not have an interface with id "
                                   f"{port_id}")
        raise errors.not_found("RouterInterfaceNotFoundForSubnet", str(subnet_id),
                               f"Router {router_id} has no interface on subnet {subnet_id}")
    subnet_ids = [ip["subnet_id"] for ip in found["fixed_ips"]]
    cidrs = [ipaddress.ip_network(r[0]) for r in conn.execute(
        sa.select(t.subnets.c.cidr).where(t.subnets.c.id.in_(subnet_ids)))]
    for fip in conn.execute(sa.select(t.floatingips).where(
            t.floatingips.c.router_id == router_id)).mappings():
        if fip["fixed_ip_address"] and any(ipaddress.ip_address(fip["fixed_ip_address"]) in c
                                           for c in cidrs):
            raise errors.conflict("RouterInterfaceInUseByFloatingIP", f"Router interface for "
                                  f"subnet {subnet_ids[0]} on router {router_id} cannot be "
                                  "deleted, as it is required by one or more floating IPs.")
    for route in router["routes"]:
        if any(ipaddress.ip_address(route["nexthop"]) in c for c in cidrs):
            raise errors.conflict("RouterInterfaceInUseByRoute", f"Router interface for subnet "
                                  f"{subnet_ids[0]} on router {router_id} cannot be deleted, "
                                  "as it is required by one or more routes.")
    info = _interface_info(router, found, subnet_id or subnet_ids[0])
    ports.delete(conn, ctx, found["id"], internal=True)
    common.bump(conn, t.routers, router_id)
    return info
