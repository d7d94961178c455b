"""Credentials: opaque per-user blobs (EC2 keys, TOTP secrets) kept for other services."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from pocketstack.common import exceptions
from pocketstack.common.db import update_generation
from pocketstack.identity import tables as t
from pocketstack.identity.domain import users
from pocketstack.identity.domain.common import get_row, new_id

FIELDS = ("user_id", "project_id", "type", "blob")


def get(conn: Connection, cred_id: str) -> dict[str, Any]:
    return get_row(conn, t.credentials, cred_id, "credential")


def list_(conn: Connection, user_id: str | None = None,
          type_: str | None = None) -> list[dict[str, Any]]:
    q = sa.select(t.credentials).order_by(t.credentials.c.id)
    if user_id is not None:
        q = q.where(t.credentials.c.user_id == user_id)
    if type_ is not None:
        q = q.where(t.credentials.c.type == type_)
    return [dict(r) for r in conn.execute(q).mappings()]


def _ec2_id(values: dict[str, Any]) -> str | None:
    """EC2 credentials are keyed by the hash of their access key, as Keystone does."""
    if values.get("type") != "ec2":
        return None
    try:
        access = json.loads(values["blob"])["access"]
    except (ValueError, KeyError, TypeError):
        raise exceptions.ValidationError(
            "Invalid blob in credential: an ec2 credential needs a JSON blob with 'access'."
        ) from None
    if not values.get("project_id"):
        raise exceptions.ValidationError("Project ID not found: an ec2 credential needs one.")
    return hashlib.sha256(str(access).encode()).hexdigest()


def create(conn: Connection, values: dict[str, Any]) -> dict[str, Any]:
    try:
        users.get(conn, values["user_id"])
    except exceptions.NotFound:
        raise exceptions.ValidationError(f"Could not find user: {values['user_id']}.") from None
    row = {
        "id": _ec2_id(values) or new_id(),
        "user_id": values["user_id"],
        "project_id": values.get("project_id"),
        "type": values["type"],
        "blob": values["blob"],
        "extra": {k: v for k, v in values.items() if k not in FIELDS and k != "id"},
        "generation": 0,
    }
    if conn.execute(sa.select(t.credentials.c.id).where(t.credentials.c.id == row["id"])).first():
        raise exceptions.Conflict("Conflict occurred attempting to store credential - "
                                  "Duplicate entry.")
    conn.execute(sa.insert(t.credentials).values(**row))
    return row


def update(conn: Connection, cred_id: str, changes: dict[str, Any]) -> dict[str, Any]:
    current = get(conn, cred_id)
    values = {k: v for k, v in changes.items() if k in FIELDS}
    merged = {**current, **values}
    if merged["type"] == "ec2":
        _ec2_id(merged)
    update_generation(conn, t.credentials, cred_id, current["generation"], values)
    return get(conn, cred_id)


def delete(conn: Connection, cred_id: str) -> None:
    get(conn, cred_id)
    conn.execute(sa.delete(t.credentials).where(t.credentials.c.id == cred_id))
