"""Group types (``/group_types``, 3.11+): named, public or private (private ones are seen by
admins only), with ``group_specs``. A type in use by a group cannot be deleted."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from pocketstack.common import exceptions
from pocketstack.volume import errors
from pocketstack.volume import tables as t
from pocketstack.volume.domain.common import now, row_dict

SORT_KEYS = {"id", "name", "created_at", "is_public", "description"}


class GroupTypeNotFound(exceptions.NotFound):
    def __init__(self, ident: str) -> None:
        super().__init__(f"Group type with id {ident} could not be found.")


def get(conn: Connection, ident: str, admin: bool = True) -> dict[str, Any]:
    gt = t.group_types
    row = conn.execute(sa.select(gt).where(gt.c.id == ident)).first()
    if row is None:
        row = conn.execute(sa.select(gt).where(gt.c.name == ident)).first()
    if row is None or not (admin or row.is_public):
        raise GroupTypeNotFound(ident)
    return row_dict(row)


def list_types(conn: Connection, admin: bool, is_public: bool | None,
               sort: list[tuple[str, str]]) -> list[dict[str, Any]]:
    gt = t.group_types
    q = sa.select(gt)
    if not admin:
        q = q.where(gt.c.is_public.is_(True))
    elif is_public is not None:
        q = q.where(gt.c.is_public.is_(is_public))
    order = [gt.c[k].asc() if d == "asc" else gt.c[k].desc() for k, d in sort]
    return [row_dict(r) for r in conn.execute(q.order_by(*order, gt.c.id))]


def create(conn: Connection, name: str, description: str | None, is_public: bool,
           specs: dict[str, str]) -> dict[str, Any]:
    gt = t.group_types
    if conn.execute(sa.select(gt.c.id).where(gt.c.name == name)).first() is not None:
        raise exceptions.Conflict(f"Group Type {name} already exists.")
    ident = str(uuid.uuid4())
    conn.execute(sa.insert(gt).values(id=ident, name=name, description=description,
                                      is_public=is_public, group_specs=specs,
                                      created_at=now()))
    return get(conn, ident)


def update(conn: Connection, ident: str, values: dict[str, Any]) -> dict[str, Any]:
    row = get(conn, ident)
    gt = t.group_types
    if "name" in values and values["name"] != row["name"] and conn.execute(
            sa.select(gt.c.id).where(gt.c.name == values["name"])).first() is not None:
        raise exceptions.Conflict(f"Group Type {values['name']} already exists.")
    conn.execute(sa.update(gt).where(gt.c.id == row["id"]).values(updated_at=now(), **values))
    return get(conn, row["id"])


def delete(conn: Connection, ident: str) -> None:
    row = get(conn, ident)
    if conn.execute(sa.select(t.groups.c.id).where(t.groups.c.group_type_id == row["id"])
                    .limit(1)).first() is not None:
        raise errors.bad(f"Target group type {row['id']} is still in use.")
    conn.execute(sa.delete(t.group_types).where(t.group_types.c.id == row["id"]))


def set_specs(conn: Connection, ident: str, specs: dict[str, str]) -> None:
    row = get(conn, ident)
    conn.execute(sa.update(t.group_types).where(t.group_types.c.id == row["id"]).values(
        group_specs={**row["group_specs"], **specs}, updated_at=now()))


def delete_spec(conn: Connection, ident: str, key: str) -> None:
    row = get(conn, ident)
    specs = dict(row["group_specs"])
    if key not in specs:
        raise exceptions.NotFound(f"Group Type {row['id']} has no specs with key {key}.")
    specs.pop(key)
    conn.execute(sa.update(t.group_types).where(t.group_types.c.id == row["id"])
                 .values(group_specs=specs, updated_at=now()))
