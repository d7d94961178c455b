"""Helpers every Cinder domain module shares: the clock, the per-project lock, JSON-safe rows."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

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
