"""``/v3/groups`` and membership."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from pocketstack.common import exceptions
from pocketstack.common.api.app import ApiRequest, empty_response
from pocketstack.identity import schemas
from pocketstack.identity.api.common import body, collection, enforce, one, string_filters, svc
from pocketstack.identity.api.serializers import group_view, user_view
from pocketstack.identity.domain import domains, groups


def _target(req: ApiRequest, group_id: str) -> dict[str, Any]:
    row = svc(req).db.read(groups.get, group_id)
    return {"target.group_id": group_id, "target.domain_id": row["domain_id"]}


def list_groups(req: ApiRequest) -> Response:
    domain_id = req.query.get("domain_id")
    enforce(req, "identity:list_groups", {"target.domain_id": domain_id or req.ctx.domain_id})
    rows = svc(req).db.read(groups.list_, {"name": req.query.get("name"),
                                           "domain_id": domain_id})
    items = string_filters(req, [group_view(req, r) for r in rows], ("name",))
    return collection(req, "groups", items)


def get_group(req: ApiRequest) -> Response:
    group_id = req.path_params["group_id"]
    enforce(req, "identity:get_group", _target(req, group_id))
    return one("group", group_view(req, svc(req).db.read(groups.get, group_id)))


def create_group(req: ApiRequest) -> Response:
    values = body(req, schemas.GROUP_CREATE, "group")
    if not values.get("domain_id"):
        values["domain_id"] = (req.ctx.domain_id or req.ctx.project_domain_id
                               or domains.DEFAULT_DOMAIN_ID)
    enforce(req, "identity:create_group", {"target.domain_id": values["domain_id"]})
    row = svc(req).db.write(groups.create, values)
    return one("group", group_view(req, row), 201)


def update_group(req: ApiRequest) -> Response:
    group_id = req.path_params["group_id"]
    enforce(req, "identity:update_group", _target(req, group_id))
    values = body(req, schemas.GROUP_UPDATE, "group")
    return one("group", group_view(req, svc(req).db.write(groups.update, group_id, values)))


def delete_group(req: ApiRequest) -> Response:
    group_id = req.path_params["group_id"]
    enforce(req, "identity:delete_group", _target(req, group_id))
    svc(req).db.write(groups.delete, group_id)
    return empty_response()


def list_members(req: ApiRequest) -> Response:
    group_id = req.path_params["group_id"]
    enforce(req, "identity:list_users_in_group", _target(req, group_id))
    rows = svc(req).db.read(groups.members, group_id)
    return collection(req, "users", (user_view(req, u) for u in rows))


def add_member(req: ApiRequest) -> Response:
    group_id, user_id = req.path_params["group_id"], req.path_params["user_id"]
    enforce(req, "identity:add_user_to_group", _target(req, group_id))
    svc(req).db.write(groups.add_member, group_id, user_id)
    return empty_response()


def check_member(req: ApiRequest) -> Response:
    group_id, user_id = req.path_params["group_id"], req.path_params["user_id"]
    enforce(req, "identity:check_user_in_group", _target(req, group_id))
    if not svc(req).db.read(groups.is_member, group_id, user_id):
        raise exceptions.NotFound(f"User {user_id} is not a member of group {group_id}.")
    return empty_response()


def remove_member(req: ApiRequest) -> Response:
    group_id, user_id = req.path_params["group_id"], req.path_params["user_id"]
    enforce(req, "identity:remove_user_from_group", _target(req, group_id))
    svc(req).db.write(groups.remove_member, group_id, user_id)
    return empty_response()
