"""``/v3/users/{user_id}/access_rules``: the access rules of a user's application credentials."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from pocketstack.common.api.app import ApiRequest, empty_response
from pocketstack.identity.api.common import collection, enforce, link, one, svc
from pocketstack.identity.domain import access_rules


def _view(req: ApiRequest, user_id: str, row: dict[str, Any]) -> dict[str, Any]:
    out = access_rules.view_fields(row)
    out["links"] = link(req, f"/v3/users/{user_id}/access_rules/{row['id']}")
    return out


def list_access_rules(req: ApiRequest) -> Response:
    user_id = req.path_params["user_id"]
    enforce(req, "identity:list_access_rules", {"target.user_id": user_id})
    filters = {k: req.query.get(k) for k in access_rules.FIELDS}
    rows = svc(req).db.read(access_rules.list_for_user, user_id, filters)
    return collection(req, "access_rules", (_view(req, user_id, r) for r in rows))


def get_access_rule(req: ApiRequest) -> Response:
    user_id = req.path_params["user_id"]
    enforce(req, "identity:get_access_rule", {"target.user_id": user_id})
    row = svc(req).db.read(access_rules.get_for_user, user_id, req.path_params["rule_id"])
    return one("access_rule", _view(req, user_id, row))


def delete_access_rule(req: ApiRequest) -> Response:
    user_id = req.path_params["user_id"]
    enforce(req, "identity:delete_access_rule", {"target.user_id": user_id})
    svc(req).db.write(access_rules.delete, user_id, req.path_params["rule_id"])
    return empty_response()
