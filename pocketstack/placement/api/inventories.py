"""``/resource_providers/{uuid}/inventories[/{resource_class}]``."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from pocketstack.common import exceptions
from pocketstack.common.api.app import ApiRequest, empty_response
from pocketstack.placement import schemas
from pocketstack.placement.api.common import at_least, body, enforce, require, respond, svc
from pocketstack.placement.domain import inventories, providers


def _one(inv: dict[str, Any], generation: int) -> dict[str, Any]:
    return {**inventories.view(inv), "resource_provider_generation": generation}


def _all(invs: dict[str, dict[str, Any]], generation: int) -> dict[str, Any]:
    return {"inventories": {rc: inventories.view(inv) for rc, inv in invs.items()},
            "resource_provider_generation": generation}


def list_inventories(req: ApiRequest) -> Response:
    enforce(req, "resource_providers:inventories:list")

    provider, invs = svc(req).db.read(providers.get_with, req.path_params["uuid"],
                                      inventories.of_provider)
    return respond(req, _all(invs, provider["generation"]), last_modified=provider["updated_at"])


def replace_inventories(req: ApiRequest) -> Response:
    enforce(req, "resource_providers:inventories:update")
    data = body(req, schemas.PUT_INVENTORIES)
    invs, gen = svc(req).db.write(inventories.replace_all, req.path_params["uuid"],
                                  data["inventories"], data["resource_provider_generation"],
                                  at_least(req, "1.26"))
    return respond(req, _all(invs, gen))


def delete_inventories(req: ApiRequest) -> Response:
    require(req, "1.5")
    enforce(req, "resource_providers:inventories:delete")
    svc(req).db.write(inventories.delete_all, req.path_params["uuid"])
    return empty_response(204)


def create_inventory(req: ApiRequest) -> Response:
    enforce(req, "resource_providers:inventories:create")
    data = body(req, schemas.POST_INVENTORY)
    rc = data["resource_class"]
    inv, gen = svc(req).db.write(inventories.set_one, req.path_params["uuid"], rc, data,
                                 data["resource_provider_generation"], True,
                                 at_least(req, "1.26"))
    location = req.url_for(f"/resource_providers/{req.path_params['uuid']}/inventories/{rc}")
    return respond(req, _one(inv, gen), status=201, headers={"Location": location})


def show_inventory(req: ApiRequest) -> Response:
    enforce(req, "resource_providers:inventories:show")
    rc = req.path_params["resource_class"]

    provider, invs = svc(req).db.read(providers.get_with, req.path_params["uuid"],
                                      inventories.of_provider)
    if rc not in invs:
        raise exceptions.NotFound(f"No inventory of class {rc} for {req.path_params['uuid']}")
    return respond(req, _one(invs[rc], provider["generation"]),
                   last_modified=provider["updated_at"])


def update_inventory(req: ApiRequest) -> Response:
    enforce(req, "resource_providers:inventories:update")
    data = body(req, schemas.PUT_INVENTORY)
    inv, gen = svc(req).db.write(inventories.set_one, req.path_params["uuid"],
                                 req.path_params["resource_class"], data,
                                 data["resource_provider_generation"], False,
                                 at_least(req, "1.26"))
    return respond(req, _one(inv, gen))


def delete_inventory(req: ApiRequest) -> Response:
    enforce(req, "resource_providers:inventories:delete")
    svc(req).db.write(inventories.delete_one, req.path_params["uuid"],
                      req.path_params["resource_class"])
    return empty_response(204)
