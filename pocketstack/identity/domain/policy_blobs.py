"""``/v3/policies``: policy documents stored for other services (keystone never reads them)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from pocketstack.common.db import update_generation
from pocketstack.identity import tables as t
from pocketstack.identity.domain.common import get_row, new_id

FIELDS = ("type", "blob")


def get(conn: Connection, policy_id: str) -> dict[str, Any]:
    return get_row(conn, t.policies, policy_id, "policy")


def list_(conn: Connection, type_: str | None = None) -> list[dict[str, Any]]:
    q = sa.select(t.policies).order_by(t.policies.c.id)
    if type_ is not None:
        q = q.where(t.policies.c.type == type_)
    return [dict(r) for r in conn.execute(q).mappings()]


def create(conn: Connection, values: dict[str, Any]) -> dict[str, Any]:
    row = {
        "id": new_id(),
        "type": values["type"],
        "blob": values["blob"],
        "extra": {k: v for k, v in values.items() if k not in FIELDS and k != "id"},
        "generation": 0,
    }
    conn.execute(sa.insert(t.policies).values(**row))
    return row


def update(conn: Connection, policy_id: str, changes: dict[str, Any]) -> dict[str, Any]:
    current = get(conn, policy_id)
    values: dict[str, Any] = {k: v for k, v in changes.items() if k in FIELDS}
    extra = dict(current["extra"])
    extra.update({k: v for k, v in changes.items() if k not in FIELDS and k != "id"})
    values["extra"] = extra
    update_generation(conn, t.policies, policy_id, current["generation"], values)
    return get(conn, policy_id)


def delete(conn: Connection, policy_id: str) -> None:
    get(conn, policy_id)
    conn.execute(sa.delete(t.policies).where(t.policies.c.id == policy_id))
