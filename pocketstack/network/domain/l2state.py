"""What a host's L2 agent serves (``network.rpc`` ops ``l2_state`` and ``set_port_status``).

``l2_state(host)``: the ports bound to the host (``binding_host_id``) and those a live migration
is moving away from it (``binding:profile`` ``migrating_from``: the guest still runs here), their
networks' first segment and MTU, the peers (tunnel addresses of the other hosts with ports on
each of those networks, a live migration's source included, from the ``Linux bridge agent``
rows' ``configurations.tunneling_ip``, alive or not: as Neutron's l2population, a host whose
agent stopped reporting keeps its flood entries, so its instances keep forwarding; an agent row
deleted takes them away), and the ports' security groups — plus every group their rules name as
``remote_group_id`` — with rules and member addresses (fixed IPs and allowed address pairs of
every port in the group).
The shape is documented in ``docs/dataplane.md``; ports also carry their current ``status``
so the agent reports only changes.

``set_port_status(host, up, down)``: ports bound to the host become ACTIVE or DOWN; a port
whose status changes moves its revision, as every change that shows in its view does.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from pocketstack.network import tables as t
from pocketstack.network.domain import common, segments
from pocketstack.network.domain.instances import MIGRATING_FROM
from pocketstack.network.domain.ports import decorate

if TYPE_CHECKING:
    from pocketstack.network.service import NetworkService

L2_AGENT = "Linux bridge agent"
CHUNK = 500


def _chunks(ids: list[str]) -> Iterable[list[str]]:
    for start in range(0, len(ids), CHUNK):
        yield ids[start:start + CHUNK]


def _port_view(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"], "network_id": row["network_id"], "mac_address": row["mac_address"],
        "device_owner": row["device_owner"], "device_id": row["device_id"],
        "admin_state_up": bool(row["admin_state_up"]), "status": row["status"],
        "fixed_ips": [{"subnet_id": f["subnet_id"], "ip_address": f["ip_address"]}
                      for f in row["fixed_ips"]],
        "port_security_enabled": bool(row["port_security_enabled"]),
        "security_group_ids": list(row["security_groups"]),
        "allowed_address_pairs": [{"ip_address": p["ip_address"],
                                   "mac_address": p.get("mac_address") or row["mac_address"]}
                                  for p in row["allowed_address_pairs"] or []],
    }


def _networks(conn: Connection, network_ids: list[str]) -> dict[str, dict[str, Any]]:
    mtus: dict[str, int] = {}
    for chunk in _chunks(network_ids):
        mtus.update(conn.execute(sa.select(t.networks.c.id, t.networks.c.mtu)
                                 .where(t.networks.c.id.in_(chunk))).tuples().all())
    segs = segments.of_networks(conn, [n for n in network_ids if n in mtus])
    out = {}
    for net_id, mtu in mtus.items():
        first = segs[net_id][0] if segs[net_id] else {}
        out[net_id] = {"network_type": first.get("network_type", "local"),
                       "physical_network": first.get("physical_network"),
                       "segmentation_id": first.get("segmentation_id"), "mtu": mtu}
    return out


def _peers(conn: Connection, host: str, network_ids: list[str],
           migrating: list[dict[str, Any]]) -> dict[str, list[str]]:
    """Per network, the tunnel addresses of the other hosts with ports bound on it, and of
    the sources of the ``migrating`` ports (see :func:`_migrating`)."""
    p = t.ports
    hosts_of: dict[str, set[str]] = {n: set() for n in network_ids}
    for chunk in _chunks(network_ids):
        for net_id, other in conn.execute(
                sa.select(p.c.network_id, p.c.binding_host_id).distinct()
                .where(p.c.network_id.in_(chunk), p.c.binding_host_id != "",
                       p.c.binding_host_id != host)).tuples():
            hosts_of[net_id].add(other)
    for moving in migrating:  # the source of a live migration still has the guest
        source = str(moving["binding_profile"][MIGRATING_FROM])
        if moving["network_id"] in hosts_of and source != host:
            hosts_of[moving["network_id"]].add(source)
    wanted = set().union(*hosts_of.values()) if hosts_of else set()
    address: dict[str, str] = {}
    if wanted:
        for row in conn.execute(sa.select(t.agents).where(
                t.agents.c.agent_type == L2_AGENT,
                t.agents.c.host.in_(sorted(wanted)))).mappings():
            ip = (row["configurations"] or {}).get("tunneling_ip")
            if ip:
                address[row["host"]] = str(ip)
    return {net_id: sorted({address[h] for h in others if h in address})
            for net_id, others in hosts_of.items()}


def _security_groups(conn: Connection, group_ids: set[str]) -> dict[str, dict[str, Any]]:
    rules_table, psg = t.security_group_rules, t.port_security_groups
    rules: dict[str, list[dict[str, Any]]] = {}
    todo, seen = set(group_ids), set()
    while todo:  # the groups, then the remote groups their rules name
        batch = sorted(todo)
        seen |= todo
        todo = set()
        for chunk in _chunks(batch):
            for row in conn.execute(sa.select(rules_table).where(
                    rules_table.c.security_group_id.in_(chunk))).mappings():
                rules.setdefault(row["security_group_id"], []).append({
                    key: row[key] for key in ("id", "direction", "ethertype", "protocol",
                                              "port_range_min", "port_range_max",
                                              "remote_ip_prefix", "remote_group_id")})
                remote = row["remote_group_id"]
                if remote and remote not in seen:
                    todo.add(remote)
    members: dict[str, dict[str, set[str]]] = {
        g: {"IPv4": set(), "IPv6": set()} for g in seen}

    def add(group: str, address: str) -> None:
        try:
            network = ipaddress.ip_network(address, strict=False)
        except ValueError:
            return
        text = str(network.network_address) if network.prefixlen == network.max_prefixlen \
            else str(network)
        members[group][f"IPv{network.version}"].add(text)

    ids = sorted(seen)
    for chunk in _chunks(ids):
        for group, address in conn.execute(
                sa.select(psg.c.security_group_id, t.ip_allocations.c.ip_address)
                .join(t.ip_allocations, t.ip_allocations.c.port_id == psg.c.port_id)
                .where(psg.c.security_group_id.in_(chunk))).tuples():
            add(group, address)
        for group, pairs in conn.execute(
                sa.select(psg.c.security_group_id, t.ports.c.allowed_address_pairs)
                .join(t.ports, t.ports.c.id == psg.c.port_id)
                .where(psg.c.security_group_id.in_(chunk))).tuples():
            for pair in pairs or []:
                if isinstance(pair, dict) and pair.get("ip_address"):
                    add(group, str(pair["ip_address"]))
    return {g: {"rules": sorted(rules.get(g, []), key=lambda r: str(r["id"])),
                "members": {v: sorted(a) for v, a in members[g].items()}}
            for g in ids}


def _migrating(conn: Connection) -> list[dict[str, Any]]:
    """Ports whose guest a live migration is moving (bound to the destination already, still
    running on the source named in their profile); few, found by the profile's text."""
    p = t.ports
    return [dict(r) for r in conn.execute(sa.select(p).where(
        sa.cast(p.c.binding_profile, sa.Text).like(f"%{MIGRATING_FROM}%"))).mappings()
        if (r["binding_profile"] or {}).get(MIGRATING_FROM)]


def state_for(conn: Connection, host: str) -> dict[str, Any]:
    """The L2 state of ``host`` (see the module docstring): the ports bound to it, and those
    whose guest a live migration is moving away from it (their taps stay wired here until the
    guest has left)."""
    rows = [dict(r) for r in conn.execute(
        sa.select(t.ports).where(t.ports.c.binding_host_id == host)
        .order_by(t.ports.c.id)).mappings()]
    migrating = _migrating(conn)  # one scan serves the ports and the peers
    rows += [r for r in migrating if r["binding_profile"][MIGRATING_FROM] == host
             and r["binding_host_id"] != host]
    ports = [_port_view(r) for r in decorate(conn, rows)] if rows else []
    network_ids = sorted({p["network_id"] for p in ports})
    groups = {g for p in ports for g in p["security_group_ids"]}
    return {"ports": ports, "networks": _networks(conn, network_ids),
            "peers": _peers(conn, host, network_ids, migrating),
            "security_groups": _security_groups(conn, groups) if groups else {}}


def set_status(conn: Connection, host: str, up: list[str], down: list[str]) -> list[str]:
    """Write ACTIVE/DOWN on the host's ports; answers the ports whose status changed."""
    p = t.ports
    changed: list[str] = []
    for status, ids in (("ACTIVE", up), ("DOWN", down)):
        for chunk in _chunks(sorted(set(ids))):
            moving = [r[0] for r in conn.execute(sa.select(p.c.id).where(
                p.c.id.in_(chunk), p.c.binding_host_id == host, p.c.status != status))]
            if moving:
                conn.execute(sa.update(p).where(p.c.id.in_(moving), p.c.status != status)
                             .values(status=status, updated_at=common.now(),
                                     revision_number=p.c.revision_number + 1))
                changed += moving
    return changed


# -- the network.rpc ops -------------------------------------------------------------------------
def l2_state(service: NetworkService, msg: dict[str, Any]) -> dict[str, Any]:
    """``{host}`` → the host's ports, networks, peers and security groups."""
    return service.db.read(state_for, str(msg["host"]))


def set_port_status(service: NetworkService, msg: dict[str, Any]) -> dict[str, Any]:
    """``{host, up: [port ids], down: [port ids]}`` → ``{}``."""
    host = str(msg["host"])
    up = [str(i) for i in msg.get("up") or []]
    down = [str(i) for i in msg.get("down") or []]
    if up or down:
        service.db.write(set_status, host, up, down)
    return {}
