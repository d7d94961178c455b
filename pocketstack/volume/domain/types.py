"""Volume types: extra specs, public or private with per-project access, and ``__DEFAULT__``
(made at start, as Cinder's migration makes it; a volume without a type gets it)."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from pocketstack.common import exceptions
from pocketstack.volume import errors
from pocketstack.volume import tables as t
from pocketstack.volume.domain.common import now, row_dict

DEFAULT_NAME = "__DEFAULT__"


def ensure_default(conn: Connection) -> str:
    found = conn.execute(sa.select(t.volume_types.c.id)
                         .where(t.volume_types.c.name == DEFAULT_NAME)).scalar()
    if found is not None:
        return str(found)
    ident = str(uuid.uuid4())
    conn.execute(sa.insert(t.volume_types).values(
        id=ident, name=DEFAULT_NAME, description="Default Volume Type", is_public=True,
        extra_specs={}, created_at=now()))
    return ident


def default_id(conn: Connection) -> str | None:
    found = conn.execute(sa.select(t.volume_types.c.id)
                         .where(t.volume_types.c.name == DEFAULT_NAME)).scalar()
    return None if found is None else str(found)


def _visible(conn: Connection, row: dict[str, Any], project_id: str | None,
             admin: bool) -> bool:
    if admin or row["is_public"]:
        return True
    return conn.execute(sa.select(t.type_access.c.project_id).where(
        t.type_access.c.volume_type_id == row["id"],
        t.type_access.c.project_id == (project_id or ""))).first() is not None


def get(conn: Connection, ident: str, project_id: str | None = None,
        admin: bool = True) -> dict[str, Any]:
    """By id, or by name (as cinderclient looks types up)."""
    vt = t.volume_types
    row = conn.execute(sa.select(vt).where(vt.c.id == ident)).first()
    if row is None:
        row = conn.execute(sa.select(vt).where(vt.c.name == ident)).first()
    if row is None or not _visible(conn, row_dict(row), project_id, admin):
        raise errors.TypeNotFound(ident)
    return row_dict(row)


def list_types(conn: Connection, project_id: str | None, admin: bool,
               is_public: bool | None = None) -> list[dict[str, Any]]:
    vt = t.volume_types
    q = sa.select(vt).order_by(vt.c.created_at, vt.c.name)
    if is_public is not None and admin:
        q = q.where(vt.c.is_public == is_public)
    rows = [row_dict(r) for r in conn.execute(q)]
    return [r for r in rows if _visible(conn, r, project_id, admin)]


def create(conn: Connection, name: str, description: str | None, is_public: bool,
           extra_specs: dict[str, str]) -> dict[str, Any]:
    vt = t.volume_types
    if conn.execute(sa.select(vt.c.id).where(vt.c.name == name)).first() is not None:
        raise exceptions.Conflict(f"Volume Type {name} already exists.")
    ident = str(uuid.uuid4())
    conn.execute(sa.insert(vt).values(id=ident, name=name, description=description,
                                      is_public=is_public, extra_specs=extra_specs,
                                      created_at=now()))
    return get(conn, ident)


def update(conn: Connection, ident: str, values: dict[str, Any]) -> dict[str, Any]:
    row = get(conn, ident)
    vt = t.volume_types
    if "name" in values and values["name"] != row["name"]:
        if row["name"] == DEFAULT_NAME:
            raise errors.bad("the default volume type cannot be renamed")
        if conn.execute(sa.select(vt.c.id).where(vt.c.name == values["name"])).first():
            raise exceptions.Conflict(f"Volume Type {values['name']} already exists.")
    conn.execute(sa.update(vt).where(vt.c.id == row["id"]).values(updated_at=now(), **values))
    return get(conn, row["id"])


def delete(conn: Connection, ident: str) -> None:
    row = get(conn, ident)
    if row["name"] == DEFAULT_NAME:
        raise errors.bad("the default volume type cannot be deleted")
    if conn.execute(sa.select(t.volumes.c.id).where(
            t.volumes.c.volume_type_id == row["id"]).limit(1)).first() is not None:
        raise errors.InvalidInput(f"Target volume type {row['id']} is still in use.")
    conn.execute(sa.delete(t.volume_types).where(t.volume_types.c.id == row["id"]))


def set_specs(conn: Connection, ident: str, specs: dict[str, str],
              replace: bool = False) -> dict[str, str]:
    row = get(conn, ident)
    merged = dict(specs) if replace else {**row["extra_specs"], **specs}
    conn.execute(sa.update(t.volume_types).where(t.volume_types.c.id == row["id"])
                 .values(extra_specs=merged, updated_at=now()))
    return merged


def delete_spec(conn: Connection, ident: str, key: str) -> None:
    row = get(conn, ident)
    specs = dict(row["extra_specs"])
    if key not in specs:
        raise exceptions.NotFound(f"Volume Type {row['id']} has no extra specs with key {key}.")
    specs.pop(key)
    conn.execute(sa.update(t.volume_types).where(t.volume_types.c.id == row["id"])
                 .values(extra_specs=specs, updated_at=now()))


def access_list(conn: Connection, ident: str) -> list[dict[str, str]]:
    row = get(conn, ident)
    if row["is_public"]:
        raise errors.bad("Access list not available for public volume types.")
    ta = t.type_access
    return [{"volume_type_id": row["id"], "project_id": r.project_id}
            for r in conn.execute(sa.select(ta).where(ta.c.volume_type_id == row["id"])
                                  .order_by(ta.c.project_id))]


def add_access(conn: Connection, ident: str, project_id: str) -> None:
    row = get(conn, ident)
    if row["is_public"]:
        raise errors.bad("Invalid volume type: Type access modification is not applicable "
                         "to public volume type.")
    ta = t.type_access
    if conn.execute(sa.select(ta).where(ta.c.volume_type_id == row["id"],
                                        ta.c.project_id == project_id)).first():
        raise exceptions.Conflict(f"Volume type access for {row['id']} / {project_id} "
                                  "already exists.")
    conn.execute(sa.insert(ta).values(volume_type_id=row["id"], project_id=project_id))


def remove_access(conn: Connection, ident: str, project_id: str) -> None:
    row = get(conn, ident)
    ta = t.type_access
    gone = conn.execute(sa.delete(ta).where(ta.c.volume_type_id == row["id"],
                                            ta.c.project_id == project_id)).rowcount
    if not gone:
        raise exceptions.NotFound(f"Volume type access not found for {row['id']} / "
                                  f"{project_id}.")
