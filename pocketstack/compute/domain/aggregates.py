"""Host aggregates and the availability zones they define.

An aggregate's availability zone is its ``availability_zone`` metadata key. A host belongs to
at most one zone; hosts in none are in the default zone (``nova``); services other than
nova-compute are in the ``internal`` zone.
"""

from __future__ import annotations

import uuid as uuidlib
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from pocketstack.common import exceptions
from pocketstack.compute import tables as t
from pocketstack.compute.domain.common import utcnow

AZ_KEY = "availability_zone"
INTERNAL_ZONE = "internal"


def _hosts(conn: Connection, aggregate_id: int) -> list[str]:
    q = sa.select(t.aggregate_hosts.c.host).where(
        t.aggregate_hosts.c.aggregate_id == aggregate_id).order_by(t.aggregate_hosts.c.host)
    return [r[0] for r in conn.execute(q)]


def _full(conn: Connection, row: Any) -> dict[str, Any]:
    agg = dict(row)
    agg["metadata"] = dict(agg["metadata"] or {})
    agg["hosts"] = _hosts(conn, agg["id"])
    return agg


def get(conn: Connection, aggregate_id: str | int) -> dict[str, Any]:
    try:
        ident = int(aggregate_id)
    except (TypeError, ValueError):
        raise exceptions.NotFound(f"Aggregate {aggregate_id} could not be found.") from None
    row = conn.execute(sa.select(t.aggregates).where(t.aggregates.c.id == ident)
                       ).mappings().first()
    if row is None:
        raise exceptions.NotFound(f"Aggregate {aggregate_id} could not be found.")
    return _full(conn, row)


def list_(conn: Connection) -> list[dict[str, Any]]:
    rows = conn.execute(sa.select(t.aggregates).order_by(t.aggregates.c.id)).mappings().all()
    members: dict[int, list[str]] = {}
    for agg_id, host in conn.execute(sa.select(t.aggregate_hosts).order_by(
            t.aggregate_hosts.c.host)):
        members.setdefault(agg_id, []).append(host)
    out = []
    for row in rows:
        agg = dict(row)
        agg["metadata"] = dict(agg["metadata"] or {})
        agg["hosts"] = members.get(agg["id"], [])
        out.append(agg)
    return out


def _check_name(conn: Connection, name: str, other_than: int | None = None) -> None:
    q = sa.select(t.aggregates.c.id).where(t.aggregates.c.name == name)
    if other_than is not None:
        q = q.where(t.aggregates.c.id != other_than)
    if conn.execute(q).first() is not None:
        raise exceptions.Conflict(f"Aggregate {name} already exists.")


def host_zones(conn: Connection) -> dict[str, str]:
    """host → the availability zone an aggregate puts it in."""
    out: dict[str, str] = {}
    for agg in list_(conn):
        zone = agg["metadata"].get(AZ_KEY)
        if zone:
            for host in agg["hosts"]:
                out.setdefault(host, zone)
    return out


def zone_of(conn: Connection, host: str, default_zone: str) -> str:
    return host_zones(conn).get(host, default_zone)


def _check_zone_conflicts(conn: Connection, agg: dict[str, Any], hosts: list[str],
                          zone: str | None) -> None:
    """A host may not end up in two zones."""
    if not zone:
        return
    for other in list_(conn):
        if other["id"] == agg["id"]:
            continue
        other_zone = other["metadata"].get(AZ_KEY)
        if other_zone and other_zone != zone and set(hosts) & set(other["hosts"]):
            raise exceptions.Conflict(
                f"Cannot add host to aggregate {agg['id']}. Reason: One or more hosts "
                f"already in availability zone(s) ['{other_zone}'].")


def create(conn: Connection, name: str, zone: str | None) -> dict[str, Any]:
    _check_name(conn, name)
    metadata = {AZ_KEY: zone} if zone else {}
    now = utcnow()
    result = conn.execute(sa.insert(t.aggregates).values(
        uuid=str(uuidlib.uuid4()), name=name, metadata=metadata, created_at=now,
        generation=0))
    return get(conn, int(result.inserted_primary_key[0]))  # type: ignore[index]


def _save_metadata(conn: Connection, agg: dict[str, Any], metadata: dict[str, Any],
                   **values: Any) -> dict[str, Any]:
    result = conn.execute(sa.update(t.aggregates).where(
        t.aggregates.c.id == agg["id"], t.aggregates.c.generation == agg["generation"]
    ).values(metadata=metadata, updated_at=utcnow(), generation=agg["generation"] + 1,
             **values))
    if result.rowcount != 1:
        raise exceptions.ConcurrentUpdate(f"Aggregate {agg['id']} was changed concurrently.")
    return get(conn, agg["id"])


def update(conn: Connection, aggregate_id: str, values: dict[str, Any]) -> dict[str, Any]:
    agg = get(conn, aggregate_id)
    metadata = dict(agg["metadata"])
    extra: dict[str, Any] = {}
    if "name" in values:
        _check_name(conn, values["name"], agg["id"])
        extra["name"] = values["name"]
    if AZ_KEY in values:
        zone = values[AZ_KEY]
        _check_zone_conflicts(conn, agg, agg["hosts"], zone)
        if zone:
            metadata[AZ_KEY] = zone
        else:
            metadata.pop(AZ_KEY, None)
    return _save_metadata(conn, agg, metadata, **extra)


def set_metadata(conn: Connection, aggregate_id: str, changes: dict[str, Any]
                 ) -> dict[str, Any]:
    """Merge ``changes`` into the metadata; a ``None`` value removes the key."""
    agg = get(conn, aggregate_id)
    metadata = dict(agg["metadata"])
    if AZ_KEY in changes:
        _check_zone_conflicts(conn, agg, agg["hosts"], changes[AZ_KEY])
    for key, value in changes.items():
        if value is None:
            metadata.pop(key, None)
        else:
            metadata[key] = value
    return _save_metadata(conn, agg, metadata)


def delete(conn: Connection, aggregate_id: str) -> None:
    agg = get(conn, aggregate_id)
    if agg["hosts"]:
        raise exceptions.BadRequest(f"Cannot remove aggregate {agg['id']}. Reason: Host "
                                    f"aggregate is not empty.")
    conn.execute(sa.delete(t.aggregates).where(t.aggregates.c.id == agg["id"]))


def add_host(conn: Connection, aggregate_id: str, host: str) -> dict[str, Any]:
    agg = get(conn, aggregate_id)
    known = conn.execute(sa.select(t.services.c.id).where(
        t.services.c.host == host, t.services.c.binary == "nova-compute")).first()
    if known is None:
        raise exceptions.NotFound(f"Compute host {host} could not be found.")
    if host in agg["hosts"]:
        raise exceptions.Conflict(f"Aggregate {agg['id']} already has host {host}.")
    _check_zone_conflicts(conn, agg, [host], agg["metadata"].get(AZ_KEY))
    conn.execute(sa.insert(t.aggregate_hosts).values(aggregate_id=agg["id"], host=host))
    return _save_metadata(conn, agg, agg["metadata"])


def remove_host(conn: Connection, aggregate_id: str, host: str) -> dict[str, Any]:
    agg = get(conn, aggregate_id)
    if host not in agg["hosts"]:
        raise exceptions.NotFound(f"Cannot remove host {host} in aggregate {agg['id']}")
    conn.execute(sa.delete(t.aggregate_hosts).where(
        t.aggregate_hosts.c.aggregate_id == agg["id"], t.aggregate_hosts.c.host == host))
    return _save_metadata(conn, agg, agg["metadata"])


def aggregates_of_host(conn: Connection, host: str) -> list[dict[str, Any]]:
    return [a for a in list_(conn) if host in a["hosts"]]
