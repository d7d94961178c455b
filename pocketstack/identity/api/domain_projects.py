"""Projects acting as domains (``is_domain``): keystone models every domain as a project.

Domains stay in their own table; the projects API shows each one as a project with
``is_domain: true`` (no domain, no parent), creates one with ``POST /v3/projects
{"is_domain": true}`` and reads, updates or deletes one by its id.
"""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from pocketstack.common import exceptions
from pocketstack.common.api.app import ApiRequest, empty_response
from pocketstack.identity.api.common import bool_param, enforce, link, one, svc
from pocketstack.identity.domain import domains

DOMAIN_FIELDS = ("name", "description", "enabled", "tags", "options")


def view(req: ApiRequest, row: dict[str, Any]) -> dict[str, Any]:
    out = dict(row["extra"])
    out.update({
        "id": row["id"], "name": row["name"], "domain_id": None,
        "description": row["description"] or "", "enabled": row["enabled"],
        "parent_id": None, "is_domain": True, "tags": row["tags"], "options": row["options"],
        "links": link(req, f"/v3/projects/{row['id']}"),
    })
    return out


def list_(req: ApiRequest) -> list[dict[str, Any]]:
    enforce(req, "identity:list_domains")  # the domains themselves, whatever the caller's scope
    rows = svc(req).db.read(domains.list_, name=req.query.get("name"),
                            enabled=bool_param(req, "enabled"))
    return [view(req, r) for r in rows]


def create(req: ApiRequest, values: dict[str, Any]) -> Response:
    if values.get("domain_id") or values.get("parent_id"):
        raise exceptions.ValidationError(
            "A project acting as a domain cannot have a domain_id or a parent_id.")
    enforce(req, "identity:create_project", {"target.domain_id": None})
    fields = {k: v for k, v in values.items() if k not in ("domain_id", "parent_id")}
    row = svc(req).db.write(domains.create, fields)
    return one("project", view(req, row), 201)


def lookup(req: ApiRequest, project_id: str) -> dict[str, Any] | None:
    """The domain with this id, when ``project_id`` names one (and no project does)."""
    try:
        return svc(req).db.read(domains.get, project_id)  # type: ignore[no-any-return]
    except exceptions.NotFound:
        return None


def get(req: ApiRequest, row: dict[str, Any]) -> Response:
    enforce(req, "identity:get_project", {"target.project_id": row["id"],
                                          "target.domain_id": row["id"]})
    return one("project", view(req, row))


def update(req: ApiRequest, row: dict[str, Any], values: dict[str, Any]) -> Response:
    enforce(req, "identity:update_project", {"target.domain_id": None})
    if values.get("is_domain") is False:
        raise exceptions.ValidationError("Update of `is_domain` is not allowed.")
    if values.get("domain_id") is not None:
        raise exceptions.ValidationError("Update of `domain_id` is not allowed.")
    changes = {k: v for k, v in values.items()
               if k not in ("is_domain", "domain_id", "parent_id")}
    return one("project", view(req, svc(req).db.write(domains.update, row["id"], changes)))


def delete(req: ApiRequest, row: dict[str, Any]) -> Response:
    enforce(req, "identity:delete_project", {"target.domain_id": None})
    svc(req).db.write(domains.delete, row["id"])
    return empty_response()
