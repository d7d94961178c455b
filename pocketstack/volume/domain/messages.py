"""User messages (``/messages``, 3.3+): what went wrong with a user's request that its status
alone cannot say, recorded when it happens — a volume no backend can take, a backend failing
to create, extend or snapshot — and kept :data:`TTL` (Cinder's ``message_ttl``), then purged by
the conductor.

A message stores Cinder's action and detail codes; its ``event_id`` is
``VOLUME_<resource type>_<action>_<detail>`` and its ``user_message`` "<action>: <detail>", as
Cinder composes them (``cinder/message/message_field.py``)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from pocketstack.common import exceptions
from pocketstack.volume import tables as t
from pocketstack.volume.domain.common import now, row_dict

TTL = dt.timedelta(days=30)

VOLUME = "VOLUME"
SNAPSHOT = "VOLUME_SNAPSHOT"
BACKUP = "VOLUME_BACKUP"

#: Cinder's action codes
ACTIONS = {
    "001": "schedule allocate volume",
    "005": "copy image to volume",
    "007": "extend volume",
    "008": "create volume from backend storage",
    "009": "snapshot create",
    "010": "snapshot delete",
    "013": "create backup",
    "015": "restore backup",
    "016": "reimage volume",
}
SCHEDULE_ALLOCATE_VOLUME = "001"
COPY_IMAGE_TO_VOLUME = "005"
EXTEND_VOLUME = "007"
CREATE_VOLUME_FROM_BACKEND = "008"
SNAPSHOT_CREATE = "009"
SNAPSHOT_DELETE = "010"
BACKUP_CREATE = "013"
BACKUP_RESTORE = "015"
REIMAGE_VOLUME = "016"

#: Cinder's detail codes
DETAILS = {
    "001": "An unknown error occurred.",
    "003": "Could not find any available weighted backend.",
    "010": "Volume Driver failed to extend volume.",
    "012": "Driver failed to create the volume.",
    "013": "Snapshot failed to create.",
    "016": "Snapshot failed to delete.",
}
UNKNOWN_ERROR = "001"
NO_BACKEND_AVAILABLE = "003"
DRIVER_FAILED_EXTEND = "010"
DRIVER_FAILED_CREATE = "012"
SNAPSHOT_CREATE_ERROR = "013"
SNAPSHOT_DELETE_ERROR = "016"

SORT_KEYS = {"id", "event_id", "resource_type", "resource_uuid", "message_level",
             "created_at", "request_id"}
FILTERS = {"event_id", "resource_type", "resource_uuid", "message_level", "request_id"}


class MessageNotFound(exceptions.NotFound):
    def __init__(self, ident: str) -> None:
        super().__init__(f"Message {ident} could not be found.")


def record(conn: Connection, *, project_id: str, resource_type: str,
           resource_uuid: str | None, action: str, detail: str,
           request_id: str | None = None) -> str:
    ident = str(uuid.uuid4())
    stamp = now()
    conn.execute(sa.insert(t.messages).values(
        id=ident, project_id=project_id, request_id=request_id or f"req-{uuid.uuid4()}",
        resource_type=resource_type, resource_uuid=resource_uuid, action_id=action,
        detail_id=detail, message_level="ERROR", created_at=stamp, expires_at=stamp + TTL))
    return ident


def event_id(row: dict[str, Any]) -> str:
    return f"VOLUME_{row['resource_type']}_{row['action_id']}_{row['detail_id']}"


def user_message(row: dict[str, Any]) -> str:
    action = ACTIONS.get(row["action_id"], "unknown action")
    return f"{action}: {DETAILS.get(row['detail_id'], DETAILS[UNKNOWN_ERROR])}"


def get(conn: Connection, ident: str, project_id: str | None, admin: bool) -> dict[str, Any]:
    m = t.messages
    q = sa.select(m).where(m.c.id == ident, m.c.expires_at > now())
    if not admin:
        q = q.where(m.c.project_id == (project_id or ""))
    row = conn.execute(q).first()
    if row is None:
        raise MessageNotFound(ident)
    return row_dict(row)


def list_messages(conn: Connection, project_id: str | None, admin: bool,
                  filters: dict[str, str], sort: list[tuple[str, str]]
                  ) -> list[dict[str, Any]]:
    m = t.messages
    q = sa.select(m).where(m.c.expires_at > now())
    if not admin:
        q = q.where(m.c.project_id == (project_id or ""))
    rows = [row_dict(r) for r in conn.execute(q)]
    for key, value in filters.items():
        rows = [r for r in rows if (event_id(r) if key == "event_id" else r[key]) == value]
    for key, direction in reversed(sort):
        rows.sort(key=_sort_key(key), reverse=direction == "desc")
    return rows


def _sort_key(key: str) -> Callable[[dict[str, Any]], Any]:
    def value(row: dict[str, Any]) -> Any:
        return (event_id(row) if key == "event_id" else row[key]) or ""
    return value


def delete(conn: Connection, ident: str, project_id: str | None, admin: bool) -> None:
    row = get(conn, ident, project_id, admin)
    conn.execute(sa.delete(t.messages).where(t.messages.c.id == row["id"]))


def purge_expired(conn: Connection) -> int:
    return int(conn.execute(sa.delete(t.messages).where(t.messages.c.expires_at <= now()))
               .rowcount)
