"""Read-only view of host aggregates for the scheduler: host → its aggregates' metadata."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from pocketstack.compute import tables as t


def by_host(conn: Connection) -> dict[str, list[dict[str, Any]]]:
    rows = conn.execute(
        sa.select(t.aggregate_hosts.c.host, t.aggregates.c.name, t.aggregates.c.metadata)
        .join(t.aggregates, t.aggregates.c.id == t.aggregate_hosts.c.aggregate_id))
    out: dict[str, list[dict[str, Any]]] = {}
    for host, name, metadata in rows:
        out.setdefault(host, []).append({"name": name, "metadata": dict(metadata or {})})
    return out


def host_zone(conn: Connection, host: str, default: str) -> str:
    for agg in by_host(conn).get(host, []):
        zone = agg["metadata"].get("availability_zone")
        if zone:
            return str(zone)
    return default
