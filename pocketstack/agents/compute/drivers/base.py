"""The hypervisor driver protocol every compute agent drives.

A driver owns hypervisor-native objects and never lets their ids escape: everything is keyed
by the instance uuid. Contract (the fake driver documents it by example):

* ``spawn`` either leaves a running guest or nothing at all (it cleans up after a failure);
* ``destroy`` of an unknown instance succeeds (deletes are retried after crashes);
* every other per-guest operation on an unknown instance raises :class:`InstanceNotFound`;
* ``list_instances`` reports the guests the hypervisor really has with their *real* power
  state (a guest that died on its own shows ``SHUTDOWN`` or ``CRASHED``);
* ``inventory`` reports the host's total capacity; placement does the accounting.

Methods may be ``async def`` or plain ``def``: the agent awaits the first and runs the second
in a worker thread, so blocking hypervisor calls never stall the agent's event loop. A driver
is built by a factory registered under the ``pocketstack.compute_drivers`` entry-point group,
called with one :class:`DriverContext` (see :mod:`pocketstack.agents.compute.drivers.loader`).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from pocketstack.agents.compute.drivers.spec import (
    BlockDevices,
    ImageSource,
    InstanceSpec,
    NetworkInterface,
    VolumeConnection,
)

if TYPE_CHECKING:
    from pocketstack.config import Settings

__all__ = ["BlockDevices", "ImageSource", "InstanceSpec", "NetworkInterface",
           "VolumeConnection", "Driver", "DriverContext", "DriverError", "InstanceNotFound",
           "HostInventory", "AgentCrash", "ConsoleTarget", "ConsoleUnavailable",
           "InstanceNotReady", "MovedDisks"]

# power_state values, as Nova reports them in OS-EXT-STS:power_state
NOSTATE, RUNNING, PAUSED, SHUTDOWN, CRASHED, SUSPENDED = 0, 1, 3, 4, 6, 7


class DriverError(Exception):
    """The hypervisor refused or failed an operation."""


class InstanceNotFound(DriverError):
    pass


class ConsoleUnavailable(DriverError):
    """The driver or host cannot give this kind of remote console (Nova's
    ConsoleTypeUnavailable: the API answers 400 ``Unavailable console type X.``)."""


class InstanceNotReady(DriverError):
    """The guest exists but cannot serve a console now (not running: the API answers 409)."""


@dataclass(frozen=True)
class ConsoleTarget:
    """Where a compute host's console proxy reaches a guest's console: a UNIX socket
    (``path``) or a TCP port on the host's loopback (``port``)."""

    path: str | None = None
    port: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "port": self.port}


def read_record(instance_dir: Path, host: str) -> dict[str, Any]:
    """A guest's ``instance.json`` in its instance directory (InstanceNotFound without it)."""
    try:
        data: dict[str, Any] = json.loads((instance_dir / "instance.json").read_text())
    except (FileNotFoundError, NotADirectoryError, json.JSONDecodeError):
        raise InstanceNotFound(
            f"Instance {instance_dir.name} could not be found on {host}.") from None
    return data


def write_record(instance_dir: Path, record: dict[str, Any]) -> None:
    """Replace a guest's ``instance.json`` in one step (a crash leaves the old or the new)."""
    path = instance_dir / "instance.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(record, indent=1))
    os.replace(tmp, path)


class AgentCrash(BaseException):
    """Raised by a driver to make its agent die on the spot, mid-operation, as a real agent
    process killed by the kernel would: no report, no more heartbeats (the fake driver's
    ``crash`` failure mode). A ``BaseException`` so that no ``except Exception`` swallows it."""


@dataclass(frozen=True)
class DriverContext:
    """What a driver factory is given: the host it serves, the process settings, and a
    directory of its own that survives restarts (``STATE/hypervisors/<host>``)."""

    host: str
    settings: Settings
    state_dir: Path


@dataclass(frozen=True)
class MovedDisks:
    """Where a guest's disks are for its cold migration or resize to this host (the optional
    ``spawn_moved(spec, moved)``): ``local``, the guest's instance directory on its source
    host, on this machine and readable here (copy from it); otherwise a staging directory of
    this host holding what the source's agent sent over the bus (``disk``, ``disk.eph0``:
    qcow2 files with the source's own clusters, whose backing file names the source's base,
    or standalone), to be taken over (see :mod:`pocketstack.agents.compute.disk_move`)."""

    directory: Path
    local: bool


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
    """Hypervisor operations (see the module docstring for the contract).

    Declared ``async`` here; a driver may implement any of them as plain methods instead.
    ``rebuild`` is optional: without it the agent rebuilds by ``destroy`` + ``spawn``.
    Nova's assisted volume snapshots are optional too (without them the agent refuses the
    calls): ``volume_snapshot_create(uuid, volume_id, create_info)`` snapshots an attached
    file-based volume into the qcow2 overlay ``create_info["new_file"]``;
    ``volume_snapshot_delete(uuid, volume_id, snapshot_id, delete_info)`` merges one away
    (deleting a snapshot the guest does not have succeeds).
    A driver whose guests keep disks on the host may move them on a cold migration or
    resize: ``export_disks(uuid, staging, flatten)`` (source side) writes each of the guest's
    disks to move into ``staging`` (qcow2: its own clusters over its base, or standalone when
    ``flatten`` or it has none) and answers ``{name: {"backing": "image"|"ephemeral"|None}}``;
    ``spawn_moved(spec, moved)`` (destination side) is ``spawn`` with the disks of
    :class:`MovedDisks` instead of new ones. Without them a move spawns a new guest.
    """

    capabilities: dict[str, bool]

    async def inventory(self) -> HostInventory: ...

    async def list_instances(self) -> dict[str, int]:  # uuid -> power_state
        ...

    async def spawn(self, spec: InstanceSpec) -> None:
        """Build and start a guest. ``spec.image.path`` is a readable file with the image's
        bytes on this host (or ``None`` when the image has no data)."""
        ...

    async def destroy(self, uuid: str) -> None: ...

    async def power_off(self, uuid: str) -> None: ...

    async def power_on(self, uuid: str) -> None: ...

    async def reboot(self, uuid: str, hard: bool) -> None: ...

    async def pause(self, uuid: str) -> None: ...

    async def unpause(self, uuid: str) -> None: ...

    async def suspend(self, uuid: str) -> None: ...

    async def resume(self, uuid: str) -> None: ...

    async def rescue(self, spec: InstanceSpec) -> None:
        """Boot the guest from ``spec.rescue_image`` with its own root disk attached second."""
        ...

    async def unrescue(self, uuid: str) -> None:
        """Back from rescue: boot the guest's own root disk again."""
        ...

    async def power_state(self, uuid: str) -> int: ...

    async def console_output(self, uuid: str) -> str: ...

    async def get_console(self, uuid: str, kind: str) -> ConsoleTarget:
        """Where the guest's interactive console of ``kind`` (``serial`` or ``vnc``) is:
        ConsoleUnavailable when this driver or host has none of that kind, InstanceNotReady
        when the guest does not run. Optional: the agent refuses consoles of a driver
        without it."""
        ...

    async def resize(self, spec: InstanceSpec) -> None: ...

    async def set_admin_password(self, uuid: str, password: str) -> None:
        """Set the guest's administrator password (Nova's changePassword)."""
        ...

    async def info(self, uuid: str) -> dict[str, Any]:
        """Power state, size and devices of one guest (InstanceNotFound if absent)."""
        ...

    async def snapshot(self, uuid: str) -> dict[str, Any]:
        """Capture the guest's root disk; returns where the data is ({"path"} or
        {"image_id"} for a disk still identical to its base image)."""
        ...

    async def attach_volume(self, uuid: str, volume: VolumeConnection) -> str:
        """Attach a volume; returns the device name it got (e.g. /dev/vdb)."""
        ...

    async def detach_volume(self, uuid: str, volume_id: str) -> None: ...

    async def plug_vif(self, uuid: str, vif: NetworkInterface) -> None:
        """Connect a virtual NIC to the guest and to the data plane."""
        ...

    async def unplug_vif(self, uuid: str, port_id: str) -> None: ...

