"""Backup records: ``export_record`` encodes a backup's database record (base64 JSON, as
Cinder's ``backup_url``) and ``import_record`` makes a backup from one — a backup whose data
another backup's files hold (``cinder_backup_data``: backup id → the id its data is filed
under). The storage agent checks the data is there before the import becomes ``available``.

Data shared by several backup rows is removed with the last of them."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from pocketstack.volume import errors
from pocketstack.volume import tables as t
from pocketstack.volume.domain import quotas
from pocketstack.volume.domain.common import now

#: the Cinder backup driver this directory backend stands for (files in a directory)
SERVICE = "cinder.backup.drivers.posix.PosixBackupDriver"
_STAMP = "%Y-%m-%dT%H:%M:%S.%f"


def data_of(conn: Connection, backup_id: str) -> str:
    """The id the backup's data is filed under (its own, unless it was imported)."""
    d = t.backup_data
    found = conn.execute(sa.select(d.c.data_id).where(d.c.backup_id == backup_id)).scalar()
    return backup_id if found is None else str(found)


def shared(conn: Connection, backup_id: str) -> bool:
    """Whether another backup row still needs this backup's data."""
    data = data_of(conn, backup_id)
    d, b = t.backup_data, t.backups
    others = {r[0] for r in conn.execute(sa.select(d.c.backup_id).where(d.c.data_id == data))}
    if data != backup_id and conn.execute(sa.select(b.c.id).where(b.c.id == data)).first():
        others.add(data)
    others.discard(backup_id)
    return bool(others)


def forget(conn: Connection, backup_id: str) -> None:
    conn.execute(sa.delete(t.backup_data).where(t.backup_data.c.backup_id == backup_id))


def export(conn: Connection, row: dict[str, Any]) -> dict[str, str]:
    if row["status"] != "available":
        raise errors.InvalidState(f"Invalid backup: Backup status must be available and not "
                                  f"{row['status']}.")
    record = {
        "id": row["id"], "volume_id": row["volume_id"], "snapshot_id": row["snapshot_id"],
        "display_name": row["name"], "display_description": row["description"],
        "size": row["size"], "availability_zone": row["availability_zone"],
        "container": row["container"], "host": row["host"],
        "object_count": row["object_count"], "is_incremental": bool(row["is_incremental"]),
        "parent_id": row["parent_id"], "volume_meta": row["volume_meta"],
        "service_metadata": data_of(conn, row["id"]), "service": SERVICE,
        "data_timestamp": row["data_timestamp"].strftime(_STAMP),
        "created_at": row["created_at"].strftime(_STAMP)}
    url = base64.b64encode(json.dumps(record).encode()).decode()
    return {"backup_service": SERVICE, "backup_url": url}


def decode(url: Any) -> dict[str, Any]:
    if not isinstance(url, str) or not url:
        raise errors.bad("backup_url must be a non-empty string.")
    try:
        record = json.loads(base64.b64decode(url.encode(), validate=True))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise errors.bad("Can't parse backup record.") from None
    if not isinstance(record, dict):
        raise errors.bad("Can't parse backup record.")
    try:
        uuid.UUID(str(record.get("id")))
        uuid.UUID(str(record.get("service_metadata") or record.get("id")))
    except ValueError:
        raise errors.bad("The backup record has no valid 'id'.") from None
    size = record.get("size")
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise errors.bad("The backup record has no valid 'size'.")
    for key in ("volume_id", "display_name", "display_description", "container"):
        if record.get(key) is not None and not isinstance(record[key], str):
            raise errors.bad(f"The backup record's {key} must be a string.")
    return record


def begin_import(conn: Connection, record: dict[str, Any], *, project_id: str,
                 user_id: str | None, host: str | None, default_az: str,
                 quota_defaults: dict[str, int], task_deadline: dt.datetime
                 ) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """A ``creating`` backup with the record's id and its data's id; the agent's check."""
    ident = str(record["id"])
    b = t.backups
    if conn.execute(sa.select(b.c.id).where(b.c.id == ident)).first() is not None:
        raise errors.InvalidState("Invalid backup: Backup already exists in database.")
    if host is None:
        raise errors.InvalidState("Invalid backup: no backup service is up to import it.")
    quotas.check(conn, project_id, quota_defaults, backups=1,
                 backup_gigabytes=int(record["size"]))
    stamp = now()
    taken = _when(record.get("data_timestamp")) or stamp
    conn.execute(sa.insert(b).values(
        id=ident, project_id=project_id, user_id=user_id,
        volume_id=str(record.get("volume_id") or "00000000-0000-0000-0000-000000000000"),
        snapshot_id=record.get("snapshot_id") if isinstance(record.get("snapshot_id"), str)
        else None,
        name=(record.get("display_name") or None), size=int(record["size"]),
        description=record.get("display_description"), status="creating",
        availability_zone=default_az, host=host,
        container=record.get("container") or "backups", is_incremental=False, parent_id=None,
        object_count=int(record.get("object_count") or 0), metadata={},
        volume_meta=record.get("volume_meta") if isinstance(record.get("volume_meta"), dict)
        else None, task="import", task_deadline=task_deadline, data_timestamp=taken,
        created_at=stamp, updated_at=stamp))
    data = str(record.get("service_metadata") or ident)
    if data != ident:
        conn.execute(sa.insert(t.backup_data).values(backup_id=ident, data_id=data))
    row = {"id": ident, "name": record.get("display_name") or None}
    return row, {"op": "import_backup", "kind": "backup", "id": ident, "data_id": data,
                 "host": host}


def _when(text: Any) -> dt.datetime | None:
    if not isinstance(text, str):
        return None
    try:
        return dt.datetime.strptime(text, _STAMP)
    except ValueError:
        return None
