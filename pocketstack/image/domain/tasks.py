"""Import tasks (``GET /v2/images/{id}/tasks``): one row per ``POST .../import``."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from pocketstack.common import exceptions
from pocketstack.image import tables as t
from pocketstack.image.domain.common import new_id, utcnow

TASK_TTL = dt.timedelta(hours=48)


def create(conn: Connection, image_id: str, owner: str | None, user_id: str | None,
           request_id: str | None, task_input: dict[str, Any]) -> dict[str, Any]:
    now = utcnow()
    row = {"id": new_id(), "image_id": image_id, "type": "api_image_import",
           "status": "processing", "owner": owner, "user_id": user_id,
           "request_id": request_id, "input": task_input, "result": None, "message": "",
           "created_at": now, "updated_at": now, "expires_at": None}
    conn.execute(sa.insert(t.tasks).values(**row))
    return row


def finish(conn: Connection, task_id: str, success: bool, message: str = "",
           result: dict[str, Any] | None = None) -> None:
    now = utcnow()
    conn.execute(sa.update(t.tasks).where(t.tasks.c.id == task_id).values(
        status="success" if success else "failure", message=message, result=result,
        updated_at=now, expires_at=now + TASK_TTL))


def list_for_image(conn: Connection, image_id: str) -> list[dict[str, Any]]:
    return [dict(r) for r in conn.execute(
        sa.select(t.tasks).where(t.tasks.c.image_id == image_id)
        .order_by(t.tasks.c.created_at)).mappings()]


# -- /v2/tasks ----------------------------------------------------------------------------------
TASK_SORT_KEYS = ("created_at", "updated_at", "id", "type", "status")


def create_import(conn: Connection, image_id: str, owner: str | None, user_id: str | None,
                  request_id: str | None, task_input: dict[str, Any]) -> dict[str, Any]:
    """A pending ``import`` task (``POST /v2/tasks``) for the queued image it fills."""
    now = utcnow()
    row = {"id": new_id(), "image_id": image_id, "type": "import", "status": "pending",
           "owner": owner, "user_id": user_id, "request_id": request_id, "input": task_input,
           "result": None, "message": "", "created_at": now, "updated_at": now,
           "expires_at": None}
    conn.execute(sa.insert(t.tasks).values(**row))
    return row


def get(conn: Connection, task_id: str, owner: str | None, is_admin: bool) -> dict[str, Any]:
    """A task its owner's project (or an admin) may see; 404 otherwise."""
    row = conn.execute(sa.select(t.tasks).where(t.tasks.c.id == task_id)).mappings().first()
    if row is None or (not is_admin and row["owner"] != owner):
        raise exceptions.NotFound(f"Task with the given ID {task_id} could not be found")
    return dict(row)


def mark_processing(conn: Connection, task_id: str) -> bool:
    """pending → processing; False if the task is not pending any more."""
    done = conn.execute(sa.update(t.tasks).where(
        t.tasks.c.id == task_id, t.tasks.c.status.in_(("pending", "processing"))).values(
        status="processing", updated_at=utcnow()))
    return bool(done.rowcount)


def list_(conn: Connection, owner: str | None, is_admin: bool, *, type_: str | None,
          status: str | None, sort_key: str, sort_dir: str) -> list[dict[str, Any]]:
    c = t.tasks.c
    if sort_key not in TASK_SORT_KEYS:
        raise exceptions.BadRequest(f"Invalid sort key: {sort_key}")
    key = c[sort_key]
    q = sa.select(t.tasks).order_by(key.desc() if sort_dir == "desc" else key.asc(),
                                    c.id.desc() if sort_dir == "desc" else c.id.asc())
    if not is_admin:
        q = q.where(c.owner == owner)
    if type_:
        q = q.where(c.type == type_)
    if status:
        q = q.where(c.status == status)
    return [dict(r) for r in conn.execute(q).mappings()]


def unfinished_imports(conn: Connection) -> list[str]:
    """``import`` tasks a restart cut short (they are run again)."""
    return [str(r[0]) for r in conn.execute(sa.select(t.tasks.c.id).where(
        t.tasks.c.type == "import", t.tasks.c.status.in_(("pending", "processing"))))]
