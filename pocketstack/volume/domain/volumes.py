"""Volumes: visibility, listing (filters, sorting, pages), create (quota under the project
lock, then a task for the storage host), update, metadata, state actions and the attach state
machine (``available → attaching → in-use → detaching → available``).

A create, delete or extend writes the volume's new status with a task and deadline, and returns
the *task message* the caller casts to the storage host once the transaction has committed;
the conductor finishes the task from the agent's report (:mod:`.tasks`).
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from pocketstack.common import exceptions
from pocketstack.volume import errors
from pocketstack.volume import tables as t
from pocketstack.volume.domain import common, quotas, services, types
from pocketstack.volume.domain.common import now, row_dict

SORT_KEYS = {"id", "name", "status", "size", "created_at", "updated_at", "availability_zone",
             "bootable", "project_id", "display_name", "volume_type_id"}
_SORT_ALIAS = {"display_name": "name"}
SHARED_TARGETS = "shared_targets"  # admin metadata: True, False or None (see the view)
DELETABLE = {"available", "error", "error_restoring", "error_extending", "error_managing"}


@dataclass
class ListQuery:
    project_id: str | None  # None: every project (admin all_tenants)
    filters: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, str] = field(default_factory=dict)
    sort: list[tuple[str, str]] = field(default_factory=lambda: [("created_at", "desc")])
    limit: int | None = None
    marker: str | None = None
    offset: int = 0


@dataclass(frozen=True)
class Source:
    """What a new volume is made from (nothing: blank)."""

    kind: str | None = None  # image | snapshot | volume
    id: str | None = None
    image_path: str | None = None
    image_format: str | None = None
    image_metadata: dict[str, str] = field(default_factory=dict)
    min_gb: int = 0


def image_metadata_of(image: Any) -> dict[str, str]:
    """A volume's ``volume_image_metadata`` from the image it was written from (the image
    service's ``BootImage``): Cinder's glance metadata (empty values left out)."""
    meta = {"image_id": image.id, "image_name": image.name or "",
            "container_format": image.container_format or "",
            "disk_format": image.disk_format or "", "size": str(image.size or 0),
            "min_disk": str(image.min_disk), "min_ram": str(image.min_ram),
            "checksum": str(image.properties.get("checksum", ""))}
    meta.update({k: str(v) for k, v in image.properties.items() if k != "checksum"})
    return {k: v for k, v in meta.items() if v != ""}


def get(conn: Connection, ident: str, project_id: str | None, admin: bool) -> dict[str, Any]:
    v = t.volumes
    q = sa.select(v).where(v.c.id == ident)
    if not admin:
        q = q.where(v.c.project_id == (project_id or ""))
    row = conn.execute(q).first()
    if row is None:
        raise errors.VolumeNotFound(ident)
    return row_dict(row)


def get_shown(conn: Connection, ident: str, project_id: str | None, admin: bool
              ) -> tuple[dict[str, Any], dict[str, str]]:
    """The volume as ``GET /volumes/{id}`` shows it, in one statement (clients poll it while
    it is created): the row of :func:`get` with its ``group_id``, and ``{type id: name}`` of
    its type for the view."""
    v, gv, vt = t.volumes, t.group_volumes, t.volume_types
    q = (sa.select(v, gv.c.group_id, vt.c.name.label("volume_type_name"))
         .select_from(v.outerjoin(gv, gv.c.volume_id == v.c.id)
                      .outerjoin(vt, vt.c.id == v.c.volume_type_id))
         .where(v.c.id == ident))
    if not admin:
        q = q.where(v.c.project_id == (project_id or ""))
    found = conn.execute(q).first()
    if found is None:
        raise errors.VolumeNotFound(ident)
    row = row_dict(found)
    type_name = row.pop("volume_type_name")
    names = {} if type_name is None else {row["volume_type_id"]: type_name}
    return row, names


def list_volumes(conn: Connection, q: ListQuery) -> tuple[list[dict[str, Any]], bool]:
    """A page of volumes and whether more follow."""
    v = t.volumes
    stmt = sa.select(v)
    if q.project_id is not None:
        stmt = stmt.where(v.c.project_id == q.project_id)
    for key, value in q.filters.items():
        stmt = stmt.where(v.c[key] == value)
    order = []
    for key, direction in q.sort:
        col = v.c[_SORT_ALIAS.get(key, key)]
        order.append(col.asc() if direction == "asc" else col.desc())
    order.append(v.c.id.asc())
    rows = [row_dict(r) for r in conn.execute(stmt.order_by(*order))]
    if q.metadata:
        rows = [r for r in rows if all(r["metadata"].get(k) == val
                                       for k, val in q.metadata.items())]
    return common.page(rows, q.marker, q.offset, q.limit)


def type_names(conn: Connection) -> dict[str, str]:
    return {r.id: r.name for r in conn.execute(sa.select(t.volume_types.c.id,
                                                         t.volume_types.c.name))}


def create(conn: Connection, *, project_id: str, user_id: str | None, name: str | None,
           description: str | None, size: int | None, availability_zone: str | None,
           volume_type: str | None, metadata: dict[str, str], source: Source, host: str | None,
           default_az: str, quota_defaults: dict[str, int], admin: bool,
           task_deadline: dt.datetime, multiattach: bool = False,
           default_type_id: str | None = None
           ) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The new volume row and the task to cast to its host (None: it went to error at once,
    no storage host is up). ``default_type_id``: the default type's id when the caller read
    it already (it cannot be deleted), saving a statement under the write lock."""
    vtype_id: str | None
    src_row: dict[str, Any] | None = None
    if source.kind == "snapshot":
        src_row = _snapshot_for_create(conn, str(source.id), project_id, admin)
        size = size or int(src_row["size"])
        if size < int(src_row["size"]):
            raise errors.bad(f"Volume size '{size}'GB cannot be smaller than the snapshot size "
                             f"{src_row['size']}GB. They must be >= original snapshot size.")
        parent = get(conn, src_row["volume_id"], project_id, True)
        host, vtype_id = parent["host"], parent["volume_type_id"]
        availability_zone = availability_zone or parent["availability_zone"]
    elif source.kind == "volume":
        src_row = get(conn, str(source.id), project_id, admin)
        if src_row["status"] not in ("available", "in-use"):
            raise errors.InvalidState(f"Invalid volume: Volume {src_row['id']} status must be "
                                      f"available or in-use, but current status is: "
                                      f"{src_row['status']}.")
        size = size or int(src_row["size"])
        if size < int(src_row["size"]):
            raise errors.bad(f"Clones of volume {src_row['id']} must be at least "
                             f"{src_row['size']}GB.")
        host, vtype_id = src_row["host"], src_row["volume_type_id"]
        availability_zone = availability_zone or src_row["availability_zone"]
    else:
        vtype_id = None
    if size is None:
        raise errors.bad("'size' is a required property")
    if source.kind == "image" and size < source.min_gb:
        raise errors.bad(f"Image {source.id} virtual size is bigger than the volume: the "
                         f"volume needs at least {source.min_gb}GB, {size}GB asked.")
    if volume_type is not None:
        vtype_id = types.get(conn, volume_type, project_id, admin)["id"]
    elif vtype_id is None:
        vtype_id = default_type_id or types.default_id(conn) or types.ensure_default(conn)
    az = availability_zone or default_az
    if az != default_az:
        raise errors.bad(f"Availability zone '{az}' is invalid.")
    quotas.check(conn, project_id, quota_defaults, volumes=1, gigabytes=size, volume_size=size,
                 volume_type_id=vtype_id)
    ident = str(uuid.uuid4())
    stamp = now()
    bootable = source.kind == "image" or bool(src_row and src_row.get("bootable"))
    image_metadata = dict(source.image_metadata)
    if src_row is not None and source.kind == "volume":
        image_metadata = dict(src_row["image_metadata"])
    status = "creating" if host else "error"
    # the backend's trait, recorded with the volume as Cinder's manager does (3.48/3.69)
    admin_metadata: dict[str, Any] = {} if not host else {
        SHARED_TARGETS: services.shares_targets(services.capabilities(conn, host))}
    values: dict[str, Any] = dict(
        id=ident, project_id=project_id, user_id=user_id, name=name, description=description,
        size=size, status=status, status_reason=None if host else "No valid backend was found.",
        attach_status="detached", availability_zone=az, host=host, volume_type_id=vtype_id,
        bootable=bootable, readonly=False, multiattach=multiattach, encrypted=False,
        snapshot_id=source.id if source.kind == "snapshot" else None,
        source_volid=source.id if source.kind == "volume" else None,
        image_id=source.id if source.kind == "image" else None, metadata=metadata,
        image_metadata=image_metadata, admin_metadata=admin_metadata, attachments=[],
        task="create" if host else None, task_deadline=task_deadline if host else None,
        created_at=stamp, updated_at=stamp)
    # the values as parameters, not in the statement: SQLAlchemy then caches the compiled
    # INSERT instead of hashing thirty values into a cache key under the write lock
    conn.execute(t.volumes.insert(), values)
    row = {c.name: values.get(c.name) for c in t.volumes.columns}  # as read back, one trip less
    if not host:
        return row, None
    src: dict[str, Any] = {}
    if source.kind == "image":
        src = {"type": "image", "id": source.id, "path": source.image_path,
               "disk_format": source.image_format}
    elif source.kind in ("snapshot", "volume"):
        src = {"type": source.kind, "id": source.id}
    return row, {"op": "create", "kind": "volume", "id": ident, "size": size, "source": src,
                 "host": host}


def _snapshot_for_create(conn: Connection, ident: str, project_id: str,
                         admin: bool) -> dict[str, Any]:
    s = t.snapshots
    q = sa.select(s).where(s.c.id == ident)
    if not admin:
        q = q.where(s.c.project_id == project_id)
    row = conn.execute(q).first()
    if row is None:
        raise errors.SnapshotNotFound(ident)
    if row.status != "available":
        raise errors.InvalidState(f"Invalid snapshot: Originating snapshot status must be one "
                                  f"of 'available' values, not {row.status}.")
    return row_dict(row)


def update(conn: Connection, row: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    conn.execute(sa.update(t.volumes).where(t.volumes.c.id == row["id"])
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
        raise exceptions.NotFound(f"Volume {row['id']} has no metadata with key {key}.")
    meta.pop(key)
    update(conn, row, {"metadata": meta})


def snapshot_ids(conn: Connection, volume_id: str) -> list[str]:
    return [r[0] for r in conn.execute(sa.select(t.snapshots.c.id)
                                       .where(t.snapshots.c.volume_id == volume_id))]


def begin_delete(conn: Connection, row: dict[str, Any], *, cascade: bool, force: bool,
                 task_deadline: dt.datetime) -> list[dict[str, Any]]:
    """Mark the volume (and, with cascade, its snapshots) deleting; the task messages."""
    if row["attach_status"] != "detached" or row["attachments"]:
        raise errors.InvalidState(f"Invalid volume: Volume {row['id']} is attached; detach "
                                  "it first.")
    if not force and row["status"] not in DELETABLE:
        raise errors.InvalidState(f"Invalid volume: Volume status must be available or error "
                                  f"or error_restoring or error_extending or error_managing "
                                  f"and must not be migrating, attached, belong to a group, "
                                  f"have snapshots or be disassociated from snapshots after "
                                  f"volume transfer. (status {row['status']})")
    snaps = snapshot_ids(conn, row["id"])
    msgs: list[dict[str, Any]] = []
    if snaps and not cascade:
        raise errors.InvalidState(f"Invalid volume: Volume {row['id']} still has dependent "
                                  "snapshots.")
    s = t.snapshots
    for sid in snaps:
        status = conn.execute(sa.select(s.c.status).where(s.c.id == sid)).scalar()
        if status not in ("available", "error", "error_deleting", "deleting") and not force:
            raise errors.InvalidState(f"Invalid volume: snapshot {sid} is {status}.")
        conn.execute(sa.update(s).where(s.c.id == sid).values(
            status="deleting", task="delete", task_deadline=task_deadline, updated_at=now()))
        msgs.append({"op": "delete_snapshot", "kind": "snapshot", "id": sid,
                     "host": row["host"]})
    if row["host"] is None:  # never reached a storage host: nothing on disk
        conn.execute(sa.delete(t.volumes).where(t.volumes.c.id == row["id"]))
        return msgs
    update(conn, row, {"status": "deleting", "task": "delete", "task_deadline": task_deadline})
    msgs.append({"op": "delete", "kind": "volume", "id": row["id"], "host": row["host"]})
    return msgs


def begin_extend(conn: Connection, row: dict[str, Any], new_size: int,
                 quota_defaults: dict[str, int], task_deadline: dt.datetime,
                 in_use_ok: bool) -> dict[str, Any]:
    allowed = ("available", "in-use") if in_use_ok else ("available",)
    if row["status"] not in allowed:
        raise errors.InvalidState(f"Invalid volume: Volume status must be "
                                  f"{' or '.join(allowed)} to extend, currently "
                                  f"{row['status']}.")
    if new_size <= row["size"]:
        raise errors.bad(f"New size for extend must be greater than current size. "
                         f"(current: {row['size']}, extended: {new_size}).")
    quotas.check(conn, row["project_id"], quota_defaults, gigabytes=new_size - row["size"],
                 volume_size=new_size, volume_type_id=row["volume_type_id"])
    admin_meta = {**row["admin_metadata"], "extend_from": row["status"],
                  "extend_to": str(new_size)}
    update(conn, row, {"status": "extending", "task": "extend", "task_deadline": task_deadline,
                       "admin_metadata": admin_meta})
    return {"op": "extend", "kind": "volume", "id": row["id"], "size": new_size,
            "host": row["host"]}


# -- the attach state machine (compute, through VolumeAPI) --------------------------------------
# Compute's attach and detach are tasks of its conductor: the reservation names the server
# (``admin_metadata.reserved_for``) and carries a deadline in ``task``/``task_deadline``
# (``attach`` or ``detach``); compute's reconciler rolls back those that pass it (see
# :func:`overdue_reservations`). The volume reconciler leaves these two tasks to compute.
OWNED_BY_COMPUTE = ("attach", "detach")
_TRANSIENT = ("reserved_from", "reserved_for", "detaching_for")


def _clean(meta: dict[str, Any], *drop: str) -> dict[str, Any]:
    return {k: v for k, v in meta.items() if k not in drop}


def reserve(conn: Connection, row: dict[str, Any], instance_uuid: str | None = None,
            task_deadline: dt.datetime | None = None) -> None:
    ok = row["status"] == "available" or (row["status"] == "in-use" and row["multiattach"])
    if not ok:
        raise errors.InvalidState(f"Invalid volume: Volume {row['id']} status must be "
                                  f"available to reserve, but the current status is "
                                  f"{row['status']}.")
    meta = {**row["admin_metadata"], "reserved_from": row["status"]}
    values: dict[str, Any] = {"status": "attaching"}
    if instance_uuid is not None:
        meta["reserved_for"] = instance_uuid
    if task_deadline is not None:
        values.update(task="attach", task_deadline=task_deadline)
    update(conn, row, {**values, "admin_metadata": meta})


def unreserve(conn: Connection, row: dict[str, Any], instance_uuid: str | None = None) -> None:
    if row["status"] != "attaching":
        return
    if instance_uuid is not None and row["admin_metadata"].get("reserved_for") not in (
            None, instance_uuid):
        return  # reserved for another server since
    back = row["admin_metadata"].get("reserved_from", "available")
    update(conn, row, {"status": back, "task": None, "task_deadline": None,
                       "admin_metadata": _clean(row["admin_metadata"], *_TRANSIENT)})


def attach(conn: Connection, row: dict[str, Any], instance_uuid: str, host: str | None,
           mountpoint: str | None, attachment_id: str | None = None,
           reserved: bool = False) -> dict[str, Any]:
    if reserved and (row["status"] != "attaching" or row["admin_metadata"].get(
            "reserved_for") != instance_uuid):
        raise errors.InvalidState(f"Invalid volume: Volume {row['id']} is no longer reserved "
                                  f"for instance {instance_uuid} (it is {row['status']}).")
    if row["status"] not in ("attaching", "available") and not (
            row["status"] == "in-use" and row["multiattach"]):
        raise errors.InvalidState(f"Invalid volume: Volume {row['id']} is {row['status']}; "
                                  "it cannot be attached.")
    current = [a for a in row["attachments"] if a.get("server_id") != instance_uuid]
    if current and not row["multiattach"]:
        raise errors.InvalidState(f"Invalid volume: Volume {row['id']} is already attached.")
    att = {"id": attachment_id or str(uuid.uuid4()), "attachment_id": attachment_id or "",
           "volume_id": row["id"], "server_id": instance_uuid, "host_name": host,
           "device": mountpoint, "attached_at": now().isoformat()}
    if not att["attachment_id"]:
        att["attachment_id"] = att["id"]
    meta = _clean(row["admin_metadata"], *_TRANSIENT)
    meta["attached_mode"] = "ro" if row["readonly"] else "rw"
    return update(conn, row, {"status": "in-use", "attach_status": "attached",
                              "attachments": [*current, att], "admin_metadata": meta,
                              **_end_compute_task(row)})


def _end_compute_task(row: dict[str, Any]) -> dict[str, Any]:
    return {"task": None, "task_deadline": None} if row["task"] in OWNED_BY_COMPUTE else {}


def begin_detaching(conn: Connection, row: dict[str, Any], instance_uuid: str | None = None,
                    task_deadline: dt.datetime | None = None) -> None:
    if row["status"] != "in-use":
        raise errors.InvalidState(f"Invalid volume: Volume {row['id']} must be in-use to "
                                  f"detach, not {row['status']}.")
    values: dict[str, Any] = {"status": "detaching"}
    if instance_uuid is not None:
        values["admin_metadata"] = {**row["admin_metadata"], "detaching_for": instance_uuid}
    if task_deadline is not None:
        values.update(task="detach", task_deadline=task_deadline)
    update(conn, row, values)


def roll_detaching(conn: Connection, row: dict[str, Any]) -> None:
    """detaching → in-use (a detach that did not happen)."""
    if row["status"] != "detaching":
        return
    update(conn, row, {"status": "in-use", **_end_compute_task(row),
                       "admin_metadata": _clean(row["admin_metadata"], "detaching_for")})


def detach(conn: Connection, row: dict[str, Any], instance_uuid: str | None) -> dict[str, Any]:
    left = [a for a in row["attachments"]
            if instance_uuid is not None and a.get("server_id") != instance_uuid]
    meta = _clean(row["admin_metadata"], "attached_mode", *_TRANSIENT)
    if left:
        return update(conn, row, {"status": "in-use", "attachments": left,
                                  "admin_metadata": {**meta, "attached_mode": row[
                                      "admin_metadata"].get("attached_mode", "rw")},
                                  **_end_compute_task(row)})
    return update(conn, row, {"status": "available", "attach_status": "detached",
                              "attachments": [], "admin_metadata": meta,
                              **_end_compute_task(row)})


def overdue_reservations(conn: Connection, at: dt.datetime) -> list[tuple[str, str, str]]:
    """Compute's attaches and detaches past their deadline: (volume id, server, task)."""
    v = t.volumes
    out = []
    for r in conn.execute(sa.select(v.c.id, v.c.task, v.c.admin_metadata).where(
            v.c.task.in_(OWNED_BY_COMPUTE), v.c.task_deadline < at)):
        key = "reserved_for" if r.task == "attach" else "detaching_for"
        out.append((r.id, str(r.admin_metadata.get(key) or ""), r.task))
    return out
