"""``/v3/domains``."""

from __future__ import annotations

from starlette.responses import Response

from pocketstack.common import exceptions
from pocketstack.common.api.app import ApiRequest, empty_response
from pocketstack.identity import schemas
from pocketstack.identity.api.common import (
    body,
    bool_param,
    collection,
    enforce,
    one,
    string_filters,
    svc,
)
from pocketstack.identity.api.serializers import domain_view
from pocketstack.identity.domain import domains


def list_domains(req: ApiRequest) -> Response:
    enforce(req, "identity:list_domains")
    rows = svc(req).db.read(domains.list_, name=req.query.get("name"),
                            enabled=bool_param(req, "enabled"))
    items = string_filters(req, [domain_view(req, r) for r in rows], ("name",))
    return collection(req, "domains", items)


def get_domain(req: ApiRequest) -> Response:
    domain_id = req.path_params["domain_id"]
    enforce(req, "identity:get_domain", {"target.domain_id": domain_id})
    return one("domain", domain_view(req, svc(req).db.read(domains.get, domain_id)))


def create_domain(req: ApiRequest) -> Response:
    enforce(req, "identity:create_domain")
    values = body(req, schemas.DOMAIN_CREATE, "domain")
    explicit = values.pop("explicit_domain_id", None)
    row = svc(req).db.write(domains.create, values, explicit)
    return one("domain", domain_view(req, row), 201)


def update_domain(req: ApiRequest) -> Response:
    domain_id = req.path_params["domain_id"]
    enforce(req, "identity:update_domain", {"target.domain_id": domain_id})
    values = body(req, schemas.DOMAIN_UPDATE, "domain")
    if values.get("id", domain_id) != domain_id:
        raise exceptions.ValidationError("Cannot change the domain ID.")
    row = svc(req).db.write(domains.update, domain_id, values)
    return one("domain", domain_view(req, row))


def delete_domain(req: ApiRequest) -> Response:
    domain_id = req.path_params["domain_id"]
    enforce(req, "identity:delete_domain", {"target.domain_id": domain_id})
    svc(req).db.write(domains.delete, domain_id)
    return empty_response()
