"""Snapshots of volumes: create (quota under the project lock, then a task for the volume's
storage host), list with filters and pages, update, metadata, delete."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from pocketstack.common import exceptions
from pocketstack.volume import errors
from pocketstack.volume import tables as t
from pocketstack.volume.domain import common, quotas
from pocketstack.volume.domain.common import now, row_dict
from pocketstack.volume.domain.volumes import ListQuery

SORT_KEYS = {"id", "name", "status", "size", "created_at", "updated_at", "volume_id",
             "project_id", "display_name"}


def get(conn: Connection, ident: str, project_id: str | None, admin: bool) -> dict[str, Any]:
    s = t.snapshots
    q = sa.select(s).where(s.c.id == ident)
    if not admin:
        q = q.where(s.c.project_id == (project_id or ""))
    row = conn.execute(q).first()
    if row is None:
        raise errors.SnapshotNotFound(ident)
    return row_dict(row)


def list_snapshots(conn: Connection, q: ListQuery) -> tuple[list[dict[str, Any]], bool]:
    s = t.snapshots
    stmt = sa.select(s)
    if q.project_id is not None:
        stmt = stmt.where(s.c.project_id == q.project_id)
    for key, value in q.filters.items():
        stmt = stmt.where(s.c[key] == value)
    order = []
    for key, direction in q.sort:
        col = s.c["name" if key == "display_name" else key]
        order.append(col.asc() if direction == "asc" else col.desc())
    order.append(s.c.id.asc())
    rows = [row_dict(r) for r in conn.execute(stmt.order_by(*order))]
    if q.metadata:
        rows = [r for r in rows if all(r["metadata"].get(k) == v for k, v in q.metadata.items())]
    return common.page(rows, q.marker, q.offset, q.limit)


def create(conn: Connection, volume: dict[str, Any], *, project_id: str, user_id: str | None,
           name: str | None, description: str | None, metadata: dict[str, str], force: bool,
           quota_defaults: dict[str, int], task_deadline: dt.datetime
           ) -> tuple[dict[str, Any], dict[str, Any]]:
    ok = ("available", "in-use") if force else ("available",)
    if volume["status"] not in ok:
        raise errors.InvalidState(f"Invalid volume: Volume {volume['id']} status must be "
                                  f"available, but current status is: {volume['status']}.")
    quotas.check(conn, project_id, quota_defaults, snapshots=1, gigabytes=int(volume["size"]),
                 volume_type_id=volume["volume_type_id"])
    ident = str(uuid.uuid4())
    stamp = now()
    conn.execute(sa.insert(t.snapshots).values(
        id=ident, project_id=project_id, user_id=user_id, volume_id=volume["id"], name=name,
        description=description, size=volume["size"], status="creating", progress="0%",
        metadata=metadata, task="create", task_deadline=task_deadline, created_at=stamp,
        updated_at=stamp))
    return get(conn, ident, None, True), {"op": "snapshot", "kind": "snapshot", "id": ident,
                                          "volume_id": volume["id"], "host": volume["host"]}


def update(conn: Connection, row: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    conn.execute(sa.update(t.snapshots).where(t.snapshots.c.id == row["id"])
                 .values(updated_at=now(), **values))
    return get(conn, row["id"], None, True)


def set_metadata(conn: Connection, row: dict[str, Any], new: dict[str, str], *,
                 replace: bool) -> dict[str, str]:
    merged = dict(new) if replace else {**row["metadata"], **new}
    update(conn, row, {"metadata": merged})
    return merged


def delete_metadata(conn: Connection, row: dict[str, Any], key: str) -> None:
    meta = dict(row["metadata"])
    if key not in meta:
        raise exceptions.NotFound(f"Snapshot {row['id']} has no metadata with key {key}.")
    meta.pop(key)
    update(conn, row, {"metadata": meta})


def begin_delete(conn: Connection, row: dict[str, Any], host: str | None, force: bool,
                 task_deadline: dt.datetime) -> dict[str, Any] | None:
    if not force and row["status"] not in ("available", "error", "error_deleting"):
        raise errors.InvalidState(f"Invalid snapshot: Snapshot status must be available or "
                                  f"error, not {row['status']}.")
    if host is None:
        conn.execute(sa.delete(t.snapshots).where(t.snapshots.c.id == row["id"]))
        return None
    update(conn, row, {"status": "deleting", "task": "delete", "task_deadline": task_deadline})
    return {"op": "delete_snapshot", "kind": "snapshot", "id": row["id"], "host": host}
