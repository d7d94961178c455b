"""Loading an instance on behalf of a caller: other projects' servers do not exist for them."""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Connection

from pocketstack.common import exceptions
from pocketstack.compute.domain import instances


def load_instance(conn: Connection, ctx_project_id: str | None, is_admin: bool, uuid: str,
                  read_deleted: bool = False) -> dict[str, Any]:
    """The instance row, or 404 when it is missing, deleted (unless ``read_deleted``) or
    belongs to another project and the caller is not an admin."""
    try:
        row = instances.get(conn, uuid, include_deleted=read_deleted)
    except exceptions.NotFound:
        raise exceptions.NotFound(f"Instance {uuid} could not be found.") from None
    if not is_admin and row["project_id"] != ctx_project_id:
        raise exceptions.NotFound(f"Instance {uuid} could not be found.")
    return row
