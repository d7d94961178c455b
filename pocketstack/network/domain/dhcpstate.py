"""What a DHCP agent serves (``network.rpc`` op ``dhcp_state``), and its DHCP ports.

For the network host that asks, every network with at least one DHCP-enabled subnet, with
its subnets, its ports and the host's DHCP port. The DHCP port is a real port made through
:mod:`.ports` (so IPAM, quota usage and revisions stay right), as Neutron's DHCP agent
makes it: device_owner ``network:dhcp``, device_id ``dhcp<uuid5(DNS, host)>-<network>``,
bound to the host, in the network's project, one fixed IP on each DHCP-enabled subnet
(added and released as subnets come, go or change ``enable_dhcp``). The DHCP ports of this
host on networks with no DHCP subnet left are deleted.
"""

from __future__ import annotations

import logging
import uuid
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from pocketstack.common import exceptions
from pocketstack.common.context import RequestContext
from pocketstack.network import tables as t
from pocketstack.network.domain import agents, ports, segments

if TYPE_CHECKING:
    from pocketstack.network.service import NetworkService

LOG = logging.getLogger(__name__)

DHCP_OWNER = "network:dhcp"
SUBNET_FIELDS = ("id", "cidr", "ip_version", "gateway_ip", "enable_dhcp", "dns_nameservers",
                 "host_routes", "ipv6_address_mode", "ipv6_ra_mode")
PORT_FIELDS = ("id", "mac_address", "fixed_ips", "device_owner", "name", "extra_dhcp_opts")


def device_id(host: str, network_id: str) -> str:
    """Neutron's DHCP port device_id: ``dhcp`` + uuid5(DNS namespace, host) + ``-`` + net."""
    return f"dhcp{uuid.uuid5(uuid.NAMESPACE_DNS, host)}-{network_id}"


def _admin(project_id: str) -> RequestContext:
    return RequestContext(project_id=project_id, roles=["admin"])


def _dhcp_subnets(conn: Connection) -> dict[str, set[str]]:
    """network id -> its DHCP-enabled subnet ids (networks with at least one)."""
    out: dict[str, set[str]] = {}
    for subnet_id, network_id in conn.execute(
            sa.select(t.subnets.c.id, t.subnets.c.network_id)
            .where(t.subnets.c.enable_dhcp.is_(True))):
        out.setdefault(network_id, set()).add(subnet_id)
    return out


def _host_ports(conn: Connection, host: str) -> dict[str, dict[str, Any]]:
    """network id -> this host's DHCP port (decorated), by device_id."""
    prefix = device_id(host, "")
    rows = [dict(r) for r in conn.execute(sa.select(t.ports).where(
        t.ports.c.device_owner == DHCP_OWNER,
        t.ports.c.device_id.startswith(prefix, autoescape=True))).mappings()]
    return {r["device_id"][len(prefix):]: r for r in ports.decorate(conn, rows)}


def _unbound(conn: Connection, port: dict[str, Any], host: str, down_time: int) -> bool:
    """The port could not be bound when it was made, and the host's L2 agent is alive now."""
    if port["binding_vif_type"] not in ("binding_failed", "unbound"):
        return False
    segs = segments.of_networks(conn, [port["network_id"]])[port["network_id"]]
    return agents.l2_agent_serving(conn, host, segs, down_time) is not None


def plan(conn: Connection, host: str, down_time: int = 75) -> tuple[list[str], list[str]]:
    """(networks whose DHCP port is missing, on the wrong subnets or to bind again now that
    the host's L2 agent is alive, DHCP ports to delete)."""
    wanted = _dhcp_subnets(conn)
    have = _host_ports(conn, host)
    fix = [net for net, subnet_ids in sorted(wanted.items())
           if net not in have
           or {ip["subnet_id"] for ip in have[net]["fixed_ips"]} != subnet_ids
           or _unbound(conn, have[net], host, down_time)]
    drop = sorted(port["id"] for net, port in have.items() if net not in wanted)
    return fix, drop


def ensure_port(conn: Connection, host: str, network_id: str,
                binding: ports.BindingConfig) -> str | None:
    """Make the host's DHCP port on the network hold one address on each DHCP subnet (or
    delete it when there is none); answers the port id when it changed."""
    network = conn.execute(sa.select(t.networks.c.id, t.networks.c.project_id)
                           .where(t.networks.c.id == network_id).with_for_update()).first()
    if network is None:
        return None
    ctx = _admin(network.project_id)
    wanted = [r.id for r in conn.execute(
        sa.select(t.subnets.c.id).where(t.subnets.c.network_id == network_id,
                                        t.subnets.c.enable_dhcp.is_(True))
        .order_by(t.subnets.c.created_at, t.subnets.c.id))]
    found = conn.execute(sa.select(t.ports).where(
        t.ports.c.network_id == network_id, t.ports.c.device_owner == DHCP_OWNER,
        t.ports.c.device_id == device_id(host, network_id))).mappings().first()
    if found is None:
        if not wanted:
            return None
        made = ports.create(conn, ctx, {
            "network_id": network_id, "project_id": network.project_id, "name": "",
            "device_owner": DHCP_OWNER, "device_id": device_id(host, network_id),
            "binding:host_id": host, "admin_state_up": True,
            "fixed_ips": [{"subnet_id": s} for s in wanted]}, None, binding)
        return str(made["id"])
    port = ports.decorate(conn, [dict(found)])[0]
    if not wanted:
        ports.delete(conn, ctx, port["id"], internal=True)
        return str(port["id"])
    have = {ip["subnet_id"] for ip in port["fixed_ips"]}
    values: dict[str, Any] = {}
    if have != set(wanted):
        keep = [ip for ip in port["fixed_ips"] if ip["subnet_id"] in wanted]
        values["fixed_ips"] = keep + [{"subnet_id": s} for s in wanted if s not in have]
    if _unbound(conn, port, host, binding.agent_down_time):
        values["binding:host_id"] = host
    if not values:
        return None
    ports.update(conn, ctx, port["id"], values, binding, None)
    return str(port["id"])


def delete_port(conn: Connection, port_id: str) -> None:
    found = conn.execute(sa.select(t.ports.c.project_id).where(t.ports.c.id == port_id)).first()
    if found is not None:
        ports.delete(conn, _admin(found.project_id), port_id, internal=True)


def answer(conn: Connection, host: str) -> dict[str, Any]:
    """Every network (administratively up) with a DHCP subnet and this host's DHCP port,
    as the agent wants it."""
    wanted = _dhcp_subnets(conn)
    have = _host_ports(conn, host)
    candidates = [net for net in wanted if net in have]
    mtus = dict(conn.execute(sa.select(t.networks.c.id, t.networks.c.mtu).where(
        t.networks.c.id.in_(candidates), t.networks.c.admin_state_up.is_(True))).all())
    served = sorted(mtus)  # an administratively down network is not served
    if not served:
        return {"networks": []}
    subnets: dict[str, list[dict[str, Any]]] = {net: [] for net in served}
    for row in conn.execute(sa.select(t.subnets).where(t.subnets.c.network_id.in_(served))
                            .order_by(t.subnets.c.created_at, t.subnets.c.id)).mappings():
        subnets[row["network_id"]].append({k: row[k] for k in SUBNET_FIELDS})
    rows = [dict(r) for r in conn.execute(
        sa.select(t.ports).where(t.ports.c.network_id.in_(served))
        .order_by(t.ports.c.created_at, t.ports.c.id)).mappings()]
    by_network: dict[str, list[dict[str, Any]]] = {net: [] for net in served}
    for port in ports.decorate(conn, rows):
        by_network[port["network_id"]].append({k: port[k] for k in PORT_FIELDS})
    networks = []
    for net in served:
        dhcp = have[net]
        networks.append({
            "id": net, "mtu": mtus[net], "subnets": subnets[net],
            "ports": by_network[net],
            "dhcp_port": {"id": dhcp["id"], "mac_address": dhcp["mac_address"],
                          "fixed_ips": dhcp["fixed_ips"]},
        })
    return {"networks": networks}


def dhcp_state(service: NetworkService, msg: dict[str, Any]) -> dict[str, Any]:
    """``network.rpc`` op: ``{host}`` -> ``{networks: [...]}`` (see the module docstring).
    Fixes the host's DHCP ports first, one network per transaction (a network whose port
    cannot be made, e.g. a full subnet, is left out and tried again next time)."""
    host = str(msg["host"])
    fix, drop = service.db.read(plan, host, service.binding.agent_down_time)
    changed: list[str] = []
    for network_id in fix:
        try:
            port_id = service.db.write(ensure_port, host, network_id, service.binding)
        except exceptions.PocketstackError as exc:
            LOG.warning("dhcp_state %s: DHCP port on network %s: %s", host, network_id, exc)
            continue
        if port_id:
            changed.append(port_id)
    for port_id in drop:
        service.db.write(delete_port, port_id)
        changed.append(port_id)
    if changed:
        service.changed("port", changed)
    return dict(service.db.read(answer, host))

