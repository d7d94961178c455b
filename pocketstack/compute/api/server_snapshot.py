"""``createImage``: snapshot a server into the image service.

The server goes into task ``image_snapshot``; the image service registers a private, queued
image owned by the server's project and fills it with the snapshot's data (with the fake
hypervisor, the data of the image the server booted from); then the task ends. Before 2.45
the answer is an empty 202 with the image's URL in ``Location``, from 2.45 on ``image_id``.
"""

from __future__ import annotations

import logging
from typing import Any

from starlette.responses import Response

from pocketstack.common.api.app import ApiRequest, empty_response, json_response
from pocketstack.common.api.validation import validate
from pocketstack.compute.api.common import (
    enforce,
    link,
    server_owner_limits,
    svc,
    version_at_least,
)
from pocketstack.compute.api.servers import load
from pocketstack.compute.domain import instance_actions, instances, quotas, states
from pocketstack.compute.schemas import servers as schemas

LOG = logging.getLogger(__name__)

CREATE_IMAGE = {"type": "object", "properties": {
    "name": schemas.NAME, "metadata": schemas.METADATA},
    "required": ["name"], "additionalProperties": False}


def create_image(req: ApiRequest, arg: Any) -> Response:
    data = validate(CREATE_IMAGE, arg)
    ctx = req.ctx
    service = svc(req)
    metadata = dict(data.get("metadata") or {})
    unified = server_owner_limits(req) if metadata else None

    def start(conn: Any) -> tuple[dict[str, Any], int]:
        row = load(req, conn)
        enforce(req, "os_compute_api:servers:create_image", {"project_id": row["project_id"]})
        if metadata:
            quotas.check_metadata(conn, row["project_id"], len(metadata), unified)
        if row["locked"] and ctx.is_admin:
            row = dict(row, locked=False)
        updated = instances.start_task(conn, row, "create_image",
                                       service.settings.task_timeout)
        action = instance_actions.start(conn, row["uuid"], "createImage", req.request_id,
                                        ctx.project_id or "", ctx.user_id or "")
        instance_actions.event_start(conn, action, "compute_snapshot_instance", row["host"])
        return updated, action

    row, action = instances.write_checked(service.db, start)
    LOG.info("[instance: %s] image_snapshot: createImage accepted (%s)", row["uuid"],
             req.request_id)
    ok = False
    try:
        image = service.images.create_snapshot(
            owner=row["project_id"], name=data["name"], source_id=row["image_ref"],
            instance_uuid=row["uuid"], user_id=ctx.user_id, metadata=metadata,
            min_disk=int(row["flavor"].get("disk") or 0), min_ram=0)
        service.images.upload_snapshot(image["id"], row["image_ref"])
        ok = True
    finally:
        service.db.write(_finish, row["uuid"], action, ok)
        LOG.info("[instance: %s] image_snapshot: %s", row["uuid"],
                 "snapshot uploaded; task ended" if ok else "snapshot failed; task ended")
    if version_at_least(req, "2.45"):
        return json_response({"image_id": image["id"]}, status=202)
    return empty_response(202, headers={"Location": link(req, "images", image["id"])[0]["href"]})


def _finish(conn: Any, uuid: str, action: int, ok: bool) -> None:
    current = instances.get(conn, uuid)
    if current["task_state"] == states.IMAGE_SNAPSHOT:
        instances.update(conn, current, {"task_state": None, "task_deadline": None})
    instance_actions.event_finish(conn, action, "compute_snapshot_instance",
                                  "Success" if ok else "Error")
    instance_actions.finish(conn, action, None if ok else "Error")
