"""``PUT /v2.0/routers/{id}/add_router_interface`` and ``remove_router_interface``."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from pocketstack.common.api.app import ApiRequest, json_response
from pocketstack.network import errors
from pocketstack.network.api.common import svc
from pocketstack.network.domain import routers


def _body(req: ApiRequest) -> dict[str, Any]:
    body = req.json()
    if not isinstance(body, dict):
        raise errors.HTTPBadRequest("Resource body required")
    unknown = set(body) - {"subnet_id", "port_id"}
    if unknown:
        raise errors.HTTPBadRequest(f"Unrecognized attribute(s) '{', '.join(sorted(unknown))}'")
    return body


def add_interface(req: ApiRequest) -> Response:
    body = _body(req)
    service = svc(req)
    router_id = req.path_params["id"]

    def write(conn: Any) -> dict[str, Any]:
        router = routers.get_visible(conn, req.ctx, router_id)
        service.enforce(req.ctx, "add_router_interface",
                               {"project_id": router["project_id"]})
        return routers.add_interface(conn, req.ctx, router_id, body, service.binding)

    info = service.db.write(write)
    service.changed("router", [router_id])
    return json_response(info)


def remove_interface(req: ApiRequest) -> Response:
    body = _body(req)
    service = svc(req)
    router_id = req.path_params["id"]

    def write(conn: Any) -> dict[str, Any]:
        router = routers.get_visible(conn, req.ctx, router_id)
        service.enforce(req.ctx, "remove_router_interface",
                               {"project_id": router["project_id"]})
        return routers.remove_interface(conn, req.ctx, router_id, body)

    info = service.db.write(write)
    service.changed("router", [router_id])
    return json_response(info)
