"""Nova's deprecated proxies of block storage: ``/os-volumes`` and ``/os-snapshots`` (list,
detail, show, create, delete), in Nova's words (``displayName``, ``availabilityZone``,
``attachments`` with ``serverId``...).

They answer only below microversion 2.36, as Nova's (404 from 2.36 on), and go through block
storage's ``VolumeAPI`` with the caller's context: block storage's quotas, policies and errors
apply, its 4xx turned into Nova's error body (over quota on a volume create is Nova's 403).
"""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from pocketstack.common import exceptions
from pocketstack.common.api.app import ApiRequest, empty_response, json_response
from pocketstack.common.api.validation import query_bool
from pocketstack.compute.api.admin_common import int_param
from pocketstack.compute.api.common import body, enforce, svc, version_at_least
from pocketstack.compute.schemas import volumes as schemas
from pocketstack.volume.interface import SnapshotInfo, VolumeAPI, VolumeInfo

RULE = "os_compute_api:os-volumes:"
MAX_LIMIT = 1000  # Nova's max_limit


def _api(req: ApiRequest, rule: str) -> VolumeAPI:
    if version_at_least(req, "2.36"):
        raise exceptions.NotFound("The resource could not be found.")
    enforce(req, RULE + rule, {"project_id": req.ctx.project_id})
    api = svc(req).volume
    if api is None:
        raise exceptions.NotFound("This cloud has no block storage service.")
    return api


def _limited(req: ApiRequest, items: list[Any]) -> list[Any]:
    """Nova's ``limited``: ``offset`` then ``limit`` (0 or none: the maximum)."""
    offset = int_param(req, "offset", 0) or 0
    limit = min(MAX_LIMIT, int_param(req, "limit", 0) or MAX_LIMIT)
    return items[offset:offset + limit]


def volume_view(vol: VolumeInfo) -> dict[str, Any]:
    attachments: list[dict[str, Any]] = []
    if vol.attach_status == "attached":
        for att in vol.attachments:
            out = {"id": vol.id, "volumeId": vol.id}
            if att.get("server_id"):
                out["serverId"] = att["server_id"]
            if att.get("device"):
                out["device"] = att["device"]
            attachments.append(out)
    return {"id": vol.id, "status": vol.status, "size": vol.size,
            "availabilityZone": vol.availability_zone, "createdAt": vol.created_at,
            "attachments": attachments or [{}],  # Nova's "[{}]" for none
            "displayName": vol.name, "displayDescription": vol.description,
            "volumeType": vol.volume_type, "snapshotId": vol.snapshot_id,
            "metadata": dict(vol.metadata)}


def snapshot_view(snap: SnapshotInfo) -> dict[str, Any]:
    return {"id": snap.id, "volumeId": snap.volume_id, "status": snap.status,
            "size": snap.size, "createdAt": snap.created_at, "displayName": snap.name,
            "displayDescription": snap.description}


def list_volumes(req: ApiRequest) -> Response:
    api = _api(req, "list")
    found = _limited(req, api.list_volumes(req.ctx))
    return json_response({"volumes": [volume_view(v) for v in found]})


def list_volumes_detail(req: ApiRequest) -> Response:
    api = _api(req, "detail")
    found = _limited(req, api.list_volumes(req.ctx))
    return json_response({"volumes": [volume_view(v) for v in found]})


def show_volume(req: ApiRequest) -> Response:
    api = _api(req, "show")
    volume_id = req.path_params["volume_id"]
    try:
        vol = api.get_volume(req.ctx, volume_id)
    except exceptions.NotFound:
        raise exceptions.NotFound(f"Volume {volume_id} could not be found.") from None
    return json_response({"volume": volume_view(vol)})


def create_volume(req: ApiRequest) -> Response:
    api = _api(req, "create")
    data = body(req, schemas.VOLUME_CREATE)["volume"]
    size = int(data["size"])
    if not 1 <= size <= 0x7FFFFFFF:  # Nova's schema lets "0" through; Cinder refuses it
        raise exceptions.BadRequest(f"Invalid input received: Volume size '{size}' must be "
                                    "an integer and greater than 0.")
    try:
        vol = api.create_volume(
            req.ctx, size=size, name=data.get("display_name"),
            description=data.get("display_description"), snapshot_id=data.get("snapshot_id"),
            volume_type=data.get("volume_type"),
            availability_zone=data.get("availability_zone"), metadata=data.get("metadata"))
    except exceptions.PocketstackError as exc:
        if exc.status == 413:  # Nova: OverQuota on create is a 403
            raise exceptions.Forbidden(str(exc)) from None
        raise
    return json_response({"volume": volume_view(vol)})


def delete_volume(req: ApiRequest) -> Response:
    api = _api(req, "delete")
    volume_id = req.path_params["volume_id"]
    try:
        api.delete_volume(req.ctx, volume_id)
    except exceptions.NotFound:
        raise exceptions.NotFound(f"Volume {volume_id} could not be found.") from None
    return empty_response(202)


def list_snapshots(req: ApiRequest) -> Response:
    api = _api(req, "snapshots:list")
    found = _limited(req, api.list_snapshots(req.ctx))
    return json_response({"snapshots": [snapshot_view(s) for s in found]})


def list_snapshots_detail(req: ApiRequest) -> Response:
    api = _api(req, "snapshots:detail")
    found = _limited(req, api.list_snapshots(req.ctx))
    return json_response({"snapshots": [snapshot_view(s) for s in found]})


def show_snapshot(req: ApiRequest) -> Response:
    api = _api(req, "snapshots:show")
    snapshot_id = req.path_params["snapshot_id"]
    try:
        snap = api.get_snapshot(req.ctx, snapshot_id)
    except exceptions.NotFound:
        raise exceptions.NotFound(f"Snapshot {snapshot_id} could not be found.") from None
    return json_response({"snapshot": snapshot_view(snap)})


def create_snapshot(req: ApiRequest) -> Response:
    api = _api(req, "snapshots:create")
    data = body(req, schemas.SNAPSHOT_CREATE)["snapshot"]
    force = data.get("force", False)
    if not isinstance(force, bool):
        force = bool(query_bool(str(force), False))
    volume_id = data["volume_id"]
    try:
        snap = api.create_snapshot(req.ctx, volume_id, name=data.get("display_name"),
                                   description=data.get("display_description"), force=force)
    except exceptions.NotFound:
        raise exceptions.NotFound(f"Volume {volume_id} could not be found.") from None
    return json_response({"snapshot": snapshot_view(snap)})


def delete_snapshot(req: ApiRequest) -> Response:
    api = _api(req, "snapshots:delete")
    snapshot_id = req.path_params["snapshot_id"]
    try:
        api.delete_snapshot(req.ctx, snapshot_id)
    except exceptions.NotFound:
        raise exceptions.NotFound(f"Snapshot {snapshot_id} could not be found.") from None
    return empty_response(202)
