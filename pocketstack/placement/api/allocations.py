"""``/allocations``, ``/allocations/{consumer_uuid}``, provider allocations, usages,
``/reshaper``."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from pocketstack.common import exceptions
from pocketstack.common.api.app import ApiRequest, empty_response
from pocketstack.placement import schemas
from pocketstack.placement.api.common import (
    at_least,
    body,
    check_params,
    check_uuid,
    enforce,
    require,
    respond,
    single,
    svc,
)
from pocketstack.placement.domain import allocations, providers
from pocketstack.placement.domain.allocations import UNCHECKED, ConsumerAllocations

# Placement's [placement]incomplete_consumer_project_id / user_id defaults (pre-1.8 writes).
INCOMPLETE = "00000000-0000-0000-0000-000000000000"


def _put_schema(req: ApiRequest) -> dict[str, Any]:
    for version, schema in (("1.38", schemas.PUT_ALLOCATIONS_V1_38),
                            ("1.28", schemas.PUT_ALLOCATIONS_V1_28),
                            ("1.12", schemas.PUT_ALLOCATIONS_V1_12),
                            ("1.8", schemas.PUT_ALLOCATIONS_V1_8)):
        if at_least(req, version):
            return schema
    return schemas.PUT_ALLOCATIONS_V1_0


def _request(req: ApiRequest, consumer: str, data: dict[str, Any]) -> ConsumerAllocations:
    check_uuid(consumer, "consumer uuid")
    allocs: dict[str, dict[str, int]] = {}
    if isinstance(data["allocations"], list):
        for item in data["allocations"]:
            target = allocs.setdefault(item["resource_provider"]["uuid"], {})
            for rc, amount in item["resources"].items():
                target[rc] = target.get(rc, 0) + amount
    else:
        for puuid, item in data["allocations"].items():
            check_uuid(puuid, "resource provider uuid")
            allocs[puuid] = dict(item["resources"])
    return ConsumerAllocations(
        consumer, allocs, data.get("project_id", INCOMPLETE), data.get("user_id", INCOMPLETE),
        data["consumer_generation"] if at_least(req, "1.28") else UNCHECKED,
        data.get("consumer_type"))


def put_allocations(req: ApiRequest) -> Response:
    enforce(req, "allocations:update")
    data = body(req, _put_schema(req))
    request = _request(req, req.path_params["consumer_uuid"], data)
    svc(req).db.write(allocations.replace, [request])
    return empty_response(204)


def post_allocations(req: ApiRequest) -> Response:
    require(req, "1.13")
    enforce(req, "allocations:manage")
    schema = schemas.POST_ALLOCATIONS_V1_13
    if at_least(req, "1.38"):
        schema = schemas.POST_ALLOCATIONS_V1_38
    elif at_least(req, "1.28"):
        schema = schemas.POST_ALLOCATIONS_V1_28
    data = body(req, schema)
    requests = [_request(req, consumer, item) for consumer, item in data.items()]
    svc(req).db.write(allocations.replace, requests)
    return empty_response(204)


def get_allocations(req: ApiRequest) -> Response:
    enforce(req, "allocations:list")
    consumer_uuid = req.path_params["consumer_uuid"]
    found, consumer = svc(req).db.read(allocations.for_consumer, consumer_uuid)
    out: dict[str, Any] = {"allocations": found}
    if consumer is not None and at_least(req, "1.12"):
        out["project_id"] = consumer["project_id"]
        out["user_id"] = consumer["user_id"]
        if at_least(req, "1.28"):
            out["consumer_generation"] = consumer["generation"]
        if at_least(req, "1.38"):
            out["consumer_type"] = consumer["consumer_type"] or "unknown"
    return respond(req, out, last_modified=consumer["updated_at"] if consumer else None)


def delete_allocations(req: ApiRequest) -> Response:
    enforce(req, "allocations:delete")
    svc(req).db.write(allocations.delete_consumer, req.path_params["consumer_uuid"])
    return empty_response(204)


def provider_allocations(req: ApiRequest) -> Response:
    enforce(req, "resource_providers:allocations:list")

    provider, found = svc(req).db.read(providers.get_with, req.path_params["uuid"],
                                       allocations.for_provider)
    return respond(req, {"allocations": {c: {"resources": r} for c, r in found.items()},
                         "resource_provider_generation": provider["generation"]},
                   last_modified=provider["updated_at"])


def provider_usages(req: ApiRequest) -> Response:
    enforce(req, "resource_providers:usages")

    provider, usages = svc(req).db.read(providers.get_with, req.path_params["uuid"],
                                        allocations.provider_usages)
    return respond(req, {"usages": usages,
                         "resource_provider_generation": provider["generation"]},
                   last_modified=provider["updated_at"])


def project_usages(req: ApiRequest) -> Response:
    require(req, "1.9")
    enforce(req, "usages")
    check_params(req, {"project_id", "user_id"} |
                 ({"consumer_type"} if at_least(req, "1.38") else set()))
    project_id = single(req, "project_id")
    if not project_id:
        raise exceptions.BadRequest("Invalid query string parameters: 'project_id' is a "
                                    "required property")
    user_id = single(req, "user_id")
    if at_least(req, "1.38"):
        usages: Any = svc(req).db.read(allocations.project_usages_by_type, project_id, user_id,
                                       single(req, "consumer_type"))
    else:
        usages = svc(req).db.read(allocations.project_usages, project_id, user_id)
    return respond(req, {"usages": usages})


def reshape(req: ApiRequest) -> Response:
    """Move inventory and the allocations against it in one transaction (1.30)."""
    require(req, "1.30")
    enforce(req, "reshaper:reshape")
    data = body(req, schemas.POST_RESHAPER_V1_38 if at_least(req, "1.38")
                else schemas.POST_RESHAPER_V1_30)
    requests = [_request(req, consumer, item) for consumer, item in data["allocations"].items()]

    svc(req).db.write(allocations.reshape, data["inventories"], requests)
    return empty_response(204)
