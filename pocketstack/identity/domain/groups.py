"""Groups and their members."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from pocketstack.common import exceptions
from pocketstack.common.db import is_duplicate_error, update_generation
from pocketstack.identity import tables as t
from pocketstack.identity.domain import domains, users
from pocketstack.identity.domain.common import bump_revision, get_row, new_id, utcnow

FIELDS = ("name", "description", "domain_id")


def get(conn: Connection, group_id: str) -> dict[str, Any]:
    return get_row(conn, t.groups, group_id, "group")


def list_(conn: Connection, filters: dict[str, Any] | None = None,
          ids: set[str] | None = None) -> list[dict[str, Any]]:
    q = sa.select(t.groups).order_by(t.groups.c.name)
    for key, value in (filters or {}).items():
        if value is not None:
            q = q.where(t.groups.c[key] == value)
    if ids is not None:
        q = q.where(t.groups.c.id.in_(ids))
    return [dict(r) for r in conn.execute(q).mappings()]


def create(conn: Connection, values: dict[str, Any]) -> dict[str, Any]:
    domain_id = values.get("domain_id") or domains.DEFAULT_DOMAIN_ID
    domains.get(conn, domain_id)
    row = {
        "id": new_id(),
        "name": values["name"],
        "domain_id": domain_id,
        "description": values.get("description"),
        "extra": {k: v for k, v in values.items() if k not in FIELDS and k != "id"},
        "generation": 0,
    }
    try:
        with conn.begin_nested():
            conn.execute(sa.insert(t.groups).values(**row))
    except IntegrityError as exc:
        if is_duplicate_error(exc):
            raise exceptions.Conflict(
                f"Conflict occurred attempting to store group - Duplicate entry found with "
                f"name {values['name']}.") from None
        raise
    return row


def update(conn: Connection, group_id: str, changes: dict[str, Any]) -> dict[str, Any]:
    current = get(conn, group_id)
    if "domain_id" in changes and changes["domain_id"] != current["domain_id"]:
        raise exceptions.ValidationError("Update of `domain_id` is not allowed.")
    values = {k: v for k, v in changes.items() if k in FIELDS and k != "domain_id"}
    extra = dict(current["extra"])
    extra.update({k: v for k, v in changes.items() if k not in FIELDS and k != "id"})
    values["extra"] = extra
    try:
        with conn.begin_nested():
            update_generation(conn, t.groups, group_id, current["generation"], values)
    except IntegrityError as exc:
        if is_duplicate_error(exc):
            raise exceptions.Conflict(
                f"Conflict occurred attempting to store group - Duplicate entry found with "
                f"name {changes.get('name')}.") from None
        raise
    return get(conn, group_id)


def delete(conn: Connection, group_id: str) -> None:
    get(conn, group_id)
    conn.execute(sa.delete(t.assignments).where(t.assignments.c.actor_id == group_id))
    conn.execute(sa.delete(t.group_members).where(t.group_members.c.group_id == group_id))
    conn.execute(sa.delete(t.groups).where(t.groups.c.id == group_id))
    bump_revision(conn)


def add_member(conn: Connection, group_id: str, user_id: str) -> None:
    get(conn, group_id)
    users.get(conn, user_id)
    try:
        with conn.begin_nested():
            conn.execute(sa.insert(t.group_members).values(group_id=group_id, user_id=user_id))
    except IntegrityError as exc:
        if not is_duplicate_error(exc):
            raise
    bump_revision(conn)


def is_member(conn: Connection, group_id: str, user_id: str) -> bool:
    get(conn, group_id)
    users.get(conn, user_id)
    return conn.execute(sa.select(t.group_members).where(
        t.group_members.c.group_id == group_id,
        t.group_members.c.user_id == user_id)).first() is not None


def remove_member(conn: Connection, group_id: str, user_id: str) -> None:
    if not is_member(conn, group_id, user_id):
        raise exceptions.NotFound(f"User {user_id} is not a member of group {group_id}.")
    conn.execute(sa.delete(t.group_members).where(
        t.group_members.c.group_id == group_id, t.group_members.c.user_id == user_id))
    from pocketstack.identity.domain import revocations

    revocations.revoke_user(conn, user_id)


def members(conn: Connection, group_id: str) -> list[dict[str, Any]]:
    get(conn, group_id)
    ids = {r[0] for r in conn.execute(sa.select(t.group_members.c.user_id).where(
        t.group_members.c.group_id == group_id))}
    return users.list_(conn, ids=ids)


def groups_of(conn: Connection, user_id: str) -> list[dict[str, Any]]:
    users.get(conn, user_id)
    ids = {r[0] for r in conn.execute(sa.select(t.group_members.c.group_id).where(
        t.group_members.c.user_id == user_id))}
    f = t.federated_group_members  # a federated user's memberships until they expire
    expiring = {r[0]: r[1] for r in conn.execute(sa.select(f.c.group_id, f.c.expires_at).where(
        f.c.user_id == user_id, f.c.expires_at > utcnow()))}
    rows = list_(conn, ids=ids | set(expiring))
    for row in rows:
        if row["id"] in expiring and row["id"] not in ids:
            row["membership_expires_at"] = expiring[row["id"]]
    return rows
