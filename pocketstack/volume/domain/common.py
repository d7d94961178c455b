"""Helpers every Cinder domain module shares: the clock, the per-project lock, JSON-safe rows,
one page of a list."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from pocketstack.common import exceptions
from pocketstack.common.timeutils import utcnow
from pocketstack.volume import tables as t


def now() -> dt.datetime:
    return utcnow().replace(tzinfo=None)


def deadline(seconds: float) -> dt.datetime:
    return now() + dt.timedelta(seconds=seconds)


def lock_project(conn: Connection, project_id: str) -> None:
    """Hold the project's lock row until the transaction ends: quota counts cannot interleave
    (PostgreSQL/MariaDB; SQLite writers are serial already)."""
    lock = t.project_locks
    q = sa.select(lock.c.counter).where(lock.c.project_id == project_id).with_for_update()
    if conn.execute(q).first() is None:
        try:
            with conn.begin_nested():
                conn.execute(sa.insert(lock).values(project_id=project_id, counter=0))
        except IntegrityError:
            pass
        conn.execute(q).first()


def row_dict(row: Any) -> dict[str, Any]:
    return dict(row._mapping)


def page(rows: list[dict[str, Any]], marker: str | None, offset: int,
         limit: int | None) -> tuple[list[dict[str, Any]], bool]:
    """One page of sorted ``rows`` as Cinder pages them: after ``marker`` (404 when it is not
    among them), skipping ``offset``, at most ``limit`` (0: an empty page, as a query with
    LIMIT 0); True when the page is full (Cinder then links a next one)."""
    if marker is not None:
        ids = [r["id"] for r in rows]
        if marker not in ids:
            raise exceptions.NotFound(f"Marker {marker} could not be found.")
        rows = rows[ids.index(marker) + 1:]
    rows = rows[offset:]
    if limit == 0:
        return [], False
    if limit is not None and limit > 0 and len(rows) >= limit:
        return rows[:limit], True
    return rows, False
