"""``/v3/credentials``."""

from __future__ import annotations

from starlette.responses import Response

from pocketstack.common.api.app import ApiRequest, empty_response
from pocketstack.identity import schemas
from pocketstack.identity.api.common import body, collection, enforce, one, svc
from pocketstack.identity.api.serializers import credential_view
from pocketstack.identity.domain import credentials


def list_credentials(req: ApiRequest) -> Response:
    user_id = req.query.get("user_id")
    ctx = req.ctx
    if not svc(req).policy.allowed(ctx, "identity:list_credentials",
                                   {"target.user_id": user_id or "-"}):
        user_id = ctx.user_id  # non-admins see their own
    rows = svc(req).db.read(credentials.list_, user_id, req.query.get("type"))
    return collection(req, "credentials", (credential_view(req, r) for r in rows))


def get_credential(req: ApiRequest) -> Response:
    row = svc(req).db.read(credentials.get, req.path_params["credential_id"])
    enforce(req, "identity:get_credential", {"target.user_id": row["user_id"]})
    return one("credential", credential_view(req, row))


def create_credential(req: ApiRequest) -> Response:
    values = body(req, schemas.CREDENTIAL_CREATE, "credential")
    enforce(req, "identity:create_credential", {"target.user_id": values["user_id"]})
    return one("credential", credential_view(req, svc(req).db.write(credentials.create, values)),
               201)


def update_credential(req: ApiRequest) -> Response:
    cred_id = req.path_params["credential_id"]
    row = svc(req).db.read(credentials.get, cred_id)
    enforce(req, "identity:update_credential", {"target.user_id": row["user_id"]})
    values = body(req, schemas.CREDENTIAL_UPDATE, "credential")
    return one("credential", credential_view(req, svc(req).db.write(
        credentials.update, cred_id, values)))


def delete_credential(req: ApiRequest) -> Response:
    cred_id = req.path_params["credential_id"]
    row = svc(req).db.read(credentials.get, cred_id)
    enforce(req, "identity:delete_credential", {"target.user_id": row["user_id"]})
    svc(req).db.write(credentials.delete, cred_id)
    return empty_response()
