"""Image members: share a ``shared`` image with another project, which accepts or rejects it."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from pocketstack.common import exceptions
from pocketstack.common.context import RequestContext
from pocketstack.image import tables as t
from pocketstack.image.domain.common import utcnow
from pocketstack.image.domain.images import Quotas


def _row(conn: Connection, image_id: str, member: str) -> dict[str, Any] | None:
    row = conn.execute(sa.select(t.members).where(
        t.members.c.image_id == image_id, t.members.c.member == member)).mappings().first()
    return None if row is None else dict(row)


def list_(conn: Connection, ctx: RequestContext, image: dict[str, Any]) -> list[dict[str, Any]]:
    """Owners and admins see every member; a member sees only its own membership."""
    q = sa.select(t.members).where(t.members.c.image_id == image["id"])
    if not ctx.is_admin and image["owner"] != ctx.project_id:
        q = q.where(t.members.c.member == (ctx.project_id or ""))
    return [dict(r) for r in conn.execute(q.order_by(t.members.c.created_at)).mappings()]


def get(conn: Connection, ctx: RequestContext, image: dict[str, Any],
        member: str) -> dict[str, Any]:
    if not ctx.is_admin and image["owner"] != ctx.project_id and member != ctx.project_id:
        raise exceptions.NotFound(f"{member} is not a member of image {image['id']}.")
    row = _row(conn, image["id"], member)
    if row is None:
        raise exceptions.NotFound(f"{member} is not a member of image {image['id']}.")
    return row


def create(conn: Connection, image: dict[str, Any], member: str,
           quotas: Quotas) -> dict[str, Any]:
    if image["visibility"] != "shared":
        raise exceptions.Forbidden(
            f"Only shared images have members; image {image['id']} is "
            f"{image['visibility']}.")
    if _row(conn, image["id"], member) is not None:
        raise exceptions.Conflict(f"{member} is already a member of image {image['id']}.")
    if quotas.members_per_image >= 0:
        count = conn.execute(sa.select(sa.func.count()).select_from(t.members).where(
            t.members.c.image_id == image["id"])).scalar() or 0
        if count >= quotas.members_per_image:
            raise exceptions.PayloadTooLarge(
                f"Attempted: {count + 1}, Maximum: {quotas.members_per_image} image members.")
    now = utcnow()
    row = {"image_id": image["id"], "member": member, "status": "pending",
           "created_at": now, "updated_at": now}
    conn.execute(sa.insert(t.members).values(**row))
    return row


def update(conn: Connection, image: dict[str, Any], member: str, status: str) -> dict[str, Any]:
    row = _row(conn, image["id"], member)
    if row is None:
        raise exceptions.NotFound(f"{member} is not a member of image {image['id']}.")
    now = utcnow()
    conn.execute(sa.update(t.members).where(
        t.members.c.image_id == image["id"], t.members.c.member == member
    ).values(status=status, updated_at=now))
    return dict(row, status=status, updated_at=now)


def delete(conn: Connection, image: dict[str, Any], member: str) -> None:
    done = conn.execute(sa.delete(t.members).where(
        t.members.c.image_id == image["id"], t.members.c.member == member))
    if done.rowcount == 0:
        raise exceptions.NotFound(f"{member} is not a member of image {image['id']}.")
