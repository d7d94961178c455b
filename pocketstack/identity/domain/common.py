"""Helpers shared by the identity domain modules."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from pocketstack.common import exceptions
from pocketstack.common.timeutils import parse_isotime as parse_isotime  # re-exported
from pocketstack.common.timeutils import utcnow as utcnow
from pocketstack.identity import tables as t


def new_id() -> str:
    return uuid.uuid4().hex



def isotime(value: dt.datetime | None, subsecond: bool = True) -> str | None:
    if value is None:
        return None
    if subsecond:
        return value.strftime("%Y-%m-%dT%H:%M:%S.%f") + "Z"
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")



def get_row(conn: Connection, table: sa.Table, row_id: str, kind: str) -> dict[str, Any]:
    row = conn.execute(sa.select(table).where(table.c.id == row_id)).mappings().first()
    if row is None:
        raise exceptions.NotFound(f"Could not find {kind}: {row_id}.")
    return dict(row)


def bump_revision(conn: Connection) -> None:
    """Record that something affecting token validity changed."""
    result = conn.execute(
        sa.update(t.identity_revision).where(t.identity_revision.c.id == 1)
        .values(revision=t.identity_revision.c.revision + 1)
    )
    if result.rowcount == 0:
        conn.execute(sa.insert(t.identity_revision).values(id=1, revision=1))


REVISION_SQL = "SELECT revision FROM identity_revision WHERE id = 1"
