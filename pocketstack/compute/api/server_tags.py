"""``/servers/{id}/tags`` (2.26+): simple string tags on a server."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from pocketstack.common import exceptions
from pocketstack.common.api.app import ApiRequest, empty_response, json_response
from pocketstack.common.api.validation import validate
from pocketstack.compute.api.admin_common import is_admin
from pocketstack.compute.api.common import body, enforce, svc, version_at_least
from pocketstack.compute.api.server_metadata import check_changeable
from pocketstack.compute.domain import instances
from pocketstack.compute.domain.instance_access import load_instance
from pocketstack.compute.schemas import admin as schemas

MAX_TAGS = 50
TAG_STATES = ("active", "paused", "suspended", "stopped", "shelved", "shelved_offloaded")


def _guard(req: ApiRequest) -> None:
    if not version_at_least(req, "2.26"):
        raise exceptions.NotFound("The resource could not be found.")


def _read(req: ApiRequest, rule: str) -> list[str]:
    _guard(req)

    def read(conn: Any) -> list[str]:
        inst = load_instance(conn, req.ctx.project_id, is_admin(req),
                             req.path_params["server_id"])
        enforce(req, rule, {"project_id": inst["project_id"]})
        return list(inst["tags"] or [])

    return svc(req).db.read(read)  # type: ignore[no-any-return]


def _change(req: ApiRequest, rule: str, fn: Any) -> tuple[list[str], Any]:
    _guard(req)

    def write(conn: Any) -> tuple[list[str], Any]:
        inst = load_instance(conn, req.ctx.project_id, is_admin(req),
                             req.path_params["server_id"])
        enforce(req, rule, {"project_id": inst["project_id"]})
        check_changeable(req, inst, "update tags", TAG_STATES)
        new, extra = fn(list(inst["tags"] or []))
        if len(new) > MAX_TAGS:
            raise exceptions.BadRequest(f"The number of tags exceeded the per-server limit "
                                        f"{MAX_TAGS}")
        instances.set_tags(conn, inst, new)
        return new, extra

    return svc(req).db.write(write)  # type: ignore[no-any-return]


def index(req: ApiRequest) -> Response:
    return json_response({"tags": _read(req, "os_compute_api:os-server-tags:index")})


def show(req: ApiRequest) -> Response:
    tags = _read(req, "os_compute_api:os-server-tags:show")
    tag = req.path_params["tag"]
    if tag not in tags:
        raise exceptions.NotFound(f"Tag {tag} not found for server "
                                  f"{req.path_params['server_id']}.")
    return empty_response(204)


def update_all(req: ApiRequest) -> Response:
    _guard(req)
    wanted = body(req, schemas.TAGS)["tags"]
    unique = list(dict.fromkeys(wanted))
    new, _ = _change(req, "os_compute_api:os-server-tags:update_all",
                     lambda old: (unique, None))
    return json_response({"tags": new})


def update(req: ApiRequest) -> Response:
    _guard(req)
    tag = req.path_params["tag"]
    validate(schemas.TAG, tag)

    def add(old: list[str]) -> tuple[list[str], bool]:
        if tag in old:
            return old, False
        return [*old, tag], True

    _, created = _change(req, "os_compute_api:os-server-tags:update", add)
    if not created:
        return empty_response(204)
    location = req.url_for(f"/servers/{req.path_params['server_id']}/tags/{tag}")
    return empty_response(201, {"Location": location})


def delete(req: ApiRequest) -> Response:
    tag = req.path_params["tag"]

    def drop(old: list[str]) -> tuple[list[str], None]:
        if tag not in old:
            raise exceptions.NotFound(f"Tag {tag} not found for server "
                                      f"{req.path_params['server_id']}.")
        return [x for x in old if x != tag], None

    _change(req, "os_compute_api:os-server-tags:delete", drop)
    return empty_response(204)


def delete_all(req: ApiRequest) -> Response:
    _change(req, "os_compute_api:os-server-tags:delete_all", lambda old: ([], None))
    return empty_response(204)
