"""The hypervisor driver protocol every compute agent drives.

A driver owns hypervisor-native objects and never lets their ids escape: everything is keyed
by the instance uuid. Contract (the fake driver documents it by example):

* ``spawn`` either leaves a running guest or nothing at all (it cleans up after a failure);
* ``destroy`` of an unknown instance succeeds (deletes are retried after crashes);
* power operations on an unknown instance raise :class:`InstanceNotFound`;
* ``inventory`` reports the host's total capacity; placement does the accounting.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

# power_state values, as Nova reports them in OS-EXT-STS:power_state
NOSTATE, RUNNING, PAUSED, SHUTDOWN, CRASHED, SUSPENDED = 0, 1, 3, 4, 6, 7


class DriverError(Exception):
    """The hypervisor refused or failed an operation."""


class InstanceNotFound(DriverError):
    pass


@dataclass
class InstanceSpec:
    """What a driver needs to build a guest."""

    uuid: str
    name: str  # instance-%08x
    vcpus: int
    memory_mb: int
    root_gb: int
    image: dict[str, Any] = field(default_factory=dict)  # id, disk_format, path, ...
    metadata: dict[str, Any] = field(default_factory=dict)
    user_data: str | None = None
    key_data: str | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> InstanceSpec:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


@dataclass
class HostInventory:
    hypervisor_hostname: str
    hypervisor_type: str
    hypervisor_version: int
    vcpus: int
    memory_mb: int
    local_gb: int
    cpu_info: dict[str, Any] = field(default_factory=dict)
    host_ip: str | None = None


class Driver(Protocol):
    """Async hypervisor operations (see the module docstring for the contract)."""

    capabilities: dict[str, bool]

    async def inventory(self) -> HostInventory: ...

    async def list_instances(self) -> dict[str, int]:  # uuid -> power_state
        ...

    async def spawn(self, spec: InstanceSpec) -> None: ...

    async def destroy(self, uuid: str) -> None: ...

    async def power_off(self, uuid: str) -> None: ...

    async def power_on(self, uuid: str) -> None: ...

    async def reboot(self, uuid: str, hard: bool) -> None: ...

    async def pause(self, uuid: str) -> None: ...

    async def unpause(self, uuid: str) -> None: ...

    async def suspend(self, uuid: str) -> None: ...

    async def resume(self, uuid: str) -> None: ...

    async def power_state(self, uuid: str) -> int: ...

    async def console_output(self, uuid: str) -> str: ...

    async def resize(self, spec: InstanceSpec) -> None: ...

    async def info(self, uuid: str) -> dict[str, Any]:
        """Power state, size and devices of one guest (InstanceNotFound if absent)."""
        ...

    async def snapshot(self, uuid: str) -> dict[str, Any]:
        """Capture the guest's root disk; returns where the data is ({"path"} or
        {"image_id"} for a disk still identical to its base image)."""
        ...

    async def attach_volume(self, uuid: str, volume_id: str, device: str | None) -> str:
        """Attach a volume; returns the device name it got (e.g. /dev/vdb)."""
        ...

    async def detach_volume(self, uuid: str, volume_id: str) -> None: ...

    async def plug_vif(self, uuid: str, vif: dict[str, Any]) -> None:
        """Connect a virtual NIC ({"id", "address" (MAC), "network_id", ...})."""
        ...

    async def unplug_vif(self, uuid: str, vif_id: str) -> None: ...
