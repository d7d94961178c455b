"""Simple tenant usage: instance-hours per project over a time window."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from pocketstack.compute import tables as t
from pocketstack.compute.domain.common import utcnow


def _iso(value: dt.datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def server_usages(conn: Connection, start: dt.datetime, end: dt.datetime,
                  project_id: str | None = None) -> list[dict[str, Any]]:
    """One usage record per instance alive at some point in [start, end], oldest first."""
    i = t.instances
    began = sa.func.coalesce(i.c.launched_at, i.c.created_at)
    finished = sa.func.coalesce(i.c.terminated_at, i.c.deleted_at)
    q = (sa.select(i).where(began < end, sa.or_(finished.is_(None), finished > start))
         .order_by(i.c.id))
    if project_id is not None:
        q = q.where(i.c.project_id == project_id)
    now = utcnow()
    out = []
    for row in conn.execute(q).mappings():
        launched = row["launched_at"] or row["created_at"]
        terminated = row["terminated_at"] or row["deleted_at"]
        started = max(launched, start)
        stopped = min(terminated or end, end)
        hours = max((stopped - started).total_seconds(), 0) / 3600.0
        flavor = row["flavor"] or {}
        ended_at = terminated if terminated is not None and terminated <= end else None
        uptime_end = terminated or now
        out.append({
            "instance_id": row["uuid"],
            "name": row["display_name"],
            "hours": hours,
            "memory_mb": int(flavor.get("ram", 0)),
            "local_gb": int(flavor.get("disk", 0)) + int(flavor.get("ephemeral", 0)),
            "vcpus": int(flavor.get("vcpus", 0)),
            "tenant_id": row["project_id"],
            "flavor": flavor.get("name", ""),
            "started_at": _iso(launched),
            "ended_at": _iso(ended_at),
            "state": "terminated" if row["deleted"] else row["vm_state"],
            "uptime": int(max((uptime_end - launched).total_seconds(), 0)),
        })
    return out


def summarise(project_id: str, start: dt.datetime, end: dt.datetime,
              usages: list[dict[str, Any]], detailed: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "tenant_id": project_id,
        "start": _iso(start),
        "stop": _iso(end),
        "total_hours": sum(u["hours"] for u in usages),
        "total_vcpus_usage": sum(u["hours"] * u["vcpus"] for u in usages),
        "total_memory_mb_usage": sum(u["hours"] * u["memory_mb"] for u in usages),
        "total_local_gb_usage": sum(u["hours"] * u["local_gb"] for u in usages),
    }
    if detailed:
        out["server_usages"] = usages
    return out
