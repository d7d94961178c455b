"""``/v3/roles`` (global and domain-specific) and role implications."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from pocketstack.common.api.app import ApiRequest, empty_response, json_response
from pocketstack.identity import schemas
from pocketstack.identity.api.common import body, collection, enforce, one, string_filters, svc
from pocketstack.identity.api.serializers import role_ref, role_view
from pocketstack.identity.domain import roles


def list_roles(req: ApiRequest) -> Response:
    enforce(req, "identity:list_roles")
    rows = svc(req).db.read(roles.list_, name=req.query.get("name"),
                            domain_id=req.query.get("domain_id"))
    return collection(req, "roles", string_filters(req, [role_view(req, r) for r in rows],
                                                   ("name",)))


def get_role(req: ApiRequest) -> Response:
    enforce(req, "identity:get_role")
    return one("role", role_view(req, svc(req).db.read(roles.get, req.path_params["role_id"])))


def create_role(req: ApiRequest) -> Response:
    enforce(req, "identity:create_role")
    values = body(req, schemas.ROLE_CREATE, "role")
    return one("role", role_view(req, svc(req).db.write(roles.create, values)), 201)


def update_role(req: ApiRequest) -> Response:
    enforce(req, "identity:update_role")
    values = body(req, schemas.ROLE_UPDATE, "role")
    row = svc(req).db.write(roles.update, req.path_params["role_id"], values)
    return one("role", role_view(req, row))


def delete_role(req: ApiRequest) -> Response:
    enforce(req, "identity:delete_role")
    svc(req).db.write(roles.delete, req.path_params["role_id"])
    return empty_response()


# -- implications -------------------------------------------------------------------------------
def _inference(req: ApiRequest, conn: Any, prior_id: str, implied: list[str] | str) -> dict:
    prior = role_ref(req, roles.get(conn, prior_id))
    if isinstance(implied, str):
        return {"prior_role": prior, "implies": role_ref(req, roles.get(conn, implied))}
    rows = roles.by_ids(conn, set(implied))
    return {"prior_role": prior, "implies": [role_ref(req, rows[i]) for i in implied]}


def create_implied(req: ApiRequest) -> Response:
    enforce(req, "identity:create_implied_role")
    prior, implied = req.path_params["prior_role_id"], req.path_params["implied_role_id"]
    service = svc(req)
    service.db.write(roles.create_implication, prior, implied)
    view = service.db.read(lambda conn: _inference(req, conn, prior, implied))
    return json_response({"role_inference": view,
                          "links": {"self": req.url_for(req.path)}}, status=201)


def get_implied(req: ApiRequest) -> Response:
    enforce(req, "identity:get_implied_role")
    prior, implied = req.path_params["prior_role_id"], req.path_params["implied_role_id"]

    def read(conn):  # type: ignore[no-untyped-def]
        roles.get_implication(conn, prior, implied)
        return _inference(req, conn, prior, implied)

    return json_response({"role_inference": svc(req).db.read(read),
                          "links": {"self": req.url_for(req.path)}})


def check_implied(req: ApiRequest) -> Response:
    enforce(req, "identity:check_implied_role")
    svc(req).db.read(roles.get_implication, req.path_params["prior_role_id"],
                     req.path_params["implied_role_id"])
    return empty_response()


def delete_implied(req: ApiRequest) -> Response:
    enforce(req, "identity:delete_implied_role")
    svc(req).db.write(roles.delete_implication, req.path_params["prior_role_id"],
                      req.path_params["implied_role_id"])
    return empty_response()


def list_implied(req: ApiRequest) -> Response:
    enforce(req, "identity:list_implied_roles")
    prior = req.path_params["prior_role_id"]

    def read(conn):  # type: ignore[no-untyped-def]
        roles.get(conn, prior)
        return _inference(req, conn, prior, roles.implied_by(conn, prior))

    return json_response({"role_inference": svc(req).db.read(read),
                          "links": {"self": req.url_for(req.path)}})


def list_inferences(req: ApiRequest) -> Response:
    enforce(req, "identity:list_role_inference_rules")

    def read(conn):  # type: ignore[no-untyped-def]
        grouped: dict[str, list[str]] = {}
        for prior, implied in roles.all_implications(conn):
            grouped.setdefault(prior, []).append(implied)
        return [_inference(req, conn, p, i) for p, i in grouped.items()]

    return json_response({"role_inferences": svc(req).db.read(read),
                          "links": {"self": req.url_for(req.path)}})
