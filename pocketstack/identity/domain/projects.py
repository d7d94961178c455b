"""Projects: the tenants that own resources, optionally in a hierarchy."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from pocketstack.common import exceptions
from pocketstack.common.db import is_duplicate_error, update_generation
from pocketstack.identity import tables as t
from pocketstack.identity.domain import domains
from pocketstack.identity.domain.common import bump_revision, get_row, new_id

FIELDS = ("name", "description", "enabled", "tags", "options", "parent_id", "domain_id")
MAX_DEPTH = 8


def get(conn: Connection, project_id: str) -> dict[str, Any]:
    return get_row(conn, t.projects, project_id, "project")


def get_by_name(conn: Connection, name: str, domain_id: str) -> dict[str, Any]:
    row = conn.execute(sa.select(t.projects).where(
        t.projects.c.name == name, t.projects.c.domain_id == domain_id)).mappings().first()
    if row is None:
        raise exceptions.NotFound(f"Could not find project: {name}.")
    return dict(row)


def list_(conn: Connection, filters: dict[str, Any] | None = None,
          ids: set[str] | None = None) -> list[dict[str, Any]]:
    q = sa.select(t.projects).order_by(t.projects.c.name)
    for key, value in (filters or {}).items():
        if value is not None:
            q = q.where(t.projects.c[key] == value)
    if ids is not None:
        q = q.where(t.projects.c.id.in_(ids))
    return [dict(r) for r in conn.execute(q).mappings()]


def parents(conn: Connection, project: dict[str, Any]) -> list[dict[str, Any]]:
    """Ancestors, nearest first."""
    out = []
    current = project
    while current.get("parent_id"):
        current = get(conn, current["parent_id"])
        out.append(current)
    return out


def children(conn: Connection, project_id: str) -> list[dict[str, Any]]:
    return [dict(r) for r in conn.execute(
        sa.select(t.projects).where(t.projects.c.parent_id == project_id)).mappings()]


def subtree(conn: Connection, project_id: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    frontier = [project_id]
    while frontier:
        rows = [dict(r) for r in conn.execute(
            sa.select(t.projects).where(t.projects.c.parent_id.in_(frontier))).mappings()]
        out.extend(rows)
        frontier = [r["id"] for r in rows]
    return out


def create(conn: Connection, values: dict[str, Any], max_depth: int = MAX_DEPTH) -> dict[str, Any]:
    """Create a project; ``max_depth`` (projects below the domain) may be lowered by the
    unified limits enforcement model."""
    domain_id = values.get("domain_id") or domains.DEFAULT_DOMAIN_ID
    domains.get(conn, domain_id)
    parent_id = values.get("parent_id")
    if parent_id:
        try:
            parent = get(conn, parent_id)
        except exceptions.NotFound:
            raise exceptions.ValidationError(f"Could not find project: {parent_id}.") from None
        if parent["domain_id"] != domain_id:
            raise exceptions.ValidationError(
                "Cannot create project, the parent and the project are in different domains."
            )
        if len(parents(conn, parent)) + 2 > min(max_depth, MAX_DEPTH):
            raise exceptions.Forbidden(
                f"Max hierarchy depth reached for {parent_id} branch."
            )
    row = {
        "id": values.get("id") or new_id(),
        "name": values["name"],
        "domain_id": domain_id,
        "parent_id": parent_id,
        "description": values.get("description", ""),
        "enabled": values.get("enabled", True),
        "tags": values.get("tags", []),
        "options": values.get("options", {}),
        "extra": {k: v for k, v in values.items()
                  if k not in FIELDS and k not in ("id", "is_domain")},
        "generation": 0,
    }
    try:
        with conn.begin_nested():
            conn.execute(sa.insert(t.projects).values(**row))
    except IntegrityError as exc:
        if is_duplicate_error(exc):
            raise exceptions.Conflict(
                f"Conflict occurred attempting to store project - it is not permitted to have "
                f"two projects with the same name in the same domain : {values['name']}."
            ) from None
        raise
    return row


def update(conn: Connection, project_id: str, changes: dict[str, Any]) -> dict[str, Any]:
    current = get(conn, project_id)
    if "domain_id" in changes and changes["domain_id"] != current["domain_id"]:
        raise exceptions.ValidationError("Update of `domain_id` is not allowed.")
    if "parent_id" in changes and changes["parent_id"] != current["parent_id"]:
        raise exceptions.Forbidden("Update of `parent_id` is not allowed.")
    if "is_domain" in changes and changes["is_domain"]:
        raise exceptions.ValidationError("Update of `is_domain` is not allowed.")
    values = {k: v for k, v in changes.items()
              if k in FIELDS and k not in ("domain_id", "parent_id")}
    extra = dict(current["extra"])
    extra.update({k: v for k, v in changes.items()
                  if k not in FIELDS and k not in ("id", "is_domain")})
    values["extra"] = extra
    try:
        with conn.begin_nested():
            update_generation(conn, t.projects, project_id, current["generation"], values)
    except IntegrityError as exc:
        if is_duplicate_error(exc):
            raise exceptions.Conflict(
                f"Conflict occurred attempting to store project - it is not permitted to have "
                f"two projects with the same name in the same domain : {changes.get('name')}."
            ) from None
        raise
    bump_revision(conn)  # cached tokens re-read names and enabled state
    return get(conn, project_id)


def delete(conn: Connection, project_id: str) -> None:
    get(conn, project_id)
    if children(conn, project_id):
        raise exceptions.Forbidden(
            f"Cannot delete the project {project_id} since it is not a leaf in the "
            "hierarchy. Use the cascade option if you want to delete a subtree."
        )
    conn.execute(sa.delete(t.assignments).where(t.assignments.c.target_id == project_id))
    conn.execute(sa.delete(t.application_credentials)
                 .where(t.application_credentials.c.project_id == project_id))
    conn.execute(sa.delete(t.projects).where(t.projects.c.id == project_id))
    bump_revision(conn)
