"""A server's volumes as the conductor handles them: detached (and deleted when
``delete_on_termination``) once the server is gone.

Runs in a worker thread: :class:`~pocketstack.volume.interface.VolumeAPI` blocks.
"""

from __future__ import annotations

import logging
from typing import Any

from pocketstack.common.context import RequestContext

LOG = logging.getLogger(__name__)
SERVICE_CTX = RequestContext(user_id="nova-conductor", roles=["admin"], system_scope="all")


def release(api: Any, uuid: str, bdms: list[dict[str, Any]]) -> None:
    """Detach each volume of the deleted server ``uuid``; delete those marked so."""
    if api is None:
        return
    for bdm in bdms:
        vid = str(bdm["volume_id"])
        try:
            api.detach(SERVICE_CTX, vid, uuid)
            if bdm.get("delete_on_termination"):
                api.delete_volume(SERVICE_CTX, vid)
        except Exception as exc:  # gone already, or in a state that refuses: leave it
            LOG.warning("[instance: %s] releasing volume %s: %s", uuid, vid, exc)


def pending(row: dict[str, Any]) -> bool:
    """Whether the server still has volume mappings to make and attach (boot from volume)."""
    return any(b.get("destination_type") == "volume" and not b.get("volume_id")
               for b in row["block_devices"] or [])


def _device(bdm: dict[str, Any], used: set[str]) -> str:
    if str(bdm.get("boot_index")) == "0":
        return "/dev/vda"
    if bdm.get("device_name") and bdm["device_name"] not in used:
        return str(bdm["device_name"])
    for letter in "bcdefghijklmnopqrstuvwxyz":
        if f"/dev/vd{letter}" not in used:
            return f"/dev/vd{letter}"
    raise RuntimeError("no free device name")


def prepare(api: Any, ctx: RequestContext, uuid: str, host: str,
            bdms: list[dict[str, Any]], timeout: float) -> tuple[list[dict[str, Any]],
                                                                 str | None]:
    """Make (from an image, snapshot or nothing) and attach the server's pending volumes
    on ``host``: the mappings with ``volume_id`` and ``connection_info``, and the failure
    (None: all attached). Whatever was done is undone on a failure (volumes it made with
    ``delete_on_termination`` are deleted)."""
    out: list[dict[str, Any]] = []
    done: list[dict[str, Any]] = []
    used = {str(b.get("device_name")) for b in bdms if b.get("volume_id")}
    try:
        if api is None:
            raise RuntimeError("no block storage service")
        for bdm in bdms:
            if bdm.get("destination_type") != "volume" or bdm.get("volume_id"):
                out.append(bdm)
                continue
            source = bdm.get("source_type")
            made = False
            if source == "volume":
                vid = str(bdm["uuid"])
            else:
                vol = api.create_volume(
                    ctx, size=int(bdm["volume_size"]), name=None,
                    image_id=bdm.get("uuid") if source == "image" else None,
                    snapshot_id=bdm.get("uuid") if source == "snapshot" else None,
                    volume_type=bdm.get("volume_type"))
                vid, made = vol.id, True
                found = api.wait_for_status(ctx, vid, {"available"}, timeout)
                if found.status != "available":
                    api.delete_volume(ctx, vid)
                    raise RuntimeError(f"volume {vid} went to {found.status}")
            try:
                api.reserve(ctx, vid)
            except Exception:
                if made:
                    api.delete_volume(ctx, vid)
                raise
            device = _device(bdm, used)
            used.add(device)
            try:
                conn_info = api.attach(ctx, vid, uuid, host, device)
            except Exception:
                api.unreserve(ctx, vid)
                if made:
                    api.delete_volume(ctx, vid)
                raise
            item = {**bdm, "volume_id": vid, "device_name": device,
                    "connection_info": conn_info, "created": made}
            done.append(item)
            out.append(item)
    except Exception as exc:
        for item in done:
            release(api, uuid, [dict(item, delete_on_termination=item["created"] and
                                     item.get("delete_on_termination"))])
        return bdms, f"{type(exc).__name__}: {exc}" if not str(exc) else str(exc)
    return out, None
