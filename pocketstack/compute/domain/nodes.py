"""Compute nodes (hypervisors): what each host reported it has."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from pocketstack.compute import tables as t
from pocketstack.compute.domain.common import utcnow


def upsert(conn: Connection, host: str, report: dict[str, Any]) -> dict[str, Any]:
    """Record a host's hypervisor report; returns the node row (its uuid is the placement
    resource provider uuid)."""
    now = utcnow()
    name = report["hypervisor_hostname"]
    values = {
        "host": host,
        "hypervisor_type": report.get("hypervisor_type", "fake"),
        "hypervisor_version": int(report.get("hypervisor_version", 1)),
        "vcpus": int(report["vcpus"]),
        "memory_mb": int(report["memory_mb"]),
        "local_gb": int(report["local_gb"]),
        "cpu_allocation_ratio": float(report.get("cpu_allocation_ratio", 16.0)),
        "ram_allocation_ratio": float(report.get("ram_allocation_ratio", 1.5)),
        "disk_allocation_ratio": float(report.get("disk_allocation_ratio", 1.0)),
        "cpu_info": report.get("cpu_info", {}),
        "host_ip": report.get("host_ip"),
        "capabilities": report.get("capabilities", {}),
        "updated_at": now,
    }
    row = conn.execute(sa.select(t.compute_nodes).where(
        t.compute_nodes.c.hypervisor_hostname == name)).mappings().first()
    if row is None:
        conn.execute(sa.insert(t.compute_nodes).values(
            uuid=report.get("uuid") or str(uuid.uuid4()), hypervisor_hostname=name,
            created_at=now, generation=0, **values))
    else:
        conn.execute(sa.update(t.compute_nodes).where(t.compute_nodes.c.id == row["id"])
                     .values(generation=row["generation"] + 1, **values))
    return dict(conn.execute(sa.select(t.compute_nodes).where(
        t.compute_nodes.c.hypervisor_hostname == name)).mappings().one())


def list_(conn: Connection, host: str | None = None) -> list[dict[str, Any]]:
    q = sa.select(t.compute_nodes).order_by(t.compute_nodes.c.id)
    if host:
        q = q.where(t.compute_nodes.c.host == host)
    return [dict(r) for r in conn.execute(q).mappings()]


def by_uuid(conn: Connection) -> dict[str, dict[str, Any]]:
    return {n["uuid"]: n for n in list_(conn)}


# -- hypervisor API ------------------------------------------------------------------------------
def usage_by_host(conn: Connection) -> dict[str, dict[str, int]]:
    """What live instances use on each host: vcpus, ram (MB), disk (GB), count, busy."""
    i = t.instances
    q = sa.select(i.c.host, i.c.flavor, i.c.task_state).where(
        i.c.deleted.is_(False), i.c.host.is_not(None))
    out: dict[str, dict[str, int]] = {}
    for host, flavor, task_state in conn.execute(q):
        flavor = flavor or {}
        u = out.setdefault(host, {"vcpus": 0, "ram": 0, "disk": 0, "count": 0, "busy": 0})
        u["vcpus"] += int(flavor.get("vcpus", 0))
        u["ram"] += int(flavor.get("ram", 0))
        u["disk"] += int(flavor.get("disk", 0)) + int(flavor.get("ephemeral", 0))
        u["count"] += 1
        if task_state:
            u["busy"] += 1
    return out


def servers_on(conn: Connection, host: str) -> list[dict[str, str]]:
    i = t.instances
    q = (sa.select(i.c.uuid, i.c.display_name)
         .where(i.c.deleted.is_(False), i.c.host == host).order_by(i.c.id))
    return [{"uuid": r[0], "name": r[1]} for r in conn.execute(q)]
