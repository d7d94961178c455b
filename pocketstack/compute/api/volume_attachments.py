"""``/servers/{id}/os-volume_attachments``: volumes attached to a server (Nova's volume
attachments; ``openstack server add volume`` / ``server remove volume``).

Attach records the intent and answers (200): the server's block device mapping, marked
``pending`` with a deadline, and the volume reserved through block storage's ``VolumeAPI``
(available → attaching) as a task of this server; the conductor then has the host plug it and
records the attachment (→ in-use), or rolls it all back (:mod:`..conductor.volume_tasks`).
Detach (202) marks the mapping and sets the volume ``detaching`` the same way. A
shelved-offloaded server (2.20+) has no host: its volume is reserved and attached at block
storage at once and plugged by the unshelve's spawn. The mappings live in the instance's
``block_devices`` (entries with a ``volume_id``); the spawn spec carries them
(:mod:`..conductor.spec`).
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from starlette.responses import Response

from pocketstack.common import exceptions
from pocketstack.common.api.app import ApiRequest, empty_response, json_response
from pocketstack.compute.api.common import body, svc, version_at_least
from pocketstack.compute.api.interfaces import _check_state, _load
from pocketstack.compute.conductor import volume_tasks
from pocketstack.compute.domain import instance_actions, instances, states
from pocketstack.compute.schemas import servers as schemas
from pocketstack.volume.interface import VolumeAPI

RULE = "os_compute_api:os-volumes-attachments:"
LOG = logging.getLogger(__name__)


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


def _states(req: ApiRequest, row: dict[str, Any], action: str) -> bool:
    """Whether the server is shelved-offloaded (attach/detach at block storage only, 2.20+);
    409 when its state allows neither."""
    if row["vm_state"] == states.SHELVED_OFFLOADED and version_at_least(req, "2.20"):
        if row["locked"]:
            raise exceptions.Conflict(f"Instance {row['uuid']} is locked")
        if row["task_state"]:
            raise exceptions.Conflict(f"Cannot '{action}' instance {row['uuid']} while it is "
                                      f"in task_state {row['task_state']}")
        return True
    _check_state(row, action)
    return False


def _start_action(req: ApiRequest, conn: Any, row: dict[str, Any], name: str) -> int:
    ctx = req.ctx
    record = instance_actions.start(conn, row["uuid"], name, req.request_id,
                                    ctx.project_id or "", ctx.user_id or "")
    instance_actions.event_start(conn, record, "compute_" + name, row["host"])
    return record


def _end_action(conn: Any, record: int, name: str, error: str | None) -> None:
    instance_actions.event_finish(conn, record, "compute_" + name,
                                  "Error" if error else "Success", error)
    instance_actions.finish(conn, record, "Error" if error else None)


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
    _states(req, row, "attach_volume")
    api, ctx, service = _volume(req), req.ctx, svc(req)
    try:
        vol = api.get_volume(ctx, vid)
    except exceptions.NotFound:
        raise exceptions.NotFound(f"Volume {vid} could not be found.") from None
    timeout = float(service.settings.volume_attach_timeout)
    bdm: dict[str, Any] = {
        "volume_id": vid, "source_type": "volume", "destination_type": "volume",
        "boot_index": None, "tag": data.get("tag"),
        "delete_on_termination": bool(data.get("delete_on_termination")),
        "attachment_id": str(uuid.uuid4()), "bdm_uuid": str(uuid.uuid4()), "size": vol.size,
        "pending": "attach", "deadline": volume_tasks.deadline_after(timeout)}

    def record(conn: Any) -> tuple[dict[str, Any], int, bool]:
        current = instances.get(conn, row["uuid"])
        offloaded = _states(req, current, "attach_volume")
        if any(b["volume_id"] == vid for b in attached(current)):
            raise exceptions.BadRequest(f"Invalid volume: volume {vid} is already attached "
                                        f"to instance {row['uuid']}.")
        used = {str(b.get("device_name")) for b in attached(current)}
        device = data.get("device") or next_device(used)
        if device in used or device == "/dev/vda":
            raise exceptions.BadRequest(f"The supplied device path ({device}) is in use.")
        bdm["device_name"] = device
        action = _start_action(req, conn, current, "attach_volume")
        updated = instances.update(conn, current, {
            "block_devices": [*(current["block_devices"] or []), bdm]})
        return updated, action, offloaded

    row, action, offloaded = instances.write_checked(service.db, record)
    try:
        if offloaded:  # no host: reserved and attached at block storage now, plugged at
            api.reserve(ctx, vid)  # unshelve (the spawn spec carries it)
            try:
                conn_info = api.attach(ctx, vid, row["uuid"], None, bdm["device_name"],
                                       bdm["attachment_id"])
            except Exception:
                api.unreserve(ctx, vid)
                raise
        else:
            api.reserve(ctx, vid, row["uuid"], timeout + volume_tasks.GRACE)
    except Exception as exc:
        _undo(req, row["uuid"], vid, action, "attach_volume", str(exc))
        if isinstance(exc, exceptions.BadRequest):
            raise exceptions.BadRequest(str(exc)) from None
        raise
    if offloaded:
        def finish(conn: Any) -> None:
            current = instances.get(conn, row["uuid"])
            bdms = [dict({k: v for k, v in b.items() if k not in ("pending", "deadline")},
                         connection_info=conn_info)
                    if b.get("bdm_uuid") == bdm["bdm_uuid"] else b
                    for b in current["block_devices"] or []]
            instances.update(conn, current, {"block_devices": bdms})
            _end_action(conn, action, "attach_volume", None)

        instances.write_checked(service.db, finish)
        LOG.info("[instance: %s] volume %s attached at block storage (shelved offloaded; "
                 "plugged at unshelve)", row["uuid"], vid)
    else:
        LOG.info("[instance: %s] attach of volume %s accepted (%s)", row["uuid"], vid,
                 req.request_id)
        service.notify("conductor", {"op": "attach_volume", "uuid": row["uuid"],
                                     "volume_id": vid})
    return json_response({"volumeAttachment": _view(req, row, bdm)})


def _undo(req: ApiRequest, uuid: str, vid: str, action: int, name: str, error: str) -> None:
    """Drop the pending mapping of ``vid`` (attach) or unmark it (detach); end the action."""
    def write(conn: Any) -> None:
        current = instances.get(conn, uuid)
        bdms = []
        for b in current["block_devices"] or []:
            if b.get("volume_id") == vid and b.get("pending"):
                if b["pending"] == "attach":
                    continue
                b = {k: v for k, v in b.items() if k not in ("pending", "deadline")}
            bdms.append(b)
        instances.update(conn, current, {"block_devices": bdms})
        _end_action(conn, action, name, error)

    instances.write_checked(svc(req).db, write)


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
    _states(req, row, "detach_volume")
    api, ctx, service = _volume(req), req.ctx, svc(req)
    vol = api.get_volume(ctx, vid)
    if vol.status != "in-use" or bdm.get("pending"):
        raise exceptions.BadRequest(f"Invalid volume: Volume {vid} must be in-use to detach, "
                                    f"not {vol.status}.")
    timeout = float(service.settings.volume_attach_timeout)

    def mark(conn: Any) -> tuple[dict[str, Any], int, bool]:
        current = instances.get(conn, row["uuid"])
        offloaded = _states(req, current, "detach_volume")
        mine = next((b for b in attached(current) if b["volume_id"] == vid), None)
        if mine is None:
            raise exceptions.NotFound(f"Volume {vid} is not attached to instance "
                                      f"{row['uuid']}.")
        if mine.get("pending"):
            raise exceptions.BadRequest(f"Invalid volume: Volume {vid} must be in-use to "
                                        f"detach, not {mine['pending']}ing.")
        action = _start_action(req, conn, current, "detach_volume")
        if offloaded:
            bdms = [b for b in current["block_devices"] or [] if b.get("volume_id") != vid]
            _end_action(conn, action, "detach_volume", None)
        else:
            bdms = [dict(b, pending="detach", deadline=volume_tasks.deadline_after(timeout))
                    if b.get("volume_id") == vid else b
                    for b in current["block_devices"] or []]
        return instances.update(conn, current, {"block_devices": bdms}), action, offloaded

    row, action, offloaded = instances.write_checked(service.db, mark)
    if offloaded:  # nothing is plugged anywhere: released at block storage only
        api.detach(ctx, vid, row["uuid"])
        LOG.info("[instance: %s] volume %s detached (shelved offloaded)", row["uuid"], vid)
        return empty_response(202)
    try:
        api.begin_detaching(ctx, vid, row["uuid"], timeout + volume_tasks.GRACE)
    except Exception as exc:
        _undo(req, row["uuid"], vid, action, "detach_volume", str(exc))
        if isinstance(exc, exceptions.BadRequest):
            raise exceptions.BadRequest(str(exc)) from None
        raise
    LOG.info("[instance: %s] detach of volume %s accepted (%s)", row["uuid"], vid,
             req.request_id)
    service.notify("conductor", {"op": "detach_volume", "uuid": row["uuid"],
                                 "volume_id": vid})
    return empty_response(202)
