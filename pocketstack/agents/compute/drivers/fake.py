"""A fake (in-memory) hypervisor — and, by example, the semantics of a real driver.

It keeps guests in a dict and enforces its own capacity (vCPUs × cpu ratio, memory, disk), so
a scheduler bug that over-commits a host fails here the way it would on real hardware. With a
state file its guests outlive the agent process, as a real hypervisor's do.

It can be told to fail, to rehearse what the cloud does when a hypervisor misbehaves: the
``fake_fail`` setting (``--fake-fail``) is a comma-separated list of ``MODE[=SECONDS][@HOST]``
(without ``@HOST`` a mode applies to every host):

* ``spawn`` — every spawn fails (and leaves nothing behind, as the contract says);
* ``hang`` — a spawn never returns;
* ``crash`` — a spawn starts (a half-built guest is left on the host), then the agent dies;
* ``guest_dies=N`` — spawns succeed, but each guest shuts down on its own N seconds after it
  booted (``list_instances`` reports it ``SHUTDOWN``);
* ``spawn_delay=N`` — every spawn takes N seconds;
* ``attach`` — every volume attach fails;
* ``attach_delay=N`` — every volume attach takes N seconds (longer than the conductor's
  ``volume_attach_timeout``: a hung attach);
* ``live_migration`` — every live migration *from* the host fails mid-way (the guest stays);
* ``live_migration_delay=N`` — every live migration from the host takes N seconds.

Live migration moves a guest in memory: the destination reserves room for it
(``pre_live_migration``), the source hands over its whole state (power state, console, devices)
and forgets it (``live_migration``, which ``live_migration_abort`` stops while it waits out
``live_migration_delay``), and the destination adopts that state
(``post_live_migration_at_destination``) — the state travels in the conductor's messages.

For compatibility the per-instance metadata keys ``fake:fail_spawn`` and ``fake:spawn_delay``
still work; ``fake_fail`` is the way to select a failure without touching the servers.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pocketstack.agents.compute.drivers.base import (
    NOSTATE,
    PAUSED,
    RUNNING,
    SHUTDOWN,
    SUSPENDED,
    AgentCrash,
    ConsoleTarget,
    DriverContext,
    DriverError,
    HostInventory,
    InstanceNotFound,
    InstanceNotReady,
    InstanceSpec,
    NetworkInterface,
    VolumeConnection,
)

FAIL_MODES = ("spawn", "hang", "crash", "guest_dies", "spawn_delay", "attach", "attach_delay",
              "live_migration", "live_migration_delay")
_TIMED = ("guest_dies", "spawn_delay", "attach_delay", "live_migration_delay")


@dataclass(frozen=True)
class FailureModes:
    """The failures one fake host is told to produce (see the module docstring)."""

    fail_spawn: bool = False
    hang: bool = False
    crash: bool = False
    guest_dies_after: float | None = None
    spawn_delay: float = 0.0
    fail_attach: bool = False
    attach_delay: float = 0.0
    fail_live_migration: bool = False
    live_migration_delay: float = 0.0

    @classmethod
    def parse(cls, text: str, host: str) -> FailureModes:
        """Parse a ``fake_fail`` value, keeping the entries that apply to ``host``."""
        values: dict[str, Any] = {}
        for raw in (text or "").split(","):
            entry = raw.strip()
            if not entry:
                continue
            entry, _, on_host = entry.partition("@")
            mode, eq, arg = entry.partition("=")
            mode = mode.strip()
            if mode not in FAIL_MODES:
                raise ValueError(f"fake_fail: unknown mode {mode!r} in {raw.strip()!r}; "
                                 f"modes: {', '.join(FAIL_MODES)}")
            seconds = None
            if mode in _TIMED:
                try:
                    seconds = float(arg)
                except ValueError:
                    raise ValueError(f"fake_fail: {mode} needs seconds, e.g. {mode}=5 "
                                     f"(got {raw.strip()!r})") from None
                if seconds < 0:
                    raise ValueError(f"fake_fail: {mode} seconds must be 0 or more")
            elif eq:
                raise ValueError(f"fake_fail: {mode} takes no value (got {raw.strip()!r})")
            if on_host and on_host.strip() != host:
                continue
            if mode == "spawn":
                values["fail_spawn"] = True
            elif mode == "guest_dies":
                values["guest_dies_after"] = seconds
            elif mode == "spawn_delay":
                values["spawn_delay"] = seconds
            elif mode == "attach_delay":
                values["attach_delay"] = seconds
            elif mode == "attach":
                values["fail_attach"] = True
            elif mode == "live_migration":
                values["fail_live_migration"] = True
            elif mode == "live_migration_delay":
                values["live_migration_delay"] = seconds
            else:
                values[mode] = True
        return cls(**values)


@dataclass
class _Guest:
    spec: InstanceSpec
    power_state: int = RUNNING
    console: list[str] = field(default_factory=list)
    volumes: dict[str, str] = field(default_factory=dict)  # volume id -> device
    vifs: dict[str, dict[str, Any]] = field(default_factory=dict)  # port id -> interface
    booted_at: float = field(default_factory=time.time)
    dies_at: float | None = None  # the guest_dies failure mode
    rescue_image: str | None = None  # image id while rescued
    password_sha256: str | None = None  # set by set_admin_password (the hash, not the secret)
    #: assisted volume snapshots: snapshot id -> {"volume_id", "new_file", "type"}
    volume_snapshots: dict[str, dict[str, Any]] = field(default_factory=dict)


async def _rfb_handshake(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                         name: str) -> None:
    """The server side of RFB 3.8 up to ServerInit: version, security type None, a 640x480
    32-bit true-colour desktop called ``name``."""
    writer.write(b"RFB 003.008\n")
    await reader.readexactly(12)  # the client's version
    writer.write(bytes((1, 1)))  # one security type: None
    await reader.readexactly(1)
    writer.write(bytes(4))  # SecurityResult: OK
    await reader.readexactly(1)  # ClientInit (shared flag)
    label = name.encode()
    pixel_format = bytes((32, 24, 0, 1, 0, 255, 0, 255, 0, 255, 16, 8, 0, 0, 0, 0))
    writer.write((640).to_bytes(2, "big") + (480).to_bytes(2, "big") + pixel_format +
                 len(label).to_bytes(4, "big") + label)


class FakeDriver:
    """An in-memory hypervisor with capacity."""

    capabilities = {"supports_pause": True, "supports_suspend": True, "supports_resize": True,
                    "supports_attach_volume": True, "supports_attach_interface": True,
                    "supports_console_output": True, "supports_snapshot": True,
                    "supports_rescue": True, "supports_rebuild": True,
                    "supports_set_admin_password": True, "supports_live_migration": True}

    def __init__(self, hostname: str, vcpus: int = 8, memory_mb: int = 16384,
                 local_gb: int = 200, cpu_ratio: float = 16.0, ram_ratio: float = 1.5,
                 disk_ratio: float = 1.0, state_path: Path | None = None,
                 failures: FailureModes | None = None) -> None:
        self.hostname = hostname
        self.vcpus, self.memory_mb, self.local_gb = vcpus, memory_mb, local_gb
        self.limits = (vcpus * cpu_ratio, memory_mb * ram_ratio, local_gb * disk_ratio)
        self.failures = failures or FailureModes()
        self.guests: dict[str, _Guest] = {}
        self.incoming: dict[str, InstanceSpec] = {}  # live migrations on their way here
        self.aborting: set[str] = set()  # live migrations from here told to stop
        self.completing: set[str] = set()  # ... told to finish now (force complete)
        self._consoles: dict[tuple[str, str], asyncio.Server] = {}  # (uuid, kind) -> listener
        # One small JSON file per guest in ``state_path`` (a directory): an operation writes
        # only the guest it changed, so its cost does not grow with the number of guests.
        self.state_path = state_path
        if state_path is not None:
            state_path.mkdir(parents=True, exist_ok=True)
            for entry in sorted(state_path.glob("*.json")):
                self.guests[entry.stem] = self._load(json.loads(entry.read_text()))

    @staticmethod
    def _load(data: dict[str, Any]) -> _Guest:
        return _Guest(InstanceSpec.from_dict(data["spec"]), data["power_state"],
                      data["console"], data["volumes"], data["vifs"], data["booted_at"],
                      data.get("dies_at"), data.get("rescue_image"),
                      data.get("password_sha256"), data.get("volume_snapshots") or {})

    @staticmethod
    def _dump(guest: _Guest) -> dict[str, Any]:
        return {"spec": guest.spec.to_dict(), "power_state": guest.power_state,
                "console": guest.console[-50:], "volumes": guest.volumes, "vifs": guest.vifs,
                "booted_at": guest.booted_at, "dies_at": guest.dies_at,
                "rescue_image": guest.rescue_image, "password_sha256": guest.password_sha256,
                "volume_snapshots": guest.volume_snapshots}

    def _save(self, uuid: str) -> None:
        """Record one guest as it is now (or its absence, once destroyed)."""
        if self.state_path is None:
            return
        path = self.state_path / f"{uuid}.json"
        guest = self.guests.get(uuid)
        if guest is None:
            path.unlink(missing_ok=True)
            return
        data = self._dump(guest)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data))
        os.replace(tmp, path)

    def _live(self) -> None:
        """Let time pass: a guest due to die (``guest_dies``) shuts down now."""
        now = time.time()
        for uuid, guest in self.guests.items():
            if guest.dies_at is not None and now >= guest.dies_at:
                guest.dies_at = None
                if guest.power_state == RUNNING:
                    guest.power_state = SHUTDOWN
                    guest.console.append("Kernel panic - not syncing: Attempted to kill init!")
                self._save(uuid)

    async def inventory(self) -> HostInventory:
        return HostInventory(
            hypervisor_hostname=self.hostname, hypervisor_type="fake", hypervisor_version=1000,
            vcpus=self.vcpus, memory_mb=self.memory_mb, local_gb=self.local_gb,
            cpu_info={"arch": "x86_64", "model": "fake", "vendor": "pocketstack",
                      "topology": {"cores": self.vcpus, "threads": 1, "sockets": 1}},
            host_ip="127.0.0.1")

    async def list_instances(self) -> dict[str, int]:
        self._live()
        return {uuid: g.power_state for uuid, g in self.guests.items()}

    def _used(self) -> tuple[int, int, int]:
        specs = [g.spec for g in self.guests.values()] + list(self.incoming.values())
        return (sum(s.vcpus for s in specs), sum(s.memory_mb for s in specs),
                sum(s.root_gb for s in specs))

    def _guest(self, uuid: str) -> _Guest:
        self._live()
        guest = self.guests.get(uuid)
        if guest is None:
            raise InstanceNotFound(f"Instance {uuid} could not be found on {self.hostname}.")
        return guest

    async def spawn(self, spec: InstanceSpec) -> None:
        fails = self.failures
        delay = fails.spawn_delay or float(spec.metadata.get("fake:spawn_delay", 0) or 0)
        if delay:
            await asyncio.sleep(delay)
        if fails.hang:
            await asyncio.Event().wait()  # never set: this spawn never returns
        if spec.metadata.get("fake:fail_spawn"):
            raise DriverError(f"{self.hostname}: spawn failed (fake:fail_spawn).")
        if fails.fail_spawn:
            raise DriverError(f"{self.hostname}: spawn failed (fake_fail=spawn).")
        if spec.uuid in self.guests:
            return  # idempotent: a retried spawn of a running guest is a no-op
        cpu, ram, disk = self._used()
        max_cpu, max_ram, max_disk = self.limits
        if cpu + spec.vcpus > max_cpu or ram + spec.memory_mb > max_ram or \
                disk + spec.root_gb > max_disk:
            raise DriverError(f"{self.hostname}: hypervisor out of capacity "
                              f"(would use {cpu + spec.vcpus} vCPU, {ram + spec.memory_mb} MB, "
                              f"{disk + spec.root_gb} GB).")
        if spec.image.path is not None and not os.path.isfile(spec.image.path):
            raise DriverError(f"{self.hostname}: image file {spec.image.path} is missing.")
        guest = _Guest(spec, console=[
            f"[    0.000000] Booting {spec.name} on fake hypervisor {self.hostname}",
            f"[    0.100000] {spec.vcpus} vCPU, {spec.memory_mb} MB RAM, {spec.root_gb} GB disk",
        ])
        guest.volumes = {v.volume_id: v.device_name or "" for v in spec.block_devices.volumes}
        guest.vifs = {n.port_id: asdict(n) for n in spec.network_interfaces}
        if fails.crash:
            guest.power_state = NOSTATE  # half-built: defined, never started
            self.guests[spec.uuid] = guest
            self._save(spec.uuid)
            raise AgentCrash(f"{self.hostname}: agent crashed mid-spawn (fake_fail=crash)")
        guest.console.append(f"{spec.name} login:")
        if fails.guest_dies_after is not None:
            guest.dies_at = guest.booted_at + fails.guest_dies_after
        self.guests[spec.uuid] = guest
        self._save(spec.uuid)

    async def destroy(self, uuid: str) -> None:
        for kind in ("serial", "vnc"):
            server = self._consoles.pop((uuid, kind), None)
            if server is not None:
                server.close()
        if self.guests.pop(uuid, None) is not None:
            self._save(uuid)

    # -- remote consoles --------------------------------------------------------------------
    async def get_console(self, uuid: str, kind: str) -> ConsoleTarget:
        """A loopback port per guest and kind, served by this process: a serial console
        greets with the guest's login prompt and echoes what it is sent; a VNC one speaks
        enough RFB 3.8 for a client to get in (no authentication, a 640x480 desktop named
        after the guest) and then echoes."""
        guest = self._guest(uuid)
        if guest.power_state != RUNNING:
            raise InstanceNotReady(f"Instance {uuid} is not running on {self.hostname}.")
        server = self._consoles.get((uuid, kind))
        if server is None:
            name = guest.spec.name

            async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
                try:
                    if kind == "vnc":
                        await _rfb_handshake(reader, writer, name)
                    else:
                        writer.write(f"\r\n{name} login: ".encode())
                    await writer.drain()
                    while data := await reader.read(4096):
                        writer.write(data)
                        await writer.drain()
                except (OSError, asyncio.IncompleteReadError):
                    pass
                finally:
                    writer.close()

            server = await asyncio.start_server(serve, "127.0.0.1", 0)
            self._consoles[(uuid, kind)] = server
        return ConsoleTarget(port=int(server.sockets[0].getsockname()[1]))

    # -- live migration (see the module docstring) ----------------------------------------------
    async def pre_live_migration(self, spec: InstanceSpec, source: str,
                                 block_migration: bool | None) -> dict[str, Any]:
        if spec.uuid in self.guests:
            raise DriverError(f"{self.hostname}: instance {spec.uuid} already runs here.")
        if spec.uuid not in self.incoming:
            cpu, ram, disk = self._used()
            max_cpu, max_ram, max_disk = self.limits
            if cpu + spec.vcpus > max_cpu or ram + spec.memory_mb > max_ram or \
                    disk + spec.root_gb > max_disk:
                raise DriverError(f"{self.hostname}: hypervisor out of capacity for the "
                                  "incoming guest.")
            self.incoming[spec.uuid] = spec
        return {"dest": self.hostname, "block_migration": block_migration is not False}

    async def live_migration(self, uuid: str, dest: str,
                             migrate_data: dict[str, Any]) -> dict[str, Any]:
        self._guest(uuid)
        deadline = time.monotonic() + self.failures.live_migration_delay
        while uuid not in self.aborting and uuid not in self.completing and \
                time.monotonic() < deadline:
            await asyncio.sleep(0.05)  # the memory copy takes its time
        if uuid in self.completing:
            self.completing.discard(uuid)
            self._guest(uuid).console.append(
                f"[fake] paused on {self.hostname} to complete the live migration")
        if uuid in self.aborting:
            self.aborting.discard(uuid)
            raise DriverError(f"{self.hostname}: live migration of {uuid} to {dest} aborted; "
                              "the guest stays here.")
        guest = self._guest(uuid)
        if self.failures.fail_live_migration:
            raise DriverError(f"{self.hostname}: live migration of {uuid} to {dest} failed "
                              "(fake_fail=live_migration); the guest stays here.")
        guest.console.append(f"[fake] live-migrated from {self.hostname} to {dest}")
        state = self._dump(guest)
        del self.guests[uuid]
        self._save(uuid)
        return {"guest": state}

    async def live_migration_abort(self, uuid: str) -> None:
        if uuid in self.guests:  # nothing to stop once the guest has left
            self.aborting.add(uuid)

    async def live_migration_force_complete(self, uuid: str) -> None:
        if uuid not in self.guests:
            raise DriverError(f"{self.hostname}: no live migration of {uuid} runs here")
        self.completing.add(uuid)

    async def post_live_migration_at_destination(self, spec: InstanceSpec,
                                                 transfer: dict[str, Any]) -> None:
        self.incoming.pop(spec.uuid, None)
        if spec.uuid in self.guests:
            return  # adopted already (a repeated message)
        if not isinstance(transfer.get("guest"), dict):
            raise DriverError(f"{self.hostname}: no guest state arrived for {spec.uuid}.")
        guest = self._load(transfer["guest"])
        guest.spec = spec  # as this host sees it (its ports, volumes)
        self.guests[spec.uuid] = guest
        self._save(spec.uuid)

    async def rollback_live_migration_at_destination(self, uuid: str) -> None:
        self.incoming.pop(uuid, None)

    def _set(self, uuid: str, state: int, line: str) -> None:
        guest = self._guest(uuid)
        guest.power_state = state
        guest.console.append(line)
        self._save(uuid)

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

    async def rescue(self, spec: InstanceSpec) -> None:
        guest = self._guest(spec.uuid)
        image = spec.rescue_image or spec.image
        guest.rescue_image = image.id or ""
        guest.power_state = RUNNING
        guest.console.append(f"[    0.000000] Booting rescue image {image.id} "
                             f"({guest.spec.root_gb} GB root disk attached as /dev/vdb)")
        self._save(spec.uuid)

    async def unrescue(self, uuid: str) -> None:
        guest = self._guest(uuid)
        if guest.rescue_image is None:
            raise DriverError(f"Instance {uuid} is not in rescue mode.")
        guest.rescue_image = None
        self._set(uuid, RUNNING, "[    0.000000] Booting (unrescue)")

    async def rebuild(self, spec: InstanceSpec) -> None:
        """A new root disk from ``spec.image``; volumes and interfaces stay attached."""
        guest = self._guest(spec.uuid)
        guest.spec = spec
        guest.power_state = RUNNING
        guest.rescue_image = None
        guest.booted_at = time.time()
        guest.console.append(f"[    0.000000] Booting {spec.name} (rebuilt from image "
                             f"{spec.image.id})")
        self._save(spec.uuid)

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
        self._save(spec.uuid)

    async def set_admin_password(self, uuid: str, password: str) -> None:
        guest = self._guest(uuid)
        if guest.power_state != RUNNING:
            raise DriverError(f"Instance {uuid} is not running; its password cannot be set.")
        guest.password_sha256 = hashlib.sha256(password.encode()).hexdigest()
        guest.console.append("cloud-init: administrator password changed")
        self._save(uuid)

    async def info(self, uuid: str) -> dict[str, Any]:
        guest = self._guest(uuid)
        return {"power_state": guest.power_state, "vcpus": guest.spec.vcpus,
                "memory_mb": guest.spec.memory_mb, "root_gb": guest.spec.root_gb,
                "image": guest.spec.image.id, "image_path": guest.spec.image.path,
                "rescue_image": guest.rescue_image,
                "volumes": dict(guest.volumes), "vifs": sorted(guest.vifs),
                "password_set": guest.password_sha256 is not None,
                "volume_snapshots": {k: dict(v) for k, v in guest.volume_snapshots.items()},
                "uptime": time.time() - guest.booted_at}

    async def snapshot(self, uuid: str) -> dict[str, Any]:
        """The fake keeps no disk contents: a snapshot is its base image's data."""
        guest = self._guest(uuid)
        return {"image_id": guest.spec.image.id}

    async def attach_volume(self, uuid: str, volume: VolumeConnection) -> str:
        guest = self._guest(uuid)
        if self.failures.attach_delay:
            await asyncio.sleep(self.failures.attach_delay)
        if self.failures.fail_attach:
            raise DriverError(f"{self.hostname}: volume attach failed (fake_fail=attach).")
        if volume.volume_id in guest.volumes:
            return guest.volumes[volume.volume_id]
        device = volume.device_name
        used = set(guest.volumes.values()) | {guest.spec.block_devices.root_device_name}
        if device in used:
            raise DriverError(f"{device} is already in use on {uuid}.")
        if device is None:
            device = next(f"/dev/vd{c}" for c in "bcdefghijklmnopqrstuvwxyz"
                          if f"/dev/vd{c}" not in used)
        guest.volumes[volume.volume_id] = device
        self._save(uuid)
        return device

    async def detach_volume(self, uuid: str, volume_id: str) -> None:
        self._guest(uuid).volumes.pop(volume_id, None)
        self._save(uuid)

    async def volume_snapshot_create(self, uuid: str, volume_id: str,
                                     create_info: dict[str, Any]) -> None:
        """Record the overlay Nova's libvirt driver would make on top of the volume's disk."""
        guest = self._guest(uuid)
        if volume_id not in guest.volumes:
            raise DriverError(f"Found no disk to snapshot: volume {volume_id} is not "
                              f"attached to {uuid}.")
        guest.volume_snapshots[str(create_info["snapshot_id"])] = {
            "volume_id": volume_id, "new_file": create_info["new_file"],
            "type": create_info["type"]}
        guest.console.append(f"disk {guest.volumes[volume_id]}: now writing to "
                             f"{create_info['new_file']}")
        self._save(uuid)

    async def volume_snapshot_delete(self, uuid: str, volume_id: str, snapshot_id: str,
                                     delete_info: dict[str, Any]) -> None:
        """Forget the snapshot (merged away); one this guest does not have is a success."""
        guest = self._guest(uuid)
        if volume_id not in guest.volumes:
            raise DriverError(f"Found no disk to delete the snapshot of: volume {volume_id} "
                              f"is not attached to {uuid}.")
        if guest.volume_snapshots.pop(snapshot_id, None) is not None:
            guest.console.append(f"disk {guest.volumes[volume_id]}: snapshot {snapshot_id} "
                                 "merged")
        self._save(uuid)

    async def plug_vif(self, uuid: str, vif: NetworkInterface) -> None:
        self._guest(uuid).vifs[vif.port_id] = asdict(vif)
        self._save(uuid)

    async def unplug_vif(self, uuid: str, port_id: str) -> None:
        self._guest(uuid).vifs.pop(port_id, None)
        self._save(uuid)


def create(context: DriverContext) -> FakeDriver:
    """The ``fake`` entry point: a host sized by the ``fake_*`` settings, each guest kept in
    ``STATE_DIR/guests/<uuid>.json``, failing as ``fake_fail`` says."""
    s = context.settings
    state = context.state_dir / "guests"
    _migrate(context, state)
    return FakeDriver(context.host, s.fake_vcpus, s.fake_memory_mb, s.fake_disk_gb,
                      s.cpu_allocation_ratio, s.ram_allocation_ratio, s.disk_allocation_ratio,
                      state_path=state, failures=FailureModes.parse(s.fake_fail, context.host))


def _migrate(context: DriverContext, state: Path) -> None:
    """Guests recorded by older versions in one file (``guests.json``, before that
    ``hypervisors/<host>.json``) move to a file each."""
    state.mkdir(parents=True, exist_ok=True)
    for legacy in (context.state_dir / "guests.json",
                   context.state_dir.parent / f"{context.host}.json"):
        if not legacy.exists():
            continue
        for uuid, data in json.loads(legacy.read_text()).items():
            target = state / f"{uuid}.json"
            if not target.exists():
                target.write_text(json.dumps(data))
        legacy.unlink()
