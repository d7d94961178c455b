"""``shelve``, ``shelveOffload`` and ``unshelve``.

Shelve snapshots the server into an image named ``<name>-shelved`` (unless it boots from a
volume), then hands the conductor the offload (the guest is removed and its claim given back:
the server is ``SHELVED_OFFLOADED`` at once, as Nova's default ``shelved_offload_time = 0``).
The image's id is kept in the internal hint ``_shelved_image``. Unshelve schedules the server
again — to the zone (2.77) or host (2.91, admins only) asked for — boots it from that image and
then deletes the image.
"""

from __future__ import annotations

import logging
from typing import Any

from starlette.responses import Response

from pocketstack.common import exceptions
from pocketstack.common.api.app import ApiRequest, empty_response
from pocketstack.common.api.validation import validate
from pocketstack.compute.api.common import enforce, svc, version_at_least
from pocketstack.compute.api.servers import load
from pocketstack.compute.domain import (
    aggregates_view,
    instance_actions,
    instances,
    nodes,
    states,
)
from pocketstack.compute.schemas.names import NAME

LOG = logging.getLogger(__name__)

SHELVED_IMAGE = states.SHELVED_IMAGE_HINT
UNSHELVE_HOST = states.UNSHELVE_HOST_HINT

UNSHELVE_V277 = {"type": ["object", "null"], "properties": {"availability_zone": NAME},
                 "required": ["availability_zone"], "additionalProperties": False}
UNSHELVE_V291 = {"oneOf": [
    {"type": "object", "properties": {
        "availability_zone": {"type": ["string", "null"]}, "host": {"type": "string"}},
     "additionalProperties": False},
    {"type": "null"}]}


def shelve(req: ApiRequest, arg: Any) -> Response:
    ctx = req.ctx
    service = svc(req)
    rule = "os_compute_api:os-shelve:shelve"

    def start(conn: Any) -> tuple[dict[str, Any], int]:
        row = load(req, conn)
        enforce(req, rule, {"project_id": row["project_id"]})
        if row["locked"] and ctx.is_admin:
            row = dict(row, locked=False)
        updated = instances.start_task(conn, row, "shelve", service.settings.task_timeout)
        record = instance_actions.start(conn, row["uuid"], "shelve", req.request_id,
                                        ctx.project_id or "", ctx.user_id or "")
        instance_actions.event_start(conn, record, "compute_shelve", row["host"])
        return updated, record

    row, record = instances.write_checked(service.db, start)
    LOG.info("[instance: %s] shelving: shelve accepted (%s)", row["uuid"], req.request_id)
    image_id = None
    if row["image_ref"]:  # volume-backed servers keep their disk in the volume
        try:
            image_id = _snapshot(req, row)
        except Exception:
            service.db.write(_fail, row["uuid"], record)
            raise

    def remember(conn: Any) -> bool:
        current = instances.get(conn, row["uuid"])
        if current["task_state"] != states.SHELVING:
            return False  # deleted or reset meanwhile: the snapshot is not needed
        hints = dict(current["scheduler_hints"])
        if image_id is not None:
            hints[SHELVED_IMAGE] = image_id
        instances.update(conn, current, {"scheduler_hints": hints})
        return True

    try:
        kept = instances.write_checked(service.db, remember)
    except exceptions.NotFound:
        kept = False
    if not kept and image_id is not None:
        _delete_image(req, image_id)
    if kept:
        service.notify("conductor", {"op": "action", "uuid": row["uuid"]})
    return empty_response(202)


def _snapshot(req: ApiRequest, row: dict[str, Any]) -> str:
    """The ``<name>-shelved`` image of the server, uploaded (the image service's 4xx, e.g. its
    quota, if it refuses)."""
    images = svc(req).images
    image = images.create_snapshot(
        owner=row["project_id"], name=f"{row['display_name']}-shelved",
        source_id=row["image_ref"], instance_uuid=row["uuid"], user_id=req.ctx.user_id,
        metadata={}, min_disk=int(row["flavor"].get("disk") or 0), min_ram=0)
    if not images.upload_snapshot(image["id"], row["image_ref"]):
        raise exceptions.Conflict(f"The snapshot of instance {row['uuid']} was deleted "
                                  f"while it was being made.")
    LOG.info("[instance: %s] shelving: snapshot %s uploaded", row["uuid"], image["id"])
    return str(image["id"])


def _delete_image(req: ApiRequest, image_id: str) -> None:
    try:
        svc(req).images.delete_image(req.ctx, image_id)
    except exceptions.PocketstackError as exc:
        LOG.warning("shelve: snapshot %s left behind: %s", image_id, exc)


def _fail(conn: Any, uuid: str, record: int) -> None:
    current = instances.get(conn, uuid)
    if current["task_state"] == states.SHELVING:
        instances.update(conn, current, {"task_state": None, "task_deadline": None})
    instance_actions.event_finish(conn, record, "compute_shelve", "Error")
    instance_actions.finish(conn, record, "Error")


def shelve_offload(req: ApiRequest, arg: Any) -> Response:
    """Shelved servers are offloaded at once: only a 409 is left to give."""
    row = svc(req).db.read(lambda conn: load(req, conn))
    if row["vm_state"] != states.SHELVED_OFFLOADED:
        raise exceptions.Conflict(f"Cannot 'shelveOffload' instance {row['uuid']} while it is "
                                  f"in vm_state {row['vm_state']}")
    return empty_response(202)


_UNSET = object()


def unshelve(req: ApiRequest, arg: Any) -> Response:
    new_az: Any = _UNSET
    host = None
    if version_at_least(req, "2.91"):
        data = validate(UNSHELVE_V291, arg)
    elif version_at_least(req, "2.77"):
        data = validate(UNSHELVE_V277, arg)
    else:
        data = None  # no schema before 2.77: the body's value is ignored
    if data:
        if "availability_zone" in data:
            new_az = data["availability_zone"]
        host = data.get("host")
    ctx = req.ctx
    service = svc(req)
    default_zone = service.settings.default_availability_zone

    def start(conn: Any) -> dict[str, Any]:
        row = load(req, conn)
        enforce(req, "os_compute_api:os-shelve:unshelve", {"project_id": row["project_id"]})
        if row["locked"] and ctx.is_admin:
            row = dict(row, locked=False)
        instances.check_task(row, "unshelve")  # Nova's state check comes first
        if (new_az is not _UNSET or host) and row["vm_state"] != states.SHELVED_OFFLOADED:
            status = states.status(row["vm_state"], row["task_state"])
            raise exceptions.Conflict(
                f'Specifying an availability zone or a host when unshelving server '
                f'"{row["uuid"]}" with status "{status}" is not supported. The server '
                f'status must be SHELVED_OFFLOADED.')
        if new_az is not _UNSET and new_az:
            zones = {default_zone}
            for aggs in aggregates_view.by_host(conn).values():
                zones.update(a["metadata"].get("availability_zone") for a in aggs)
            if new_az not in zones:
                raise exceptions.BadRequest("The requested availability zone is not "
                                            "available")
        zone = row["requested_az"] if new_az is _UNSET else new_az
        if host:
            enforce(req, "os_compute_api:os-shelve:unshelve_to_host",
                    {"project_id": row["project_id"], "user_id": row["user_id"]})
            if not nodes.list_(conn, host):
                raise exceptions.BadRequest(f"Compute host {host} could not be found.")
            if zone is not None and \
                    aggregates_view.host_zone(conn, host, default_zone) != zone:
                raise exceptions.Conflict(f'Host "{host}" is not in the availability zone '
                                          f'"{zone}".')
        hints = dict(row["scheduler_hints"])
        hints.pop(UNSHELVE_HOST, None)
        if host:
            hints[UNSHELVE_HOST] = host
        updated = instances.start_task(conn, row, "unshelve", service.settings.task_timeout,
                                       {"requested_az": zone, "scheduler_hints": hints})
        record = instance_actions.start(conn, row["uuid"], "unshelve", req.request_id,
                                        ctx.project_id or "", ctx.user_id or "")
        instance_actions.event_start(conn, record, "compute_unshelve", None)
        return updated

    row = instances.write_checked(service.db, start)
    LOG.info("[instance: %s] unshelving: unshelve accepted%s (%s)", row["uuid"],
             f" to host {host}" if host else "", req.request_id)
    service.notify("conductor", {"op": "action", "uuid": row["uuid"]})
    return empty_response(202)
