"""Rebuild of a volume-backed server: Nova's checks at the API, and whether its root volume is
re-imaged (microversion 2.93).

Before 2.93 the root volume is never touched: rebuilding with the image already in it is
allowed (the guest is rebuilt on the same disk), another image is a 400. From 2.93 a rebuild
always re-images the root volume (Nova passes ``reimage_boot_volume`` whatever the image), which
the conductor does through block storage's ``VolumeAPI`` (:mod:`..conductor.reimage`). The
image must fit (its ``min_disk`` within the volume, 400) and the server's volumes must be
``in-use`` (400); block storage checks the rest when the conductor asks (size, status).
The server keeps an empty ``image`` (Nova's sign of a volume-backed server).
"""

from __future__ import annotations

from typing import Any

from pocketstack.common import exceptions
from pocketstack.common.api.app import ApiRequest
from pocketstack.compute.api.common import svc, version_at_least
from pocketstack.compute.api.servers import load
from pocketstack.compute.domain import states

GIB = 1 << 30
REIMAGE_HINT = states.REIMAGE_ROOT_HINT  # {"volume_id", "image_id"} for the conductor


def root_volume_id(row: dict[str, Any]) -> str | None:
    """The volume the server boots from (None: it boots from an image)."""
    for bdm in row["block_devices"] or []:
        if str(bdm.get("boot_index")) == "0" and bdm.get("destination_type") == "volume":
            return str(bdm.get("volume_id") or "") or None
    return None


def plan(req: ApiRequest, image: Any) -> dict[str, str] | None:
    """Nova's checks for a rebuild with ``image`` (the image service's ``BootImage``); the
    re-image the conductor is to do first (None: not volume-backed, or before 2.93)."""
    service = svc(req)
    row = service.db.read(lambda conn: load(req, conn))
    root = root_volume_id(row)
    if root is None:
        return None
    api = service.volume
    if api is None:
        raise exceptions.BadRequest("Unable to rebuild a volume-backed server: this cloud has "
                                    "no block storage service.")
    ctx = req.ctx
    volume = api.get_volume(ctx, root)
    reimage = version_at_least(req, "2.93")
    if volume.image_metadata.get("image_id") != image.id and not reimage:
        raise exceptions.BadRequest(f"Image {image.id} is unacceptable: Unable to rebuild with "
                                    "a different image for a volume-backed server.")
    if int(image.min_disk or 0) > volume.size:
        raise exceptions.BadRequest(
            f"Volume is smaller than the minimum size specified in image metadata. Volume "
            f"size is {volume.size * GIB} bytes, minimum size is "
            f"{int(image.min_disk) * GIB} bytes.")
    for bdm in row["block_devices"] or []:
        if not bdm.get("volume_id") or bdm.get("pending"):
            continue
        vid = str(bdm["volume_id"])
        found = volume if vid == root else api.get_volume(ctx, vid)
        if found.status != "in-use":
            raise exceptions.BadRequest(f"Invalid volume: volume '{vid}' status must be "
                                        f"'in-use'. Currently in '{found.status}' status")
    return {"volume_id": root, "image_id": image.id} if reimage else None
