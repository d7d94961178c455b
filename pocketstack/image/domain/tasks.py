"""Import tasks (``GET /v2/images/{id}/tasks``): one row per ``POST .../import``."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

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
