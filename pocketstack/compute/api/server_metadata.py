"""``/servers/{id}/metadata``: a server's key/value metadata (within maxServerMeta)."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from pocketstack.common import exceptions
from pocketstack.common.api.app import ApiRequest, empty_response, json_response
from pocketstack.compute.api.admin_common import is_admin
from pocketstack.compute.api.common import body, enforce, server_owner_limits, svc
from pocketstack.compute.domain import instances, quotas
from pocketstack.compute.domain.instance_access import load_instance
from pocketstack.compute.schemas import admin as schemas

CHANGEABLE_STATES = ("active", "paused", "suspended", "stopped")


def check_changeable(req: ApiRequest, inst: dict[str, Any], what: str,
                     states: tuple[str, ...] = CHANGEABLE_STATES) -> None:
    """Nova's lock and state checks for changes to a server's metadata or tags."""
    if inst["locked"] and not is_admin(req):
        raise exceptions.Conflict(f"Instance {inst['uuid']} is locked")
    if inst["vm_state"] not in states or inst["task_state"] is not None:
        state = ("task_state " + inst["task_state"]) if inst["task_state"] else (
            "vm_state " + inst["vm_state"])
        raise exceptions.Conflict(f"Cannot '{what}' instance {inst['uuid']} while it is in "
                                  f"{state}")


def _read(req: ApiRequest, rule: str) -> dict[str, Any]:
    def read(conn: Any) -> dict[str, Any]:
        inst = load_instance(conn, req.ctx.project_id, is_admin(req),
                             req.path_params["server_id"])
        enforce(req, rule, {"project_id": inst["project_id"]})
        return inst

    return svc(req).db.read(read)  # type: ignore[no-any-return]


def _change(req: ApiRequest, rule: str, what: str, fn: Any) -> dict[str, str]:
    """Apply ``fn(old_metadata) -> new_metadata`` under the instance's generation."""
    unified = server_owner_limits(req)

    def write(conn: Any) -> dict[str, str]:
        inst = load_instance(conn, req.ctx.project_id, is_admin(req),
                             req.path_params["server_id"])
        enforce(req, rule, {"project_id": inst["project_id"]})
        check_changeable(req, inst, what)
        new = fn(dict(inst["metadata"] or {}))
        quotas.check_metadata(conn, inst["project_id"], len(new), unified)
        instances.set_metadata(conn, inst, new)
        return new  # type: ignore[no-any-return]

    return svc(req).db.write(write)  # type: ignore[no-any-return]


def _checked(data: dict[str, Any]) -> dict[str, str]:
    for key in data:
        if not key.strip() and key == "":
            raise exceptions.BadRequest("Metadata property key blank.")
    return {str(k): str(v) for k, v in data.items()}


def index(req: ApiRequest) -> Response:
    inst = _read(req, "os_compute_api:server-metadata:index")
    return json_response({"metadata": dict(inst["metadata"] or {})})


def show(req: ApiRequest) -> Response:
    inst = _read(req, "os_compute_api:server-metadata:show")
    key = req.path_params["key"]
    metadata = inst["metadata"] or {}
    if key not in metadata:
        raise exceptions.NotFound("Metadata item was not found")
    return json_response({"meta": {key: metadata[key]}})


def create(req: ApiRequest) -> Response:
    data = _checked(body(req, schemas.SERVER_METADATA)["metadata"])
    new = _change(req, "os_compute_api:server-metadata:create", "update metadata",
                  lambda old: {**old, **data})
    return json_response({"metadata": new})


def update_all(req: ApiRequest) -> Response:
    data = _checked(body(req, schemas.SERVER_METADATA)["metadata"])
    new = _change(req, "os_compute_api:server-metadata:update_all", "update metadata",
                  lambda old: dict(data))
    return json_response({"metadata": new})


def update(req: ApiRequest) -> Response:
    key = req.path_params["key"]
    data = _checked(body(req, schemas.SERVER_META_ONE)["meta"])
    if key not in data:
        raise exceptions.BadRequest("Request body and URI mismatch")
    _change(req, "os_compute_api:server-metadata:update", "update metadata",
            lambda old: {**old, **data})
    return json_response({"meta": data})


def delete(req: ApiRequest) -> Response:
    key = req.path_params["key"]

    def drop(old: dict[str, str]) -> dict[str, str]:
        if key not in old:
            raise exceptions.NotFound("Metadata item was not found")
        return {k: v for k, v in old.items() if k != key}

    _change(req, "os_compute_api:server-metadata:delete", "delete metadata", drop)
    return empty_response(204)
