"""``/resource_classes`` (custom classes from 1.2; PUT creates from 1.7)."""

from __future__ import annotations

from starlette.responses import Response

from pocketstack.common import exceptions
from pocketstack.common.api.app import ApiRequest, empty_response
from pocketstack.placement import schemas, standard
from pocketstack.placement.api.common import at_least, body, enforce, link, require, respond, svc
from pocketstack.placement.domain import resource_classes


def _view(req: ApiRequest, name: str) -> dict[str, object]:
    return {"name": name, "links": [link(req, "self", f"/resource_classes/{name}")]}


def list_classes(req: ApiRequest) -> Response:
    enforce(req, "resource_classes:list")
    names = svc(req).db.read(resource_classes.list_all)
    return respond(req, {"resource_classes": [_view(req, n) for n in names]})


def create_class(req: ApiRequest) -> Response:
    require(req, "1.2")
    enforce(req, "resource_classes:create")
    name = body(req, schemas.POST_RESOURCE_CLASS)["name"]
    svc(req).db.write(resource_classes.create, name)
    location = req.url_for(f"/resource_classes/{name}")
    return empty_response(201, {"Location": location})


def show_class(req: ApiRequest) -> Response:
    require(req, "1.2")
    enforce(req, "resource_classes:show")
    row = svc(req).db.read(resource_classes.get, req.path_params["name"])
    return respond(req, _view(req, row["name"]), last_modified=row.get("updated_at"))


def update_class(req: ApiRequest) -> Response:
    require(req, "1.2")
    enforce(req, "resource_classes:update")
    name = req.path_params["name"]
    if at_least(req, "1.7"):
        if not standard.is_custom(name):
            raise exceptions.BadRequest(
                f"JSON does not validate: {name!r} does not match '^CUSTOM_[A-Z0-9_]+$'")
        created = svc(req).db.write(resource_classes.ensure, name)
        location = req.url_for(f"/resource_classes/{name}")
        return empty_response(201 if created else 204, {"Location": location})
    new = body(req, schemas.POST_RESOURCE_CLASS)["name"]
    svc(req).db.write(resource_classes.rename, name, new)
    return respond(req, _view(req, new))


def delete_class(req: ApiRequest) -> Response:
    require(req, "1.2")
    enforce(req, "resource_classes:delete")
    svc(req).db.write(resource_classes.delete, req.path_params["name"])
    return empty_response(204)
