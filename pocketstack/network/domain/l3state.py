"""What the L3 agent of the network host serves (``network.rpc`` ops ``l3_state`` and
``set_floatingip_status``).

``l3_state`` binds every router port (interfaces and gateways) to the network host, as
Neutron's L3 scheduler does, so that host's L2 agent wires their taps into the bridges; it
answers each router with its gateway port (addresses with prefix length and the external
subnet's gateway), its interface ports (addresses with their subnet's CIDR), extra routes
and associated floating IPs. ``set_floatingip_status`` writes back what the agent made real
(Neutron: a floating IP is ACTIVE once its router's agent configured it).
"""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from pocketstack.common.context import RequestContext
from pocketstack.network import tables as t
from pocketstack.network.domain import agents, common, ports, segments
from pocketstack.network.domain.routers import GATEWAY, INTERFACE

if TYPE_CHECKING:
    from pocketstack.network.service import NetworkService

_ADMIN = RequestContext(roles=["admin"])
FIP_STATUSES = ("ACTIVE", "DOWN", "ERROR")
ROUTER_STATUSES = ("ACTIVE", "ERROR")


# -- the ops ------------------------------------------------------------------------------------
def l3_state(service: NetworkService, msg: dict[str, Any]) -> dict[str, Any]:
    """``{host}`` -> ``{routers: [...]}`` (see :func:`routers_of`); binds router ports first."""
    host = str(msg["host"])
    unbound = service.db.read(ports_to_bind, host, service.binding.agent_down_time)
    if unbound:
        service.db.write(bind_ports, unbound, host, service.binding)
        service.changed("ports", unbound)
    return {"routers": service.db.read(routers_of)}


def set_floatingip_status(service: NetworkService, msg: dict[str, Any]) -> dict[str, Any]:
    """``{statuses: {fip id: ACTIVE|DOWN|ERROR}, routers: {router id: ACTIVE|ERROR}}``."""
    fips = {str(k): str(v) for k, v in dict(msg.get("statuses") or {}).items()}
    routers = {str(k): str(v) for k, v in dict(msg.get("routers") or {}).items()}
    for value in fips.values():
        if value not in FIP_STATUSES:
            raise ValueError(f"floating IP status must be one of {FIP_STATUSES}, not {value!r}")
    for value in routers.values():
        if value not in ROUTER_STATUSES:
            raise ValueError(f"router status must be one of {ROUTER_STATUSES}, not {value!r}")
    if fips or routers:
        service.db.write(write_statuses, fips, routers)
    return {}


# -- domain functions (one transaction each) ----------------------------------------------------
def _router_ports(conn: Connection) -> list[dict[str, Any]]:
    return [dict(r) for r in conn.execute(sa.select(t.ports).where(
        t.ports.c.device_owner.in_((INTERFACE, GATEWAY)),
        t.ports.c.device_id.in_(sa.select(t.routers.c.id)))).mappings()]


def ports_to_bind(conn: Connection, host: str, down_time: int) -> list[str]:
    """Router ports not bound to ``host`` yet, or whose binding failed there while an L2
    agent now serves them."""
    out = []
    rows = _router_ports(conn)
    segs = segments.of_networks(conn, sorted({r["network_id"] for r in rows}))
    for row in rows:
        if row["binding_host_id"] != host:
            out.append(row["id"])
        elif row["binding_vif_type"] in ("unbound", "binding_failed") and \
                agents.l2_agent_serving(conn, host, segs[row["network_id"]], down_time):
            out.append(row["id"])
    return sorted(out)


def bind_ports(conn: Connection, port_ids: list[str], host: str,
               binding: ports.BindingConfig) -> None:
    for port_id in port_ids:
        if conn.execute(sa.select(t.ports.c.id).where(t.ports.c.id == port_id)).first():
            ports.update(conn, _ADMIN, port_id, {"binding:host_id": host}, binding, None)


def _addresses(conn: Connection, port_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {p: [] for p in port_ids}
    if not port_ids:
        return out
    a, s = t.ip_allocations, t.subnets
    for row in conn.execute(sa.select(a.c.port_id, a.c.ip_address, a.c.subnet_id, s.c.cidr,
                                      s.c.gateway_ip)
                            .join(s, s.c.id == a.c.subnet_id)
                            .where(a.c.port_id.in_(port_ids))).mappings():
        net = ipaddress.ip_network(row["cidr"])
        out[row["port_id"]].append({"ip_address": row["ip_address"],
                                    "prefixlen": net.prefixlen, "subnet_id": row["subnet_id"],
                                    "cidr": str(net), "gateway_ip": row["gateway_ip"]})
    for entries in out.values():
        entries.sort(key=lambda e: (ipaddress.ip_address(e["ip_address"]).version,
                                    int(ipaddress.ip_address(e["ip_address"]))))
    return out


def _port_view(port: dict[str, Any], mtu: dict[str, int], addresses: list[dict[str, Any]],
               keys: tuple[str, ...]) -> dict[str, Any]:
    return {"port_id": port["id"], "mac_address": port["mac_address"],
            "network_id": port["network_id"], "mtu": mtu.get(port["network_id"], 1500),
            "fixed_ips": [{k: a[k] for k in ("ip_address", "prefixlen", "subnet_id", *keys)}
                          for a in addresses]}


def routers_of(conn: Connection) -> list[dict[str, Any]]:
    """Every router as the L3 agent needs it (the single network host serves them all)."""
    router_rows = [dict(r) for r in conn.execute(
        sa.select(t.routers).order_by(t.routers.c.id)).mappings()]
    port_rows = _router_ports(conn)
    by_id = {p["id"]: p for p in port_rows}
    addresses = _addresses(conn, list(by_id))
    network_ids = sorted({p["network_id"] for p in port_rows})
    mtu = {r[0]: int(r[1]) for r in conn.execute(
        sa.select(t.networks.c.id, t.networks.c.mtu).where(t.networks.c.id.in_(network_ids)))}
    interfaces: dict[str, list[dict[str, Any]]] = {r["id"]: [] for r in router_rows}
    for port in sorted(port_rows, key=lambda p: p["id"]):
        if port["device_owner"] == INTERFACE and port["device_id"] in interfaces:
            interfaces[port["device_id"]].append(
                _port_view(port, mtu, addresses[port["id"]], ("cidr",)))
    fips: dict[str, list[dict[str, Any]]] = {r["id"]: [] for r in router_rows}
    f = t.floatingips
    for row in conn.execute(sa.select(f.c.id, f.c.floating_ip_address, f.c.fixed_ip_address,
                                      f.c.fixed_port_id, f.c.status, f.c.router_id)
                            .where(f.c.router_id.is_not(None), f.c.fixed_port_id.is_not(None))
                            .order_by(f.c.floating_ip_address)).mappings():
        if row["router_id"] in fips:
            fips[row["router_id"]].append({
                "id": row["id"], "floating_ip_address": row["floating_ip_address"],
                "fixed_ip_address": row["fixed_ip_address"], "port_id": row["fixed_port_id"],
                "status": row["status"]})
    out = []
    for router in router_rows:
        gw = by_id.get(router["gw_port_id"] or "")
        out.append({
            "id": router["id"], "admin_state_up": bool(router["admin_state_up"]),
            "status": router["status"], "enable_snat": bool(router["enable_snat"]),
            "gateway": None if gw is None else _port_view(gw, mtu, addresses[gw["id"]],
                                                          ("gateway_ip",)),
            "interfaces": interfaces[router["id"]],
            "routes": [{"destination": r["destination"], "nexthop": r["nexthop"]}
                       for r in router["routes"] or []],
            "floating_ips": fips[router["id"]],
        })
    return out


def write_statuses(conn: Connection, fips: dict[str, str], routers: dict[str, str]) -> None:
    """Write the statuses that changed (a change bumps the revision, as any update does)."""
    for table, wanted, kind in ((t.floatingips, fips, "FloatingIP"),
                                (t.routers, routers, "Router")):
        if not wanted:
            continue
        current = dict(conn.execute(sa.select(table.c.id, table.c.status)
                                    .where(table.c.id.in_(list(wanted)))).all())
        for object_id, status in sorted(wanted.items()):
            if object_id in current and current[object_id] != status:
                common.update_row(conn, table, object_id, {"status": status}, kind)
