"""A new server's volume block device mappings (``block_device_mapping_v2`` entries with
``destination_type=volume``), checked at the API: an existing volume must be visible and
free; an image, snapshot or blank source needs a ``volume_size``. The conductor makes and
attaches them before the spawn (:mod:`..conductor.volumes`); until then an entry has no
``volume_id``. A server whose ``boot_index`` 0 is a volume is volume-backed (no image).
"""

from __future__ import annotations

from typing import Any

from pocketstack.common import exceptions
from pocketstack.common.context import RequestContext
from pocketstack.volume.interface import VolumeAPI

INVALID = "Block Device Mapping is Invalid: "


def is_root(bdm: dict[str, Any]) -> bool:
    return str(bdm.get("boot_index")) == "0"


def volume_backed(server: dict[str, Any]) -> bool:
    return any(is_root(b) and b.get("destination_type") == "volume"
               for b in server.get("block_device_mapping_v2") or [])


def _size(bdm: dict[str, Any]) -> int:
    try:
        size = int(bdm.get("volume_size") or 0)
    except (TypeError, ValueError):
        raise exceptions.BadRequest(INVALID + "volume_size must be an integer.") from None
    if size < 1:
        raise exceptions.BadRequest(INVALID + "You specified more local devices than the "
                                    "limit allows or a volume without a size.")
    return size


def check(ctx: RequestContext, api: VolumeAPI | None, images: Any,
          server: dict[str, Any]) -> list[dict[str, Any]]:
    """The server's mappings, those to volumes checked and normalised."""
    out: list[dict[str, Any]] = []
    roots = 0
    for raw in server.get("block_device_mapping_v2") or []:
        bdm = dict(raw)
        if is_root(bdm):
            roots += 1
        if bdm.get("destination_type") != "volume":
            if bdm.get("source_type") in ("volume", "snapshot"):
                raise exceptions.BadRequest(INVALID + "a volume or snapshot source needs "
                                            "destination_type volume.")
            out.append(bdm)
            continue
        if api is None:
            raise exceptions.BadRequest(INVALID + "booting from or attaching volumes needs "
                                        "the block storage service, which this cloud does "
                                        "not have.")
        source = bdm.get("source_type")
        uuid = bdm.get("uuid")
        if source != "blank" and not uuid:
            raise exceptions.BadRequest(INVALID + f"a {source} source needs a uuid.")
        if source == "volume":
            try:
                vol = api.get_volume(ctx, str(uuid))
            except exceptions.NotFound:
                raise exceptions.BadRequest(INVALID + f"failed to get volume {uuid}.") \
                    from None
            if not (vol.status == "available" or (vol.status == "in-use" and vol.multiattach)):
                raise exceptions.BadRequest(
                    f"{INVALID}volume {uuid} status must be available, not {vol.status}.")
            if is_root(bdm) and not vol.bootable:  # Nova: InvalidBDMVolumeNotBootable
                raise exceptions.BadRequest(f"Block Device {uuid} is not bootable.")
            bdm["volume_size"] = vol.size
        else:
            bdm["volume_size"] = _size(bdm)
            if source == "image":
                try:
                    images.get_image_for_boot(ctx, str(uuid))
                except exceptions.NotFound:
                    raise exceptions.BadRequest(f"Image {uuid} could not be found.") from None
        bdm["delete_on_termination"] = bool(bdm.get("delete_on_termination"))
        bdm.pop("volume_id", None)  # set by the conductor once it is attached
        out.append(bdm)
    if roots > 1:
        raise exceptions.BadRequest(INVALID + "Boot sequence for the instance and image/block "
                                    "device mapping combination is not valid.")
    return out
