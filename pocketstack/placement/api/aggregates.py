"""``/resource_providers/{uuid}/aggregates`` (1.1+; generations from 1.19)."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from pocketstack.common.api.app import ApiRequest
from pocketstack.placement import schemas
from pocketstack.placement.api.common import at_least, body, enforce, require, respond, svc
from pocketstack.placement.domain import aggregates, providers


def _view(req: ApiRequest, aggs: list[str], generation: int) -> dict[str, Any]:
    out: dict[str, Any] = {"aggregates": aggs}
    if at_least(req, "1.19"):
        out["resource_provider_generation"] = generation
    return out


def list_aggregates(req: ApiRequest) -> Response:
    require(req, "1.1")
    enforce(req, "resource_providers:aggregates:list")

    provider, aggs = svc(req).db.read(providers.get_with, req.path_params["uuid"],
                                      aggregates.of_provider)
    return respond(req, _view(req, aggs, provider["generation"]),
                   last_modified=provider["updated_at"])


def put_aggregates(req: ApiRequest) -> Response:
    require(req, "1.1")
    enforce(req, "resource_providers:aggregates:update")
    if at_least(req, "1.19"):
        data = body(req, schemas.PUT_AGGREGATES_V1_19)
        wanted, generation = data["aggregates"], data["resource_provider_generation"]
    else:
        wanted, generation = body(req, schemas.PUT_AGGREGATES_V1_1), None
    aggs, gen = svc(req).db.write(aggregates.set_for_provider, req.path_params["uuid"],
                                  wanted, generation, True)
    return respond(req, _view(req, aggs, gen))
