"""``/v3/OS-FEDERATION``: identity providers, their protocols, mappings, service providers, and
the federated login (``…/identity_providers/{idp}/protocols/{protocol}/auth``) that turns an
OpenID Connect bearer token into an unscoped Keystone token."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from pocketstack.common import exceptions
from pocketstack.common.api.app import ApiRequest, empty_response, json_response
from pocketstack.common.api.validation import validate
from pocketstack.identity import federation_schemas as schemas
from pocketstack.identity.api.common import bool_param, collection, enforce, one, svc
from pocketstack.identity.domain import federation, mapping_rules

PREFIX = "/v3/OS-FEDERATION"


def _path_id(req: ApiRequest, name: str, what: str) -> str:
    value = str(req.path_params[name])
    if not value or len(value) > 64:
        raise exceptions.ValidationError(
            f"Invalid input for field '{what}': the id must be 1 to 64 characters.")
    return value


def _filters(req: ApiRequest) -> dict[str, Any]:
    return {"id": req.query.get("id"), "enabled": bool_param(req, "enabled")}


# -- identity providers ---------------------------------------------------------------------
def _idp_view(req: ApiRequest, row: dict[str, Any]) -> dict[str, Any]:
    base = req.url_for(f"{PREFIX}/identity_providers/{row['id']}")
    return {"id": row["id"], "enabled": row["enabled"], "description": row["description"],
            "domain_id": row["domain_id"], "remote_ids": row["remote_ids"],
            "authorization_ttl": row["authorization_ttl"],
            "links": {"self": base, "protocols": f"{base}/protocols"}}


def list_idps(req: ApiRequest) -> Response:
    enforce(req, "identity:list_identity_providers")
    rows = svc(req).db.read(federation.list_idps, _filters(req))
    return collection(req, "identity_providers", (_idp_view(req, r) for r in rows))


def get_idp(req: ApiRequest) -> Response:
    enforce(req, "identity:get_identity_provider")
    row = svc(req).db.read(federation.get_idp, req.path_params["idp_id"])
    return one("identity_provider", _idp_view(req, row))


def create_idp(req: ApiRequest) -> Response:
    enforce(req, "identity:create_identity_provider")
    idp_id = _path_id(req, "idp_id", "idp_id")
    values = validate(schemas.IDP_CREATE, req.json())["identity_provider"]
    row = svc(req).db.write(federation.create_idp, idp_id, values)
    return one("identity_provider", _idp_view(req, row), 201)


def update_idp(req: ApiRequest) -> Response:
    enforce(req, "identity:update_identity_provider")
    values = validate(schemas.IDP_UPDATE, req.json())["identity_provider"]
    row = svc(req).db.write(federation.update_idp, req.path_params["idp_id"], values)
    return one("identity_provider", _idp_view(req, row))


def delete_idp(req: ApiRequest) -> Response:
    enforce(req, "identity:delete_identity_provider")
    svc(req).db.write(federation.delete_idp, req.path_params["idp_id"])
    return empty_response()


# -- protocols ------------------------------------------------------------------------------
def _protocol_links(req: ApiRequest, row: dict[str, Any]) -> dict[str, str]:
    idp = req.url_for(f"{PREFIX}/identity_providers/{row['idp_id']}")
    return {"self": f"{idp}/protocols/{row['id']}", "identity_provider": idp}


def _protocol_view(req: ApiRequest, row: dict[str, Any]) -> dict[str, Any]:
    out = {"id": row["id"], "mapping_id": row["mapping_id"],
           "links": _protocol_links(req, row)}
    if row["remote_id_attribute"]:
        out["remote_id_attribute"] = row["remote_id_attribute"]
    return out


def list_protocols(req: ApiRequest) -> Response:
    enforce(req, "identity:list_protocols")
    rows = svc(req).db.read(federation.list_protocols, req.path_params["idp_id"])
    return collection(req, "protocols", (
        {"id": r["id"], "idp_id": r["idp_id"], "mapping_id": r["mapping_id"],
         "remote_id_attribute": r["remote_id_attribute"], "links": _protocol_links(req, r)}
        for r in rows))


def get_protocol(req: ApiRequest) -> Response:
    enforce(req, "identity:get_protocol")
    row = svc(req).db.read(federation.get_protocol, req.path_params["idp_id"],
                           req.path_params["protocol_id"])
    return one("protocol", _protocol_view(req, row))


def create_protocol(req: ApiRequest) -> Response:
    enforce(req, "identity:create_protocol")
    protocol_id = _path_id(req, "protocol_id", "protocol_id")
    values = validate(schemas.PROTOCOL_CREATE, req.json())["protocol"]
    row = svc(req).db.write(federation.create_protocol, req.path_params["idp_id"],
                            protocol_id, values)
    return one("protocol", _protocol_view(req, row), 201)


def update_protocol(req: ApiRequest) -> Response:
    enforce(req, "identity:update_protocol")
    values = validate(schemas.PROTOCOL_UPDATE, req.json())["protocol"]
    row = svc(req).db.write(federation.update_protocol, req.path_params["idp_id"],
                            req.path_params["protocol_id"], values)
    return one("protocol", _protocol_view(req, row))


def delete_protocol(req: ApiRequest) -> Response:
    enforce(req, "identity:delete_protocol")
    svc(req).db.write(federation.delete_protocol, req.path_params["idp_id"],
                      req.path_params["protocol_id"])
    return empty_response()


# -- mappings -------------------------------------------------------------------------------
def _mapping_view(req: ApiRequest, row: dict[str, Any]) -> dict[str, Any]:
    return {"id": row["id"], "rules": row["rules"], "schema_version": row["schema_version"],
            "links": {"self": req.url_for(f"{PREFIX}/mappings/{row['id']}")}}


def _mapping_body(req: ApiRequest) -> dict[str, Any]:
    return mapping_rules.validate_mapping(validate(schemas.MAPPING, req.json())["mapping"])


def list_mappings(req: ApiRequest) -> Response:
    enforce(req, "identity:list_mappings")
    rows = svc(req).db.read(federation.list_mappings)
    return collection(req, "mappings", (_mapping_view(req, r) for r in rows))


def get_mapping(req: ApiRequest) -> Response:
    enforce(req, "identity:get_mapping")
    row = svc(req).db.read(federation.get_mapping, req.path_params["mapping_id"])
    return one("mapping", _mapping_view(req, row))


def create_mapping(req: ApiRequest) -> Response:
    enforce(req, "identity:create_mapping")
    mapping_id = _path_id(req, "mapping_id", "mapping_id")
    row = svc(req).db.write(federation.create_mapping, mapping_id, _mapping_body(req))
    return one("mapping", _mapping_view(req, row), 201)


def update_mapping(req: ApiRequest) -> Response:
    enforce(req, "identity:update_mapping")
    row = svc(req).db.write(federation.update_mapping, req.path_params["mapping_id"],
                            _mapping_body(req))
    return one("mapping", _mapping_view(req, row))


def delete_mapping(req: ApiRequest) -> Response:
    enforce(req, "identity:delete_mapping")
    svc(req).db.write(federation.delete_mapping, req.path_params["mapping_id"])
    return empty_response()


# -- service providers ----------------------------------------------------------------------
def _sp_view(req: ApiRequest, row: dict[str, Any]) -> dict[str, Any]:
    return {"id": row["id"], "enabled": row["enabled"], "description": row["description"],
            "auth_url": row["auth_url"], "sp_url": row["sp_url"],
            "relay_state_prefix": row["relay_state_prefix"],
            "links": {"self": req.url_for(f"{PREFIX}/service_providers/{row['id']}")}}


def list_sps(req: ApiRequest) -> Response:
    enforce(req, "identity:list_service_providers")
    rows = svc(req).db.read(federation.list_sps, _filters(req))
    return collection(req, "service_providers", (_sp_view(req, r) for r in rows))


def get_sp(req: ApiRequest) -> Response:
    enforce(req, "identity:get_service_provider")
    row = svc(req).db.read(federation.get_sp, req.path_params["sp_id"])
    return one("service_provider", _sp_view(req, row))


def create_sp(req: ApiRequest) -> Response:
    enforce(req, "identity:create_service_provider")
    sp_id = _path_id(req, "sp_id", "sp_id")
    values = validate(schemas.SP_CREATE, req.json())["service_provider"]
    row = svc(req).db.write(federation.create_sp, sp_id, values)
    return one("service_provider", _sp_view(req, row), 201)


def update_sp(req: ApiRequest) -> Response:
    enforce(req, "identity:update_service_provider")
    values = validate(schemas.SP_UPDATE, req.json())["service_provider"]
    row = svc(req).db.write(federation.update_sp, req.path_params["sp_id"], values)
    return one("service_provider", _sp_view(req, row))


def delete_sp(req: ApiRequest) -> Response:
    enforce(req, "identity:delete_service_provider")
    svc(req).db.write(federation.delete_sp, req.path_params["sp_id"])
    return empty_response()


# -- the federated login --------------------------------------------------------------------
def _bearer(req: ApiRequest) -> str:
    header = req.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise exceptions.Unauthorized(
            "The request you have made requires authentication: send an OpenID Connect "
            "token as 'Authorization: Bearer <token>'.")
    return token.strip()


def federated_auth(req: ApiRequest) -> Response:
    """GET or POST …/identity_providers/{idp_id}/protocols/{protocol_id}/auth."""
    service = svc(req)
    idp_id = req.path_params["idp_id"]
    protocol_id = req.path_params["protocol_id"]
    idp = service.db.read(federation.get_idp, idp_id)
    if not idp["enabled"]:
        raise exceptions.Forbidden(f"Identity Provider {idp_id} is disabled")
    service.db.read(federation.get_protocol, idp_id, protocol_id)
    provider = service.oidc.get(idp_id)
    if provider is None:
        raise exceptions.Unauthorized(
            f"Identity provider {idp_id} has no OpenID Connect configuration "
            "(federation_oidc_providers).")
    claims = provider.validate(_bearer(req))
    assertion = provider.assertion(claims)
    args = (federation.login, idp_id, protocol_id, assertion, claims.get("sub"),
            f"{provider.claim_prefix}iss", service.rules)
    try:
        login = service.db.write(*args)
    except exceptions.Conflict:  # a concurrent first login of the same identity won the race
        login = service.db.write(*args)
    # a mapping onto an existing local user gives that user's own (unfederated) token
    info = service.auth.issue_federated(login.user_id, idp_id, protocol_id, login.group_ids,
                                        federated=login.ephemeral)
    body = service.auth.render(info, include_catalog=True)
    return json_response({"token": body}, status=201, headers={"X-Subject-Token": info.token})
