"""``/v3/OS-TRUST/trusts`` and the roles a trust delegates."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from pocketstack.common import exceptions
from pocketstack.common.api.app import ApiRequest, empty_response
from pocketstack.identity import schemas
from pocketstack.identity.api.common import body, collection, enforce, link, one, svc
from pocketstack.identity.api.serializers import role_view
from pocketstack.identity.domain import trusts
from pocketstack.identity.domain.common import isotime, parse_isotime, utcnow

PREFIX = "/v3/OS-TRUST/trusts"


def _view(req: ApiRequest, row: dict[str, Any]) -> dict[str, Any]:
    out = dict(row["extra"])
    out.update({
        "id": row["id"], "trustor_user_id": row["trustor_user_id"],
        "trustee_user_id": row["trustee_user_id"], "project_id": row["project_id"],
        "impersonation": row["impersonation"], "expires_at": isotime(row["expires_at"]),
        "remaining_uses": row["remaining_uses"], "allow_redelegation": False,
        "redelegation_count": 0,
        "roles": [role_view(req, r) for r in row["roles"]],
        "roles_links": {"self": None, "previous": None, "next": None},
        "links": link(req, f"{PREFIX}/{row['id']}"),
    })
    return out


def _target(row: dict[str, Any]) -> dict[str, Any]:
    return {"target.trust.trustor_user_id": row["trustor_user_id"],
            "target.trust.trustee_user_id": row["trustee_user_id"]}


def is_trust_token(req: ApiRequest) -> bool:
    token = req.ctx.auth_token
    return token is not None and svc(req).auth.validate(token).payload.trust_id is not None


def create_trust(req: ApiRequest) -> Response:
    values = body(req, schemas.TRUST_CREATE, "trust")
    enforce(req, "identity:create_trust",
            {"target.trust.trustor_user_id": values["trustor_user_id"]})
    if is_trust_token(req):
        raise exceptions.Forbidden("Redelegation of trusts is not allowed by this cloud.")
    if values.get("expires_at"):
        values["expires_at"] = parse_isotime(values["expires_at"])
        if values["expires_at"] <= utcnow():
            raise exceptions.ValidationError("The expiration time is in the past.")
    row = svc(req).db.write(trusts.create, values)
    return one("trust", _view(req, row), 201)


def list_trusts(req: ApiRequest) -> Response:
    trustor = req.query.get("trustor_user_id")
    trustee = req.query.get("trustee_user_id")
    if trustor is not None:
        enforce(req, "identity:list_trusts_for_trustor",
                {"target.trust.trustor_user_id": trustor})
    if trustee is not None:
        enforce(req, "identity:list_trusts_for_trustee",
                {"target.trust.trustee_user_id": trustee})
    if trustor is None and trustee is None:
        enforce(req, "identity:list_trusts")
    rows = svc(req).db.read(trusts.list_, trustor, trustee)
    return collection(req, "trusts", (_view(req, r) for r in rows))


def _load(req: ApiRequest, rule: str) -> dict[str, Any]:
    row = svc(req).db.read(trusts.get, req.path_params["trust_id"])
    enforce(req, rule, _target(row))
    if trusts.is_expired(row):
        raise exceptions.NotFound(f"Could not find trust: {row['id']}.")
    return row


def get_trust(req: ApiRequest) -> Response:
    return one("trust", _view(req, _load(req, "identity:get_trust")))


def delete_trust(req: ApiRequest) -> Response:
    row = svc(req).db.read(trusts.get, req.path_params["trust_id"])
    enforce(req, "identity:delete_trust", _target(row))
    svc(req).db.write(trusts.delete, row["id"])
    return empty_response()


def list_trust_roles(req: ApiRequest) -> Response:
    row = _load(req, "identity:list_roles_for_trust")
    return collection(req, "roles", (role_view(req, r) for r in row["roles"]))


def get_trust_role(req: ApiRequest) -> Response:
    row = _load(req, "identity:get_role_for_trust")
    role_id = req.path_params["role_id"]
    for role in row["roles"]:
        if role["id"] == role_id:
            return one("role", role_view(req, role))
    raise exceptions.NotFound(f"Could not find role: {role_id}.")
