"""A fake (in-memory) hypervisor — and, by example, the semantics of a real driver.

It keeps guests in a dict and enforces its own capacity (vCPUs × cpu ratio, memory, disk), so
a scheduler bug that over-commits a host fails here the way it would on real hardware. It can
be told to fail: an instance whose metadata has ``fake:fail_spawn`` fails to spawn (after which
nothing is left of it), and ``fake:spawn_delay`` (seconds) slows a spawn down.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pocketstack.agents.compute.drivers.base import (
    PAUSED,
    RUNNING,
    SHUTDOWN,
    SUSPENDED,
    DriverError,
    HostInventory,
    InstanceNotFound,
    InstanceSpec,
)


@dataclass
class _Guest:
    spec: InstanceSpec
    power_state: int = RUNNING
    console: list[str] = field(default_factory=list)
    volumes: dict[str, str] = field(default_factory=dict)  # volume id -> device
    vifs: dict[str, dict[str, Any]] = field(default_factory=dict)
    booted_at: float = field(default_factory=time.time)


class FakeDriver:
    """An in-memory hypervisor with capacity."""

    capabilities = {"supports_pause": True, "supports_suspend": True, "supports_resize": True,
                    "supports_attach_volume": True, "supports_attach_interface": True,
                    "supports_console_output": True, "supports_snapshot": True}

    def __init__(self, hostname: str, vcpus: int = 8, memory_mb: int = 16384,
                 local_gb: int = 200, cpu_ratio: float = 16.0, ram_ratio: float = 1.5,
                 disk_ratio: float = 1.0, state_path: Path | None = None) -> None:
        self.hostname = hostname
        self.vcpus, self.memory_mb, self.local_gb = vcpus, memory_mb, local_gb
        self.limits = (vcpus * cpu_ratio, memory_mb * ram_ratio, local_gb * disk_ratio)
        self.guests: dict[str, _Guest] = {}
        # Like a real hypervisor, guests outlive the agent: with a state file they survive a
        # restart of the process (the file plays the part of the host).
        self.state_path = state_path
        if state_path is not None and state_path.exists():
            for uuid, data in json.loads(state_path.read_text()).items():
                self.guests[uuid] = _Guest(
                    InstanceSpec.from_dict(data["spec"]), data["power_state"],
                    data["console"], data["volumes"], data["vifs"], data["booted_at"])

    def _save(self) -> None:
        if self.state_path is None:
            return
        data = {uuid: {"spec": asdict(g.spec), "power_state": g.power_state,
                       "console": g.console[-50:], "volumes": g.volumes, "vifs": g.vifs,
                       "booted_at": g.booted_at} for uuid, g in self.guests.items()}
        tmp = self.state_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data))
        os.replace(tmp, self.state_path)

    async def inventory(self) -> HostInventory:
        return HostInventory(
            hypervisor_hostname=self.hostname, hypervisor_type="fake", hypervisor_version=1000,
            vcpus=self.vcpus, memory_mb=self.memory_mb, local_gb=self.local_gb,
            cpu_info={"arch": "x86_64", "model": "fake", "vendor": "pocketstack",
                      "topology": {"cores": self.vcpus, "threads": 1, "sockets": 1}},
            host_ip="127.0.0.1")

    async def list_instances(self) -> dict[str, int]:
        return {uuid: g.power_state for uuid, g in self.guests.items()}

    def _used(self) -> tuple[int, int, int]:
        specs = [g.spec for g in self.guests.values()]
        return (sum(s.vcpus for s in specs), sum(s.memory_mb for s in specs),
                sum(s.root_gb for s in specs))

    def _guest(self, uuid: str) -> _Guest:
        guest = self.guests.get(uuid)
        if guest is None:
            raise InstanceNotFound(f"Instance {uuid} could not be found on {self.hostname}.")
        return guest

    async def spawn(self, spec: InstanceSpec) -> None:
        delay = float(spec.metadata.get("fake:spawn_delay", 0) or 0)
        if delay:
            await asyncio.sleep(delay)
        if spec.metadata.get("fake:fail_spawn"):
            raise DriverError(f"{self.hostname}: spawn failed (fake:fail_spawn).")
        if spec.uuid in self.guests:
            return  # idempotent: a retried spawn of a running guest is a no-op
        cpu, ram, disk = self._used()
        max_cpu, max_ram, max_disk = self.limits
        if cpu + spec.vcpus > max_cpu or ram + spec.memory_mb > max_ram or \
                disk + spec.root_gb > max_disk:
            raise DriverError(f"{self.hostname}: hypervisor out of capacity "
                              f"(would use {cpu + spec.vcpus} vCPU, {ram + spec.memory_mb} MB, "
                              f"{disk + spec.root_gb} GB).")
        self.guests[spec.uuid] = _Guest(spec, console=[
            f"[    0.000000] Booting {spec.name} on fake hypervisor {self.hostname}",
            f"[    0.100000] {spec.vcpus} vCPU, {spec.memory_mb} MB RAM, {spec.root_gb} GB disk",
            f"{spec.name} login:",
        ])
        self._save()

    async def destroy(self, uuid: str) -> None:
        if self.guests.pop(uuid, None) is not None:
            self._save()

    def _set(self, uuid: str, state: int, line: str) -> None:
        guest = self._guest(uuid)
        guest.power_state = state
        guest.console.append(line)
        self._save()

    async def power_off(self, uuid: str) -> None:
        self._set(uuid, SHUTDOWN, "reboot: Power down")

    async def power_on(self, uuid: str) -> None:
        self._set(uuid, RUNNING, "[    0.000000] Booting (power on)")

    async def reboot(self, uuid: str, hard: bool) -> None:
        self._set(uuid, RUNNING, f"[    0.000000] Booting ({'hard' if hard else 'soft'} reboot)")

    async def pause(self, uuid: str) -> None:
        self._set(uuid, PAUSED, "(paused)")

    async def unpause(self, uuid: str) -> None:
        self._set(uuid, RUNNING, "(unpaused)")

    async def suspend(self, uuid: str) -> None:
        self._set(uuid, SUSPENDED, "PM: suspend entry")

    async def resume(self, uuid: str) -> None:
        self._set(uuid, RUNNING, "PM: resume")

    async def power_state(self, uuid: str) -> int:
        return self._guest(uuid).power_state

    async def console_output(self, uuid: str) -> str:
        return "\n".join(self._guest(uuid).console) + "\n"

    async def resize(self, spec: InstanceSpec) -> None:
        guest = self._guest(spec.uuid)
        old = guest.spec
        guest.spec = spec
        cpu, ram, disk = self._used()
        max_cpu, max_ram, max_disk = self.limits
        if cpu > max_cpu or ram > max_ram or disk > max_disk:
            guest.spec = old
            raise DriverError(f"{self.hostname}: not enough capacity to resize.")
        guest.console.append(f"resized to {spec.vcpus} vCPU, {spec.memory_mb} MB")
        self._save()

    async def info(self, uuid: str) -> dict[str, Any]:
        guest = self._guest(uuid)
        return {"power_state": guest.power_state, "vcpus": guest.spec.vcpus,
                "memory_mb": guest.spec.memory_mb, "root_gb": guest.spec.root_gb,
                "volumes": dict(guest.volumes), "vifs": sorted(guest.vifs),
                "uptime": time.time() - guest.booted_at}

    async def snapshot(self, uuid: str) -> dict[str, Any]:
        """The fake keeps no disk contents: a snapshot is its base image's data."""
        guest = self._guest(uuid)
        return {"image_id": guest.spec.image.get("id")}

    async def attach_volume(self, uuid: str, volume_id: str, device: str | None) -> str:
        guest = self._guest(uuid)
        if volume_id in guest.volumes:
            return guest.volumes[volume_id]
        used = set(guest.volumes.values()) | {"/dev/vda"}
        if device in used:
            raise DriverError(f"{device} is already in use on {uuid}.")
        if device is None:
            device = next(f"/dev/vd{c}" for c in "bcdefghijklmnopqrstuvwxyz"
                          if f"/dev/vd{c}" not in used)
        guest.volumes[volume_id] = device
        self._save()
        return device

    async def detach_volume(self, uuid: str, volume_id: str) -> None:
        self._guest(uuid).volumes.pop(volume_id, None)
        self._save()

    async def plug_vif(self, uuid: str, vif: dict[str, Any]) -> None:
        self._guest(uuid).vifs[vif["id"]] = dict(vif)
        self._save()

    async def unplug_vif(self, uuid: str, vif_id: str) -> None:
        self._guest(uuid).vifs.pop(vif_id, None)
        self._save()
