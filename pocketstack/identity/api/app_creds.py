"""``/v3/users/{user_id}/application_credentials``."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from pocketstack.common import exceptions
from pocketstack.common.api.app import ApiRequest, empty_response
from pocketstack.identity import passwords, schemas
from pocketstack.identity.api.common import body, collection, enforce, one, svc
from pocketstack.identity.api.serializers import app_cred_view
from pocketstack.identity.api.trusts import is_trust_token
from pocketstack.identity.domain import app_creds, roles
from pocketstack.identity.domain.common import parse_isotime, utcnow


def list_app_creds(req: ApiRequest) -> Response:
    user_id = req.path_params["user_id"]
    enforce(req, "identity:list_application_credentials", {"target.user_id": user_id})
    rows = svc(req).db.read(app_creds.list_, user_id, req.query.get("name"))
    return collection(req, "application_credentials", (app_cred_view(req, r) for r in rows))


def get_app_cred(req: ApiRequest) -> Response:
    user_id = req.path_params["user_id"]
    enforce(req, "identity:get_application_credential", {"target.user_id": user_id})
    row = svc(req).db.read(app_creds.get_for_user, user_id, req.path_params["cred_id"])
    return one("application_credential", app_cred_view(req, row))


def delete_app_cred(req: ApiRequest) -> Response:
    user_id = req.path_params["user_id"]
    enforce(req, "identity:delete_application_credential", {"target.user_id": user_id})
    svc(req).db.write(app_creds.delete, user_id, req.path_params["cred_id"])
    return empty_response()


def create_app_cred(req: ApiRequest) -> Response:
    user_id = req.path_params["user_id"]
    ctx = req.ctx
    enforce(req, "identity:create_application_credential", {"target.user_id": user_id})
    if ctx.application_credential_id and ctx.application_credential_restricted:
        raise exceptions.Forbidden(
            "Using method 'application_credential' is not allowed for managing additional "
            "application credentials.")
    if is_trust_token(req):
        raise exceptions.Forbidden("Cannot manage application credentials with a token "
                                   "issued via delegation.")
    if not ctx.project_id:
        raise exceptions.Forbidden("A project-scoped token is required to create an "
                                   "application credential.")
    values = body(req, schemas.APP_CRED_CREATE, "application_credential")
    if values.get("expires_at"):
        values["expires_at"] = parse_isotime(values["expires_at"])
        if values["expires_at"] <= utcnow():
            raise exceptions.ValidationError("The expiration time is in the past.")
    held = {rid: name for rid, name in zip(ctx.role_ids, ctx.roles, strict=False)}
    wanted: list[dict[str, Any]] = []

    def resolve(conn):  # type: ignore[no-untyped-def]
        for ref in values.get("roles") or [{"id": rid} for rid in held]:
            try:
                row = (roles.get(conn, ref["id"]) if "id" in ref
                       else roles.get_by_name(conn, ref["name"], ref.get("domain_id")))
            except exceptions.NotFound:
                raise exceptions.NotFound(f"Could not find role: {ref}.") from None
            if row["id"] not in held:
                raise exceptions.Forbidden(
                    f"Cannot delegate role {row['name']}: the user does not hold it on the "
                    "project.")
            wanted.append({"id": row["id"], "name": row["name"],
                           "domain_id": roles.domain_of(row)})

    service = svc(req)
    service.db.read(resolve)
    secret = values.get("secret") or app_creds.new_secret()
    secret_hash = passwords.hash_password(secret, service.rules.hash_rounds)
    row = service.db.write(app_creds.create, {
        **values, "user_id": user_id, "project_id": ctx.project_id, "roles": wanted,
        "unrestricted": bool(values.get("unrestricted")),
    }, secret_hash)
    view = app_cred_view(req, row)
    view["secret"] = secret
    return one("application_credential", view, 201)
