"""The spawn spec: everything a hypervisor driver is told about a guest it must build.

The conductor assembles it (:mod:`pocketstack.compute.conductor.spec`), the bus carries it as
a plain dict (``to_dict``), the agent rebuilds it (``from_dict``), resolves the image to a file
on its own host and hands it to the driver. Every part is a small typed dataclass:

* :class:`ImageSource` — which image, its format, and where its bytes are (``path``);
* :class:`NetworkInterface` — one virtual NIC as the data plane expects it;
* :class:`BlockDevices` — local disks from the flavor and attached volumes;
* :class:`InstanceSpec` — the guest itself.

``from_dict`` is lenient: unknown keys are ignored and missing ones take their defaults, so a
spec written by an older conductor (or kept in a fake hypervisor's state file) still loads.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any


def _known(cls: type, data: dict[str, Any]) -> dict[str, Any]:
    names = {f.name for f in fields(cls)}
    return {k: v for k, v in data.items() if k in names}


@dataclass
class ImageSource:
    """An image a guest boots (or is rescued) from.

    ``path`` is a file with the image's bytes readable on the host that builds the guest: the
    conductor sets it to the image service's file when the store is local, and the agent
    replaces it with its per-host cache (``instances/_base/<sha1 of id>``) when that file is
    not there (see :mod:`pocketstack.agents.compute.images`). ``None`` means no data (an image
    whose data is gone; a driver that needs bytes fails the spawn).
    """

    id: str | None = None
    name: str | None = None
    disk_format: str | None = None
    container_format: str | None = None
    size: int | None = None
    virtual_size: int | None = None
    checksum: str | None = None  # md5, as Glance reports it
    properties: dict[str, str] = field(default_factory=dict)
    path: str | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> ImageSource:
        data = dict(data or {})
        data["properties"] = dict(data.get("properties") or {})
        return cls(**_known(cls, data))


@dataclass
class NetworkInterface:
    """One virtual NIC, as the data plane (bridge, OVS, tap) expects it (Nova's VIF)."""

    port_id: str
    mac_address: str
    network_id: str | None = None
    mtu: int | None = None
    network_type: str | None = None  # flat, vlan, vxlan, geneve, local
    segmentation_id: int | None = None
    vif_type: str = "tap"  # tap, bridge, ovs, vhostuser
    devname: str | None = None  # the tap device, e.g. tap + first 11 chars of the port id
    bridge: str | None = None  # the bridge the tap is plugged into, if any
    vif_details: dict[str, Any] = field(default_factory=dict)
    fixed_ips: list[dict[str, Any]] = field(default_factory=list)  # {"ip_address", ...}

    def __post_init__(self) -> None:
        if self.devname is None:
            self.devname = f"tap{self.port_id[:11]}"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NetworkInterface:
        return cls(**_known(cls, data))


@dataclass
class VolumeConnection:
    """A volume attached to the guest and how the host reaches it (Cinder's connection_info:
    ``driver_volume_type`` iscsi/rbd/nfs/local, ``data`` the protocol's details)."""

    volume_id: str
    device_name: str | None = None  # /dev/vdb
    boot_index: int | None = None  # 0: the guest boots from this volume
    driver_volume_type: str = "local"
    connection_info: dict[str, Any] = field(default_factory=dict)
    delete_on_termination: bool = False

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> VolumeConnection:
        return cls(**_known(cls, data))


@dataclass
class BlockDevices:
    """The guest's disks: local ones sized by the flavor, and volumes."""

    root_gb: int = 0  # 0: the image's own virtual size
    ephemeral_gb: int = 0
    swap_mb: int = 0
    root_device_name: str = "/dev/vda"
    volumes: list[VolumeConnection] = field(default_factory=list)

    def boot_volume(self) -> VolumeConnection | None:
        """The volume the guest boots from (a volume-backed guest), if any."""
        return next((v for v in self.volumes if v.boot_index == 0), None)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> BlockDevices:
        data = dict(data or {})
        data["volumes"] = [VolumeConnection.from_dict(v) for v in data.get("volumes") or []]
        return cls(**_known(cls, data))


@dataclass
class InstanceSpec:
    """What a driver needs to build (or rebuild, resize, rescue) a guest."""

    uuid: str
    name: str  # instance-%08x, the hypervisor-side name
    vcpus: int
    memory_mb: int
    root_gb: int
    image: ImageSource = field(default_factory=ImageSource)
    metadata: dict[str, Any] = field(default_factory=dict)
    user_data: str | None = None
    key_data: str | None = None
    key_name: str | None = None
    hostname: str | None = None
    config_drive: bool = False  # the user asked for one (``--config-drive true``)
    flavor_name: str | None = None
    extra_specs: dict[str, str] = field(default_factory=dict)
    network_interfaces: list[NetworkInterface] = field(default_factory=list)
    block_devices: BlockDevices = field(default_factory=BlockDevices)
    rescue_image: ImageSource | None = None  # set for a rescue

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> InstanceSpec:
        values = _known(cls, data)
        values["image"] = ImageSource.from_dict(data.get("image"))
        values["network_interfaces"] = [NetworkInterface.from_dict(n)
                                        for n in data.get("network_interfaces") or []]
        values["block_devices"] = BlockDevices.from_dict(
            data.get("block_devices") or {"root_gb": data.get("root_gb", 0)})
        if data.get("rescue_image") is not None:
            values["rescue_image"] = ImageSource.from_dict(data["rescue_image"])
        return cls(**values)
