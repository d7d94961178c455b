"""Finding servers by name or uuid for other services and operator tools."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from pocketstack.compute import tables as t


def find_servers(conn: Connection, name_or_id: str) -> list[tuple[str, str, str | None]]:
    i = t.instances
    rows = conn.execute(sa.select(i.c.uuid, i.c.display_name, i.c.host).where(
        i.c.deleted.is_(False),
        sa.or_(i.c.uuid == name_or_id, i.c.display_name == name_or_id))).all()
    return [(str(r[0]), str(r[1]), r[2]) for r in rows]
