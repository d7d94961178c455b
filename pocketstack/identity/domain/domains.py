"""Domains: the top-level containers of projects, users and groups."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from pocketstack.common import exceptions
from pocketstack.common.db import is_duplicate_error, update_generation
from pocketstack.identity import tables as t
from pocketstack.identity.domain.common import bump_revision, get_row, new_id

DEFAULT_DOMAIN_ID = "default"
FIELDS = ("name", "description", "enabled", "tags", "options")


def get(conn: Connection, domain_id: str) -> dict[str, Any]:
    return get_row(conn, t.domains, domain_id, "domain")


def get_by_name(conn: Connection, name: str) -> dict[str, Any]:
    row = conn.execute(sa.select(t.domains).where(t.domains.c.name == name)).mappings().first()
    if row is None:
        raise exceptions.NotFound(f"Could not find domain: {name}.")
    return dict(row)


def list_(conn: Connection, name: str | None = None, enabled: bool | None = None,
          ids: set[str] | None = None) -> list[dict[str, Any]]:
    q = sa.select(t.domains).order_by(t.domains.c.name)
    if name is not None:
        q = q.where(t.domains.c.name == name)
    if enabled is not None:
        q = q.where(t.domains.c.enabled == enabled)
    if ids is not None:
        q = q.where(t.domains.c.id.in_(ids))
    return [dict(r) for r in conn.execute(q).mappings()]


def create(conn: Connection, values: dict[str, Any],
           domain_id: str | None = None) -> dict[str, Any]:
    row = {
        "id": domain_id or values.get("id") or new_id(),
        "name": values["name"],
        "description": values.get("description"),
        "enabled": values.get("enabled", True),
        "tags": values.get("tags", []),
        "options": values.get("options", {}),
        "extra": {k: v for k, v in values.items() if k not in FIELDS and k != "id"},
        "generation": 0,
    }
    try:
        with conn.begin_nested():
            conn.execute(sa.insert(t.domains).values(**row))
    except IntegrityError as exc:
        if is_duplicate_error(exc):
            raise exceptions.Conflict(
                f"Conflict occurred attempting to store domain - Duplicate entry found with "
                f"name {values['name']}."
            ) from None
        raise
    return row


def update(conn: Connection, domain_id: str, changes: dict[str, Any]) -> dict[str, Any]:
    current = get(conn, domain_id)
    values = {k: v for k, v in changes.items() if k in FIELDS}
    extra = dict(current["extra"])
    extra.update({k: v for k, v in changes.items() if k not in FIELDS and k != "id"})
    values["extra"] = extra
    try:
        with conn.begin_nested():
            update_generation(conn, t.domains, domain_id, current["generation"], values)
    except IntegrityError as exc:
        if is_duplicate_error(exc):
            raise exceptions.Conflict(
                f"Conflict occurred attempting to store domain - Duplicate entry found with "
                f"name {changes.get('name')}."
            ) from None
        raise
    bump_revision(conn)  # cached tokens re-read names and enabled state
    return get(conn, domain_id)


def delete(conn: Connection, domain_id: str) -> None:
    current = get(conn, domain_id)
    if current["enabled"]:
        raise exceptions.Forbidden(
            "Cannot delete a domain that is enabled, please disable it first."
        )
    # Everything owned by the domain goes with it.
    project_ids = [r[0] for r in conn.execute(
        sa.select(t.projects.c.id).where(t.projects.c.domain_id == domain_id))]
    user_ids = [r[0] for r in conn.execute(
        sa.select(t.users.c.id).where(t.users.c.domain_id == domain_id))]
    group_ids = [r[0] for r in conn.execute(
        sa.select(t.groups.c.id).where(t.groups.c.domain_id == domain_id))]
    targets = set(project_ids) | {domain_id}
    actors = set(user_ids) | set(group_ids)
    conn.execute(sa.delete(t.assignments).where(
        sa.or_(t.assignments.c.target_id.in_(targets), t.assignments.c.actor_id.in_(actors))))
    conn.execute(sa.delete(t.group_members).where(t.group_members.c.group_id.in_(group_ids)))
    conn.execute(sa.delete(t.groups).where(t.groups.c.domain_id == domain_id))
    conn.execute(sa.delete(t.users).where(t.users.c.domain_id == domain_id))
    # children before parents
    conn.execute(sa.update(t.projects).where(t.projects.c.domain_id == domain_id)
                 .values(parent_id=None))
    conn.execute(sa.delete(t.projects).where(t.projects.c.domain_id == domain_id))
    conn.execute(sa.delete(t.roles).where(t.roles.c.domain_id == domain_id))
    conn.execute(sa.delete(t.domains).where(t.domains.c.id == domain_id))
    bump_revision(conn)
