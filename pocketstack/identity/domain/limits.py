"""Unified limits: registered (default) limits per service resource, and the project or domain
limits that override them, checked against the configured enforcement model (``flat`` or
``strict_two_level``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from pocketstack.common import exceptions
from pocketstack.common.db import is_duplicate_error, update_generation
from pocketstack.identity import tables as t
from pocketstack.identity.domain import projects
from pocketstack.identity.domain.common import new_id

FLAT = "flat"
STRICT_TWO_LEVEL = "strict_two_level"


@dataclass(frozen=True)
class EnforcementModel:
    name: str
    description: str
    max_project_depth: int | None  # projects below a domain; None: no limit from the model


MODELS = {
    FLAT: EnforcementModel(
        FLAT, "Limit enforcement and validation does not take project hierarchy into "
        "consideration.", None),
    STRICT_TWO_LEVEL: EnforcementModel(
        STRICT_TWO_LEVEL, "This model requires project hierarchy never exceeds a depth of two",
        2),
}

_COMPLY = (" The server could not comply with the request since it is either malformed or "
           "otherwise incorrect. The client is assumed to be in error.")
REG_FIELDS = ("service_id", "region_id", "resource_name", "default_limit", "description")


def model(name: str) -> EnforcementModel:
    try:
        return MODELS[name]
    except KeyError:
        raise ValueError(f"unknown unified limit enforcement model {name!r} "
                         f"(one of: {', '.join(MODELS)})") from None


def _missing(attribute: str, target: str) -> exceptions.ValidationError:
    return exceptions.ValidationError(f"Expecting to find {attribute} in {target}.{_COMPLY}")


def _duplicate(kind: str) -> exceptions.Conflict:
    return exceptions.Conflict(f"Conflict occurred attempting to store {kind} - Duplicate entry.")


def _exists(conn: Connection, table: sa.Table, row_id: str) -> bool:
    return conn.execute(sa.select(table.c.id).where(table.c.id == row_id)).first() is not None


def _assert_refs(conn: Connection, values: dict[str, Any], target: str) -> None:
    """Every service, region, project and domain a limit names must exist (400 otherwise)."""
    for attribute, table in (("service_id", t.services), ("region_id", t.regions),
                             ("project_id", t.projects), ("domain_id", t.domains)):
        value = values.get(attribute)
        if value is not None and not _exists(conn, table, value):
            raise _missing(attribute, target)


# -- registered limits --------------------------------------------------------------------------
def get_registered(conn: Connection, registered_limit_id: str) -> dict[str, Any]:
    row = conn.execute(sa.select(t.registered_limits).where(
        t.registered_limits.c.id == registered_limit_id)).mappings().first()
    if row is None:
        raise exceptions.NotFound(f"Could not find registered limit for {registered_limit_id}.")
    return dict(row)


def _find_registered(conn: Connection, service_id: str, region_id: str | None,
                     resource_name: str) -> dict[str, Any] | None:
    c = t.registered_limits.c
    q = sa.select(t.registered_limits).where(
        c.service_id == service_id, c.resource_name == resource_name,
        c.region_id.is_(None) if region_id is None else c.region_id == region_id)
    row = conn.execute(q).mappings().first()
    return dict(row) if row is not None else None


def list_registered(conn: Connection, filters: dict[str, str | None]) -> list[dict[str, Any]]:
    q = sa.select(t.registered_limits).order_by(t.registered_limits.c.id)
    for key in ("service_id", "region_id", "resource_name"):
        if filters.get(key) is not None:
            q = q.where(t.registered_limits.c[key] == filters[key])
    return [dict(r) for r in conn.execute(q).mappings()]


def create_registered(conn: Connection, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Create a batch of registered limits: all of them or none."""
    for item in items:
        _assert_refs(conn, item, "registered_limit")
    out = []
    for item in items:
        if _find_registered(conn, item["service_id"], item.get("region_id"),
                            item["resource_name"]) is not None:
            raise _duplicate("registered_limit")
        row = {"id": new_id(), "service_id": item["service_id"],
               "region_id": item.get("region_id"), "resource_name": item["resource_name"],
               "default_limit": item["default_limit"],
               "description": item.get("description"), "generation": 0}
        conn.execute(sa.insert(t.registered_limits).values(**row))
        out.append(row)
    return out


def _referenced(conn: Connection, registered_limit_id: str) -> bool:
    return conn.execute(sa.select(t.limits.c.id).where(
        t.limits.c.registered_limit_id == registered_limit_id).limit(1)).first() is not None


def _referenced_error(registered_limit_id: str) -> exceptions.Forbidden:
    return exceptions.Forbidden(
        f"Unable to update or delete registered limit {registered_limit_id} because there are "
        "project limits associated with it.")


def update_registered(conn: Connection, registered_limit_id: str,
                      changes: dict[str, Any]) -> dict[str, Any]:
    current = get_registered(conn, registered_limit_id)
    _assert_refs(conn, changes, "registered_limit")
    # Keystone refuses any change to a registered limit that project limits refer to.
    if _referenced(conn, registered_limit_id):
        raise _referenced_error(registered_limit_id)
    merged = {**current, **changes}
    if any(changes.get(k) for k in ("service_id", "region_id", "resource_name")):
        other = _find_registered(conn, merged["service_id"], merged["region_id"],
                                 merged["resource_name"])
        if other is not None:
            raise _duplicate("registered_limit")
    values = {k: v for k, v in changes.items() if k in REG_FIELDS}
    if values:
        update_generation(conn, t.registered_limits, registered_limit_id,
                          current["generation"], values)
    return get_registered(conn, registered_limit_id)


def delete_registered(conn: Connection, registered_limit_id: str) -> None:
    get_registered(conn, registered_limit_id)
    if _referenced(conn, registered_limit_id):
        raise _referenced_error(registered_limit_id)
    conn.execute(sa.delete(t.registered_limits).where(
        t.registered_limits.c.id == registered_limit_id))


# -- limits -------------------------------------------------------------------------------------
def _limit_select() -> sa.Select[Any]:
    rl = t.registered_limits
    return (sa.select(t.limits, rl.c.service_id, rl.c.region_id, rl.c.resource_name)
            .join(rl, rl.c.id == t.limits.c.registered_limit_id))


def get_limit(conn: Connection, limit_id: str) -> dict[str, Any]:
    row = conn.execute(_limit_select().where(t.limits.c.id == limit_id)).mappings().first()
    if row is None:
        raise exceptions.NotFound(f"Could not find limit for {limit_id}.")
    return dict(row)


def list_limits(conn: Connection, filters: dict[str, str | None]) -> list[dict[str, Any]]:
    q = _limit_select().order_by(t.limits.c.id)
    for key in ("service_id", "region_id", "resource_name"):
        if filters.get(key) is not None:
            q = q.where(t.registered_limits.c[key] == filters[key])
    for key in ("project_id", "domain_id"):
        if filters.get(key) is not None:
            q = q.where(t.limits.c[key] == filters[key])
    return [dict(r) for r in conn.execute(q).mappings()]


def _value_for(conn: Connection, registered: dict[str, Any], column: str,
               owner: str) -> int | None:
    row = conn.execute(sa.select(t.limits.c.resource_limit).where(
        t.limits.c.registered_limit_id == registered["id"],
        t.limits.c[column] == owner)).first()
    return None if row is None else int(row[0])


def _check_strict(conn: Connection, limit: dict[str, Any], registered: dict[str, Any],
                  batch: list[dict[str, Any]]) -> None:
    """strict_two_level: a project's limit may not exceed its domain's (or, without one, the
    registered default); a domain's limit may not be below any of its projects'."""
    value = limit["resource_limit"]
    project_id = limit.get("project_id")
    if project_id:
        project = projects.get(conn, project_id)
        # only a top-level project has a domain as its parent; a sub-project's parent has no
        # domain limit, so (as in keystone) the registered default bounds it
        parent_domain = project["domain_id"] if project["parent_id"] is None else None
        same = [b for b in batch if parent_domain and b.get("domain_id") == parent_domain
                and b["_registered_id"] == registered["id"]]
        if same:  # the domain's limit comes in the same request
            ok = value <= same[0]["resource_limit"]
        else:
            parent = (_value_for(conn, registered, "domain_id", parent_domain)
                      if parent_domain else None)
            if parent is None:
                parent = registered["default_limit"]
            ok = not parent or value <= parent
    else:
        ok = True
        for project in projects.list_(conn, {"domain_id": limit["domain_id"]}):
            child = _value_for(conn, registered, "project_id", project["id"])
            if child and value < child:
                ok = False
                break
    if not ok:
        level = "project_id" if project_id else "domain_id"
        raise exceptions.Forbidden(
            f"Invalid resource limit: The resource limit ({level}: "
            f"{project_id or limit.get('domain_id')}, resource_name: "
            f"{registered['resource_name']}, resource_limit: {value}, service_id: "
            f"{registered['service_id']}, region_id: {registered['region_id']}) doesn't "
            "satisfy current hierarchy model..")


def create_limits(conn: Connection, items: list[dict[str, Any]],
                  enforcement: EnforcementModel) -> list[dict[str, Any]]:
    """Create a batch of project/domain limits: all of them or none."""
    for item in items:
        _assert_refs(conn, item, "limit")
    resolved = []
    for item in items:
        registered = _find_registered(conn, item["service_id"], item.get("region_id"),
                                      item["resource_name"])
        resolved.append({**item, "_registered": registered,
                         "_registered_id": registered["id"] if registered else None})
    if enforcement.name == STRICT_TWO_LEVEL:
        for item in resolved:
            if item["_registered"] is not None:
                _check_strict(conn, item, item["_registered"], resolved)
    ids = []
    for item in resolved:
        registered = item["_registered"]
        owner = ("project_id", item["project_id"]) if item.get("project_id") else (
            "domain_id", item["domain_id"])
        if registered is not None and _value_for(conn, registered, *owner) is not None:
            raise _duplicate("limit")
        if registered is None:
            raise exceptions.Forbidden(
                "Unable to create a limit that has no corresponding registered limit.")
        row = {"id": new_id(), "registered_limit_id": registered["id"],
               "project_id": item.get("project_id"), "domain_id": item.get("domain_id"),
               "resource_limit": item["resource_limit"],
               "description": item.get("description"), "generation": 0}
        try:
            with conn.begin_nested():
                conn.execute(sa.insert(t.limits).values(**row))
        except IntegrityError as exc:
            if is_duplicate_error(exc):
                raise _duplicate("limit") from None
            raise
        ids.append(row["id"])
    return [get_limit(conn, i) for i in ids]


def update_limit(conn: Connection, limit_id: str, changes: dict[str, Any],
                 enforcement: EnforcementModel) -> dict[str, Any]:
    current = get_limit(conn, limit_id)
    values = {k: v for k, v in changes.items() if k in ("resource_limit", "description")}
    if enforcement.name == STRICT_TWO_LEVEL and "resource_limit" in values:
        registered = get_registered(conn, current["registered_limit_id"])
        merged = {**current, **values, "_registered_id": registered["id"]}
        _check_strict(conn, merged, registered, [])
    if values:
        update_generation(conn, t.limits, limit_id, current["generation"], values)
    return get_limit(conn, limit_id)


def delete_limit(conn: Connection, limit_id: str) -> None:
    get_limit(conn, limit_id)
    conn.execute(sa.delete(t.limits).where(t.limits.c.id == limit_id))


# -- what services enforce ----------------------------------------------------------------------
def effective(conn: Connection, project_id: str | None, service_type: str,
              region_id: str | None, names: list[str]) -> dict[str, int]:
    """The limit of each named resource of a service (by catalog type) for a project, as
    oslo.limit's flat enforcer reads it: the project's own limit, else the registered default.
    A registered limit of the service's region wins over one without a region; a name with no
    registered limit is absent from the answer. Without a project: the registered defaults."""
    if not names:
        return {}
    rl = t.registered_limits
    service_ids = sa.select(t.services.c.id).where(t.services.c.type == service_type)
    q = sa.select(rl.c.id, rl.c.resource_name, rl.c.region_id, rl.c.default_limit).where(
        rl.c.service_id.in_(service_ids), rl.c.resource_name.in_(names))
    q = q.where(rl.c.region_id.is_(None) if region_id is None
                else sa.or_(rl.c.region_id.is_(None), rl.c.region_id == region_id))
    chosen: dict[str, dict[str, Any]] = {}
    for row in conn.execute(q).mappings():
        held = chosen.get(row["resource_name"])
        if held is None or (held["region_id"] is None and row["region_id"] is not None):
            chosen[row["resource_name"]] = dict(row)
    out = {name: int(row["default_limit"]) for name, row in chosen.items()}
    by_id = {row["id"]: name for name, row in chosen.items()}
    if by_id and project_id is not None:
        own = sa.select(t.limits.c.registered_limit_id, t.limits.c.resource_limit).where(
            t.limits.c.registered_limit_id.in_(list(by_id)), t.limits.c.project_id == project_id)
        for registered_id, value in conn.execute(own):
            out[by_id[registered_id]] = int(value)
    return out
