"""Resource providers: the tree, generations and the row locks every writer takes.

Concurrency rule: every transaction that changes what a provider offers or what is allocated
from it first locks that provider's row (``lock``; ``SELECT ... FOR UPDATE`` on PostgreSQL and
MariaDB, the database-wide ``BEGIN IMMEDIATE`` lock on SQLite), in id order, and then bumps its
generation (``bump``). So every capacity check reads rows no one else can change before commit.
"""

from __future__ import annotations

import datetime as dt
import uuid as uuidlib
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from pocketstack.common import exceptions
from pocketstack.common.db import is_duplicate_error
from pocketstack.placement import errors
from pocketstack.placement import tables as t
from pocketstack.placement.domain import revision

P = t.providers
_parent = P.alias("parent")
_root = P.alias("root")

UNSET: Any = object()
D = TypeVar("D")


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)


def _select() -> sa.Select[Any]:
    return (
        sa.select(P, _parent.c.uuid.label("parent_uuid"), _root.c.uuid.label("root_uuid"))
        .select_from(P.outerjoin(_parent, P.c.parent_id == _parent.c.id)
                     .outerjoin(_root, P.c.root_id == _root.c.id))
    )


def get(conn: Connection, uuid: str) -> dict[str, Any]:
    row = conn.execute(_select().where(P.c.uuid == uuid)).mappings().first()
    if row is None:
        raise errors.ProviderNotFound(f"No resource provider with uuid {uuid} found.")
    return dict(row)


def get_with(conn: Connection, uuid: str, detail: Callable[[Connection, int], D]
             ) -> tuple[dict[str, Any], D]:
    """A provider (404 if unknown) and ``detail(conn, provider id)`` read in one transaction,
    e.g. ``get_with(conn, uuid, inventories.of_provider)``."""
    provider = get(conn, uuid)
    return provider, detail(conn, provider["id"])


def find(conn: Connection, uuid: str) -> dict[str, Any] | None:
    row = conn.execute(_select().where(P.c.uuid == uuid)).mappings().first()
    return None if row is None else dict(row)


def list_all(conn: Connection, uuids: Iterable[str] | None = None, name: str | None = None,
             root_id: int | None = None) -> list[dict[str, Any]]:
    q = _select().order_by(P.c.id)
    if uuids is not None:
        q = q.where(P.c.uuid.in_(list(uuids)))
    if name is not None:
        q = q.where(P.c.name == name)
    if root_id is not None:
        q = q.where(P.c.root_id == root_id)
    return [dict(r) for r in conn.execute(q).mappings()]


def lock(conn: Connection, ids: Iterable[int]) -> dict[int, dict[str, Any]]:
    """Lock provider rows in id order; returns {id: row}."""
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    rows = conn.execute(
        sa.select(P.c.id, P.c.uuid, P.c.name, P.c.generation)
        .where(P.c.id.in_(wanted)).order_by(P.c.id).with_for_update()
    ).mappings()
    return {r["id"]: dict(r) for r in rows}


def lock_one(conn: Connection, uuid: str) -> dict[str, Any]:
    row = conn.execute(
        sa.select(P.c.id).where(P.c.uuid == uuid)
    ).first()
    if row is None:
        raise errors.ProviderNotFound(f"No resource provider with uuid {uuid} found.")
    lock(conn, [row[0]])
    return get(conn, uuid)


def check_generation(provider: dict[str, Any], expected: int | None) -> None:
    if expected is not None and provider["generation"] != expected:
        raise errors.ConcurrentUpdate(
            f"resource provider generation conflict: {provider['uuid']} is at generation "
            f"{provider['generation']}, the request expected {expected}. Please update the "
            "generation and try again.")


def bump(conn: Connection, provider_id: int, generation: int) -> int:
    """generation += 1 if it is still ``generation``; else ConcurrentUpdate (409)."""
    result = conn.execute(
        sa.update(P).where(P.c.id == provider_id, P.c.generation == generation)
        .values(generation=generation + 1, updated_at=now()))
    if result.rowcount != 1:
        raise errors.ConcurrentUpdate(
            "resource provider generation conflict: another request changed the provider. "
            "Please update the generation and try again.")
    revision.touch(conn)
    return generation + 1


def _check_name(name: Any) -> str:
    if not isinstance(name, str) or not name.strip() or len(name) > 200:
        raise exceptions.ValidationError("A resource provider name is 1 to 200 characters.")
    return name


def create(conn: Connection, name: str, uuid: str | None = None,
           parent_uuid: str | None = None) -> dict[str, Any]:
    name = _check_name(name)
    uuid = uuid or str(uuidlib.uuid4())
    parent = None
    if parent_uuid:
        parent = find(conn, parent_uuid)
        if parent is None:
            raise exceptions.BadRequest(
                f"parent provider UUID cannot be found: {parent_uuid}")
    if conn.execute(sa.select(P.c.id).where(P.c.uuid == uuid)).first():
        raise errors.DuplicateName(f"Conflicting resource provider uuid: {uuid} already exists.")
    if conn.execute(sa.select(P.c.id).where(P.c.name == name)).first():
        raise errors.DuplicateName(f"Conflicting resource provider name: {name} already exists.")
    stamp = now()
    try:
        with conn.begin_nested():
            inserted = conn.execute(sa.insert(P).values(
                uuid=uuid, name=name, generation=0,
                parent_id=parent["id"] if parent else None,
                root_id=parent["root_id"] if parent else None,
                created_at=stamp, updated_at=stamp)).inserted_primary_key
            assert inserted is not None
            new_id = inserted[0]
    except IntegrityError as exc:
        if is_duplicate_error(exc):
            raise errors.DuplicateName(
                f"Conflicting resource provider name or uuid: {name} / {uuid} already exists."
            ) from None
        raise
    if parent is None:
        conn.execute(sa.update(P).where(P.c.id == new_id).values(root_id=new_id))
    revision.touch(conn, structure=True)
    return get(conn, uuid)


def _descendant_ids(conn: Connection, provider_id: int) -> list[int]:
    out: list[int] = []
    frontier = [provider_id]
    while frontier:
        rows = [r[0] for r in conn.execute(sa.select(P.c.id).where(P.c.parent_id.in_(frontier)))]
        out.extend(rows)
        frontier = rows
    return out


def update(conn: Connection, uuid: str, name: str | None = None, parent_uuid: Any = UNSET,
           allow_reparent: bool = False) -> dict[str, Any]:
    current = lock_one(conn, uuid)
    values: dict[str, Any] = {}
    if name is not None and name != current["name"]:
        values["name"] = _check_name(name)
        if conn.execute(sa.select(P.c.id).where(P.c.name == name)).first():
            raise errors.DuplicateName(
                f"Conflicting resource provider name: {name} already exists.")
    if parent_uuid is not UNSET and parent_uuid != current["parent_uuid"]:
        if current["parent_uuid"] is not None and not allow_reparent:
            raise exceptions.BadRequest(
                "re-parenting a provider is not currently allowed.")
        descendants = _descendant_ids(conn, current["id"])
        if parent_uuid is None:
            new_parent_id, new_root_id = None, current["id"]
        else:
            parent = find(conn, parent_uuid)
            if parent is None:
                raise exceptions.BadRequest(
                    f"parent provider UUID cannot be found: {parent_uuid}")
            if parent["id"] == current["id"] or parent["id"] in descendants:
                raise exceptions.BadRequest(
                    "creating loop in the provider tree is not allowed.")
            new_parent_id, new_root_id = parent["id"], parent["root_id"]
        values["parent_id"] = new_parent_id
        conn.execute(sa.update(P).where(P.c.id.in_(descendants + [current["id"]]))
                     .values(root_id=new_root_id))
    if values:
        values["updated_at"] = now()
        try:
            with conn.begin_nested():
                conn.execute(sa.update(P).where(P.c.id == current["id"]).values(**values))
        except IntegrityError as exc:
            if is_duplicate_error(exc):
                raise errors.DuplicateName(
                    f"Conflicting resource provider name: {name} already exists.") from None
            raise
    if values:
        revision.touch(conn, structure=True)
    return get(conn, uuid)


def delete(conn: Connection, uuid: str) -> None:
    current = lock_one(conn, uuid)
    pid = current["id"]
    if conn.execute(sa.select(t.allocations.c.consumer_uuid)
                    .where(t.allocations.c.provider_id == pid).limit(1)).first():
        raise errors.ProviderInUse(
            f"Unable to delete resource provider {uuid}: Resource provider has allocations.")
    if conn.execute(sa.select(P.c.id).where(P.c.parent_id == pid).limit(1)).first():
        raise exceptions.Conflict(
            f"Unable to delete parent resource provider {uuid}: It has child resource "
            "providers.", code=errors.PROVIDER_CANNOT_DELETE_PARENT)
    for table in (t.inventories, t.provider_traits, t.provider_aggregates):
        conn.execute(sa.delete(table).where(table.c.provider_id == pid))
    conn.execute(sa.delete(P).where(P.c.id == pid))
    revision.touch(conn, structure=True)
