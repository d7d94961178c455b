"""``/v3/qos-specs``: create, list, show, set and unset keys, delete (``force`` when still
associated), and associate/disassociate volume types (GET requests, as Cinder has them)."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from pocketstack.common.api.app import ApiRequest, empty_response, json_response
from pocketstack.volume import errors
from pocketstack.volume.api.common import body, ctx, paging, sort_spec, svc, text, to_bool
from pocketstack.volume.domain import common as dcommon
from pocketstack.volume.domain import qos


def _allow(req: ApiRequest, what: str) -> None:
    svc(req).enforce(ctx(req), f"volume_extension:qos_specs_manage:{what}", {})


def _view(row: dict[str, Any]) -> dict[str, Any]:
    return {"specs": dict(row["specs"]), "consumer": row["consumer"], "name": row["name"],
            "id": row["id"]}


def _links(req: ApiRequest, ident: str) -> list[dict[str, str]]:
    return [{"rel": "self", "href": req.url_for(f"/v3/qos-specs/{ident}")},
            {"rel": "bookmark", "href": req.url_for(f"/qos-specs/{ident}")}]


def _specs(data: dict[str, Any]) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in data.items():
        if not isinstance(key, str) or not key or len(key) > 255:
            raise errors.bad("QoS spec keys must be strings of 1 to 255 characters.")
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise errors.bad(f"QoS spec {key} must be a string.")
        value = str(value)
        if len(value) > 255:
            raise errors.bad(f"QoS spec {key} has more than 255 characters.")
        out[key] = value
    return out


def create(req: ApiRequest) -> Response:
    _allow(req, "create")
    data = dict(body(req, "qos_specs"))
    name = text(data.pop("name", None), "name")
    if not name or not name.strip():
        raise errors.bad("Please specify a name for QoS specs.")
    consumer = data.pop("consumer", "back-end")
    if consumer not in qos.CONSUMERS:
        raise errors.bad(f"Valid consumer of QoS specs are: {list(qos.CONSUMERS)}")
    row = svc(req).db.write(qos.create, name.strip(), consumer, _specs(data))
    return json_response({"qos_specs": _view(row), "links": _links(req, row["id"])})


def list_specs(req: ApiRequest) -> Response:
    _allow(req, "get_all")
    limit, marker, offset = paging(req)
    rows = svc(req).db.read(qos.list_specs, sort_spec(req, qos.SORT_KEYS))
    page, _ = dcommon.page(rows, marker, offset, limit)
    return json_response({"qos_specs": [_view(r) for r in page]})


def show(req: ApiRequest) -> Response:
    _allow(req, "get")
    row = svc(req).db.read(qos.get, req.path_params["qos_id"])
    return json_response({"qos_specs": _view(row), "links": _links(req, row["id"])})


def set_keys(req: ApiRequest) -> Response:
    _allow(req, "update")
    specs = _specs(body(req, "qos_specs"))
    if not specs:
        raise errors.bad("Please specify at least one QoS spec to set.")
    svc(req).db.write(qos.set_keys, req.path_params["qos_id"], specs)
    return json_response({"qos_specs": specs})


def unset_keys(req: ApiRequest) -> Response:
    _allow(req, "update")
    data = req.json()
    keys = data.get("keys") if isinstance(data, dict) else None
    if not isinstance(keys, list) or not keys or not all(isinstance(k, str) for k in keys):
        raise errors.bad("'keys' must be a list of QoS spec keys.")
    svc(req).db.write(qos.unset_keys, req.path_params["qos_id"], keys)
    return empty_response(202)


def delete(req: ApiRequest) -> Response:
    _allow(req, "delete")
    force = to_bool(req.query.get("force", "false"), "force")
    svc(req).db.write(qos.delete, req.path_params["qos_id"], force)
    return empty_response(202)


def associations(req: ApiRequest) -> Response:
    _allow(req, "get")
    rows = svc(req).db.read(qos.associations, req.path_params["qos_id"])
    return json_response({"qos_associations": rows})


def _type_id(req: ApiRequest) -> str:
    type_id = req.query.get("vol_type_id")
    if not type_id:
        raise errors.bad("Volume Type id must not be None.")
    return type_id


def associate(req: ApiRequest) -> Response:
    _allow(req, "update")
    svc(req).db.write(qos.associate, req.path_params["qos_id"], _type_id(req))
    return empty_response(202)


def disassociate(req: ApiRequest) -> Response:
    _allow(req, "update")
    svc(req).db.write(qos.disassociate, req.path_params["qos_id"], _type_id(req))
    return empty_response(202)


def disassociate_all(req: ApiRequest) -> Response:
    _allow(req, "update")
    svc(req).db.write(qos.disassociate_all, req.path_params["qos_id"])
    return empty_response(202)
