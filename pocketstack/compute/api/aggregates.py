"""``/os-aggregates``: host aggregates, their hosts, metadata and availability zone."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from pocketstack.common.api.app import ApiRequest, json_response
from pocketstack.compute.api.common import body, enforce, svc, version_at_least
from pocketstack.compute.domain import aggregates
from pocketstack.compute.domain.common import isotime_us
from pocketstack.compute.schemas import admin as schemas


def view(req: ApiRequest, agg: dict[str, Any], full: bool = True) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": agg["id"],
        "name": agg["name"],
        "availability_zone": agg["metadata"].get(aggregates.AZ_KEY),
        "created_at": isotime_us(agg["created_at"]),
        "updated_at": isotime_us(agg["updated_at"]),
        "deleted": False,
        "deleted_at": None,
    }
    if version_at_least(req, "2.41"):
        out["uuid"] = agg["uuid"]
    if full:
        out["hosts"] = list(agg["hosts"])
        out["metadata"] = dict(agg["metadata"])
    return out


def list_aggregates(req: ApiRequest) -> Response:
    enforce(req, "os_compute_api:os-aggregates:index")
    rows = svc(req).db.read(aggregates.list_)
    return json_response({"aggregates": [view(req, a) for a in rows]})


def show_aggregate(req: ApiRequest) -> Response:
    enforce(req, "os_compute_api:os-aggregates:show")
    agg = svc(req).db.read(aggregates.get, req.path_params["aggregate_id"])
    return json_response({"aggregate": view(req, agg)})


def create_aggregate(req: ApiRequest) -> Response:
    enforce(req, "os_compute_api:os-aggregates:create")
    data = body(req, schemas.AGGREGATE_CREATE)["aggregate"]
    agg = svc(req).db.write(aggregates.create, data["name"].strip(),
                            data.get("availability_zone"))
    return json_response({"aggregate": view(req, agg, full=False)})


def update_aggregate(req: ApiRequest) -> Response:
    enforce(req, "os_compute_api:os-aggregates:update")
    data = body(req, schemas.AGGREGATE_UPDATE)["aggregate"]
    agg = svc(req).db.write(aggregates.update, req.path_params["aggregate_id"], data)
    return json_response({"aggregate": view(req, agg)})


def delete_aggregate(req: ApiRequest) -> Response:
    enforce(req, "os_compute_api:os-aggregates:delete")
    svc(req).db.write(aggregates.delete, req.path_params["aggregate_id"])
    return Response(b"", status_code=200)


def aggregate_action(req: ApiRequest) -> Response:
    ident = req.path_params["aggregate_id"]
    data = body(req, schemas.AGGREGATE_ACTION)
    db = svc(req).db
    if "add_host" in data:
        enforce(req, "os_compute_api:os-aggregates:add_host")
        agg = db.write(aggregates.add_host, ident, data["add_host"]["host"])
    elif "remove_host" in data:
        enforce(req, "os_compute_api:os-aggregates:remove_host")
        agg = db.write(aggregates.remove_host, ident, data["remove_host"]["host"])
    else:
        enforce(req, "os_compute_api:os-aggregates:set_metadata")
        agg = db.write(aggregates.set_metadata, ident, data["set_metadata"]["metadata"])
    return json_response({"aggregate": view(req, agg)})
