"""OS-EP-FILTER: endpoint groups (endpoints picked by filters) and their project associations,
plus endpoints associated with projects one by one."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from pocketstack.common import exceptions
from pocketstack.common.db import is_duplicate_error, update_generation
from pocketstack.identity import tables as t
from pocketstack.identity.domain import catalog
from pocketstack.identity.domain.common import get_row, new_id

FIELDS = ("name", "description", "filters")


def get(conn: Connection, group_id: str) -> dict[str, Any]:
    return get_row(conn, t.endpoint_groups, group_id, "endpoint group")


def list_(conn: Connection, name: str | None = None,
          ids: set[str] | None = None) -> list[dict[str, Any]]:
    q = sa.select(t.endpoint_groups).order_by(t.endpoint_groups.c.name, t.endpoint_groups.c.id)
    if name is not None:
        q = q.where(t.endpoint_groups.c.name == name)
    if ids is not None:
        q = q.where(t.endpoint_groups.c.id.in_(ids))
    return [dict(r) for r in conn.execute(q).mappings()]


def create(conn: Connection, values: dict[str, Any]) -> dict[str, Any]:
    row = {"id": new_id(), "name": values["name"], "description": values.get("description"),
           "filters": values["filters"], "generation": 0}
    conn.execute(sa.insert(t.endpoint_groups).values(**row))
    return row


def update(conn: Connection, group_id: str, changes: dict[str, Any]) -> dict[str, Any]:
    current = get(conn, group_id)
    values = {k: v for k, v in changes.items() if k in FIELDS}
    update_generation(conn, t.endpoint_groups, group_id, current["generation"], values)
    return get(conn, group_id)


def delete(conn: Connection, group_id: str) -> None:
    get(conn, group_id)
    conn.execute(sa.delete(t.endpoint_groups).where(t.endpoint_groups.c.id == group_id))


def endpoints_of(conn: Connection, group: dict[str, Any]) -> list[dict[str, Any]]:
    f = group["filters"]
    return catalog.list_endpoints(conn, service_id=f.get("service_id"),
                                  interface=f.get("interface"), region_id=f.get("region_id"))


# -- project associations -----------------------------------------------------------------
def _insert(conn: Connection, table: sa.Table, what: str, **values: str) -> None:
    try:
        with conn.begin_nested():
            conn.execute(sa.insert(table).values(**values))
    except IntegrityError as exc:
        if is_duplicate_error(exc):
            raise exceptions.Conflict(
                f"Conflict occurred attempting to store {what} - Duplicate entry.") from None
        raise


def add_group_to_project(conn: Connection, group_id: str, project_id: str) -> None:
    _insert(conn, t.project_endpoint_groups, "project_endpoint_group",
            endpoint_group_id=group_id, project_id=project_id)


def group_in_project(conn: Connection, group_id: str, project_id: str) -> bool:
    c = t.project_endpoint_groups.c
    return conn.execute(sa.select(c.project_id).where(
        c.endpoint_group_id == group_id, c.project_id == project_id)).first() is not None


def remove_group_from_project(conn: Connection, group_id: str, project_id: str) -> None:
    c = t.project_endpoint_groups.c
    result = conn.execute(sa.delete(t.project_endpoint_groups).where(
        c.endpoint_group_id == group_id, c.project_id == project_id))
    if result.rowcount == 0:
        raise exceptions.NotFound(
            f"Could not find Endpoint Group Project Association: {group_id}, {project_id}.")


def project_ids_of_group(conn: Connection, group_id: str) -> list[str]:
    c = t.project_endpoint_groups.c
    return [r[0] for r in conn.execute(
        sa.select(c.project_id).where(c.endpoint_group_id == group_id))]


def group_ids_of_project(conn: Connection, project_id: str) -> set[str]:
    c = t.project_endpoint_groups.c
    return {r[0] for r in conn.execute(
        sa.select(c.endpoint_group_id).where(c.project_id == project_id))}


def add_endpoint_to_project(conn: Connection, endpoint_id: str, project_id: str) -> None:
    _insert(conn, t.project_endpoints, "project_endpoint",
            endpoint_id=endpoint_id, project_id=project_id)


def endpoint_in_project(conn: Connection, endpoint_id: str, project_id: str) -> bool:
    c = t.project_endpoints.c
    return conn.execute(sa.select(c.project_id).where(
        c.endpoint_id == endpoint_id, c.project_id == project_id)).first() is not None


def remove_endpoint_from_project(conn: Connection, endpoint_id: str, project_id: str) -> None:
    c = t.project_endpoints.c
    result = conn.execute(sa.delete(t.project_endpoints).where(
        c.endpoint_id == endpoint_id, c.project_id == project_id))
    if result.rowcount == 0:
        raise exceptions.NotFound(
            f"Could not find project endpoint association: {endpoint_id}, {project_id}.")


def project_ids_of_endpoint(conn: Connection, endpoint_id: str) -> list[str]:
    c = t.project_endpoints.c
    return [r[0] for r in conn.execute(sa.select(c.project_id).where(c.endpoint_id == endpoint_id))]


def endpoints_for_project(conn: Connection, project_id: str) -> list[dict[str, Any]]:
    """Endpoints associated directly, then those of the project's endpoint groups."""
    c = t.project_endpoints.c
    direct = {r[0] for r in conn.execute(
        sa.select(c.endpoint_id).where(c.project_id == project_id))}
    found = {e["id"]: e for e in catalog.list_endpoints(conn) if e["id"] in direct}
    for group in list_(conn, ids=group_ids_of_project(conn, project_id)):
        for endpoint in endpoints_of(conn, group):
            found.setdefault(endpoint["id"], endpoint)
    return list(found.values())
