"""Loading an instance on behalf of a caller: other projects' servers do not exist for them."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from pocketstack.common import exceptions
from pocketstack.compute import tables as t


def load_instance(conn: Connection, ctx_project_id: str | None, is_admin: bool, uuid: str,
                  read_deleted: bool = False) -> dict[str, Any]:
    """The instance row, or 404 when it is missing, deleted (unless ``read_deleted``) or
    belongs to another project and the caller is not an admin."""
    q = sa.select(t.instances).where(t.instances.c.uuid == uuid)
    if not read_deleted:
        q = q.where(t.instances.c.deleted.is_(False))
    row = conn.execute(q).mappings().first()
    if row is None or (not is_admin and row["project_id"] != ctx_project_id):
        raise exceptions.NotFound(f"Instance {uuid} could not be found.")
    return dict(row)
