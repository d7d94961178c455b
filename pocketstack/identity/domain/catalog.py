"""The service catalog: regions, services and endpoints."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from pocketstack.common import exceptions
from pocketstack.common.db import is_duplicate_error, update_generation
from pocketstack.identity import tables as t
from pocketstack.identity.domain.common import bump_revision, get_row, new_id

SERVICE_FIELDS = ("type", "name", "description", "enabled")
ENDPOINT_FIELDS = ("service_id", "interface", "region_id", "url", "enabled")
REGION_FIELDS = ("description", "parent_region_id")
INTERFACES = ("public", "internal", "admin")


# -- services ---------------------------------------------------------------------------------
def get_service(conn: Connection, service_id: str) -> dict[str, Any]:
    return get_row(conn, t.services, service_id, "service")


def list_services(conn: Connection, name: str | None = None,
                  type_: str | None = None) -> list[dict[str, Any]]:
    q = sa.select(t.services).order_by(t.services.c.type, t.services.c.id)
    if name is not None:
        q = q.where(t.services.c.name == name)
    if type_ is not None:
        q = q.where(t.services.c.type == type_)
    return [dict(r) for r in conn.execute(q).mappings()]


def create_service(conn: Connection, values: dict[str, Any]) -> dict[str, Any]:
    row = {
        "id": values.get("id") or new_id(),
        "type": values["type"],
        "name": values.get("name"),
        "description": values.get("description"),
        "enabled": values.get("enabled", True),
        "extra": {k: v for k, v in values.items() if k not in SERVICE_FIELDS and k != "id"},
        "generation": 0,
    }
    conn.execute(sa.insert(t.services).values(**row))
    bump_revision(conn)
    return row


def update_service(conn: Connection, service_id: str, changes: dict[str, Any]) -> dict[str, Any]:
    current = get_service(conn, service_id)
    values = {k: v for k, v in changes.items() if k in SERVICE_FIELDS}
    extra = dict(current["extra"])
    extra.update({k: v for k, v in changes.items() if k not in SERVICE_FIELDS and k != "id"})
    values["extra"] = extra
    update_generation(conn, t.services, service_id, current["generation"], values)
    bump_revision(conn)
    return get_service(conn, service_id)


def delete_service(conn: Connection, service_id: str) -> None:
    get_service(conn, service_id)
    conn.execute(sa.delete(t.endpoints).where(t.endpoints.c.service_id == service_id))
    conn.execute(sa.delete(t.services).where(t.services.c.id == service_id))
    bump_revision(conn)


# -- endpoints --------------------------------------------------------------------------------
def get_endpoint(conn: Connection, endpoint_id: str) -> dict[str, Any]:
    return get_row(conn, t.endpoints, endpoint_id, "endpoint")


def list_endpoints(conn: Connection, service_id: str | None = None,
                   interface: str | None = None,
                   region_id: str | None = None) -> list[dict[str, Any]]:
    q = sa.select(t.endpoints).order_by(t.endpoints.c.service_id, t.endpoints.c.interface)
    if service_id is not None:
        q = q.where(t.endpoints.c.service_id == service_id)
    if interface is not None:
        q = q.where(t.endpoints.c.interface == interface)
    if region_id is not None:
        q = q.where(t.endpoints.c.region_id == region_id)
    return [dict(r) for r in conn.execute(q).mappings()]


def _check_endpoint_refs(conn: Connection, values: dict[str, Any]) -> None:
    if "service_id" in values:
        try:
            get_service(conn, values["service_id"])
        except exceptions.NotFound:
            raise exceptions.ValidationError(
                f"Could not find service: {values['service_id']}.") from None
    if values.get("region_id"):
        try:
            get_region(conn, values["region_id"])
        except exceptions.NotFound:
            raise exceptions.ValidationError(
                f"Could not find region: {values['region_id']}.") from None


def _legacy_region(conn: Connection, values: dict[str, Any]) -> None:
    """The v2-style ``region`` field names a region that is created when missing (keystone
    keeps this for old clients); ``region_id`` must name an existing one."""
    region = values.pop("region", None)
    if values.get("region_id") is not None or region is None:
        return
    values["region_id"] = region
    try:
        get_region(conn, region)
    except exceptions.NotFound:
        create_region(conn, {"id": region})


def create_endpoint(conn: Connection, values: dict[str, Any]) -> dict[str, Any]:
    _legacy_region(conn, values)
    _check_endpoint_refs(conn, values)
    row = {
        "id": values.get("id") or new_id(),
        "service_id": values["service_id"],
        "interface": values["interface"],
        "region_id": values.get("region_id"),
        "url": values["url"],
        "enabled": values.get("enabled", True),
        "extra": {k: v for k, v in values.items()
                  if k not in ENDPOINT_FIELDS and k not in ("id", "region")},
        "generation": 0,
    }
    conn.execute(sa.insert(t.endpoints).values(**row))
    bump_revision(conn)
    return row


def update_endpoint(conn: Connection, endpoint_id: str, changes: dict[str, Any]) -> dict[str, Any]:
    current = get_endpoint(conn, endpoint_id)
    _legacy_region(conn, changes)
    _check_endpoint_refs(conn, changes)
    values = {k: v for k, v in changes.items() if k in ENDPOINT_FIELDS}
    extra = dict(current["extra"])
    extra.update({k: v for k, v in changes.items()
                  if k not in ENDPOINT_FIELDS and k not in ("id", "region")})
    values["extra"] = extra
    update_generation(conn, t.endpoints, endpoint_id, current["generation"], values)
    bump_revision(conn)
    return get_endpoint(conn, endpoint_id)


def delete_endpoint(conn: Connection, endpoint_id: str) -> None:
    get_endpoint(conn, endpoint_id)
    conn.execute(sa.delete(t.endpoints).where(t.endpoints.c.id == endpoint_id))
    bump_revision(conn)


# -- regions ----------------------------------------------------------------------------------
def get_region(conn: Connection, region_id: str) -> dict[str, Any]:
    return get_row(conn, t.regions, region_id, "region")


def list_regions(conn: Connection, parent_region_id: str | None = None) -> list[dict[str, Any]]:
    q = sa.select(t.regions).order_by(t.regions.c.id)
    if parent_region_id is not None:
        q = q.where(t.regions.c.parent_region_id == parent_region_id)
    return [dict(r) for r in conn.execute(q).mappings()]


def _check_parent(conn: Connection, region_id: str, parent_id: str | None) -> None:
    if not parent_id:
        return
    seen = {region_id}
    current: str | None = parent_id
    while current:
        if current in seen:
            raise exceptions.ValidationError(
                f"Circular reference or a repeated entry found in region tree - {parent_id}.")
        seen.add(current)
        try:
            current = get_region(conn, current)["parent_region_id"]
        except exceptions.NotFound:
            raise exceptions.ValidationError(f"Could not find region: {current}.") from None


def create_region(conn: Connection, values: dict[str, Any]) -> dict[str, Any]:
    region_id = values.get("id") or new_id()
    _check_parent(conn, region_id, values.get("parent_region_id"))
    row = {
        "id": region_id,
        "description": values.get("description", ""),
        "parent_region_id": values.get("parent_region_id"),
        "extra": {k: v for k, v in values.items() if k not in REGION_FIELDS and k != "id"},
        "generation": 0,
    }
    try:
        with conn.begin_nested():
            conn.execute(sa.insert(t.regions).values(**row))
    except IntegrityError as exc:
        if is_duplicate_error(exc):
            raise exceptions.Conflict(
                f"Conflict occurred attempting to store region - Duplicate ID, {region_id}."
            ) from None
        raise
    return row


def update_region(conn: Connection, region_id: str, changes: dict[str, Any]) -> dict[str, Any]:
    current = get_region(conn, region_id)
    if "parent_region_id" in changes:
        _check_parent(conn, region_id, changes["parent_region_id"])
    values = {k: v for k, v in changes.items() if k in REGION_FIELDS}
    extra = dict(current["extra"])
    extra.update({k: v for k, v in changes.items() if k not in REGION_FIELDS and k != "id"})
    values["extra"] = extra
    update_generation(conn, t.regions, region_id, current["generation"], values)
    return get_region(conn, region_id)


def delete_region(conn: Connection, region_id: str) -> None:
    get_region(conn, region_id)
    child = conn.execute(sa.select(t.regions.c.id).where(
        t.regions.c.parent_region_id == region_id)).first()
    if child is not None:
        raise exceptions.Forbidden("Unable to delete region because it has child regions.")
    conn.execute(sa.update(t.endpoints).where(t.endpoints.c.region_id == region_id)
                 .values(region_id=None))
    bump_revision(conn)
    conn.execute(sa.delete(t.regions).where(t.regions.c.id == region_id))


def token_catalog(conn: Connection) -> list[dict[str, Any]]:
    """The catalog as a token carries it: enabled services with their enabled endpoints."""
    services = {s["id"]: s for s in list_services(conn) if s["enabled"]}
    by_service: dict[str, list[dict[str, Any]]] = {sid: [] for sid in services}
    for ep in list_endpoints(conn):
        if ep["enabled"] and ep["service_id"] in by_service:
            by_service[ep["service_id"]].append({
                "id": ep["id"],
                "interface": ep["interface"],
                "region": ep["region_id"],
                "region_id": ep["region_id"],
                "url": ep["url"],
            })
    return [
        {"id": sid, "type": s["type"], "name": s["name"] or "", "endpoints": by_service[sid]}
        for sid, s in services.items()
    ]
