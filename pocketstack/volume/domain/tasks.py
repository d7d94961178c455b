"""Finishing tasks: the storage agent's reports move volumes and snapshots to their next
status; the reconciler moves those whose deadline passed to ``error``/``error_deleting``
(with the reason in ``status_reason``), so nothing stays ``creating``/``deleting``/``extending``
forever. Compute's attach and detach reservations (tasks ``attach``/``detach``) are compute's
to roll back: its reconciler asks for them (``VolumeAPI.overdue_reservations``)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from pocketstack.volume import tables as t
from pocketstack.volume.domain import messages, reimage
from pocketstack.volume.domain.common import now
from pocketstack.volume.domain.volumes import OWNED_BY_COMPUTE

_ERROR_OF = {"create": "error", "delete": "error_deleting", "extend": "error_extending",
             "upload": "error", "reimage": "error"}


def finish(conn: Connection, kind: str, ident: str, action: str, ok: bool,
           message: str | None, request_id: str | None = None) -> bool:
    """Apply one report; False when it no longer matters (the task was reconciled away).
    A failure also leaves the project a user message (``/messages``)."""
    if kind == "backup":
        from pocketstack.volume.domain import backups

        row = conn.execute(sa.select(t.backups).where(t.backups.c.id == ident)).first()
        if not ok and row is not None and row.task in ("create", "restore"):
            _tell(conn, row.project_id, messages.BACKUP, ident,
                  messages.BACKUP_CREATE if row.task == "create" else messages.BACKUP_RESTORE,
                  messages.UNKNOWN_ERROR, request_id)
        return backups.finish(conn, ident, ok, message)
    table = t.snapshots if kind == "snapshot" else t.volumes
    row = conn.execute(sa.select(table).where(table.c.id == ident)).first()
    if row is None or row.task is None:
        return False
    task = row.task
    if kind == "volume" and action in _ERROR_OF and action != task:
        return False  # a report of an earlier task (e.g. a re-image overtaken by a delete)
    if not ok:
        _failure_message(conn, kind, row, request_id)
    stamp = now()
    clear: dict[str, Any] = {"task": None, "task_deadline": None, "updated_at": stamp}
    if task == "delete":
        if ok:
            if kind == "volume":  # a cascade: its snapshots go with it (their files too)
                conn.execute(sa.delete(t.snapshots).where(t.snapshots.c.volume_id == ident))
            conn.execute(sa.delete(table).where(table.c.id == ident))
        else:
            conn.execute(sa.update(table).where(table.c.id == ident).values(
                status="error_deleting", status_reason=message, **clear))
        return True
    if task == "create":
        values: dict[str, Any] = {"status": "available"} if ok else {
            "status": "error", "status_reason": message}
        if kind == "snapshot" and ok:
            values["progress"] = "100%"
        if kind == "volume":
            values["metadata"], values["admin_metadata"] = without_progress(
                row.metadata, row.admin_metadata)
        conn.execute(sa.update(table).where(table.c.id == ident).values(**values, **clear))
        return True
    if task == reimage.TASK and kind == "volume":
        reimage.finish(conn, row, ok, message, clear)
        return True
    if task == "extend" and kind == "volume":
        meta = dict(row.admin_metadata)
        back = meta.pop("extend_from", "available")
        size = int(meta.pop("extend_to", row.size))
        values = {"status": back, "size": size} if ok else {
            "status": "error_extending", "status_reason": message}
        conn.execute(sa.update(table).where(table.c.id == ident).values(
            admin_metadata=meta, **values, **clear))
        return True
    return False


PROGRESS_KEY = "progress"  # the volume metadata key a long copy shows its progress in
_SHOWN = "progress_shown"  # admin metadata: the key is the copy's, removed when it ends


def progress(conn: Connection, ident: str, percent: int) -> bool:
    """Show a long copy's progress (``NN%``) in the volume's metadata while it is created
    (from an image the volume is ``downloading``, as Cinder's), re-imaged or restored."""
    v = t.volumes
    row = conn.execute(sa.select(v).where(v.c.id == ident)).first()
    if row is None or row.status not in ("creating", "downloading", "restoring-backup"):
        return False
    status = "downloading" if row.status == "creating" and row.image_id else row.status
    value = f"{max(0, min(100, int(percent)))}%"
    if PROGRESS_KEY in row.metadata and not row.admin_metadata.get(_SHOWN):
        value = str(row.metadata[PROGRESS_KEY])  # the user's own key: left alone
    if row.metadata.get(PROGRESS_KEY) == value and status == row.status:
        return False
    mine = PROGRESS_KEY not in row.metadata or row.admin_metadata.get(_SHOWN)
    conn.execute(sa.update(v).where(v.c.id == ident, v.c.status == row.status).values(
        status=status, metadata={**row.metadata, PROGRESS_KEY: value},
        admin_metadata={**row.admin_metadata, _SHOWN: "1"} if mine else row.admin_metadata,
        updated_at=now()))
    return True


def without_progress(metadata: dict[str, Any], admin_metadata: dict[str, Any]
                     ) -> tuple[dict[str, Any], dict[str, Any]]:
    """The metadata once the copy is over: the progress key gone if the copy put it there."""
    if not admin_metadata.get(_SHOWN):
        return dict(metadata), dict(admin_metadata)
    return ({k: v for k, v in metadata.items() if k != PROGRESS_KEY},
            {k: v for k, v in admin_metadata.items() if k != _SHOWN})


def _tell(conn: Connection, project_id: str, resource_type: str, ident: str, action: str,
          detail: str, request_id: str | None) -> None:
    messages.record(conn, project_id=project_id, resource_type=resource_type,
                    resource_uuid=ident, action=action, detail=detail, request_id=request_id)


def _failure_message(conn: Connection, kind: str, row: Any, request_id: str | None) -> None:
    """The user message Cinder leaves when its volume manager fails a task."""
    m = messages
    if kind == "snapshot":
        if row.task == "create":
            _tell(conn, row.project_id, m.SNAPSHOT, row.id, m.SNAPSHOT_CREATE,
                  m.SNAPSHOT_CREATE_ERROR, request_id)
        elif row.task == "delete":
            _tell(conn, row.project_id, m.SNAPSHOT, row.id, m.SNAPSHOT_DELETE,
                  m.SNAPSHOT_DELETE_ERROR, request_id)
    elif row.task == "create":
        if row.image_id:
            _tell(conn, row.project_id, m.VOLUME, row.id, m.COPY_IMAGE_TO_VOLUME,
                  m.UNKNOWN_ERROR, request_id)
        else:
            _tell(conn, row.project_id, m.VOLUME, row.id, m.CREATE_VOLUME_FROM_BACKEND,
                  m.DRIVER_FAILED_CREATE, request_id)
    elif row.task == "extend":
        _tell(conn, row.project_id, m.VOLUME, row.id, m.EXTEND_VOLUME, m.DRIVER_FAILED_EXTEND,
              request_id)
    elif row.task == reimage.TASK:
        _tell(conn, row.project_id, m.VOLUME, row.id, m.REIMAGE_VOLUME, m.UNKNOWN_ERROR,
              request_id)


def reconcile(conn: Connection) -> int:
    """Expired tasks → error states; how many moved."""
    stamp = now()
    moved = 0
    for table in (t.volumes, t.snapshots):
        expired = conn.execute(sa.select(table.c.id, table.c.task).where(
            table.c.task.is_not(None), table.c.task.not_in(OWNED_BY_COMPUTE),
            table.c.task_deadline < stamp)).all()
        for ident, task in expired:
            if table is t.volumes and task == "create":
                row = conn.execute(sa.select(table).where(table.c.id == ident)).first()
                if row is not None:
                    meta, admin = without_progress(row.metadata, row.admin_metadata)
                    conn.execute(sa.update(table).where(table.c.id == ident).values(
                        metadata=meta, admin_metadata=admin))
            elif table is t.volumes and task == reimage.TASK:
                reimage.expired(conn, ident)
            conn.execute(sa.update(table).where(table.c.id == ident).values(
                status=_ERROR_OF.get(task, "error"), task=None, task_deadline=None,
                status_reason=f"{task} did not finish before its deadline", updated_at=stamp))
            moved += 1
    from pocketstack.volume.domain import backups

    messages.purge_expired(conn)
    return moved + backups.reconcile(conn)


def pending(conn: Connection) -> list[dict[str, Any]]:
    """Tasks in flight, re-sent to their hosts when the conductor starts (a cast lost with a
    restart only delays; every agent operation is idempotent). An image is then streamed by
    the agent over the bus (the local path is not kept)."""
    out: list[dict[str, Any]] = []
    v, s = t.volumes, t.snapshots
    for r in conn.execute(sa.select(v).where(v.c.task.is_not(None))):
        if r.task == "delete":
            out.append({"op": "delete", "kind": "volume", "id": r.id, "host": r.host})
        elif r.task == "extend":
            out.append({"op": "extend", "kind": "volume", "id": r.id, "host": r.host,
                        "size": int(r.admin_metadata.get("extend_to", r.size))})
        elif r.task == "create":
            source: dict[str, Any] = {}
            if r.image_id:
                source = {"type": "image", "id": r.image_id, "path": None,
                          "disk_format": r.image_metadata.get("disk_format")}
            elif r.snapshot_id:
                source = {"type": "snapshot", "id": r.snapshot_id}
            elif r.source_volid:
                source = {"type": "volume", "id": r.source_volid}
            out.append({"op": "create", "kind": "volume", "id": r.id, "host": r.host,
                        "size": int(r.size), "source": source})
        elif r.task == reimage.TASK:
            out.append(reimage.pending_message(r))
    for r in conn.execute(sa.select(s, v.c.host).join(v, v.c.id == s.c.volume_id)
                          .where(s.c.task.is_not(None))):
        op = "delete_snapshot" if r.task == "delete" else "snapshot"
        out.append({"op": op, "kind": "snapshot", "id": r.id, "volume_id": r.volume_id,
                    "host": r.host})
    from pocketstack.volume.domain import backups

    return out + backups.pending(conn)


def begin_upload(conn: Connection, row: dict[str, Any], force: bool,
                 task_deadline: Any) -> None:
    """available (or in-use with ``force``) → uploading, remembering where to go back."""
    from pocketstack.volume import errors

    allowed = ("available", "in-use") if force else ("available",)
    if row["status"] not in allowed:
        raise errors.InvalidState(f"Invalid volume: Volume {row['id']} status must be "
                                  f"{' or '.join(allowed)}, but current status is: "
                                  f"{row['status']}.")
    meta = {**row["admin_metadata"], "upload_from": row["status"]}
    conn.execute(sa.update(t.volumes).where(t.volumes.c.id == row["id"]).values(
        status="uploading", task="upload", task_deadline=task_deadline, admin_metadata=meta,
        updated_at=now()))


def end_upload(conn: Connection, volume_id: str) -> None:
    row = conn.execute(sa.select(t.volumes).where(t.volumes.c.id == volume_id)).first()
    if row is None or row.task != "upload":
        return
    meta = dict(row.admin_metadata)
    back = meta.pop("upload_from", "available")
    conn.execute(sa.update(t.volumes).where(t.volumes.c.id == volume_id).values(
        status=back, task=None, task_deadline=None, admin_metadata=meta, updated_at=now()))
