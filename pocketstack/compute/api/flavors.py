"""``/flavors``: list/show for everyone, create/update/delete and extra specs for admins."""

from __future__ import annotations

import uuid
from typing import Any

from starlette.responses import Response

from pocketstack.common import exceptions
from pocketstack.common.api.app import ApiRequest, empty_response, json_response
from pocketstack.common.api.validation import query_bool, validate
from pocketstack.compute.api.admin_common import is_admin, page_params, paginate
from pocketstack.compute.api.common import (
    allowed,
    body,
    enforce,
    link,
    svc,
    version_at_least,
)
from pocketstack.compute.domain import flavors
from pocketstack.compute.schemas import admin as schemas


def brief_view(req: ApiRequest, f: dict[str, Any]) -> dict[str, Any]:
    view: dict[str, Any] = {"id": f["flavorid"], "name": f["name"],
                            "links": link(req, "flavors", f["flavorid"])}
    if version_at_least(req, "2.55"):
        view["description"] = f["description"]
    return view


def detail_view(req: ApiRequest, f: dict[str, Any]) -> dict[str, Any]:
    swap: int | str = f["swap"]
    if not swap and not version_at_least(req, "2.75"):
        swap = ""
    view: dict[str, Any] = {
        "id": f["flavorid"],
        "name": f["name"],
        "ram": f["memory_mb"],
        "disk": f["root_gb"],
        "swap": swap,
        "OS-FLV-EXT-DATA:ephemeral": f["ephemeral_gb"],
        "OS-FLV-DISABLED:disabled": bool(f["disabled"]),
        "vcpus": f["vcpus"],
        "os-flavor-access:is_public": bool(f["is_public"]),
        "rxtx_factor": f["rxtx_factor"],
        "links": link(req, "flavors", f["flavorid"]),
    }
    if version_at_least(req, "2.55"):
        view["description"] = f["description"]
    if version_at_least(req, "2.61") and allowed(
            req, "os_compute_api:os-flavor-extra-specs:index",
            {"project_id": req.ctx.project_id}):
        view["extra_specs"] = dict(f["extra_specs"] or {})
    return view


def _int_filter(req: ApiRequest, name: str) -> int | None:
    raw = req.query.get(name)
    if raw is None:
        return None
    try:
        value = int(raw)
    except ValueError:
        raise exceptions.BadRequest(f"Invalid {name} filter [{raw}]") from None
    if value < 0:
        raise exceptions.BadRequest(f"Invalid {name} filter [{raw}]")
    return value


def _list(req: ApiRequest, detailed: bool) -> Response:
    enforce(req, "os_compute_api:flavors")
    admin = is_admin(req)
    include_disabled = admin
    is_public: bool | None = True
    raw = req.query.get("is_public")
    if admin and raw is not None:
        if raw.strip().lower() == "none":
            is_public = None
        else:
            is_public = _strict_bool(raw)
            if is_public is None:
                raise exceptions.BadRequest(f"Invalid is_public filter [{raw}]")
    sort_key = req.query.get("sort_key", "flavorid")
    sort_dir = req.query.get("sort_dir", "asc")
    if sort_key not in flavors.SORT_KEYS:
        raise exceptions.BadRequest(f"Invalid input for query parameters sort_key. Value: "
                                    f"{sort_key}. Invalid sort key.")
    if sort_dir not in ("asc", "desc"):
        raise exceptions.BadRequest(f"Invalid input for query parameters sort_dir. Value: "
                                    f"{sort_dir}. Invalid sort direction.")
    min_ram = _int_filter(req, "minRam")
    min_disk = _int_filter(req, "minDisk")
    wanted = page_params(req)
    rows = svc(req).db.read(lambda conn: flavors.list_(
        conn, project_id=req.ctx.project_id, is_public=is_public,
        include_disabled=include_disabled, min_ram=min_ram, min_disk=min_disk,
        sort_key=sort_key, sort_dir=sort_dir))
    rows, links = paginate(req, rows, wanted, lambda f: f["flavorid"],
                           f"marker [{wanted.marker}] not found")
    view = detail_view if detailed else brief_view
    out: dict[str, Any] = {"flavors": [view(req, f) for f in rows]}
    if links:
        out["flavors_links"] = links
    return json_response(out)


def _strict_bool(value: str) -> bool | None:
    """oslo's bool_from_string(strict=True): 't'/'f', 'y'/'n' and friends; None if neither."""
    low = value.strip().lower()
    if low in ("1", "t", "true", "on", "y", "yes"):
        return True
    if low in ("0", "f", "false", "off", "n", "no"):
        return False
    return None


def list_flavors(req: ApiRequest) -> Response:
    return _list(req, False)


def list_flavors_detail(req: ApiRequest) -> Response:
    return _list(req, True)


def load_visible(conn: Any, req: ApiRequest, flavorid: str) -> dict[str, Any]:
    """The flavor, or 404 when it is private and the caller's project has no access."""
    flavor = flavors.get(conn, flavorid)
    if not flavors.accessible(conn, flavor, req.ctx.project_id, is_admin(req)):
        raise exceptions.NotFound(f"Flavor {flavorid} could not be found.")
    return flavor


def show_flavor(req: ApiRequest) -> Response:
    enforce(req, "os_compute_api:flavors")
    flavor = svc(req).db.read(load_visible, req, req.path_params["flavor_id"])
    return json_response({"flavor": detail_view(req, flavor)})


def create_flavor(req: ApiRequest) -> Response:
    enforce(req, "os_compute_api:os-flavor-manage:create")
    data = body(req, schemas.flavor_create(version_at_least(req, "2.55")))["flavor"]
    flavorid = data.get("id")
    public = data.get("os-flavor-access:is_public", True)
    values = {
        "flavorid": str(flavorid) if flavorid is not None else str(uuid.uuid4()),
        "name": data["name"],
        "memory_mb": int(data["ram"]),
        "vcpus": int(data["vcpus"]),
        "root_gb": int(data["disk"]),
        "ephemeral_gb": int(data.get("OS-FLV-EXT-DATA:ephemeral") or 0),
        "swap": int(data.get("swap") or 0),
        "rxtx_factor": float(data.get("rxtx_factor", 1.0)),
        "is_public": bool(query_bool(str(public), True)),
        "description": data.get("description"),
    }
    for key, low in (("memory_mb", 1), ("vcpus", 1)):
        if values[key] < low:
            raise exceptions.ValidationError(f"Invalid input for field/attribute {key}.")
    flavor = svc(req).db.write(flavors.create, values)
    return json_response({"flavor": detail_view(req, flavor)})


def update_flavor(req: ApiRequest) -> Response:
    if not version_at_least(req, "2.55"):
        raise exceptions.NotFound("The resource could not be found.")
    enforce(req, "os_compute_api:os-flavor-manage:update")
    data = body(req, schemas.FLAVOR_UPDATE)["flavor"]
    flavor = svc(req).db.write(flavors.update_description, req.path_params["flavor_id"],
                               data["description"])
    return json_response({"flavor": detail_view(req, flavor)})


def delete_flavor(req: ApiRequest) -> Response:
    enforce(req, "os_compute_api:os-flavor-manage:delete")
    svc(req).db.write(flavors.delete, req.path_params["flavor_id"])
    return empty_response(202)


# -- extra specs -------------------------------------------------------------------------------
def _spec_str(value: Any) -> str:
    if isinstance(value, bool):
        return "True" if value else "False"
    return str(value)


def list_extra_specs(req: ApiRequest) -> Response:
    enforce(req, "os_compute_api:os-flavor-extra-specs:index",
            {"project_id": req.ctx.project_id})
    flavor = svc(req).db.read(load_visible, req, req.path_params["flavor_id"])
    return json_response({"extra_specs": dict(flavor["extra_specs"] or {})})


def show_extra_spec(req: ApiRequest) -> Response:
    enforce(req, "os_compute_api:os-flavor-extra-specs:show",
            {"project_id": req.ctx.project_id})
    flavorid, key = req.path_params["flavor_id"], req.path_params["key"]
    flavor = svc(req).db.read(load_visible, req, flavorid)
    specs = flavor["extra_specs"] or {}
    if key not in specs:
        raise exceptions.NotFound(f"Flavor {flavorid} has no extra specs with key {key}.")
    return json_response({key: specs[key]})


def create_extra_specs(req: ApiRequest) -> Response:
    enforce(req, "os_compute_api:os-flavor-extra-specs:create")
    data = body(req, schemas.EXTRA_SPECS)["extra_specs"]
    specs = {k: _spec_str(v) for k, v in data.items()}
    done = svc(req).db.write(flavors.set_extra_specs, req.path_params["flavor_id"], specs)
    return json_response({"extra_specs": done})


def update_extra_spec(req: ApiRequest) -> Response:
    enforce(req, "os_compute_api:os-flavor-extra-specs:update")
    key = req.path_params["key"]
    data = validate(schemas.EXTRA_SPEC_ONE, req.json())
    if key not in data:
        raise exceptions.BadRequest("Request body and URI mismatch")
    specs = {key: _spec_str(data[key])}
    done = svc(req).db.write(flavors.set_extra_specs, req.path_params["flavor_id"], specs)
    return json_response(done)


def delete_extra_spec(req: ApiRequest) -> Response:
    enforce(req, "os_compute_api:os-flavor-extra-specs:delete")
    svc(req).db.write(flavors.delete_extra_spec, req.path_params["flavor_id"],
                      req.path_params["key"])
    return empty_response(200)
