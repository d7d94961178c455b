"""``/servers/{id}/os-volume_attachments``: volumes attached to a server (Nova's volume
attachments; ``openstack server add volume`` / ``server remove volume``).

Attach reserves the volume through block storage's ``VolumeAPI`` (available → attaching),
asks the server's host to plug it (``attach_volume`` over the bus, with the volume's
connection info), then records the attachment (→ in-use) and the server's block device
mapping. Detach runs the other way (in-use → detaching → available). A failure on the host
puts the volume back where it was. The mappings live in the instance's ``block_devices``
(entries with a ``volume_id``); the spawn spec carries them (:mod:`..conductor.spec`).
"""

from __future__ import annotations

import uuid
from typing import Any

from starlette.responses import Response

from pocketstack.common import exceptions
from pocketstack.common.api.app import ApiRequest, empty_response, json_response
from pocketstack.compute.api.common import body, svc, version_at_least
from pocketstack.compute.api.interfaces import _check_state, _host_call, _load
from pocketstack.compute.domain import instances
from pocketstack.compute.schemas import servers as schemas
from pocketstack.volume.interface import VolumeAPI

RULE = "os_compute_api:os-volumes-attachments:"


def _volume(req: ApiRequest) -> VolumeAPI:
    api = svc(req).volume
    if api is None:
        raise exceptions.NotImplementedYet("This cloud has no block storage service.")
    return api


def attached(row: dict[str, Any]) -> list[dict[str, Any]]:
    """The server's volume mappings (each with ``volume_id``, ``device_name``...)."""
    return [b for b in row["block_devices"] or [] if b.get("volume_id")]


def _view(req: ApiRequest, row: dict[str, Any], bdm: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"id": bdm["volume_id"], "serverId": row["uuid"],
                           "volumeId": bdm["volume_id"], "device": bdm.get("device_name")}
    if version_at_least(req, "2.70"):
        out["tag"] = bdm.get("tag")
    if version_at_least(req, "2.79"):
        out["delete_on_termination"] = bool(bdm.get("delete_on_termination"))
    if version_at_least(req, "2.89"):
        out.pop("id")
        out["attachment_id"] = bdm.get("attachment_id")
        out["bdm_uuid"] = bdm.get("bdm_uuid")
    return out


def _record(req: ApiRequest, uuid: str, change: Any) -> None:
    def write(conn: Any) -> None:
        row = instances.get(conn, uuid)
        instances.update(conn, row, {"block_devices": change(list(row["block_devices"] or []))})

    instances.write_checked(svc(req).db, write)


def next_device(used: set[str], root: str = "/dev/vda") -> str:
    prefix = root[:-1]  # /dev/vd
    for letter in "bcdefghijklmnopqrstuvwxyz":
        if prefix + letter not in used:
            return prefix + letter
    raise exceptions.BadRequest("No free disk device names for prefix")


def index(req: ApiRequest) -> Response:
    row = _load(req, RULE + "index")
    return json_response({"volumeAttachments": [_view(req, row, b) for b in attached(row)]})


def show(req: ApiRequest) -> Response:
    row = _load(req, RULE + "show")
    vid = req.path_params["volume_id"]
    for bdm in attached(row):
        if bdm["volume_id"] == vid:
            return json_response({"volumeAttachment": _view(req, row, bdm)})
    raise exceptions.NotFound(f"Instance {row['uuid']} is not attached.")


def create(req: ApiRequest) -> Response:
    data = body(req, schemas.VOLUME_ATTACH)["volumeAttachment"]
    if "tag" in data and not version_at_least(req, "2.49"):
        raise exceptions.ValidationError("Invalid input for field/attribute volumeAttachment. "
                                         "Additional properties are not allowed ('tag')")
    if "delete_on_termination" in data and not version_at_least(req, "2.79"):
        raise exceptions.ValidationError("Invalid input for field/attribute volumeAttachment. "
                                         "Additional properties are not allowed "
                                         "('delete_on_termination')")
    vid = str(data["volumeId"])
    row = _load(req, RULE + "create")
    _check_state(row, "attach_volume")
    api, ctx = _volume(req), req.ctx
    try:
        vol = api.get_volume(ctx, vid)
    except exceptions.NotFound:
        raise exceptions.NotFound(f"Volume {vid} could not be found.") from None
    if any(b["volume_id"] == vid for b in attached(row)):
        raise exceptions.BadRequest(f"Invalid volume: volume {vid} is already attached to "
                                    f"instance {row['uuid']}.")
    used = {str(b.get("device_name")) for b in attached(row)}
    device = data.get("device") or next_device(used)
    if device in used or device == "/dev/vda":
        raise exceptions.BadRequest(f"The supplied device path ({device}) is in use.")
    try:
        api.reserve(ctx, vid)
    except exceptions.BadRequest as exc:
        raise exceptions.BadRequest(str(exc)) from None
    try:
        conn_info = api.connection_info(ctx, vid)
    except Exception:
        api.unreserve(ctx, vid)
        raise
    volume = {"volume_id": vid, "device_name": device, "driver_volume_type":
              conn_info.get("driver_volume_type") or "local", "connection_info": conn_info,
              "delete_on_termination": bool(data.get("delete_on_termination"))}
    failure = _host_call(req, row, {"op": "attach_volume", "volume": volume})
    if failure is not None:
        api.unreserve(ctx, vid)
        raise exceptions.Conflict(f"Failed to attach volume {vid} to {row['uuid']}: "
                                  f"{failure}")
    attachment_id = str(uuid.uuid4())
    api.attach(ctx, vid, row["uuid"], row["host"], device, attachment_id)
    bdm = {"volume_id": vid, "device_name": device, "source_type": "volume",
           "destination_type": "volume", "boot_index": None, "tag": data.get("tag"),
           "delete_on_termination": bool(data.get("delete_on_termination")),
           "attachment_id": attachment_id, "bdm_uuid": str(uuid.uuid4()), "size": vol.size,
           "connection_info": conn_info}
    _record(req, row["uuid"], lambda bdms: [*bdms, bdm])
    return json_response({"volumeAttachment": _view(req, row, bdm)})


def update(req: ApiRequest) -> Response:
    """Nova swaps a volume only for Cinder's volume migration, which this block storage never
    does: the volume in the path must exist (404), then the swap is refused as Nova refuses a
    volume that is not migrating (409). Updating an attachment's own fields (2.85) is not
    supported either (409)."""
    _load(req, RULE + "update")
    data = body(req, schemas.VOLUME_ATTACH)["volumeAttachment"]
    old = req.path_params["volume_id"]
    try:
        _volume(req).get_volume(req.ctx, old)
    except exceptions.NotFound:
        raise exceptions.NotFound(f"Volume {old} could not be found.") from None
    if str(data["volumeId"]) != old:
        raise exceptions.Conflict(f"volume {old} is not migrating; this API should only be "
                                  "called by Cinder")
    raise exceptions.Conflict("Updating a volume attachment is not supported by this cloud.")


def delete(req: ApiRequest) -> Response:
    row = _load(req, RULE + "delete")
    vid = req.path_params["volume_id"]
    bdm = next((b for b in attached(row) if b["volume_id"] == vid), None)
    if bdm is None:
        raise exceptions.NotFound(f"Volume {vid} is not attached to instance {row['uuid']}.")
    if bdm.get("boot_index") in (0, "0"):
        raise exceptions.BadRequest("Can't detach root device volume")
    _check_state(row, "detach_volume")
    api, ctx = _volume(req), req.ctx
    vol = api.get_volume(ctx, vid)
    if vol.status != "in-use":
        raise exceptions.BadRequest(f"Invalid volume: Volume {vid} must be in-use to detach, "
                                    f"not {vol.status}.")
    failure = _host_call(req, row, {"op": "detach_volume", "volume_id": vid})
    if failure is not None:  # still plugged: the volume stays in-use
        raise exceptions.Conflict(f"Failed to detach volume {vid} from {row['uuid']}: "
                                  f"{failure}")
    api.begin_detaching(ctx, vid)
    api.detach(ctx, vid, row["uuid"])
    _record(req, row["uuid"], lambda bdms: [b for b in bdms if b.get("volume_id") != vid])
    return empty_response(202)
