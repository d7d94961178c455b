"""``/v3/policies``."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from pocketstack.common.api.app import ApiRequest, empty_response
from pocketstack.identity import schemas
from pocketstack.identity.api.common import body, collection, enforce, link, one, require_same, svc
from pocketstack.identity.domain import policy_blobs


def _view(req: ApiRequest, row: dict[str, Any]) -> dict[str, Any]:
    out = dict(row["extra"])
    out.update({"id": row["id"], "type": row["type"], "blob": row["blob"],
                "links": link(req, f"/v3/policies/{row['id']}")})
    return out


def list_policies(req: ApiRequest) -> Response:
    enforce(req, "identity:list_policies")
    rows = svc(req).db.read(policy_blobs.list_, req.query.get("type"))
    return collection(req, "policies", (_view(req, r) for r in rows))


def get_policy(req: ApiRequest) -> Response:
    enforce(req, "identity:get_policy")
    row = svc(req).db.read(policy_blobs.get, req.path_params["policy_id"])
    return one("policy", _view(req, row))


def create_policy(req: ApiRequest) -> Response:
    enforce(req, "identity:create_policy")
    values = body(req, schemas.POLICY_CREATE, "policy")
    return one("policy", _view(req, svc(req).db.write(policy_blobs.create, values)), 201)


def update_policy(req: ApiRequest) -> Response:
    policy_id = req.path_params["policy_id"]
    enforce(req, "identity:update_policy")
    values = body(req, schemas.POLICY_UPDATE, "policy")
    require_same(policy_id, values.pop("id", None), "policy")
    return one("policy", _view(req, svc(req).db.write(policy_blobs.update, policy_id, values)))


def delete_policy(req: ApiRequest) -> Response:
    enforce(req, "identity:delete_policy")
    svc(req).db.write(policy_blobs.delete, req.path_params["policy_id"])
    return empty_response()
