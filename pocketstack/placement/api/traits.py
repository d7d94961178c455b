"""``/traits`` and ``/resource_providers/{uuid}/traits`` (1.6+)."""

from __future__ import annotations

from starlette.responses import Response

from pocketstack.common import exceptions
from pocketstack.common.api.app import ApiRequest, empty_response
from pocketstack.common.api.validation import query_bool
from pocketstack.placement import errors, schemas, standard
from pocketstack.placement.api.common import (
    body,
    check_params,
    enforce,
    require,
    respond,
    single,
    svc,
)
from pocketstack.placement.domain import providers, traits


def list_traits(req: ApiRequest) -> Response:
    require(req, "1.6")
    enforce(req, "traits:list")
    check_params(req, {"name", "associated"})
    names: set[str] | None = None
    prefix: str | None = None
    name = single(req, "name")
    if name is not None:
        if name.startswith("in:"):
            names = {n.strip() for n in name[3:].split(",") if n.strip()}
        elif name.startswith("startswith:"):
            prefix = name[len("startswith:"):]
        else:
            raise errors.bad_query(
                f"Badly formed name parameter. Expected 'in:' or 'startswith:'. Got: {name}")
    try:
        associated = query_bool(single(req, "associated"))
    except exceptions.BadRequest:
        raise errors.bad_query("Invalid value for 'associated': must be true or false.") \
            from None
    found = svc(req).db.read(traits.list_all, names, prefix, associated)
    return respond(req, {"traits": found})


def show_trait(req: ApiRequest) -> Response:
    require(req, "1.6")
    enforce(req, "traits:show")
    if not svc(req).db.read(traits.exists, req.path_params["name"]):
        raise exceptions.NotFound(f"No such trait(s): {req.path_params['name']}")
    return empty_response(204)


def put_trait(req: ApiRequest) -> Response:
    require(req, "1.6")
    enforce(req, "traits:update")
    name = req.path_params["name"]
    if not standard.is_custom(name):
        raise exceptions.BadRequest(
            f"The trait is invalid. A valid trait must be no longer than 255 characters, "
            f"start with the prefix \"CUSTOM_\" and use following characters: \"A\"-\"Z\", "
            f"\"0\"-\"9\" and \"_\". Got: {name}")
    created = svc(req).db.write(traits.ensure, name)
    location = req.url_for(f"/traits/{name}")
    return empty_response(201 if created else 204, {"Location": location})


def delete_trait(req: ApiRequest) -> Response:
    require(req, "1.6")
    enforce(req, "traits:delete")
    svc(req).db.write(traits.delete, req.path_params["name"])
    return empty_response(204)


def list_provider_traits(req: ApiRequest) -> Response:
    require(req, "1.6")
    enforce(req, "resource_providers:traits:list")

    provider, names = svc(req).db.read(providers.get_with, req.path_params["uuid"],
                                       traits.of_provider)
    return respond(req, {"traits": names,
                         "resource_provider_generation": provider["generation"]},
                   last_modified=provider["updated_at"])


def put_provider_traits(req: ApiRequest) -> Response:
    require(req, "1.6")
    enforce(req, "resource_providers:traits:update")
    data = body(req, schemas.PUT_TRAITS)
    names, gen = svc(req).db.write(traits.set_for_provider, req.path_params["uuid"],
                                   data["traits"], data["resource_provider_generation"])
    return respond(req, {"traits": names, "resource_provider_generation": gen})


def delete_provider_traits(req: ApiRequest) -> Response:
    require(req, "1.6")
    enforce(req, "resource_providers:traits:delete")
    svc(req).db.write(traits.set_for_provider, req.path_params["uuid"], [], None)
    return empty_response(204)
