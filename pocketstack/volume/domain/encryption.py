"""Volume type encryption specs (``/types/{id}/encryption``): provider, cipher, key size and
control location, as Cinder records them.

They are metadata only: no key manager is wired in and the file backend writes plain data, so
volumes of such a type still show ``encrypted: false``. As in Cinder, a type's spec cannot be
created, changed or deleted while volumes of the type exist."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from pocketstack.common import exceptions
from pocketstack.volume import errors
from pocketstack.volume import tables as t
from pocketstack.volume.domain import types
from pocketstack.volume.domain.common import now, row_dict

FIELDS = ("provider", "cipher", "key_size", "control_location")
LOCATIONS = ("front-end", "back-end")


def _in_use(conn: Connection, type_id: str, what: str) -> None:
    found = conn.execute(sa.select(t.volumes.c.id).where(t.volumes.c.volume_type_id == type_id)
                         .limit(1)).first()
    if found is not None:
        raise errors.bad(f"Cannot {what} encryption specs. Volume type in use.")


def find(conn: Connection, type_ref: str) -> dict[str, Any] | None:
    """The type's spec (None: the type is not encrypted); 404 for an unknown type."""
    vtype = types.get(conn, type_ref)
    e = t.encryption_types
    row = conn.execute(sa.select(e).where(e.c.volume_type_id == vtype["id"])).first()
    return None if row is None else row_dict(row)


def create(conn: Connection, type_ref: str, values: dict[str, Any]) -> dict[str, Any]:
    vtype = types.get(conn, type_ref)
    if find(conn, vtype["id"]) is not None:
        raise exceptions.Conflict(f"Volume type encryption for type {vtype['id']} already "
                                  "exists.")
    _in_use(conn, vtype["id"], "create")
    conn.execute(sa.insert(t.encryption_types).values(
        volume_type_id=vtype["id"], encryption_id=str(uuid.uuid4()), created_at=now(),
        **{"control_location": "front-end", **values}))
    return find(conn, vtype["id"])  # type: ignore[return-value]


def _own(conn: Connection, type_ref: str, encryption_id: str) -> dict[str, Any]:
    row = find(conn, type_ref)
    if row is None or row["encryption_id"] != encryption_id:
        raise exceptions.NotFound(f"Volume type encryption for type {type_ref} does not "
                                  "exist.")
    return row


def update(conn: Connection, type_ref: str, encryption_id: str,
           values: dict[str, Any]) -> None:
    row = _own(conn, type_ref, encryption_id)
    _in_use(conn, row["volume_type_id"], "update")
    e = t.encryption_types
    conn.execute(sa.update(e).where(e.c.volume_type_id == row["volume_type_id"])
                 .values(updated_at=now(), **values))


def delete(conn: Connection, type_ref: str, encryption_id: str) -> None:
    row = _own(conn, type_ref, encryption_id)
    _in_use(conn, row["volume_type_id"], "delete")
    e = t.encryption_types
    conn.execute(sa.delete(e).where(e.c.volume_type_id == row["volume_type_id"]))
