"""Resource classes: the standard ones from code, CUSTOM_* ones in a table."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from pocketstack.common import exceptions
from pocketstack.common.db import is_duplicate_error
from pocketstack.placement import standard
from pocketstack.placement import tables as t
from pocketstack.placement.domain import revision
from pocketstack.placement.domain.providers import now

RC = t.resource_classes


def list_all(conn: Connection) -> list[str]:
    custom = [r[0] for r in conn.execute(sa.select(RC.c.name).order_by(RC.c.name))]
    return list(standard.RESOURCE_CLASSES) + custom


def exists(conn: Connection, name: str) -> bool:
    if name in standard.RESOURCE_CLASS_SET:
        return True
    return conn.execute(sa.select(RC.c.name).where(RC.c.name == name)).first() is not None


def get(conn: Connection, name: str) -> dict[str, Any]:
    if name in standard.RESOURCE_CLASS_SET:
        return {"name": name, "updated_at": None}
    row = conn.execute(sa.select(RC).where(RC.c.name == name)).mappings().first()
    if row is None:
        raise exceptions.NotFound(f"No such resource class {name}.")
    return dict(row)


def check_known(conn: Connection, names: set[str]) -> None:
    unknown = {n for n in names if n not in standard.RESOURCE_CLASS_SET}
    if unknown:
        found = {r[0] for r in conn.execute(sa.select(RC.c.name).where(RC.c.name.in_(unknown)))}
        missing = sorted(unknown - found)
        if missing:
            raise exceptions.BadRequest(f"Unknown resource class in inventory or allocation: "
                                        f"{', '.join(missing)}")


def _check_custom(name: str) -> None:
    if not standard.is_custom(name) or len(name) > 255:
        raise exceptions.BadRequest(
            f"Invalid resource class name {name!r}: it must start with CUSTOM_ and use only "
            "A-Z, 0-9 and _.")


def create(conn: Connection, name: str) -> None:
    """Create a custom class; Conflict if it exists."""
    _check_custom(name)
    if exists(conn, name):
        raise exceptions.Conflict(f"Conflicting resource class already exists: {name}",
                                  code="placement.duplicate_name")
    stamp = now()
    try:
        with conn.begin_nested():
            conn.execute(sa.insert(RC).values(name=name, created_at=stamp, updated_at=stamp))
    except IntegrityError as exc:
        if is_duplicate_error(exc):
            raise exceptions.Conflict(f"Conflicting resource class already exists: {name}",
                                      code="placement.duplicate_name") from None
        raise
    revision.touch(conn, structure=True)


def ensure(conn: Connection, name: str) -> bool:
    """Create a custom class unless it exists; True when created now."""
    if exists(conn, name):
        return False
    create(conn, name)
    return True


def _in_use(conn: Connection, name: str) -> bool:
    inv = t.inventories
    return conn.execute(sa.select(inv.c.provider_id).where(inv.c.resource_class == name)
                        .limit(1)).first() is not None


def rename(conn: Connection, old: str, new: str) -> None:
    if old in standard.RESOURCE_CLASS_SET:
        raise exceptions.BadRequest(f"Cannot update standard resource class {old}")
    get(conn, old)
    _check_custom(new)
    if exists(conn, new):
        raise exceptions.Conflict(f"Resource class already exists: {new}",
                                  code="placement.duplicate_name")
    if _in_use(conn, old):
        raise exceptions.Conflict(f"Resource class {old} is in use in inventory")
    conn.execute(sa.update(RC).where(RC.c.name == old).values(name=new, updated_at=now()))
    revision.touch(conn, structure=True)


def delete(conn: Connection, name: str) -> None:
    if name in standard.RESOURCE_CLASS_SET:
        raise exceptions.BadRequest(f"Cannot delete standard resource class {name}")
    get(conn, name)
    if _in_use(conn, name):
        raise exceptions.Conflict(f"Unable to delete resource class {name}. Resource class is "
                                  "in use in inventory")
    conn.execute(sa.delete(RC).where(RC.c.name == name))
    revision.touch(conn, structure=True)
