"""``createImage`` and ``createBackup``: snapshot a server into the image service.

The server goes into task ``image_snapshot`` (``image_backup``); the image service registers a
private, queued image owned by the server's project, and the answer goes out. createImage
leaves the copy to the conductor (:mod:`..conductor.snapshot`: ``image_uploading``, the image
``saving`` then ``active``, then the task ends; a second createImage meanwhile is a 409);
createBackup fills the image here (with the fake hypervisor, the data of the image the server
booted from), rotates the server's backups, then ends its task.
Before 2.45 the answer is an empty 202 with the image's URL in ``Location``, from 2.45 on
``image_id``.

A backup is a snapshot with ``image_type=backup`` and ``backup_type`` properties; once it is
made, the server's backups of that type beyond ``rotation`` are deleted, oldest first (as
Nova's ``_rotate_backups``: rotation 0 keeps none, not even the new one).
"""

from __future__ import annotations

import logging
from typing import Any

from starlette.responses import Response

from pocketstack.common import exceptions
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
from pocketstack.image.interface import ImageQuery

LOG = logging.getLogger(__name__)

CREATE_IMAGE = {"type": "object", "properties": {
    "name": schemas.NAME, "metadata": schemas.METADATA},
    "required": ["name"], "additionalProperties": False}


CREATE_BACKUP = {"type": "object", "properties": {
    "name": schemas.NAME, "backup_type": {"type": "string"},
    "rotation": {"type": ["integer", "string"], "pattern": "^[0-9]*$", "minimum": 0,
                 "minLength": 1},
    "metadata": {"type": "object"}},
    "required": ["name", "backup_type", "rotation"], "additionalProperties": False}


def create_image(req: ApiRequest, arg: Any) -> Response:
    data = validate(CREATE_IMAGE, arg)
    metadata = dict(data.get("metadata") or {})
    image = snapshot(req, "create_image", "createImage", "compute_snapshot_instance",
                     data["name"], metadata, check_quota=bool(metadata), background=True)
    if version_at_least(req, "2.45"):
        return json_response({"image_id": image["id"]}, status=202)
    return empty_response(202, headers={"Location": link(req, "images", image["id"])[0]["href"]})


def create_backup(req: ApiRequest, arg: Any) -> Response:
    data = validate(CREATE_BACKUP, arg)
    rotation = int(data["rotation"])
    backup_type = data["backup_type"]
    metadata = {str(k): str(v) for k, v in (data.get("metadata") or {}).items()}
    # before 2.39 the metadata counts against the image metadata quota (as Nova)
    quota = bool(metadata) and not version_at_least(req, "2.39")
    image = snapshot(req, "create_backup", "createBackup", "compute_backup_instance",
                     data["name"], {**metadata, "image_type": "backup",
                                    "backup_type": backup_type},
                     check_quota=quota, refuse_volume_backed=True)
    rotate(req, image["id"], image["properties"].get("instance_uuid") or "", backup_type,
           rotation)
    if version_at_least(req, "2.45"):
        return json_response({"image_id": image["id"]}, status=202)
    headers = {"Location": link(req, "images", image["id"])[0]["href"]} if rotation else {}
    return empty_response(202, headers=headers)


def snapshot(req: ApiRequest, action: str, name: str, event: str, image_name: str,
             metadata: dict[str, str], *, check_quota: bool,
             refuse_volume_backed: bool = False, background: bool = False) -> dict[str, Any]:
    """Snapshot the request's server into a new image, under the task of ``action``. With
    ``background`` the image is only registered (``queued``) here and the conductor copies
    its data and ends the task (:mod:`..conductor.snapshot`); else the copy is made here."""
    ctx = req.ctx
    service = svc(req)
    rule = "os_compute_api:os-create-backup" if action == "create_backup" else \
        "os_compute_api:servers:create_image"
    unified = server_owner_limits(req) if check_quota else None

    def start(conn: Any) -> tuple[dict[str, Any], int]:
        row = load(req, conn)
        enforce(req, rule, {"project_id": row["project_id"]})
        if check_quota:
            quotas.check_metadata(conn, row["project_id"], len(metadata), unified)
        if row["locked"] and (ctx.is_admin or action == "create_backup"):
            row = dict(row, locked=False)  # Nova's backup ignores the lock
        if refuse_volume_backed and not row["image_ref"]:
            instances.check_task(row, action)
            raise exceptions.BadRequest("Backup is not supported for volume-backed "
                                        "instances.")
        updated = instances.start_task(conn, row, action, service.settings.task_timeout)
        record = instance_actions.start(conn, row["uuid"], name, req.request_id,
                                        ctx.project_id or "", ctx.user_id or "")
        instance_actions.event_start(conn, record, event, row["host"])
        return updated, record

    row, record = instances.write_checked(service.db, start)
    task = row["task_state"]
    LOG.info("[instance: %s] %s: %s accepted (%s)", row["uuid"], task, name, req.request_id)
    ok = False
    handed = False
    try:
        image = service.images.create_snapshot(
            owner=row["project_id"], name=image_name, source_id=row["image_ref"],
            instance_uuid=row["uuid"], user_id=ctx.user_id, metadata=metadata,
            min_disk=int(row["flavor"].get("disk") or 0), min_ram=0)
        if background:
            handed = instances.write_checked(service.db, _hand_over, row["uuid"], task,
                                             {"image_id": image["id"],
                                              "source_id": row["image_ref"]})
            if not handed:  # the server moved on (deleted, reset) before the copy began
                _drop_image(req, image["id"])
                raise exceptions.Conflict(f"Instance {row['uuid']} changed while its "
                                          "snapshot was being made.")
            service.notify("conductor", {"op": "upload_snapshot", "uuid": row["uuid"]})
            LOG.info("[instance: %s] %s: image %s queued; the conductor copies it",
                     row["uuid"], task, image["id"])
            return image
        service.images.upload_snapshot(image["id"], row["image_ref"])
        ok = True
    finally:
        if not handed:
            service.db.write(_finish, row["uuid"], task, record, event, ok)
            LOG.info("[instance: %s] %s: %s", row["uuid"], task,
                     "snapshot uploaded; task ended" if ok else "snapshot failed; task ended")
    return image


def _hand_over(conn: Any, uuid: str, task: str, facts: dict[str, Any]) -> bool:
    """Leave the image's facts for the conductor, if the server is still in ``task``."""
    current = instances.get(conn, uuid)
    if current["task_state"] != task:
        return False
    hints = dict(current["scheduler_hints"] or {}, **{states.SNAPSHOT_IMAGE_HINT: facts})
    instances.update(conn, current, {"scheduler_hints": hints})
    return True


def _drop_image(req: ApiRequest, image_id: str) -> None:
    try:
        svc(req).images.delete_image(req.ctx, image_id)
    except exceptions.PocketstackError as exc:
        LOG.warning("snapshot %s left behind: %s", image_id, exc)


def rotate(req: ApiRequest, image_id: str, instance_uuid: str, backup_type: str,
           rotation: int) -> list[str]:
    """Delete the server's backups of ``backup_type`` beyond the newest ``rotation`` (the
    one just made counts as the newest). Returns the ids deleted."""
    images = svc(req).images
    found, _ = images.list_images(req.ctx, ImageQuery(properties={
        "image_type": "backup", "backup_type": backup_type, "instance_uuid": instance_uuid}))
    backups = [i for i in found if i["id"] != image_id]
    backups.sort(key=lambda i: (i["created_at"], i["id"]), reverse=True)  # newest first
    newest_first = [image_id, *(i["id"] for i in backups)]
    deleted = []
    for old in newest_first[rotation:]:
        try:
            images.delete_image(req.ctx, old)
        except (exceptions.NotFound, exceptions.Forbidden, exceptions.Conflict) as exc:
            LOG.warning("[instance: %s] backup rotation: image %s not deleted: %s",
                        instance_uuid, old, exc)
            continue
        deleted.append(old)
    if deleted:
        LOG.info("[instance: %s] backup rotation (%s, keep %d): deleted %s", instance_uuid,
                 backup_type, rotation, ", ".join(deleted))
    return deleted


def _finish(conn: Any, uuid: str, task: str, action: int, event: str, ok: bool) -> None:
    current = instances.get(conn, uuid)
    if current["task_state"] == task:
        instances.update(conn, current, {"task_state": None, "task_deadline": None})
    instance_actions.event_finish(conn, action, event, "Success" if ok else "Error")
    instance_actions.finish(conn, action, None if ok else "Error")
