"""OS-OAUTH1 consumers: the third-party applications allowed to ask for delegated access."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from pocketstack.common import exceptions
from pocketstack.common.db import update_generation
from pocketstack.identity import tables as t
from pocketstack.identity.domain.common import get_row, new_id

FIELDS = ("description",)


def get(conn: Connection, consumer_id: str) -> dict[str, Any]:
    return get_row(conn, t.oauth1_consumers, consumer_id, "consumer")


def list_(conn: Connection) -> list[dict[str, Any]]:
    q = sa.select(t.oauth1_consumers).order_by(t.oauth1_consumers.c.id)
    return [dict(r) for r in conn.execute(q).mappings()]


def create(conn: Connection, values: dict[str, Any]) -> dict[str, Any]:
    row = {
        "id": new_id(),
        "description": values.get("description"),
        "secret": uuid.uuid4().hex,
        "extra": {k: v for k, v in values.items()
                  if k not in FIELDS and k not in ("id", "secret")},
        "generation": 0,
    }
    conn.execute(sa.insert(t.oauth1_consumers).values(**row))
    return row


def update(conn: Connection, consumer_id: str, changes: dict[str, Any]) -> dict[str, Any]:
    current = get(conn, consumer_id)
    if "secret" in changes:
        raise exceptions.ValidationError("Cannot change consumer secret.")
    values: dict[str, Any] = {k: v for k, v in changes.items() if k in FIELDS}
    extra = dict(current["extra"])
    extra.update({k: v for k, v in changes.items() if k not in FIELDS and k != "id"})
    values["extra"] = extra
    update_generation(conn, t.oauth1_consumers, consumer_id, current["generation"], values)
    return get(conn, consumer_id)


def delete(conn: Connection, consumer_id: str) -> None:
    get(conn, consumer_id)
    conn.execute(sa.delete(t.oauth1_consumers).where(t.oauth1_consumers.c.id == consumer_id))
