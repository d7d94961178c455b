"""Volume backups: create (``backups``/``backup_gigabytes`` quotas under the project lock; the
volume goes ``backing-up`` and back), list/show, delete, restore (into an existing volume or a
new one, which stays ``restoring-backup`` until the data is in), and finishing the storage
agent's reports. A backup's task has a deadline like a volume's: the reconciler moves an
expired one to ``error`` and puts its volume back (a restore target to ``error_restoring``)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from pocketstack.common import exceptions
from pocketstack.volume import errors
from pocketstack.volume import tables as t
from pocketstack.volume.domain import backup_records, common, quotas, types
from pocketstack.volume.domain.common import now, row_dict
from pocketstack.volume.domain.volumes import ListQuery
from pocketstack.volume.domain.volumes import get as get_volume

SORT_KEYS = {"id", "name", "status", "size", "created_at", "updated_at", "volume_id",
             "project_id", "display_name"}
FILTERS = {"name", "status", "volume_id"}


class BackupNotFound(exceptions.NotFound):
    def __init__(self, backup_id: str) -> None:
        super().__init__(f"Backup {backup_id} could not be found.")


def get(conn: Connection, ident: str, project_id: str | None, admin: bool) -> dict[str, Any]:
    b = t.backups
    q = sa.select(b).where(b.c.id == ident)
    if not admin:
        q = q.where(b.c.project_id == (project_id or ""))
    row = conn.execute(q).first()
    if row is None:
        raise BackupNotFound(ident)
    out = row_dict(row)
    out["has_dependent_backups"] = bool(conn.execute(
        sa.select(sa.func.count()).where(b.c.parent_id == ident)).scalar())
    return out


def list_backups(conn: Connection, q: ListQuery) -> tuple[list[dict[str, Any]], bool]:
    b = t.backups
    stmt = sa.select(b)
    if q.project_id is not None:
        stmt = stmt.where(b.c.project_id == q.project_id)
    for key, value in q.filters.items():
        stmt = stmt.where(b.c[key] == value)
    order = []
    for key, direction in q.sort:
        col = b.c["name" if key == "display_name" else key]
        order.append(col.asc() if direction == "asc" else col.desc())
    order.append(b.c.id.asc())
    rows = [row_dict(r) for r in conn.execute(stmt.order_by(*order))]
    parents = {r[0] for r in conn.execute(sa.select(b.c.parent_id).where(
        b.c.parent_id.is_not(None)))}
    for r in rows:
        r["has_dependent_backups"] = r["id"] in parents
    return common.page(rows, q.marker, q.offset, q.limit)


def usage(conn: Connection, project_id: str) -> tuple[int, int]:
    b = t.backups
    count, gb = conn.execute(sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(b.c.size), 0))
                             .where(b.c.project_id == project_id)).one()
    return int(count), int(gb)


def _vol_update(conn: Connection, volume_id: str, **values: Any) -> None:
    conn.execute(sa.update(t.volumes).where(t.volumes.c.id == volume_id)
                 .values(updated_at=now(), **values))


def create(conn: Connection, *, project_id: str, user_id: str | None, volume_id: str,
           snapshot_id: str | None, name: str | None, description: str | None,
           container: str | None, incremental: bool, force: bool, metadata: dict[str, str],
           admin: bool, quota_defaults: dict[str, int], task_deadline: dt.datetime
           ) -> tuple[dict[str, Any], dict[str, Any]]:
    volume = get_volume(conn, volume_id, project_id, admin)
    ok = ("available", "in-use") if force else ("available",)
    if volume["status"] not in ok:
        raise errors.InvalidState(f"Invalid volume: Volume to be backed up must be available "
                                  f"or in-use, but the current status is "
                                  f"\"{volume['status']}\".")
    if volume["status"] == "in-use" and not force:
        raise errors.InvalidState("Invalid volume: Backing up an in-use volume must use the "
                                  "force flag.")
    if volume["host"] is None:
        raise errors.InvalidState(f"Invalid volume: Volume {volume_id} has no storage host.")
    if snapshot_id is not None:
        snap = conn.execute(sa.select(t.snapshots).where(t.snapshots.c.id == snapshot_id,
                                                         t.snapshots.c.volume_id == volume_id)
                            ).first()
        if snap is None:
            raise errors.SnapshotNotFound(snapshot_id)
        if snap.status != "available":
            raise errors.InvalidState(f"Invalid snapshot: Snapshot to be backed up must be "
                                      f"available, but the current status is "
                                      f"\"{snap.status}\".")
    b = t.backups
    parent_id = None
    if incremental:
        parent = conn.execute(sa.select(b.c.id).where(
            b.c.volume_id == volume_id, b.c.status == "available")
            .order_by(b.c.data_timestamp.desc(), b.c.created_at.desc())).first()
        if parent is None:
            raise errors.bad("No backups available to do an incremental backup.")
        parent_id = parent[0]
    quotas.check(conn, volume["project_id"], quota_defaults, backups=1,
                 backup_gigabytes=int(volume["size"]))
    ident = str(uuid.uuid4())
    stamp = now()
    conn.execute(sa.insert(b).values(
        id=ident, project_id=volume["project_id"], user_id=user_id, volume_id=volume_id,
        snapshot_id=snapshot_id, name=name, description=description, size=volume["size"],
        status="creating", availability_zone=volume["availability_zone"], host=volume["host"],
        container=container or "backups", is_incremental=incremental, parent_id=parent_id,
        object_count=0, metadata=metadata, task="create", task_deadline=task_deadline,
        volume_meta={"metadata": volume["metadata"], "bootable": bool(volume["bootable"]),
                     "image_metadata": volume["image_metadata"]},
        data_timestamp=stamp, created_at=stamp, updated_at=stamp))
    if snapshot_id is None:
        meta = {**volume["admin_metadata"], "backup_from": volume["status"]}
        _vol_update(conn, volume_id, status="backing-up", admin_metadata=meta)
    return get(conn, ident, None, True), {
        "op": "backup", "kind": "backup", "id": ident, "volume_id": volume_id,
        "snapshot_id": snapshot_id, "host": volume["host"]}


def begin_delete(conn: Connection, row: dict[str, Any], force: bool,
                 task_deadline: dt.datetime) -> dict[str, Any] | None:
    allowed: tuple[str, ...] = ("available", "error", "error_deleting")
    if force:
        allowed = (*allowed, "creating", "restoring", "deleting")
    if row["status"] not in allowed:
        raise errors.InvalidState(f"Invalid backup: Backup status must be available or error, "
                                  f"not {row['status']}.")
    if row["has_dependent_backups"]:
        raise errors.InvalidState("Invalid backup: Incremental backups exist for this backup.")
    if row["host"] is None or backup_records.shared(conn, row["id"]):
        # no data of its own to remove: another backup (an import) still uses the files
        backup_records.forget(conn, row["id"])
        conn.execute(sa.delete(t.backups).where(t.backups.c.id == row["id"]))
        return None
    if row["task"] == "create" and row["snapshot_id"] is None:
        _restore_volume_status(conn, row["volume_id"])
    conn.execute(sa.update(t.backups).where(t.backups.c.id == row["id"]).values(
        status="deleting", task="delete", task_deadline=task_deadline, updated_at=now()))
    return {"op": "delete_backup", "kind": "backup", "id": row["id"], "host": row["host"],
            "data_id": backup_records.data_of(conn, row["id"])}


def begin_restore(conn: Connection, row: dict[str, Any], *, volume_id: str | None,
                  name: str | None, project_id: str, user_id: str | None, admin: bool,
                  quota_defaults: dict[str, int], default_az: str,
                  task_deadline: dt.datetime) -> tuple[dict[str, Any], dict[str, Any]]:
    """backup → restoring and its target volume → restoring-backup; (the restore view, task)."""
    if row["status"] != "available":
        raise errors.InvalidState(f"Invalid backup: Backup status must be available, not "
                                  f"{row['status']}.")
    if volume_id is None:
        quotas.check(conn, project_id, quota_defaults, volumes=1, gigabytes=int(row["size"]),
                     volume_size=int(row["size"]))
        volume_id = str(uuid.uuid4())
        stamp = now()
        conn.execute(sa.insert(t.volumes).values(
            id=volume_id, project_id=project_id, user_id=user_id,
            name=name or f"restore_backup_{row['id']}", description=None, size=row["size"],
            status="restoring-backup", attach_status="detached", availability_zone=default_az,
            host=row["host"], volume_type_id=types.default_id(conn) or types.ensure_default(conn),
            bootable=False, readonly=False, multiattach=False, encrypted=False, metadata={},
            image_metadata={}, admin_metadata={"restore_new": "1"}, attachments=[],
            created_at=stamp, updated_at=stamp))
        volume = get_volume(conn, volume_id, None, True)
    else:
        volume = get_volume(conn, volume_id, project_id, admin)
        if volume["status"] != "available":
            raise errors.InvalidState(f"Invalid volume: Volume to be restored to must be "
                                      f"available, but the current status is "
                                      f"\"{volume['status']}\".")
        if int(volume["size"]) < int(row["size"]):
            raise errors.bad(f"volume size {volume['size']} is too small to restore backup of "
                             f"size {row['size']}.")
        if volume["host"] != row["host"]:
            raise errors.InvalidState(f"Invalid volume: Volume {volume_id} is on another "
                                      "storage host than the backup.")
        _vol_update(conn, volume_id, status="restoring-backup")
    conn.execute(sa.update(t.backups).where(t.backups.c.id == row["id"]).values(
        status="restoring", restore_volume_id=volume_id, task="restore",
        task_deadline=task_deadline, updated_at=now()))
    view = {"backup_id": row["id"], "volume_id": volume_id, "volume_name": volume["name"]}
    return view, {"op": "restore", "kind": "backup", "id": row["id"], "volume_id": volume_id,
                  "host": row["host"], "size": int(volume["size"]),
                  "data_id": backup_records.data_of(conn, row["id"])}


def update(conn: Connection, row: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    conn.execute(sa.update(t.backups).where(t.backups.c.id == row["id"])
                 .values(updated_at=now(), **values))
    return get(conn, row["id"], None, True)


def reset_status(conn: Connection, row: dict[str, Any], status: str) -> None:
    conn.execute(sa.update(t.backups).where(t.backups.c.id == row["id"]).values(
        status=status, task=None, task_deadline=None, updated_at=now()))


def _restore_volume_status(conn: Connection, volume_id: str) -> None:
    vol = conn.execute(sa.select(t.volumes).where(t.volumes.c.id == volume_id)).first()
    if vol is None or vol.status != "backing-up":
        return
    meta = dict(vol.admin_metadata)
    back = meta.pop("backup_from", "available")
    _vol_update(conn, volume_id, status=back, admin_metadata=meta)


def _restore_target_done(conn: Connection, volume_id: str | None, ok: bool,
                         message: str | None, saved: dict[str, Any] | None = None) -> None:
    if volume_id is None:
        return
    vol = conn.execute(sa.select(t.volumes).where(t.volumes.c.id == volume_id)).first()
    if vol is None or vol.status != "restoring-backup":
        return
    from pocketstack.volume.domain.tasks import without_progress

    user_meta, admin_meta = without_progress(vol.metadata, vol.admin_metadata)
    meta = {k: v for k, v in admin_meta.items() if k != "restore_new"}
    if ok:
        saved = saved or {}
        extra: dict[str, Any] = {"metadata": user_meta}
        if saved:  # the backed-up volume's metadata, bootable flag and image metadata
            extra = {"metadata": {**user_meta, **saved.get("metadata", {})},
                     "bootable": bool(saved.get("bootable")) or bool(vol.bootable),
                     "image_metadata": {**vol.image_metadata,
                                        **saved.get("image_metadata", {})}}
        _vol_update(conn, volume_id, status="available", admin_metadata=meta, **extra)
    else:
        _vol_update(conn, volume_id, status="error_restoring", status_reason=message,
                    admin_metadata=meta, metadata=user_meta)


def finish(conn: Connection, ident: str, ok: bool, message: str | None) -> bool:
    """Apply the agent's report on a backup task."""
    b = t.backups
    row = conn.execute(sa.select(b).where(b.c.id == ident)).first()
    if row is None or row.task is None:
        return False
    clear: dict[str, Any] = {"task": None, "task_deadline": None, "updated_at": now()}
    if row.task == "import":  # the agent found (or not) the data the record names
        found = {"status": "available"} if ok else {"status": "error", "fail_reason": message}
        conn.execute(sa.update(b).where(b.c.id == ident).values(**found, **clear))
        return True
    if row.task == "delete":
        if ok:
            backup_records.forget(conn, ident)
            conn.execute(sa.delete(b).where(b.c.id == ident))
        else:
            conn.execute(sa.update(b).where(b.c.id == ident).values(
                status="error_deleting", fail_reason=message, **clear))
        return True
    if row.task == "create":
        if row.snapshot_id is None:
            _restore_volume_status(conn, row.volume_id)
        values: dict[str, Any] = {"status": "available", "object_count": 1} if ok else {
            "status": "error", "fail_reason": message}
        conn.execute(sa.update(b).where(b.c.id == ident).values(**values, **clear))
        return True
    if row.task == "restore":
        _restore_target_done(conn, row.restore_volume_id, ok, message, row.volume_meta)
        values = {"status": "available"} if ok else {"status": "available",
                                                     "fail_reason": message}
        conn.execute(sa.update(b).where(b.c.id == ident).values(**values, **clear))
        return True
    return False


def reconcile(conn: Connection) -> int:
    b = t.backups
    stamp = now()
    moved = 0
    for row in conn.execute(sa.select(b).where(b.c.task.is_not(None),
                                               b.c.task_deadline < stamp)).all():
        reason = f"{row.task} did not finish before its deadline"
        if row.task == "create" and row.snapshot_id is None:
            _restore_volume_status(conn, row.volume_id)
        if row.task == "restore":
            _restore_target_done(conn, row.restore_volume_id, False, reason)
        status = {"delete": "error_deleting", "restore": "available"}.get(row.task, "error")
        conn.execute(sa.update(b).where(b.c.id == row.id).values(
            status=status, fail_reason=reason, task=None, task_deadline=None,
            updated_at=stamp))
        moved += 1
    return moved


def pending(conn: Connection) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    b = t.backups
    for r in conn.execute(sa.select(b).where(b.c.task.is_not(None))):
        if r.task == "create":
            out.append({"op": "backup", "kind": "backup", "id": r.id, "volume_id": r.volume_id,
                        "snapshot_id": r.snapshot_id, "host": r.host})
        elif r.task == "delete":
            out.append({"op": "delete_backup", "kind": "backup", "id": r.id, "host": r.host,
                        "data_id": backup_records.data_of(conn, r.id)})
        elif r.task == "import":
            out.append({"op": "import_backup", "kind": "backup", "id": r.id, "host": r.host,
                        "data_id": backup_records.data_of(conn, r.id)})
        elif r.task == "restore":
            vol = conn.execute(sa.select(t.volumes.c.size).where(
                t.volumes.c.id == r.restore_volume_id)).scalar()
            out.append({"op": "restore", "kind": "backup", "id": r.id,
                        "volume_id": r.restore_volume_id, "host": r.host,
                        "size": int(vol or r.size),
                        "data_id": backup_records.data_of(conn, r.id)})
    return out
