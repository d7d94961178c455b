"""Helpers shared by the compute domain modules."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from pocketstack.common import exceptions
from pocketstack.common.timeutils import utcnow as utcnow  # re-exported


def isotime(value: dt.datetime | None) -> str | None:
    return None if value is None else value.strftime("%Y-%m-%dT%H:%M:%SZ")


def isotime_us(value: dt.datetime | None) -> str | None:
    return None if value is None else value.strftime("%Y-%m-%dT%H:%M:%S.%f")


def one(conn: Connection, query: sa.Select[Any], missing: str) -> dict[str, Any]:
    row = conn.execute(query).mappings().first()
    if row is None:
        raise exceptions.NotFound(missing)
    return dict(row)
