"""``/v3/types``: volume types, their extra specs and private-type access
(``os-volume-type-access``)."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from pocketstack.common.api.app import ApiRequest, empty_response, json_response
from pocketstack.volume import errors
from pocketstack.volume.api import views
from pocketstack.volume.api.common import (
    body,
    ctx,
    metadata,
    svc,
    text,
    to_bool,
    type_changes,
    type_name,
)
from pocketstack.volume.domain import qos, types


def _manage(req: ApiRequest) -> None:
    svc(req).enforce(ctx(req), "volume_extension:types_manage", {})


def list_types(req: ApiRequest) -> Response:
    c = ctx(req)
    is_public = req.query.get("is_public")
    flag = None if is_public in (None, "None", "none") else to_bool(is_public, "is_public")
    rows = svc(req).db.read(types.list_types, c.project_id, c.is_admin,
                            True if flag is None and not c.is_admin else flag)
    qos_of = svc(req).db.read(qos.type_map) if c.is_admin else {}
    return json_response({"volume_types": [_shown(r, c.is_admin, qos_of) for r in rows]})


def _shown(row: dict[str, Any], admin: bool, qos_of: dict[str, str]) -> dict[str, Any]:
    """A type as show and list present it: admins also see its ``qos_specs_id``."""
    out = views.volume_type(row, admin)
    if admin:
        out["qos_specs_id"] = qos_of.get(row["id"])
    return out


def show(req: ApiRequest) -> Response:
    c = ctx(req)
    ident = req.path_params["type_id"]
    if ident == "default":
        ident = types.DEFAULT_NAME
    row = svc(req).db.read(types.get, ident, c.project_id, c.is_admin)
    qos_of = svc(req).db.read(qos.type_map) if c.is_admin else {}
    return json_response({"volume_type": _shown(row, c.is_admin, qos_of)})


def create(req: ApiRequest) -> Response:
    _manage(req)
    data = body(req, "volume_type")
    name = type_name(data.get("name"), "Volume type")
    description = text(data.get("description"), "description")
    is_public = to_bool(data.get("os-volume-type-access:is_public",
                                 data.get("is_public", True)), "is_public")
    specs = metadata(data.get("extra_specs"), "extra_specs")
    row = svc(req).db.write(types.create, name, description, is_public, specs)
    return json_response({"volume_type": views.volume_type(row, True)})


def update(req: ApiRequest) -> Response:
    _manage(req)
    data = body(req, "volume_type")
    values = type_changes(data, "Volume type")
    if not values:
        raise errors.bad("Specify volume type name, description, is_public or a "
                         "combination thereof.")
    row = svc(req).db.write(types.update, req.path_params["type_id"], values)
    out = views.volume_type(row, True)
    out.pop("os-volume-type-access:is_public", None)  # not in Cinder's update answer
    return json_response({"volume_type": out})


def delete(req: ApiRequest) -> Response:
    _manage(req)
    svc(req).db.write(types.delete, req.path_params["type_id"])
    return empty_response(202)


def list_specs(req: ApiRequest) -> Response:
    c = ctx(req)
    row = svc(req).db.read(types.get, req.path_params["type_id"], c.project_id, c.is_admin)
    return json_response({"extra_specs": views.volume_type(row, c.is_admin)["extra_specs"]})


def create_specs(req: ApiRequest) -> Response:
    _manage(req)
    data = req.json()
    if not isinstance(data, dict) or not isinstance(data.get("extra_specs"), dict):
        raise errors.bad("Malformed request body: 'extra_specs' must be an object.")
    specs = metadata(data["extra_specs"], "extra_specs")
    svc(req).db.write(types.set_specs, req.path_params["type_id"], specs)
    return json_response({"extra_specs": specs})


def show_spec(req: ApiRequest) -> Response:
    c = ctx(req)
    row = svc(req).db.read(types.get, req.path_params["type_id"], c.project_id, c.is_admin)
    key = req.path_params["key"]
    specs = views.volume_type(row, c.is_admin)["extra_specs"]
    if key not in specs:
        raise errors.TypeNotFound(f"{row['id']} extra spec {key}")
    return json_response({key: specs[key]})


def update_spec(req: ApiRequest) -> Response:
    _manage(req)
    key = req.path_params["key"]
    specs = metadata(req.json(), "extra_specs")
    if len(specs) != 1 or key not in specs:
        raise errors.bad("Request body and URI mismatch")
    svc(req).db.write(types.set_specs, req.path_params["type_id"], specs)
    return json_response(specs)


def delete_spec(req: ApiRequest) -> Response:
    _manage(req)
    svc(req).db.write(types.delete_spec, req.path_params["type_id"], req.path_params["key"])
    return empty_response(202)


def list_access(req: ApiRequest) -> Response:
    svc(req).enforce(ctx(req), "volume_extension:volume_type_access", {})
    rows = svc(req).db.read(types.access_list, req.path_params["type_id"])
    return json_response({"volume_type_access": rows})


def action(req: ApiRequest) -> Response:
    svc(req).enforce(ctx(req), "volume_extension:volume_type_access", {})
    data = req.json()
    if not isinstance(data, dict) or len(data) != 1:
        raise errors.bad("There is no such action.")
    (name, arg), = data.items()
    project = arg.get("project") if isinstance(arg, dict) else None
    if not isinstance(project, str) or not project:
        raise errors.bad("Missing required element 'project' in request body.")
    if name == "addProjectAccess":
        svc(req).db.write(types.add_access, req.path_params["type_id"], project)
    elif name == "removeProjectAccess":
        svc(req).db.write(types.remove_access, req.path_params["type_id"], project)
    else:
        raise errors.bad(f"There is no such action: {name}")
    return empty_response(202)
