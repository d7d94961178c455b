"""``/v3/auth/*``: issue, validate, check and revoke tokens; the caller's catalog and scopes."""

from __future__ import annotations

from starlette.responses import Response

from pocketstack.common import exceptions
from pocketstack.common.api.app import ApiRequest, empty_response, json_response
from pocketstack.common.api.validation import validate
from pocketstack.identity import schemas
from pocketstack.identity.api.common import collection, enforce, flag, svc
from pocketstack.identity.api.serializers import domain_view, project_view
from pocketstack.identity.domain import assignments, domains, federation, projects


def issue_token(req: ApiRequest) -> Response:
    data = validate(schemas.AUTH, req.json())
    service = svc(req)
    info = service.auth.issue(data["auth"])
    body = service.auth.render(info, include_catalog=not flag(req, "nocatalog"))
    return json_response({"token": body}, status=201, headers={"X-Subject-Token": info.token})


def _subject(req: ApiRequest) -> str:
    token = req.headers.get("x-subject-token")
    if not token:
        raise exceptions.NotFound("Could not find token.")
    return token


def validate_token(req: ApiRequest) -> Response:
    service = svc(req)
    info = service.auth.validate(_subject(req), allow_expired=flag(req, "allow_expired"))
    enforce(req, "identity:validate_token", {"target.token.user_id": info.payload.user_id})
    body = service.auth.render_json(info, include_catalog=not flag(req, "nocatalog"))
    return Response(body, media_type="application/json",
                    headers={"X-Subject-Token": info.token})


def check_token(req: ApiRequest) -> Response:
    service = svc(req)
    info = service.auth.validate(_subject(req), allow_expired=flag(req, "allow_expired"))
    enforce(req, "identity:check_token", {"target.token.user_id": info.payload.user_id})
    return empty_response(200, headers={"X-Subject-Token": info.token})


def revoke_token(req: ApiRequest) -> Response:
    service = svc(req)
    info = service.auth.validate(_subject(req))
    enforce(req, "identity:revoke_token", {"target.token.user_id": info.payload.user_id})
    service.auth.revoke(info.token)
    return empty_response(204)


def auth_catalog(req: ApiRequest) -> Response:
    enforce(req, "identity:get_auth_catalog")
    ctx = req.ctx
    if not (ctx.project_id or ctx.domain_id or ctx.system_scope):
        raise exceptions.Forbidden("A scoped token is required to get a service catalog.")
    entries = svc(req).auth.catalog()
    return json_response({"catalog": entries,
                          "links": {"self": req.url_for(req.path), "previous": None,
                                    "next": None}})


def _federated_groups(req: ApiRequest) -> list[str]:
    """The groups a federated caller's token carries (empty for any other token)."""
    token = req.ctx.auth_token
    if not token:
        return []
    federation_info = svc(req).auth.validate(token).payload.federation
    return list(federation_info[2]) if federation_info else []


def auth_projects(req: ApiRequest) -> Response:
    enforce(req, "identity:get_auth_projects")
    user_id = req.ctx.user_id or ""
    group_ids = _federated_groups(req)

    def read(conn):  # type: ignore[no-untyped-def]
        ids = assignments.project_ids_for_user(conn, user_id)
        ids |= federation.project_ids_for_groups(conn, group_ids)
        return [p for p in projects.list_(conn, ids=ids) if p["enabled"]]

    rows = svc(req).db.read(read)
    return collection(req, "projects", (project_view(req, p) for p in rows))


def auth_domains(req: ApiRequest) -> Response:
    enforce(req, "identity:get_auth_domains")
    user_id = req.ctx.user_id or ""
    group_ids = _federated_groups(req)

    def read(conn):  # type: ignore[no-untyped-def]
        ids = assignments.domain_ids_for_user(conn, user_id)
        ids |= federation.domain_ids_for_groups(conn, group_ids)
        return [d for d in domains.list_(conn, ids=ids) if d["enabled"]]

    rows = svc(req).db.read(read)
    return collection(req, "domains", (domain_view(req, d) for d in rows))


def auth_system(req: ApiRequest) -> Response:
    enforce(req, "identity:get_auth_system")
    user_id = req.ctx.user_id or ""
    has = svc(req).db.read(lambda conn: bool(
        assignments.effective_system_role_ids(conn, user_id)))
    return json_response({"system": [{"all": True}] if has else [],
                          "links": {"self": req.url_for(req.path), "previous": None,
                                    "next": None}})
