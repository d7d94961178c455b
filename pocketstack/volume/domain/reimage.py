"""Re-imaging a volume (Cinder's ``os-reimage``, microversion 3.68): its content is written
again from an image, in place (same id, size, type, attachments).

:func:`begin` checks as Cinder's volume API does — at most one attachment (409), the status
(``available`` or ``error``, and ``reserved`` when the caller says ``reimage_reserved``;
400 otherwise), then the image against the volume (active, its size, ``min_disk`` and virtual
size must fit; 400) — and moves the volume to ``downloading`` with a ``reimage`` task and a
deadline, remembering the status to go back to and the image's metadata. It returns the task
message for the storage host, which writes the image into the volume's file the way a create
from an image does (a new file renamed over the old one: a failure leaves the old content),
showing its progress in the ``progress`` metadata. :func:`finish` applies the report: back to
the former status with the new ``volume_image_metadata``, or ``error`` with a user message.

Compute's rebuild of a volume-backed server (Nova 2.93) holds the root volume for its server
(``in-use`` → ``reserved``, :func:`hold`), re-images it with ``reimage_reserved`` and gives it
back (``reserved`` → ``in-use``, :func:`release`), as Nova's new attachment without a connector
and its later completion do.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from pocketstack.common import exceptions
from pocketstack.volume import errors
from pocketstack.volume import tables as t
from pocketstack.volume.domain import volumes

GIB = 1 << 30
TASK = "reimage"
_FROM = "reimage_from"  # admin metadata: the status to go back to
_IMAGE = "reimage_image"  # admin metadata: the new image's volume_image_metadata
_SOURCE = "reimage_snapshot"  # admin metadata: the snapshot it copies instead, if any
_HELD = "reimage_held_for"  # admin metadata: the server a held volume is reserved for


@dataclass(frozen=True)
class Image:
    """The image a volume is re-imaged from (what the image service said of it)."""

    id: str
    status: str
    size: int | None  # bytes
    virtual_size: int | None  # bytes
    min_disk: int  # GiB
    disk_format: str | None
    path: str | None  # its local file, when the agent can read the store
    metadata: dict[str, str] = field(default_factory=dict)  # the new volume_image_metadata
    properties: dict[str, Any] = field(default_factory=dict)


def image_of(boot: Any) -> Image:
    """What the image service's ``BootImage`` says, as a re-image needs it."""
    return Image(id=boot.id, status=boot.status, size=boot.size,
                 virtual_size=boot.virtual_size, min_disk=int(boot.min_disk or 0),
                 disk_format=boot.disk_format, path=boot.path,
                 metadata=volumes.image_metadata_of(boot), properties=dict(boot.properties))


def boot_snapshot(image: Image, volume_size: int) -> str | None:
    """The snapshot a Nova snapshot image of a volume-backed server stands for (its
    ``block_device_mapping`` property names one at boot index 0; the image has no data):
    Cinder re-images from that snapshot. 400 when its ``volume_size`` exceeds the volume."""
    raw = image.properties.get("block_device_mapping")
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            return None
    if not isinstance(raw, list):
        return None
    boot = [b for b in raw if isinstance(b, dict) and b.get("source_type") == "snapshot"
            and str(b.get("boot_index")) == "0"]
    if not boot or not boot[0].get("snapshot_id"):
        return None
    try:
        wanted = int(boot[0].get("volume_size") or 0)
    except (TypeError, ValueError):
        wanted = 0
    if wanted > volume_size:
        raise errors.bad(f"Volume size must be greater than the image size. (Image: "
                         f"{wanted}, Volume: {volume_size}).")
    return str(boot[0]["snapshot_id"])


def check_image(image: Image, volume_size: int) -> None:
    """Cinder's ``check_image_metadata``: 400 unless the image is active and fits."""
    if image.status != "active":
        raise errors.bad(f"Image {image.id} is not active.")
    size_gb = (int(image.size or 0) + GIB - 1) // GIB
    if size_gb > volume_size:
        raise errors.bad(f"Size of specified image {size_gb}GB is larger than volume size "
                         f"{volume_size}GB.")
    if volume_size < image.min_disk:
        raise errors.bad(f"Volume size {volume_size}GB cannot be smaller than the image "
                         f"minDisk size {image.min_disk}GB.")
    if image.virtual_size:
        virtual_gb = (int(image.virtual_size) + GIB - 1) // GIB
        if virtual_gb > volume_size:
            raise errors.InvalidInput(f"Image {image.id} is unacceptable: Image virtual size "
                                      f"is {virtual_gb}GB and doesn't fit in a volume of size "
                                      f"{volume_size}GB.")


def begin(conn: Connection, row: dict[str, Any], image: Image, reimage_reserved: bool,
          task_deadline: dt.datetime, project_id: str | None = None,
          admin: bool = True) -> dict[str, Any]:
    """available/error (/reserved) → downloading with a ``reimage`` task; the task message.
    A snapshot an image stands for must be one the caller (``project_id``) may see."""
    snapshot_id = boot_snapshot(image, int(row["size"]))
    if snapshot_id is not None:
        found = conn.execute(sa.select(t.snapshots.c.project_id).where(
            t.snapshots.c.id == snapshot_id)).first()
        if found is None or not (admin or found.project_id == project_id):
            raise exceptions.NotFound(f"Nova specific image is found, but boot volume "
                                      f"snapshot id:{snapshot_id} not found.")
    if len(row["attachments"]) > 1:
        raise errors.Busy("Cannot re-image a volume which is attached to more than one "
                          "server.")
    expected = ("available", "error", "reserved") if reimage_reserved else ("available",
                                                                            "error")
    if row["status"] not in expected:
        raise errors.InvalidState(f"Invalid volume: Volume {row['id']} status must be "
                                  f"{' or '.join(expected)}, but current status is "
                                  f"{row['status']}.")
    check_image(image, int(row["size"]))
    if not row["host"]:
        raise errors.InvalidState(f"Invalid volume: Volume {row['id']} has no storage host "
                                  "(it was never created on one).")
    admin_meta = {**row["admin_metadata"], _FROM: row["status"],
                  _IMAGE: dict(image.metadata), _SOURCE: snapshot_id or ""}
    volumes.update(conn, row, {"status": "downloading", "task": TASK,
                               "task_deadline": task_deadline, "status_reason": None,
                               "admin_metadata": admin_meta})
    return message(row["id"], row["host"], int(row["size"]), image.id, image.path,
                   image.disk_format, snapshot_id)


def message(ident: str, host: str, size: int, image_id: str, path: str | None,
            disk_format: str | None, snapshot_id: str | None = None) -> dict[str, Any]:
    source = {"type": "snapshot", "id": snapshot_id} if snapshot_id else {
        "type": "image", "id": image_id, "path": path, "disk_format": disk_format}
    return {"op": "reimage", "kind": "volume", "id": ident, "host": host, "size": size,
            "source": source}


def pending_message(row: Any) -> dict[str, Any]:
    """The task message again (the conductor restarted): the agent streams the image."""
    image = dict(row.admin_metadata.get(_IMAGE) or {})
    return message(row.id, row.host, int(row.size), str(image.get("image_id") or ""), None,
                   image.get("disk_format"), row.admin_metadata.get(_SOURCE) or None)


def finish(conn: Connection, row: Any, ok: bool, message: str | None,
           clear: dict[str, Any]) -> None:
    """The storage host's report: back to the former status with the new image metadata, or
    ``error`` (Cinder's manager sets ``error`` whatever the former status was)."""
    from pocketstack.volume.domain.tasks import without_progress

    meta, admin = without_progress(row.metadata, row.admin_metadata)
    back = str(admin.pop(_FROM, "available"))
    image_meta = admin.pop(_IMAGE, None)
    admin.pop(_SOURCE, None)
    values: dict[str, Any] = {"metadata": meta, "admin_metadata": admin, **clear}
    if ok:
        values["status"] = back
        if isinstance(image_meta, dict):
            values["image_metadata"] = image_meta
    else:
        values.update(status="error", status_reason=message)
    conn.execute(sa.update(t.volumes).where(t.volumes.c.id == row.id).values(**values))


def expired(conn: Connection, ident: str) -> None:
    """A re-image past its deadline: its scratch keys go (the reconciler sets ``error``)."""
    row = conn.execute(sa.select(t.volumes).where(t.volumes.c.id == ident)).first()
    if row is None:
        return
    from pocketstack.volume.domain.tasks import without_progress

    meta, admin = without_progress(row.metadata, row.admin_metadata)
    for key in (_FROM, _IMAGE, _SOURCE):
        admin.pop(key, None)
    conn.execute(sa.update(t.volumes).where(t.volumes.c.id == ident).values(
        metadata=meta, admin_metadata=admin))


# -- compute's rebuild of a volume-backed server --------------------------------------------------
def hold(conn: Connection, row: dict[str, Any], instance_uuid: str) -> dict[str, Any]:
    """in-use, attached to ``instance_uuid`` only → reserved for it (the attachment stays)."""
    if len(row["attachments"]) > 1:
        raise errors.Busy("Cannot re-image a volume which is attached to more than one "
                          "server.")
    servers = {a.get("server_id") for a in row["attachments"]}
    if row["status"] != "in-use" or servers != {instance_uuid}:
        raise errors.InvalidState(f"Invalid volume: Volume {row['id']} must be in-use by "
                                  f"server {instance_uuid} to be re-imaged for it, not "
                                  f"{row['status']}.")
    return volumes.update(conn, row, {"status": "reserved", "admin_metadata": {
        **row["admin_metadata"], _HELD: instance_uuid}})


def release(conn: Connection, row: dict[str, Any], instance_uuid: str) -> dict[str, Any]:
    """reserved for ``instance_uuid`` → in-use again (no-op in another state: a failed
    re-image leaves the volume in ``error``, as Cinder does)."""
    if row["status"] != "reserved" or row["admin_metadata"].get(_HELD) != instance_uuid:
        return row
    admin = {k: v for k, v in row["admin_metadata"].items() if k != _HELD}
    return volumes.update(conn, row, {"status": "in-use", "admin_metadata": admin})
