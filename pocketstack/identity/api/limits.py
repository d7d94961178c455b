"""``/v3/registered_limits``, ``/v3/limits`` and ``/v3/limits/model`` (unified limits)."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from pocketstack.common import exceptions
from pocketstack.common.api.app import ApiRequest, empty_response, json_response
from pocketstack.common.api.validation import validate
from pocketstack.identity import schemas
from pocketstack.identity.api.common import collection, enforce, link, one, require_same, svc
from pocketstack.identity.domain import limits, projects


def _registered_view(req: ApiRequest, row: dict[str, Any]) -> dict[str, Any]:
    return {"id": row["id"], "service_id": row["service_id"], "region_id": row["region_id"],
            "resource_name": row["resource_name"], "default_limit": row["default_limit"],
            "description": row["description"],
            "links": link(req, f"/v3/registered_limits/{row['id']}")}


def _limit_view(req: ApiRequest, row: dict[str, Any]) -> dict[str, Any]:
    return {"id": row["id"], "project_id": row["project_id"], "domain_id": row["domain_id"],
            "service_id": row["service_id"], "region_id": row["region_id"],
            "resource_name": row["resource_name"], "resource_limit": row["resource_limit"],
            "description": row["description"], "links": link(req, f"/v3/limits/{row['id']}")}


def _filters(req: ApiRequest, names: tuple[str, ...]) -> dict[str, str | None]:
    return {name: req.query.get(name) for name in names}


def _body(req: ApiRequest, schema: dict[str, Any]) -> Any:
    return validate(schema, req.json())


# -- registered limits --------------------------------------------------------------------------
def list_registered_limits(req: ApiRequest) -> Response:
    enforce(req, "identity:list_registered_limits")
    rows = svc(req).db.read(limits.list_registered,
                            _filters(req, ("service_id", "region_id", "resource_name")))
    return collection(req, "registered_limits", (_registered_view(req, r) for r in rows))


def get_registered_limit(req: ApiRequest) -> Response:
    enforce(req, "identity:get_registered_limit")
    row = svc(req).db.read(limits.get_registered, req.path_params["registered_limit_id"])
    return one("registered_limit", _registered_view(req, row))


def create_registered_limits(req: ApiRequest) -> Response:
    enforce(req, "identity:create_registered_limits")
    items = _body(req, schemas.REGISTERED_LIMITS_CREATE)["registered_limits"]
    rows = svc(req).db.write(limits.create_registered, items)
    return json_response({"registered_limits": [_registered_view(req, r) for r in rows]},
                         status=201)


def update_registered_limit(req: ApiRequest) -> Response:
    registered_limit_id = req.path_params["registered_limit_id"]
    enforce(req, "identity:update_registered_limit")
    changes = dict(_body(req, schemas.REGISTERED_LIMIT_UPDATE)["registered_limit"])
    require_same(registered_limit_id, changes.pop("id", None), "registered limit")
    row = svc(req).db.write(limits.update_registered, registered_limit_id, changes)
    return one("registered_limit", _registered_view(req, row))


def delete_registered_limit(req: ApiRequest) -> Response:
    enforce(req, "identity:delete_registered_limit")
    svc(req).db.write(limits.delete_registered, req.path_params["registered_limit_id"])
    return empty_response()


# -- limits -------------------------------------------------------------------------------------
def get_limit_model(req: ApiRequest) -> Response:
    enforce(req, "identity:get_limit_model")
    model = svc(req).limit_model
    return json_response({"model": {"name": model.name, "description": model.description}})


def _visible(req: ApiRequest, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What the caller's scope shows: everything to admins and system scope, a domain's limits
    and its projects' to a domain scope, the project's own to a project scope."""
    ctx = req.ctx
    if ctx.is_system or ctx.is_admin:
        return rows
    if ctx.domain_id:
        in_domain = {p["id"] for p in svc(req).db.read(
            projects.list_, {"domain_id": ctx.domain_id})}
        return [r for r in rows if r["domain_id"] == ctx.domain_id
                or r["project_id"] in in_domain]
    if ctx.project_id:
        return [r for r in rows if r["project_id"] == ctx.project_id]
    return []


def list_limits(req: ApiRequest) -> Response:
    enforce(req, "identity:list_limits")
    rows = svc(req).db.read(limits.list_limits, _filters(
        req, ("service_id", "region_id", "resource_name", "project_id", "domain_id")))
    return collection(req, "limits", (_limit_view(req, r) for r in _visible(req, rows)))


def get_limit(req: ApiRequest) -> Response:
    limit_id = req.path_params["limit_id"]
    try:
        row: dict[str, Any] | None = svc(req).db.read(limits.get_limit, limit_id)
    except exceptions.NotFound:
        row = None  # policy first (as keystone): a reader may not learn which ids exist
    target: dict[str, Any] = {}
    if row is not None:
        target = {"target.limit.project_id": row["project_id"],
                  "target.limit.domain_id": row["domain_id"]}
        if row["project_id"]:
            project = svc(req).db.read(projects.get, row["project_id"])
            target["target.limit.project.domain_id"] = project["domain_id"]
    enforce(req, "identity:get_limit", target)
    if row is None:
        raise exceptions.NotFound(f"Could not find limit for {limit_id}.")
    return one("limit", _limit_view(req, row))


def create_limits(req: ApiRequest) -> Response:
    enforce(req, "identity:create_limits")
    items = _body(req, schemas.LIMITS_CREATE)["limits"]
    rows = svc(req).db.write(limits.create_limits, items, svc(req).limit_model)
    return json_response({"limits": [_limit_view(req, r) for r in rows]}, status=201)


def update_limit(req: ApiRequest) -> Response:
    limit_id = req.path_params["limit_id"]
    enforce(req, "identity:update_limit")
    changes = dict(_body(req, schemas.LIMIT_UPDATE)["limit"])
    require_same(limit_id, changes.pop("id", None), "limit")
    row = svc(req).db.write(limits.update_limit, limit_id, changes, svc(req).limit_model)
    return one("limit", _limit_view(req, row))


def delete_limit(req: ApiRequest) -> Response:
    enforce(req, "identity:delete_limit")
    svc(req).db.write(limits.delete_limit, req.path_params["limit_id"])
    return empty_response()
