"""The spawn spec the conductor sends a compute host, and the image bytes it serves them.

:func:`spawn_spec` turns an instance row and a flavor into an
:class:`~pocketstack.agents.compute.drivers.spec.InstanceSpec` (as a dict for the bus): the
image source (with the image service's file path when its store is local), the flavor's
disks, the network interfaces (none until networking exists) and volume connections (none
until a volume service exists). :func:`task_message` adds a spec to the tasks whose driver
call needs one (rescue, rebuild). :func:`image_chunk` answers an agent that streams an image
into its cache (``{"op": "image_chunk"}`` calls, see :mod:`pocketstack.agents.compute.images`).

The image service is reached only through its public interface
(:class:`pocketstack.image.interface.ImageAPI`: ``get_image_for_boot`` with the conductor's
own admin context — its ``path`` when the store is local — and ``open_image``).
"""

from __future__ import annotations

import base64
import re
from typing import TYPE_CHECKING, Any

from pocketstack.agents.compute.drivers.spec import (
    BlockDevices,
    ImageSource,
    InstanceSpec,
    NetworkInterface,
    VolumeConnection,
)
from pocketstack.common import exceptions
from pocketstack.common.context import RequestContext
from pocketstack.compute.domain import instances

if TYPE_CHECKING:
    from pocketstack.compute.conductor.conductor import Conductor

RESCUE_IMAGE_HINT = "_rescue_image"  # internal scheduler hint set by the rescue API
IMAGE_HINT = "_image"  # internal scheduler hint: the boot image's facts, set by the API
VIFS = "_vifs"  # internal: the instance's bound ports (NetworkAPI Vifs as dicts)
MAX_CHUNK = 4 << 20


def _boot_image(conductor: Conductor, image_id: str) -> Any:
    if conductor.images is None:
        return None
    try:
        ctx = RequestContext(user_id="nova-conductor", roles=["admin"], system_scope="all")
        return conductor.images.get_image_for_boot(ctx, image_id)
    except (exceptions.NotFound, exceptions.BadRequest):
        return None  # deleted or deactivated since: the host may still have it cached


def image_source(conductor: Conductor, image_id: str | None,
                 known: dict[str, Any] | None = None) -> ImageSource:
    """What a host needs to find an image's bytes (``path`` when they are a local file).
    ``known``: what the API recorded of the image when it accepted the server (an active
    image's facts do not change), which spares a read of the image service per spawn."""
    if not image_id:
        return ImageSource()
    if known and known.get("id") == image_id:
        return ImageSource(**{k: v for k, v in known.items()
                              if k in ImageSource.__dataclass_fields__})
    image = _boot_image(conductor, image_id)
    if image is None:
        return ImageSource(id=image_id)
    path = image.path  # set when the image store is local to this cloud
    return ImageSource(
        id=image.id, name=image.name, disk_format=image.disk_format,
        container_format=image.container_format, size=image.size,
        virtual_size=image.virtual_size, properties=dict(image.properties), path=path)


def _hostname(row: dict[str, Any]) -> str:
    if row.get("hostname"):
        return str(row["hostname"])
    name = re.sub(r"[^a-z0-9-]+", "-", str(row.get("display_name") or "").lower()).strip("-")
    return name[:63] or instances.instance_name(row)


def vif_interface(vif: dict[str, Any]) -> NetworkInterface:
    """A bound port (a NetworkAPI ``Vif`` as a dict) as the driver plugs it."""
    details = dict(vif.get("vif_details") or {})
    bridge = details.get("bridge_name")
    if bridge is None:  # linuxbridge names a network's bridge brq + 11 chars of its id
        bridge = "br-int" if vif.get("vif_type") == "ovs" else \
            f"brq{str(vif.get('network_id'))[:11]}"
    return NetworkInterface(
        port_id=vif["port_id"], mac_address=vif["mac_address"],
        network_id=vif.get("network_id"), mtu=vif.get("mtu"),
        network_type=vif.get("network_type"), segmentation_id=vif.get("segmentation_id"),
        vif_type=vif.get("vif_type") or "bridge", bridge=bridge, vif_details=details,
        fixed_ips=[{"ip_address": f["address"], "version": f["version"],
                    "subnet_id": f["subnet_id"], "cidr": f["cidr"], "gateway": f["gateway"]}
                   for f in vif.get("fixed_ips") or []])


def volume_connections(row: dict[str, Any]) -> list[VolumeConnection]:
    """The volumes the spawn spec carries (boot index 0: the root)."""
    out = []
    for bdm in row["block_devices"] or []:
        if not bdm.get("volume_id") or bdm.get("pending") == "attach":
            continue  # not attached yet (the attach task plugs it)
        info = dict(bdm.get("connection_info") or {})
        boot = bdm.get("boot_index")
        out.append(VolumeConnection(
            volume_id=str(bdm["volume_id"]), device_name=bdm.get("device_name"),
            boot_index=None if boot in (None, "", "none") else int(boot),
            driver_volume_type=str(info.get("driver_volume_type") or "local"),
            connection_info=info,
            delete_on_termination=bool(bdm.get("delete_on_termination"))))
    return out


def network_interfaces(row: dict[str, Any]) -> list[NetworkInterface]:
    """The instance's bound ports as the driver plugs them (recorded when they were bound)."""
    return [vif_interface(v) for v in (row["scheduler_hints"] or {}).get(VIFS) or []]


def spawn_spec(conductor: Conductor, row: dict[str, Any], flavor: dict[str, Any],
               rescue_image_id: str | None = None,
               image_id: str | None = None) -> dict[str, Any]:
    """The spec (as a bus dict) to build ``row`` with ``flavor`` (from ``image_id`` rather
    than the server's own image: unshelve boots from the shelved snapshot)."""
    spec = InstanceSpec(
        uuid=row["uuid"], name=instances.instance_name(row), vcpus=int(flavor["vcpus"]),
        memory_mb=int(flavor["ram"]), root_gb=int(flavor["disk"]),
        image=image_source(conductor, image_id or row["image_ref"],
                           (row["scheduler_hints"] or {}).get(IMAGE_HINT)),
        metadata=dict(row["metadata"] or {}), user_data=row["user_data"],
        key_data=row["key_data"], key_name=row.get("key_name"), hostname=_hostname(row),
        config_drive=str(row.get("config_drive") or "").lower() == "true",
        flavor_name=flavor.get("name"),
        extra_specs={str(k): str(v) for k, v in (flavor.get("extra_specs") or {}).items()},
        network_interfaces=network_interfaces(row),
        block_devices=BlockDevices(root_gb=int(flavor["disk"]),
                                   ephemeral_gb=int(flavor.get("ephemeral") or 0),
                                   swap_mb=int(flavor.get("swap") or 0),
                                   volumes=volume_connections(row)),
    )
    if rescue_image_id is not None:
        spec.rescue_image = image_source(conductor, rescue_image_id)
    return spec.to_dict()


def task_message(conductor: Conductor, row: dict[str, Any], op: str) -> dict[str, Any]:
    """The message for a task on ``row``'s host; rescue and rebuild carry a spec."""
    msg: dict[str, Any] = {"op": op, "uuid": row["uuid"]}
    if op == "rescue":
        rescue = (row["scheduler_hints"] or {}).get(RESCUE_IMAGE_HINT) or row["image_ref"]
        msg["spec"] = spawn_spec(conductor, row, row["flavor"], rescue_image_id=rescue)
    elif op == "rebuild":
        msg["spec"] = spawn_spec(conductor, row, row["flavor"])
    return msg


def image_chunk(conductor: Conductor, msg: dict[str, Any]) -> dict[str, Any]:
    """Up to ``length`` bytes of an image from ``offset``, base64 in ``data`` (the bus speaks
    JSON; empty at the end); ``{"error", "missing": True}`` when the image has no data."""
    image_id = str(msg.get("image_id") or "")
    try:
        offset = max(0, int(msg.get("offset") or 0))
        length = min(MAX_CHUNK, max(1, int(msg.get("length") or MAX_CHUNK)))
    except (TypeError, ValueError):
        return {"error": "offset and length must be integers"}
    image = _boot_image(conductor, image_id) if image_id else None
    if image is None or not image.location:
        return {"error": f"image {image_id} has no data", "missing": True}
    try:
        data = b"".join(conductor.images.open_image(image.id, offset, length))
    except (exceptions.NotFound, exceptions.Conflict) as exc:
        return {"error": str(exc), "missing": True}
    return {"data": base64.b64encode(data).decode("ascii"), "size": image.size}
