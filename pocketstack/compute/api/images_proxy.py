"""``/images``: Nova's proxy of the image service (deprecated; gone from 2.36 on).

Images are read and changed through the image service's domain layer with its visibility
rules and policy, and shown in Nova's shape: ``minRam``/``minDisk``, custom properties as
``metadata``, Nova's status names, and the server a snapshot was taken of.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from starlette.responses import Response

from pocketstack.common import exceptions
from pocketstack.common.api.app import ApiRequest, empty_response, json_response
from pocketstack.common.api.validation import validate
from pocketstack.common.timeutils import parse_isotime
from pocketstack.compute.api.common import link, svc, unified_limits, version_at_least
from pocketstack.compute.domain import quotas
from pocketstack.compute.domain.common import isotime
from pocketstack.compute.schemas import servers as schemas
from pocketstack.image.interface import ImageQuery

STATUS = {"active": "ACTIVE", "queued": "SAVING", "saving": "SAVING", "deleted": "DELETED",
          "pending_delete": "DELETED", "killed": "ERROR"}
PROGRESS = {"queued": 25, "saving": 50, "active": 100}
METADATA_BODY = {"type": "object", "properties": {"metadata": schemas.METADATA},
                 "required": ["metadata"], "additionalProperties": False}
META_BODY = {"type": "object", "properties": {"meta": {
    "type": "object", "minProperties": 1, "maxProperties": 1,
    "patternProperties": schemas.METADATA["patternProperties"],
    "additionalProperties": False}}, "required": ["meta"], "additionalProperties": False}


def _gate(req: ApiRequest) -> None:
    if version_at_least(req, "2.36"):
        raise exceptions.NotFound("The resource could not be found.")


def _links(req: ApiRequest, image_id: str) -> list[dict[str, str]]:
    out = link(req, "images", image_id)
    glance = req.base_url.split("/compute/", 1)[0] + "/image"
    out.append({"rel": "alternate", "type": "application/vnd.openstack.image",
                "href": f"{glance}/images/{image_id}"})
    return out


def _summary(req: ApiRequest, image: dict[str, Any]) -> dict[str, Any]:
    return {"id": image["id"], "name": image["name"], "links": _links(req, image["id"])}


def _detail(req: ApiRequest, image: dict[str, Any]) -> dict[str, Any]:
    props = dict(image["properties"])
    out: dict[str, Any] = {
        "id": image["id"], "name": image["name"], "minRam": int(image["min_ram"] or 0),
        "minDisk": int(image["min_disk"] or 0), "metadata": props,
        "created": isotime(image["created_at"]), "updated": isotime(image["updated_at"]),
        "status": STATUS.get(image["status"], "UNKNOWN"),
        "progress": PROGRESS.get(image["status"], 0),
        "OS-EXT-IMG-SIZE:size": image["size"], "links": _links(req, image["id"]),
    }
    if props.get("instance_uuid"):
        out["server"] = {"id": props["instance_uuid"],
                         "links": link(req, "servers", props["instance_uuid"])}
    if "auto_disk_config" in props:
        auto = str(props["auto_disk_config"]).lower() in ("1", "true", "yes", "on")
        out["OS-DCF:diskConfig"] = "AUTO" if auto else "MANUAL"
    return out


def _listing(req: ApiRequest, detailed: bool) -> Response:
    _gate(req)
    q = req.query
    props: dict[str, str] = {}
    if q.get("server"):
        props["instance_uuid"] = q["server"].rstrip("/").rsplit("/", 1)[-1]
    if q.get("type"):
        props["image_type"] = q["type"]
    for key, value in q.items():
        if key.startswith("property-"):
            props[key[len("property-"):]] = value
    since = None
    if q.get("changes-since"):
        try:
            since = parse_isotime(q["changes-since"])
        except Exception:
            raise exceptions.BadRequest("Invalid changes-since value") from None
    limit = 1000
    if q.get("limit") is not None:
        try:
            limit = int(q["limit"])
        except ValueError:
            raise exceptions.BadRequest("limit param must be an integer") from None
        if limit < 0:
            raise exceptions.BadRequest("limit param must be positive")
    query = ImageQuery(name=q.get("name") or None,
                       status=q["status"].lower() if q.get("status") else None,
                       properties=props, changes_since=since, limit=min(limit, 1000),
                       marker=q.get("marker"))
    rows, more = svc(req).images.list_images(req.ctx, query)
    for key, column in (("minRam", "min_ram"), ("minDisk", "min_disk")):
        if q.get(key):
            try:
                least = int(q[key])
            except ValueError:
                raise exceptions.BadRequest(f"Invalid {key} value") from None
            rows = [r for r in rows if int(r[column] or 0) >= least]
    view = _detail if detailed else _summary
    out: dict[str, Any] = {"images": [view(req, r) for r in rows]}
    if more and rows:
        params = [(k, v) for k, v in q.multi_items() if k != "marker"]
        params.append(("marker", rows[-1]["id"]))
        out["images_links"] = [{"rel": "next",
                                "href": f"{req.url_for(req.path)}?{urlencode(params)}"}]
    return json_response(out)


def list_images(req: ApiRequest) -> Response:
    return _listing(req, detailed=False)


def list_images_detail(req: ApiRequest) -> Response:
    return _listing(req, detailed=True)


def show_image(req: ApiRequest) -> Response:
    _gate(req)
    image = svc(req).images.show_image(req.ctx, req.path_params["image_id"])
    return json_response({"image": _detail(req, image)})


def delete_image(req: ApiRequest) -> Response:
    _gate(req)
    svc(req).images.delete_image(req.ctx, req.path_params["image_id"])
    return empty_response(204)


# -- metadata ------------------------------------------------------------------------------
def _change(req: ApiRequest, new: dict[str, str] | None, replace: bool = False,
            remove: str | None = None) -> dict[str, Any]:
    service = svc(req)
    unified = unified_limits(req)
    limits = service.db.read(quotas.get_limits, req.ctx.project_id or "", None, unified)
    allowed = int(limits.get("metadata_items", -1))
    return service.images.update_properties(
        req.ctx, req.path_params["image_id"], new, replace=replace, remove=remove,
        check_count=lambda count: quotas.check_metadata_count(allowed, count, unified))


def list_metadata(req: ApiRequest) -> Response:
    _gate(req)
    image = svc(req).images.show_image(req.ctx, req.path_params["image_id"])
    return json_response({"metadata": dict(image["properties"])})


def update_metadata(req: ApiRequest) -> Response:
    _gate(req)
    data = validate(METADATA_BODY, req.json())["metadata"]
    return json_response({"metadata": dict(_change(req, data)["properties"])})


def replace_metadata(req: ApiRequest) -> Response:
    _gate(req)
    data = validate(METADATA_BODY, req.json())["metadata"]
    return json_response({"metadata": dict(_change(req, data, replace=True)["properties"])})


def show_meta(req: ApiRequest) -> Response:
    _gate(req)
    key = req.path_params["key"]
    props = svc(req).images.show_image(req.ctx, req.path_params["image_id"])["properties"]
    if key not in props:
        raise exceptions.NotFound("Image metadata not found.")
    return json_response({"meta": {key: props[key]}})


def set_meta(req: ApiRequest) -> Response:
    _gate(req)
    key = req.path_params["key"]
    meta = validate(META_BODY, req.json())["meta"]
    if key not in meta:
        raise exceptions.BadRequest("Request body and URI mismatch")
    _change(req, {key: meta[key]})
    return json_response({"meta": {key: meta[key]}})


def delete_meta(req: ApiRequest) -> Response:
    _gate(req)
    _change(req, None, remove=req.path_params["key"])
    return empty_response(204)
