"""``/v3/types/{type_id}/encryption``: a volume type's encryption spec — show (``{}`` when
none), show one key, create, update, delete (admin only; metadata, see
:mod:`pocketstack.volume.domain.encryption`)."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from pocketstack.common import exceptions
from pocketstack.common.api.app import ApiRequest, empty_response, json_response
from pocketstack.volume import errors
from pocketstack.volume.api.common import body, ctx, svc, text, to_int
from pocketstack.volume.api.views import when
from pocketstack.volume.domain import encryption


def _allow(req: ApiRequest, what: str) -> None:
    svc(req).enforce(ctx(req), f"volume_extension:volume_type_encryption:{what}", {})


def _view(row: dict[str, Any]) -> dict[str, Any]:
    return {"volume_type_id": row["volume_type_id"], "encryption_id": row["encryption_id"],
            "provider": row["provider"], "cipher": row["cipher"], "key_size": row["key_size"],
            "control_location": row["control_location"], "deleted": False,
            "created_at": when(row["created_at"]), "updated_at": when(row["updated_at"]),
            "deleted_at": None}


def _values(data: dict[str, Any], creating: bool) -> dict[str, Any]:
    unknown = set(data) - set(encryption.FIELDS)
    if unknown:
        raise errors.bad(f"Additional properties are not allowed ({', '.join(sorted(unknown))} "
                         "were unexpected)")
    out: dict[str, Any] = {}
    if "provider" in data or creating:
        provider = text(data.get("provider"), "provider")
        if not provider:
            raise errors.bad("provider must be a non-empty string.")
        out["provider"] = provider
    if "cipher" in data:
        out["cipher"] = text(data["cipher"], "cipher")
    if "key_size" in data:
        out["key_size"] = None if data["key_size"] is None else to_int(data["key_size"],
                                                                        "key_size", 0)
    if "control_location" in data:
        if data["control_location"] not in encryption.LOCATIONS:
            raise errors.bad("Valid control location are: ['front-end', 'back-end']")
        out["control_location"] = data["control_location"]
    if not out:
        raise errors.bad("No encryption spec to update.")
    return out


def show(req: ApiRequest) -> Response:
    _allow(req, "get")
    row = svc(req).db.read(encryption.find, req.path_params["type_id"])
    return json_response({} if row is None else _view(row))


def show_key(req: ApiRequest) -> Response:
    _allow(req, "get")
    row = svc(req).db.read(encryption.find, req.path_params["type_id"])
    key = req.path_params["key"]
    view = {} if row is None else _view(row)
    if key not in view:
        raise exceptions.NotFound(f"Volume type encryption for type "
                                  f"{req.path_params['type_id']} has no key {key}.")
    return json_response({key: view[key]})


def create(req: ApiRequest) -> Response:
    _allow(req, "create")
    values = _values(body(req, "encryption"), True)
    row = svc(req).db.write(encryption.create, req.path_params["type_id"], values)
    view = _view(row)
    return json_response({"encryption": {k: view[k] for k in (
        "volume_type_id", "encryption_id", *encryption.FIELDS)}})


def update(req: ApiRequest) -> Response:
    _allow(req, "update")
    values = _values(body(req, "encryption"), False)
    svc(req).db.write(encryption.update, req.path_params["type_id"],
                      req.path_params["encryption_id"], values)
    return json_response({"encryption": values})


def delete(req: ApiRequest) -> Response:
    _allow(req, "delete")
    svc(req).db.write(encryption.delete, req.path_params["type_id"],
                      req.path_params["encryption_id"])
    return empty_response(202)
