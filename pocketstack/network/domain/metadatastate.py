"""``metadata_lookup``: which instance a metadata request comes from (Neutron's metadata
agent asks the same of its plugin): the compute port on the proxy's network that has the
request's source address."""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from pocketstack.network import tables as t

if TYPE_CHECKING:
    from pocketstack.network.service import NetworkService


def find_instance(conn: Connection, network_id: str, address: str) -> dict[str, str]:
    """``{instance_id, project_id}`` of the instance port on ``network_id`` with fixed IP
    ``address``, or ``{}``."""
    try:
        addr = ipaddress.ip_address(address)
    except ValueError:
        return {}
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped  # a dual-stack socket's view of an IPv4 peer
    p, a = t.ports, t.ip_allocations
    q = (sa.select(p.c.device_id, p.c.project_id)
         .select_from(a.join(p, p.c.id == a.c.port_id))
         .where(a.c.network_id == network_id, a.c.ip_address == str(addr),
                p.c.device_owner.like("compute:%"), p.c.device_id != "")
         .limit(1))
    row = conn.execute(q).first()
    if row is None:
        return {}
    return {"instance_id": str(row[0]), "project_id": str(row[1])}


def metadata_lookup(service: NetworkService, msg: dict[str, Any]) -> dict[str, str]:
    """The op: ``{network_id, address}`` -> ``{instance_id, project_id}`` or ``{}``."""
    return service.db.read(find_instance, str(msg["network_id"]),  # type: ignore[no-any-return]
                           str(msg["address"]))
