"""``/os-assisted-volume-snapshots``: Nova's service API with which a file-based volume
backend (Cinder's NFS-like drivers) has the hypervisor snapshot a volume it cannot snapshot
itself while a guest writes to it (a qcow2 overlay ``new_file`` on top of the volume's file),
and later merge such a snapshot away again.

Admin (or ``service`` role) only, as Nova; the policy target is empty because Cinder calls it
for any project. As in Nova the volume is found by its server's block device mapping: a volume
no server has attached, or that several have (multi-attach), is a 400; so is a server without
a host or in the middle of a task. The work is handed to the server's host: its compute agent
has the driver do it (``volume_snapshot_create`` / ``volume_snapshot_delete`` over the bus).
Nova casts that message and answers at once; here the API waits for the host (30 s) so that a
driver that cannot do it (the libvirt and namespace drivers have no assisted snapshots) or a
host that does not answer is the caller's 400 rather than a snapshot that silently never
happens. Create answers ``{"snapshot": {"id": create_info's id, "volumeId"}}`` (``id`` is null
when the caller gave none, as in Nova); delete answers 204.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import anyio.from_thread
from starlette.responses import Response

from pocketstack.common import exceptions
from pocketstack.common.api.app import ApiRequest, empty_response, json_response
from pocketstack.compute.api.common import body, enforce, svc, version_at_least
from pocketstack.compute.conductor.volumes import SERVICE_CTX
from pocketstack.compute.domain import instances
from pocketstack.compute.schemas.volumes import ASSISTED_SNAPSHOT_CREATE

RULE = "os_compute_api:os-assisted-volume-snapshots:"
LOG = logging.getLogger(__name__)
HOST_TIMEOUT = 30.0


def _server_of(req: ApiRequest, volume_id: str, method: str) -> dict[str, Any]:
    """The server whose block device mapping holds ``volume_id`` (Nova's
    ``BlockDeviceMapping.get_by_volume``), ready for the host to act on it."""
    service = svc(req)
    servers: list[str] = []
    if service.volume is not None:
        try:
            volume = service.volume.get_volume(SERVICE_CTX, volume_id)
        except exceptions.NotFound:
            volume = None
        if volume is not None:
            servers = sorted({str(a["server_id"]) for a in volume.attachments
                              if a.get("server_id")})

    def read(conn: Any) -> list[dict[str, Any]]:
        found = []
        for uuid in servers:
            try:
                row = instances.get(conn, uuid)
            except exceptions.NotFound:
                continue
            if any(b.get("volume_id") == volume_id and not b.get("pending")
                   for b in row["block_devices"] or []):
                found.append(row)
        return found

    rows = service.db.read(read) if servers else []
    if not rows:
        raise exceptions.BadRequest(f"No volume Block Device Mapping with id {volume_id}.")
    if len(rows) > 1:
        raise exceptions.BadRequest(f"Block Device Mapping {volume_id} is a multi-attach "
                                    "volume and is not valid for this operation.")
    row = rows[0]
    if not row["host"]:
        raise exceptions.BadRequest(f"Instance {row['uuid']} is not ready")
    if row["task_state"]:
        raise exceptions.BadRequest(
            f"Instance {row['uuid']} in task_state {row['task_state']}. Cannot {method} "
            "while the instance is in this state.")
    return row


def _hand_to_host(req: ApiRequest, row: dict[str, Any], message: dict[str, Any]) -> None:
    """Have the server's host do it; its refusal (or silence) is a 400."""
    call = svc(req).bus_call
    failure: str | None = None
    if call is None:
        failure = "no message bus"
    else:
        try:
            reply = anyio.from_thread.run(call, f"compute.{row['host']}",
                                          {**message, "uuid": row["uuid"]}, HOST_TIMEOUT)
        except Exception as exc:  # the host did not answer
            failure = f"host {row['host']} did not answer ({exc or type(exc).__name__})"
        else:
            if not isinstance(reply, dict):
                failure = f"host {row['host']} does not know {message['op']}"
            elif reply.get("error"):
                failure = str(reply["error"])
    if failure is not None:
        LOG.info("[instance: %s] %s refused: %s", row["uuid"], message["op"], failure)
        raise exceptions.BadRequest(f"Invalid volume: {failure}")


def create(req: ApiRequest) -> Response:
    data = body(req, ASSISTED_SNAPSHOT_CREATE)["snapshot"]
    enforce(req, RULE + "create", {})
    volume_id, create_info = str(data["volume_id"]), dict(data["create_info"])
    row = _server_of(req, volume_id, "volume_snapshot_create")
    _hand_to_host(req, row, {"op": "volume_snapshot_create", "volume_id": volume_id,
                             "create_info": create_info})
    LOG.info("[instance: %s] assisted snapshot %s of volume %s made on %s", row["uuid"],
             create_info["snapshot_id"], volume_id, row["host"])
    return json_response({"snapshot": {"id": create_info.get("id"), "volumeId": volume_id}})


def _delete_info(req: ApiRequest) -> tuple[str, dict[str, Any]]:
    """``delete_info`` (JSON with at least ``volume_id``) from the query, as Nova reads it;
    from 2.75 no other query parameter is allowed."""
    if version_at_least(req, "2.75"):
        extra = sorted(k for k in req.query if k != "delete_info")
        if extra:
            raise exceptions.ValidationError(
                f"Invalid input for query parameters {extra[0]}. Value: "
                f"{req.query[extra[0]]}. Additional properties are not allowed "
                f"({', '.join(repr(k) for k in extra)} "
                f"{'was' if len(extra) == 1 else 'were'} unexpected)")
    values = req.query.getlist("delete_info")
    if not values:
        raise exceptions.BadRequest("'delete_info'")
    try:
        info = json.loads(values[-1])
    except ValueError as exc:
        raise exceptions.BadRequest(str(exc)) from None
    if not isinstance(info, dict) or "volume_id" not in info:
        raise exceptions.BadRequest("'volume_id'")
    return str(info["volume_id"]), info


def delete(req: ApiRequest) -> Response:
    enforce(req, RULE + "delete", {})
    snapshot_id = req.path_params["snapshot_id"]
    volume_id, info = _delete_info(req)
    row = _server_of(req, volume_id, "volume_snapshot_delete")
    _hand_to_host(req, row, {"op": "volume_snapshot_delete", "volume_id": volume_id,
                             "snapshot_id": snapshot_id, "delete_info": info})
    LOG.info("[instance: %s] assisted snapshot %s of volume %s deleted on %s", row["uuid"],
             snapshot_id, volume_id, row["host"])
    return empty_response(204)
