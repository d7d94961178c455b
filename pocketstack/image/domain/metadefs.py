"""Metadata definitions (``/v2/metadefs``): namespaces of property, object and tag definitions,
and the resource types (images, flavors, volumes, ...) a namespace applies to.

A namespace is public or private; a private one exists only for its owner's project and for
admins. Nothing in a protected namespace may be deleted (the namespace, its objects, properties,
tags or resource type associations) until it is unprotected.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from pocketstack.common import exceptions
from pocketstack.common.db import is_duplicate_error
from pocketstack.image import tables as t
from pocketstack.image.domain.common import utcnow

NS = t.metadef_namespaces
MEMBERS = {"objects": t.metadef_objects, "properties": t.metadef_properties,
           "tags": t.metadef_tags}
KIND = {"objects": "object", "properties": "property", "tags": "tag"}
SORT_KEYS = ("created_at", "updated_at", "namespace", "display_name", "visibility", "id")


@dataclass(frozen=True)
class Caller:
    project_id: str | None
    is_admin: bool

    def sees(self, ns: dict[str, Any]) -> bool:
        return self.is_admin or ns["visibility"] == "public" or ns["owner"] == self.project_id


def _not_found(name: str) -> exceptions.NotFound:
    return exceptions.NotFound(f"Metadata definition namespace={name} was not found.")


# -- namespaces ---------------------------------------------------------------------------------
def get_namespace(conn: Connection, caller: Caller, name: str) -> dict[str, Any]:
    row = conn.execute(sa.select(NS).where(NS.c.namespace == name)).mappings().first()
    if row is None or not caller.sees(dict(row)):
        raise _not_found(name)
    return dict(row)


def list_namespaces(conn: Connection, caller: Caller, *, visibility: str | None = None,
                    resource_types: list[str] | None = None, sort_key: str = "created_at",
                    sort_dir: str = "desc", marker: str | None = None,
                    limit: int | None = None) -> list[dict[str, Any]]:
    if sort_key not in SORT_KEYS:
        raise exceptions.BadRequest(f"Invalid sort key: {sort_key}")
    column = NS.c[sort_key]
    order = [column.desc(), NS.c.id.desc()] if sort_dir == "desc" else [column.asc(),
                                                                           NS.c.id.asc()]
    q = sa.select(NS).order_by(*order)
    if visibility:
        q = q.where(NS.c.visibility == visibility)
    if resource_types:
        rt = t.metadef_resource_types
        assoc = t.metadef_associations
        q = q.where(NS.c.id.in_(
            sa.select(assoc.c.namespace_id).join(rt, rt.c.id == assoc.c.resource_type_id)
            .where(rt.c.name.in_(resource_types))))
    rows = [dict(r) for r in conn.execute(q).mappings() if caller.sees(dict(r))]
    if marker is not None:
        names = [r["namespace"] for r in rows]
        if marker not in names:
            raise _not_found(marker)
        rows = rows[names.index(marker) + 1:]
    return rows if limit is None else rows[:limit]


def _duplicate_namespace(name: str) -> exceptions.Conflict:
    return exceptions.Conflict(f"The metadata definition namespace={name} already exists.")


def create_namespace(conn: Connection, caller: Caller, values: dict[str, Any]
                     ) -> dict[str, Any]:
    """A namespace with whatever it is created with (associations, properties, objects,
    tags): all of it or nothing."""
    now = utcnow()
    name = values["namespace"]
    row = {"namespace": name, "display_name": values.get("display_name"),
           "description": values.get("description"),
           "visibility": values.get("visibility") or "private",
           "protected": bool(values.get("protected", False)),
           "owner": values.get("owner") or caller.project_id or "",
           "created_at": now, "updated_at": now}
    try:
        with conn.begin_nested():
            ns_id = conn.execute(sa.insert(NS).values(**row)).inserted_primary_key[0]  # type: ignore[index]
    except IntegrityError as exc:
        if is_duplicate_error(exc):
            raise _duplicate_namespace(name) from None
        raise
    ns = {**row, "id": ns_id}
    for assoc in values.get("resource_type_associations") or []:
        associate(conn, ns, assoc)
    for prop_name, schema in (values.get("properties") or {}).items():
        add_member(conn, ns, "properties", {"name": prop_name, "schema": schema})
    for obj in values.get("objects") or []:
        add_member(conn, ns, "objects", object_row(obj))
    for tag in values.get("tags") or []:
        add_member(conn, ns, "tags", {"name": tag["name"]})
    return ns


def update_namespace(conn: Connection, caller: Caller, name: str,
                     values: dict[str, Any]) -> dict[str, Any]:
    """Replace the namespace's own fields (unspecified ones take their defaults, as Glance)."""
    ns = get_namespace(conn, caller, name)
    new = {"namespace": values["namespace"], "display_name": values.get("display_name"),
           "description": values.get("description"),
           "visibility": values.get("visibility") or "private",
           "protected": bool(values.get("protected") or False),
           "owner": values.get("owner") or caller.project_id or ns["owner"],
           "updated_at": utcnow()}
    try:
        with conn.begin_nested():
            conn.execute(sa.update(NS).where(NS.c.id == ns["id"]).values(**new))
    except IntegrityError as exc:
        if is_duplicate_error(exc):
            raise _duplicate_namespace(new["namespace"]) from None
        raise
    return {**ns, **new}


def _check_unprotected(ns: dict[str, Any]) -> None:
    if ns["protected"]:
        raise exceptions.Forbidden(f"Metadata definition namespace {ns['namespace']} is "
                                   "protected and cannot be deleted.")


def delete_namespace(conn: Connection, caller: Caller, name: str) -> None:
    ns = get_namespace(conn, caller, name)
    _check_unprotected(ns)
    for table in (*MEMBERS.values(), t.metadef_associations):
        conn.execute(sa.delete(table).where(table.c.namespace_id == ns["id"]))
    conn.execute(sa.delete(NS).where(NS.c.id == ns["id"]))


def delete_members(conn: Connection, caller: Caller, name: str, kind: str) -> None:
    """Delete every object, property or tag of a namespace."""
    ns = get_namespace(conn, caller, name)
    _check_unprotected(ns)
    table = MEMBERS[kind]
    conn.execute(sa.delete(table).where(table.c.namespace_id == ns["id"]))


# -- objects, properties, tags ------------------------------------------------------------------
def object_row(obj: dict[str, Any]) -> dict[str, Any]:
    return {"name": obj["name"], "description": obj.get("description"),
            "required": obj.get("required"), "properties": obj.get("properties")}


def list_members(conn: Connection, ns: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    table = MEMBERS[kind]
    q = sa.select(table).where(table.c.namespace_id == ns["id"]).order_by(table.c.id)
    return [dict(r) for r in conn.execute(q).mappings()]


def get_member(conn: Connection, ns: dict[str, Any], kind: str, name: str) -> dict[str, Any]:
    table = MEMBERS[kind]
    row = conn.execute(sa.select(table).where(
        table.c.namespace_id == ns["id"], table.c.name == name)).mappings().first()
    if row is None:
        raise exceptions.NotFound(f"Metadata definition {KIND[kind]} not found for "
                                  f"namespace={ns['namespace']} and {KIND[kind]}={name}")
    return dict(row)


def _duplicate(ns: dict[str, Any], kind: str, name: str) -> exceptions.Conflict:
    return exceptions.Conflict(f"A metadata definition {KIND[kind]} with name={name} already "
                               f"exists in namespace={ns['namespace']}.")


def add_member(conn: Connection, ns: dict[str, Any], kind: str,
               values: dict[str, Any]) -> dict[str, Any]:
    now = utcnow()
    row = {**values, "namespace_id": ns["id"], "created_at": now, "updated_at": now}
    try:
        with conn.begin_nested():
            row["id"] = conn.execute(sa.insert(MEMBERS[kind]).values(**row)
                                     ).inserted_primary_key[0]  # type: ignore[index]
    except IntegrityError as exc:
        if is_duplicate_error(exc):
            raise _duplicate(ns, kind, values["name"]) from None
        raise
    return row


def replace_tags(conn: Connection, ns: dict[str, Any], names: list[str],
                 append: bool) -> list[dict[str, Any]]:
    """Create tags in bulk; without ``append`` they replace the namespace's tags."""
    if len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise _duplicate(ns, "tags", dup)
    if not append:
        conn.execute(sa.delete(t.metadef_tags).where(t.metadef_tags.c.namespace_id == ns["id"]))
    return [add_member(conn, ns, "tags", {"name": n}) for n in names]


def update_member(conn: Connection, ns: dict[str, Any], kind: str, name: str,
                  values: dict[str, Any]) -> dict[str, Any]:
    current = get_member(conn, ns, kind, name)
    table = MEMBERS[kind]
    changes = {**values, "updated_at": utcnow()}
    try:
        with conn.begin_nested():
            conn.execute(sa.update(table).where(table.c.id == current["id"]).values(**changes))
    except IntegrityError as exc:
        if is_duplicate_error(exc):
            raise _duplicate(ns, kind, values["name"]) from None
        raise
    return {**current, **changes}


def delete_member(conn: Connection, ns: dict[str, Any], kind: str, name: str) -> None:
    current = get_member(conn, ns, kind, name)
    if ns["protected"]:
        raise exceptions.Forbidden(f"Metadata definition {KIND[kind]} {name} cannot be "
                                   f"deleted: namespace {ns['namespace']} is protected.")
    table = MEMBERS[kind]
    conn.execute(sa.delete(table).where(table.c.id == current["id"]))


# -- resource types -----------------------------------------------------------------------------
def list_resource_types(conn: Connection) -> list[dict[str, Any]]:
    rt = t.metadef_resource_types
    return [dict(r) for r in conn.execute(sa.select(rt).order_by(rt.c.name)).mappings()]


def list_associations(conn: Connection, ns: dict[str, Any]) -> list[dict[str, Any]]:
    rt = t.metadef_resource_types
    assoc = t.metadef_associations
    q = (sa.select(rt.c.name, assoc.c.prefix, assoc.c.properties_target, assoc.c.created_at,
                   assoc.c.updated_at)
         .join(rt, rt.c.id == assoc.c.resource_type_id)
         .where(assoc.c.namespace_id == ns["id"]).order_by(rt.c.name))
    return [dict(r) for r in conn.execute(q).mappings()]


def _resource_type_id(conn: Connection, name: str, create: bool) -> int | None:
    rt = t.metadef_resource_types
    found = conn.execute(sa.select(rt.c.id).where(rt.c.name == name)).first()
    if found is not None:
        return int(found[0])
    if not create:
        return None
    return int(conn.execute(sa.insert(rt).values(
        name=name, protected=False, created_at=utcnow(), updated_at=utcnow())
    ).inserted_primary_key[0])  # type: ignore[index]


def associate(conn: Connection, ns: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    """Apply the namespace to a resource type (created when it is new)."""
    now = utcnow()
    row = {"namespace_id": ns["id"],
           "resource_type_id": _resource_type_id(conn, values["name"], create=True),
           "prefix": values.get("prefix"), "properties_target": values.get("properties_target"),
           "created_at": now, "updated_at": now}
    try:
        with conn.begin_nested():
            conn.execute(sa.insert(t.metadef_associations).values(**row))
    except IntegrityError as exc:
        if is_duplicate_error(exc):
            raise exceptions.Conflict(
                f"The metadata definition resource-type association of resource-type="
                f"{values['name']} to namespace={ns['namespace']}, already exists.") from None
        raise
    return {"name": values["name"], "prefix": row["prefix"],
            "properties_target": row["properties_target"], "created_at": now,
            "updated_at": now}


def dissociate(conn: Connection, ns: dict[str, Any], name: str) -> None:
    type_id = _resource_type_id(conn, name, create=False)
    assoc = t.metadef_associations
    where = (assoc.c.namespace_id == ns["id"], assoc.c.resource_type_id == type_id)
    if type_id is None or conn.execute(sa.select(assoc.c.namespace_id).where(*where)
                                       ).first() is None:
        raise exceptions.NotFound(f"Failed to find resource type {name} to delete")
    if ns["protected"]:
        raise exceptions.Forbidden(f"Metadata definition resource-type-association {name} "
                                   f"cannot be deleted: namespace {ns['namespace']} is "
                                   "protected.")
    conn.execute(sa.delete(assoc).where(*where))


# -- first start --------------------------------------------------------------------------------
def seed(conn: Connection, owner: str, resource_types: tuple[str, ...],
         namespaces: list[dict[str, Any]]) -> bool:
    """Load the standard definitions once: only into a cloud that has no resource type yet."""
    if conn.execute(sa.select(t.metadef_resource_types.c.id).limit(1)).first() is not None:
        return False
    for name in resource_types:
        _resource_type_id(conn, name, create=True)
    conn.execute(sa.update(t.metadef_resource_types).values(protected=True))
    admin = Caller(project_id=owner, is_admin=True)
    for ns in namespaces:
        create_namespace(conn, admin, {**ns, "visibility": "public", "protected": True,
                                       "owner": owner})
    return True
