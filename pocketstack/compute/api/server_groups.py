"""``/os-server-groups``: (anti-)affinity groups of servers."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from pocketstack.common import exceptions
from pocketstack.common.api.app import ApiRequest, empty_response, json_response
from pocketstack.common.api.validation import query_bool
from pocketstack.compute.api.admin_common import int_param, is_admin
from pocketstack.compute.api.common import (
    allowed,
    body,
    enforce,
    svc,
    unified_limits,
    version_at_least,
)
from pocketstack.compute.domain import quotas, server_groups
from pocketstack.compute.schemas import admin as schemas


def view(req: ApiRequest, g: dict[str, Any], members: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {"id": g["uuid"], "name": g["name"], "members": members}
    if version_at_least(req, "2.64"):
        out["policy"] = g["policy"]
        rules = dict(g["rules"] or {})
        out["rules"] = rules
    else:
        out["policies"] = [g["policy"]]
        out["metadata"] = {}
    if version_at_least(req, "2.13"):
        out["project_id"] = g["project_id"]
        out["user_id"] = g["user_id"]
    return out


def list_groups(req: ApiRequest) -> Response:
    project_id = req.ctx.project_id
    enforce(req, "os_compute_api:os-server-groups:index", {"project_id": project_id})
    scope: str | None = project_id
    if query_bool(req.query.get("all_projects"), False) and allowed(
            req, "os_compute_api:os-server-groups:index:all_projects",
            {"project_id": project_id}):
        scope = None
    limit = int_param(req, "limit", 0)
    offset = int_param(req, "offset", 0) or 0

    def read(conn: Any) -> list[dict[str, Any]]:
        groups = server_groups.list_(conn, scope)[offset:]
        if limit is not None:
            groups = groups[:limit]
        members = server_groups.members_by_group(conn, [g["uuid"] for g in groups])
        return [view(req, g, members[g["uuid"]]) for g in groups]

    return json_response({"server_groups": svc(req).db.read(read)})


def _load(req: ApiRequest, conn: Any, uuid: str) -> dict[str, Any]:
    g = server_groups.get(conn, uuid)
    if not is_admin(req) and g["project_id"] != req.ctx.project_id:
        raise exceptions.NotFound(f"Instance group {uuid} could not be found.")
    return g


def show_group(req: ApiRequest) -> Response:
    uuid = req.path_params["group_id"]

    def read(conn: Any) -> dict[str, Any]:
        g = _load(req, conn, uuid)
        enforce(req, "os_compute_api:os-server-groups:show", {"project_id": g["project_id"]})
        return view(req, g, server_groups.members(conn, uuid))

    return json_response({"server_group": svc(req).db.read(read)})


def create_group(req: ApiRequest) -> Response:
    ctx = req.ctx
    enforce(req, "os_compute_api:os-server-groups:create", {"project_id": ctx.project_id})
    if version_at_least(req, "2.64"):
        data = body(req, schemas.SERVER_GROUP_CREATE_264)["server_group"]
        policy = data["policy"]
        rules = dict(data.get("rules") or {})
        if rules and policy != "anti-affinity":
            raise exceptions.BadRequest("Only anti-affinity policy supports rules.")
        if "max_server_per_host" in rules:
            rules["max_server_per_host"] = int(rules["max_server_per_host"])
    else:
        schema = (schemas.SERVER_GROUP_CREATE_215 if version_at_least(req, "2.15")
                  else schemas.SERVER_GROUP_CREATE)
        data = body(req, schema)["server_group"]
        policy, rules = data["policies"][0], {}

    unified = unified_limits(req)

    def write(conn: Any) -> dict[str, Any]:
        try:
            g = server_groups.create(conn, ctx.project_id or "", ctx.user_id or "",
                                     data["name"], policy, rules, unified)
        except quotas.OverLimit:
            raise
        except quotas.QuotaExceeded:
            raise quotas.QuotaExceeded("Quota exceeded, too many server groups.",
                                       ["server_groups"]) from None
        return view(req, g, [])

    return json_response({"server_group": svc(req).db.write(write)})


def delete_group(req: ApiRequest) -> Response:
    uuid = req.path_params["group_id"]

    def write(conn: Any) -> None:
        g = _load(req, conn, uuid)
        enforce(req, "os_compute_api:os-server-groups:delete", {"project_id": g["project_id"]})
        server_groups.delete(conn, uuid)

    svc(req).db.write(write)
    return empty_response(204)
