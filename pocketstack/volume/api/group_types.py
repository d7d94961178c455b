"""``/v3/group_types`` (3.11+): group types and their ``group_specs`` (admin manages; users
see the public ones)."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from pocketstack.common import exceptions
from pocketstack.common.api.app import ApiRequest, empty_response, json_response
from pocketstack.volume import errors
from pocketstack.volume.api.common import (
    body,
    ctx,
    metadata,
    sort_spec,
    svc,
    text,
    to_bool,
    type_changes,
    type_name,
    version_at_least,
)
from pocketstack.volume.domain import group_types


def since(req: ApiRequest, version: str) -> None:
    """The group APIs appear with microversions (types 3.11, groups 3.13, snapshots 3.14)."""
    if not version_at_least(req, version):
        raise exceptions.NotFound("The resource could not be found.")


def _manage(req: ApiRequest, rule: str = "group:group_types_manage") -> None:
    since(req, "3.11")
    svc(req).enforce(ctx(req), rule, {})


def _view(row: dict[str, Any], admin: bool) -> dict[str, Any]:
    out = {"id": row["id"], "name": row["name"], "description": row["description"],
           "is_public": bool(row["is_public"])}
    if admin:
        out["group_specs"] = dict(row["group_specs"])
    return out


def list_types(req: ApiRequest) -> Response:
    since(req, "3.11")
    c = ctx(req)
    raw = req.query.get("is_public")
    flag = None if raw in (None, "None", "none") else to_bool(raw, "is_public")
    if raw is None and c.is_admin:
        flag = True  # Cinder: admins see the public ones unless they ask (is_public=None)
    rows = svc(req).db.read(group_types.list_types, c.is_admin, flag,
                            sort_spec(req, group_types.SORT_KEYS))
    return json_response({"group_types": [_view(r, c.is_admin) for r in rows]})


def show(req: ApiRequest) -> Response:
    since(req, "3.11")
    c = ctx(req)
    ident = req.path_params["group_type_id"]
    if ident == "default":
        raise exceptions.NotFound("Default group type could not be found.")
    row = svc(req).db.read(group_types.get, ident, c.is_admin)
    return json_response({"group_type": _view(row, c.is_admin)})


def create(req: ApiRequest) -> Response:
    _manage(req)
    data = body(req, "group_type")
    name = type_name(data.get("name"), "Group type")
    row = svc(req).db.write(
        group_types.create, name, text(data.get("description"), "description"),
        to_bool(data.get("is_public", True), "is_public"),
        metadata(data.get("group_specs"), "group_specs"))
    return json_response({"group_type": _view(row, True)}, 202)


def update(req: ApiRequest) -> Response:
    _manage(req)
    data = body(req, "group_type")
    values = type_changes(data, "Group type")
    if not values:
        raise errors.bad("Specify group type name, description or is_public.")
    row = svc(req).db.write(group_types.update, req.path_params["group_type_id"], values)
    return json_response({"group_type": _view(row, True)})


def delete(req: ApiRequest) -> Response:
    _manage(req)
    svc(req).db.write(group_types.delete, req.path_params["group_type_id"])
    return empty_response(202)


def list_specs(req: ApiRequest) -> Response:
    _manage(req, "group:access_group_types_specs")
    row = svc(req).db.read(group_types.get, req.path_params["group_type_id"])
    return json_response({"group_specs": dict(row["group_specs"])})


def create_specs(req: ApiRequest) -> Response:
    _manage(req, "group:group_types_specs")
    data = req.json()
    if not isinstance(data, dict) or not isinstance(data.get("group_specs"), dict):
        raise errors.bad("Malformed request body: 'group_specs' must be an object.")
    specs = metadata(data["group_specs"], "group_specs")
    svc(req).db.write(group_types.set_specs, req.path_params["group_type_id"], specs)
    return json_response({"group_specs": specs}, 202)


def show_spec(req: ApiRequest) -> Response:
    _manage(req, "group:access_group_types_specs")
    row = svc(req).db.read(group_types.get, req.path_params["group_type_id"])
    key = req.path_params["key"]
    if key not in row["group_specs"]:
        raise exceptions.NotFound(f"Group Type {row['id']} has no specs with key {key}.")
    return json_response({key: row["group_specs"][key]})


def update_spec(req: ApiRequest) -> Response:
    _manage(req, "group:group_types_specs")
    key = req.path_params["key"]
    specs = metadata(req.json(), "group_specs")
    if len(specs) != 1 or key not in specs:
        raise errors.bad("Request body and URI mismatch")
    svc(req).db.write(group_types.set_specs, req.path_params["group_type_id"], specs)
    return json_response(specs)


def delete_spec(req: ApiRequest) -> Response:
    _manage(req, "group:group_types_specs")
    svc(req).db.write(group_types.delete_spec, req.path_params["group_type_id"],
                      req.path_params["key"])
    return empty_response(202)
