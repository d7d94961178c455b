"""The ``libvirt`` hypervisor: every guest a QEMU virtual machine defined in libvirt.

The host side (a libvirtd of the host's own inside its network namespace ``P-host-<host>``,
and the KVM-or-TCG probe) is :mod:`.libvirt_host`; the files (``_base``, ``disk`` overlays,
``disk.info``, ``console.log``) are :mod:`.libvirt_files`; the domain XML is
:mod:`.libvirt_xml`. A guest ``<uuid>`` is

* the persistent domain ``instance-%08x`` (libvirt uuid = instance uuid), domain type ``kvm``
  where a guest boots under KVM, else ``qemu`` (TCG);
* ``instances/<uuid>/`` with its disks, ``disk.info``, ``console.log``, ``libvirt.xml`` and
  ``instance.json`` (the spec, the volumes attached, rescue state): the domain XML is always
  rebuilt from it, so a lost libvirt definition is made again on the next power-on;
* one tap per port, ``tap<port[:11]>`` in the host namespace, made by the driver (``ip tuntap``,
  MAC ``fe:…`` as Nova's taps, left down for the L2 agent to wire to its ``brq`` bridge and set
  up) and opened by libvirt (``<interface type='ethernet'>``, ``managed='no'``).

Power: off is an ACPI shutdown that becomes a forced stop after ``shutdown_timeout`` seconds
(Nova's clean shutdown); a soft reboot is the same then a start, a hard reboot a reset (or a
start of a stopped guest). Pause is libvirt's suspend (vCPUs stop), suspend a managed save
(memory to disk, the domain shut off; ``resume`` restores it). Power states are libvirt's own,
so a guest that powers itself off shows ``SHUTDOWN`` at the next heartbeat. Live migration
between two hosts of this machine is :mod:`.libvirt_migrate`.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import platform
import re
import shutil
import subprocess
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any, TypeVar, cast

from pocketstack.agents.compute.drivers import libvirt_files as files
from pocketstack.agents.compute.drivers import libvirt_host as lvhost
from pocketstack.agents.compute.drivers import libvirt_migrate as lvmigrate
from pocketstack.agents.compute.drivers import libvirt_xml as lvxml
from pocketstack.agents.compute.drivers.base import (
    CRASHED,
    NOSTATE,
    PAUSED,
    RUNNING,
    SHUTDOWN,
    SUSPENDED,
    DriverContext,
    DriverError,
    HostInventory,
    InstanceNotFound,
    InstanceSpec,
    NetworkInterface,
    VolumeConnection,
    read_record,
    write_record,
)
from pocketstack.agents.compute.drivers.namespace_volumes import next_device, volume_path
from pocketstack.agents.kernel import run
from pocketstack.agents.kernel.names import KernelNames

LOG = logging.getLogger(__name__)
_CONSOLE_MAX = 256 * 1024
_AGE_EVERY = 600.0  # seconds between two runs of the image cache manager
_MAC = re.compile(r"^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$")
_IFNAME = re.compile(r"^[A-Za-z0-9_.-]{1,15}$")
#: libvirt's domain state (virsh domstate) -> Nova's power_state
_STATES = {"running": RUNNING, "idle": RUNNING, "blocked": RUNNING, "in shutdown": RUNNING,
           "paused": PAUSED, "shut off": SHUTDOWN, "crashed": CRASHED,
           "pmsuspended": SUSPENDED, "dying": SHUTDOWN, "no state": NOSTATE}
#: virDomainState numbers (domstats state.state) -> Nova's power_state
_STATE_NUMBERS = {0: NOSTATE, 1: RUNNING, 2: RUNNING, 3: PAUSED, 4: RUNNING, 5: SHUTDOWN,
                  6: CRASHED, 7: SUSPENDED}

_F = TypeVar("_F", bound=Callable[..., Any])


def _one_at_a_time(method: _F) -> _F:
    """Serialize a driver method per guest (its first argument: a uuid or a spec)."""
    @functools.wraps(method)
    def wrapper(self: LibvirtDriver, first: Any, *args: Any, **kwargs: Any) -> Any:
        uuid = first.uuid if isinstance(first, InstanceSpec) else str(first)
        with self._guest_lock(uuid):
            return method(self, first, *args, **kwargs)
    return cast(_F, wrapper)


def missing() -> str | None:
    """Why libvirt guests cannot run here, or None when they can."""
    return lvhost.missing()


class LibvirtDriver:
    """QEMU guests through a libvirtd per host (see the module docstring)."""

    capabilities = {"supports_pause": True, "supports_suspend": True, "supports_resize": True,
                    "supports_attach_volume": True, "supports_attach_interface": True,
                    "supports_console_output": True, "supports_snapshot": True,
                    "supports_rescue": True, "supports_rebuild": False,
                    "supports_set_admin_password": False, "supports_live_migration": True}

    def __init__(self, host: str, names: KernelNames, instances_dir: Path, libvirt_dir: Path,
                 *, virt_type: str = "auto", force_raw_images: bool = True,
                 image_cache_max_age: float = 86400.0, shutdown_timeout: float = 60.0,
                 run_fallback: Path | None = None,
                 devices: lvxml.DeviceOptions | None = None) -> None:
        self.host = host
        self.names = names
        self.instances_dir = instances_dir
        self.libvirt_dir = libvirt_dir
        self.host_ns = names.host_ns(host)
        fallback = run_fallback or Path("/run/pocketstack") / f"{names.prefix}-{host}"
        self.daemon = lvhost.Libvirtd(libvirt_dir, self.host_ns, fallback)
        self._virt_type_setting = virt_type
        self._virt_type: str | None = None
        self.force_raw_images = force_raw_images
        self.image_cache_max_age = image_cache_max_age
        self.shutdown_timeout = shutdown_timeout
        self.devices = devices or lvxml.DeviceOptions()
        self._last_aging = 0.0
        self._locks: dict[str, threading.RLock] = {}
        self._locks_guard = threading.Lock()

    def _guest_lock(self, uuid: str) -> threading.RLock:
        with self._locks_guard:
            return self._locks.setdefault(uuid, threading.RLock())

    # -- host ------------------------------------------------------------------------------
    @property
    def virt_type(self) -> str:
        """``kvm`` or ``qemu``: the setting when it names one, else the cached probe."""
        if self._virt_type is None:
            if self._virt_type_setting in ("kvm", "qemu"):
                self._virt_type = self._virt_type_setting
            else:
                found = lvhost.probe_virt_type(self.libvirt_dir / "virt-type.json")
                LOG.info("%s: libvirt domain type %s (%s)", self.host, found["virt_type"],
                         found.get("reason"))
                self._virt_type = str(found["virt_type"])
        return self._virt_type

    def warm_up(self) -> None:
        """Probe the accelerator, start libvirtd and let it probe QEMU's capabilities (a few
        seconds the first time on a host), so that the first boot does not wait for them."""
        try:
            self.daemon.virsh("domcapabilities", "--virttype", self.virt_type)
        except DriverError as exc:
            LOG.warning("%s: libvirt warm-up: %s", self.host, exc)

    def virsh(self, *args: str, check: bool = True) -> str:
        return self.daemon.virsh(*args, check=check)

    # -- records ---------------------------------------------------------------------------
    def _dir(self, uuid: str) -> Path:
        return self.instances_dir / uuid

    def _record(self, uuid: str) -> dict[str, Any]:
        return read_record(self._dir(uuid), self.host)

    def _save(self, uuid: str, record: dict[str, Any]) -> None:
        write_record(self._dir(uuid), record)

    @staticmethod
    def _spec(record: dict[str, Any]) -> InstanceSpec:
        return InstanceSpec.from_dict(record["spec"])

    # -- the domain ------------------------------------------------------------------------
    def _domain(self, uuid: str, record: dict[str, Any]) -> lvxml.Domain:
        spec = self._spec(record)
        base = self._dir(uuid)
        disks: list[lvxml.Disk] = []
        letters = iter("abcdefghijklmnopqrstuvwxyz")
        if record.get("rescue"):
            disks.append(lvxml.Disk(str(base / "disk.rescue"), f"vd{next(letters)}"))
        volumes: dict[str, Any] = record.get("volumes") or {}
        boot = next((vid for vid, v in volumes.items() if v.get("boot")), None)
        if boot is not None:  # volume-backed: the volume is the root disk
            disks.append(lvxml.Disk(volumes[boot]["path"], f"vd{next(letters)}", fmt="raw",
                                    serial=boot[:20]))
        else:
            disks.append(lvxml.Disk(str(base / "disk"), f"vd{next(letters)}"))
        for name in ("disk.eph0", "disk.swap"):
            if (base / name).exists():
                disks.append(lvxml.Disk(str(base / name), f"vd{next(letters)}"))
        used = {d.target for d in disks}
        for volume_id, volume in volumes.items():
            target = volume["device"].rsplit("/", 1)[-1]
            if target in used or volume_id == boot:
                continue
            used.add(target)
            disks.append(lvxml.Disk(volume["path"], target, fmt="raw", serial=volume_id[:20]))
        if (base / "disk.config").exists():
            disks.append(lvxml.Disk(str(base / "disk.config"), "hdd", fmt="raw",
                                    device="cdrom", bus="ide", readonly=True))
        nics = [lvxml.Nic(vif.devname or f"tap{vif.port_id[:11]}", vif.mac_address, vif.mtu)
                for vif in spec.network_interfaces]
        return lvxml.Domain(spec, self.virt_type, disks, nics, base / "console.log",
                            self.devices)

    def _define(self, uuid: str, record: dict[str, Any]) -> str:
        xml = lvxml.domain_xml(self._domain(uuid, record))
        path = self._dir(uuid) / "libvirt.xml"
        path.write_text(xml)
        self.virsh("define", str(path))
        return xml

    def _state(self, uuid: str) -> tuple[int, bool]:
        """(power_state, defined) of the domain."""
        try:
            out = self.virsh("domstate", uuid).strip().splitlines()
        except InstanceNotFound:
            return NOSTATE, False
        state = _STATES.get(out[0].strip() if out else "", NOSTATE)
        if state == SHUTDOWN and self._managed_save(uuid):
            return SUSPENDED, True
        return state, True

    def _managed_save(self, uuid: str) -> bool:
        with contextlib.suppress(InstanceNotFound):
            for line in self.virsh("dominfo", uuid).splitlines():
                if line.startswith("Managed save:"):
                    return line.split(":", 1)[1].strip() == "yes"
        return False

    def _active(self, uuid: str) -> bool:
        state, _ = self._state(uuid)
        return state in (RUNNING, PAUSED)

    def _wait_off(self, uuid: str, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self._active(uuid):
                return True
            time.sleep(0.2)
        return not self._active(uuid)

    def _force_off(self, uuid: str) -> None:
        if self._active(uuid):
            with contextlib.suppress(InstanceNotFound):
                self.virsh("destroy", uuid)

    def _start(self, uuid: str, record: dict[str, Any]) -> None:
        """Taps present, the domain (re)defined from the record, then started."""
        self._ensure_taps(self._spec(record))
        self._define(uuid, record)
        self.virsh("start", uuid)

    # -- taps ------------------------------------------------------------------------------
    def _ensure_taps(self, spec: InstanceSpec, replace: bool = False) -> None:
        run.ensure_netns(self.host_ns)
        present = run.links(self.host_ns)
        lines = []
        for vif in spec.network_interfaces:
            tap = vif.devname or f"tap{vif.port_id[:11]}"
            if not _MAC.match(vif.mac_address or ""):
                raise DriverError(f"port {vif.port_id}: bad MAC address {vif.mac_address!r}")
            if not _IFNAME.match(tap):
                raise DriverError(f"port {vif.port_id}: bad device name {tap!r}")
            if tap in present:
                if not replace:
                    continue
                lines.append(f"link del {tap}")
            mtu = f" mtu {int(vif.mtu)}" if vif.mtu else ""
            lines += [f"tuntap add dev {tap} mode tap",
                      f"link set {tap} address fe{vif.mac_address[2:]}{mtu}"]
        if lines:
            try:
                run.ip_batch(lines, self.host_ns)
            except run.KernelError as exc:
                raise DriverError(f"{self.host}: cannot make the taps: {exc}") from exc

    def _delete_taps(self, taps: set[str]) -> None:
        if not taps or not run.netns_exists(self.host_ns):
            return
        present = set(run.links(self.host_ns))
        run.ip_batch([f"link del {tap}" for tap in sorted(taps & present)], self.host_ns,
                     force=True)

    # -- the driver protocol ---------------------------------------------------------------
    def inventory(self) -> HostInventory:
        memory_kb = 0
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemTotal:"):
                    memory_kb = int(line.split()[1])
        self.instances_dir.mkdir(parents=True, exist_ok=True)
        disk = shutil.disk_usage(self.instances_dir).total
        cpus = os.cpu_count() or 1
        return HostInventory(
            hypervisor_hostname=self.host, hypervisor_type="QEMU",
            hypervisor_version=_qemu_version(), vcpus=cpus, memory_mb=memory_kb // 1024,
            local_gb=disk >> 30,
            cpu_info={"arch": platform.machine(), "model": "qemu64" if self.virt_type == "qemu"
                      else "host-model", "vendor": "QEMU" if self.virt_type == "qemu"
                      else "host", "topology": {"cores": cpus, "threads": 1, "sockets": 1},
                      "virt_type": self.virt_type},
            host_ip="127.0.0.1")

    def list_instances(self) -> dict[str, int]:
        """Every guest of this host with libvirt's power state (one ``domstats`` call); the
        image cache manager runs from here every few minutes (the heartbeat is its timer)."""
        try:
            entries = sorted(os.listdir(self.instances_dir))
        except FileNotFoundError:
            return {}
        records = {}
        for uuid in entries:
            with contextlib.suppress(InstanceNotFound, KeyError):
                if not uuid.startswith("_"):
                    records[uuid] = self._record(uuid)
        if not records:
            self._age()
            return {}
        states = self._all_states()
        saved = set(self.virsh("list", "--all", "--uuid", "--with-managed-save").split())
        found = {}
        for uuid, record in records.items():
            state = states.get(uuid)
            if state is None:
                state = NOSTATE if record.get("building") else SHUTDOWN
            elif state == SHUTDOWN and uuid in saved:
                state = SUSPENDED
            found[uuid] = state
        self._age()
        return found

    def _all_states(self) -> dict[str, int]:
        names = {}
        for line in self.virsh("list", "--all", "--uuid", "--name").splitlines():
            parts = line.split()
            if len(parts) == 2:
                names[parts[1]] = parts[0]
        states: dict[str, int] = {}
        current = None
        for line in self.virsh("domstats", "--state", "--raw").splitlines():
            line = line.strip()
            if line.startswith("Domain:"):
                current = names.get(line.split(":", 1)[1].strip().strip("'"))
            elif line.startswith("state.state=") and current is not None:
                states[current] = _STATE_NUMBERS.get(int(line.split("=", 1)[1]), NOSTATE)
        return states

    def _age(self) -> None:
        now = time.monotonic()
        if now - self._last_aging < _AGE_EVERY:
            return
        self._last_aging = now
        try:
            removed = files.age_bases(self.instances_dir, self.image_cache_max_age)
        except OSError as exc:
            LOG.warning("%s: image cache manager: %s", self.host, exc)
            return
        if removed:
            LOG.info("%s: image cache manager removed %s", self.host, ", ".join(removed))

    def power_state(self, uuid: str) -> int:
        record = self._record(uuid)
        state, defined = self._state(uuid)
        if not defined:
            return NOSTATE if record.get("building") else SHUTDOWN
        return state

    @_one_at_a_time
    def spawn(self, spec: InstanceSpec) -> None:
        uuid = spec.uuid
        with contextlib.suppress(InstanceNotFound):
            record = self._record(uuid)
            if not record.get("building") and self._active(uuid):
                return  # idempotent: a retried spawn of a running guest is a no-op
        # what a spawn that did not finish left behind, if anything (a domain is defined only
        # once its directory is there: no directory, no virsh round trips for nothing)
        if self._dir(uuid).exists():
            self._remove(uuid)
        if spec.image.path is not None and not os.path.isfile(spec.image.path):
            raise DriverError(f"{self.host}: image file {spec.image.path} is missing.")
        try:
            self._build(spec)
        except Exception as exc:
            self._remove(uuid)
            if isinstance(exc, DriverError):
                raise
            raise DriverError(f"{self.host}: spawn of {uuid} failed: "
                              f"{type(exc).__name__}: {exc}") from exc

    def _build(self, spec: InstanceSpec) -> None:
        uuid = spec.uuid
        base = self._dir(uuid)
        base_dir = self.instances_dir / "_base"
        image = None
        if spec.image.id and spec.image.path is not None:
            image = files.ensure_base(base_dir, spec.image, self.force_raw_images)
        elif spec.image.id and not spec.block_devices.volumes:
            raise DriverError(f"image {spec.image.id} has no data on {self.host}")
        base.mkdir(parents=True, exist_ok=False)
        record: dict[str, Any] = {"spec": spec.to_dict(), "created_at": time.time(),
                                  "building": True, "volumes": {}}
        self._save(uuid, record)  # first, so that a failure's clean-up knows the taps
        moving = self._moving_from(uuid)
        if moving is not None:
            LOG.info("%s: %s moves here from %s; copying its disks", self.host, uuid, moving)
        files.make_instance_disks(base, base_dir, spec, image, moving)
        for volume in spec.block_devices.volumes:
            self._volume_entry(record, volume)
        self._save(uuid, record)
        self._ensure_taps(spec, replace=True)
        self._start(uuid, record)
        del record["building"]
        self._save(uuid, record)

    def _moving_from(self, uuid: str) -> Path | None:
        """The instance directory of ``uuid`` on another compute host of this machine (hosts
        keep theirs side by side, ``STATE/hypervisors/<host>/instances``), if there is one:
        a spawn of a guest that exists there is its cold migration or resize to this host."""
        hypervisors = self.instances_dir.parent.parent
        for other in sorted(hypervisors.glob(f"*/instances/{uuid}")):
            if other != self._dir(uuid) and (other / "disk").is_file():
                return other
        return None

    @_one_at_a_time
    def destroy(self, uuid: str) -> None:
        self._remove(uuid)

    def _remove(self, uuid: str) -> None:
        """Everything of a guest (domain, managed save, taps, files); nothing there is fine."""
        taps: set[str] = set()
        known = (self._dir(uuid) / "instance.json").exists()
        with contextlib.suppress(InstanceNotFound, KeyError):
            taps = {v.devname or "" for v in self._spec(self._record(uuid)).network_interfaces}
        if known or self.daemon.pid() is not None:  # nothing known, no daemon: nothing to do
            with contextlib.suppress(InstanceNotFound):
                self._force_off(uuid)
                self.virsh("undefine", uuid, "--managed-save", "--snapshots-metadata")
        self._delete_taps(taps)
        shutil.rmtree(self._dir(uuid), ignore_errors=True)

    # -- live migration (libvirt_migrate) -------------------------------------------------
    @_one_at_a_time
    def pre_live_migration(self, spec: InstanceSpec, source: str,
                           block_migration: bool | None) -> dict[str, Any]:
        return lvmigrate.prepare(self, spec, source, block_migration)

    @_one_at_a_time
    def live_migration(self, uuid: str, dest: str,
                       migrate_data: dict[str, Any]) -> dict[str, Any]:
        return lvmigrate.migrate(self, uuid, dest, migrate_data)

    @_one_at_a_time
    def post_live_migration_at_destination(self, spec: InstanceSpec,
                                           transfer: dict[str, Any]) -> None:
        lvmigrate.adopt(self, spec, transfer)

    @_one_at_a_time
    def rollback_live_migration_at_destination(self, uuid: str) -> None:
        lvmigrate.rollback(self, uuid)

    @_one_at_a_time
    def power_off(self, uuid: str) -> None:
        self._record(uuid)
        self._shutdown(uuid)

    def _shutdown(self, uuid: str) -> None:
        """ACPI shutdown, then a forced stop after ``shutdown_timeout`` seconds."""
        if self._managed_save(uuid):
            self.virsh("managedsave-remove", uuid)
            return
        if not self._active(uuid):
            return
        state, _ = self._state(uuid)
        if state == PAUSED:
            self._force_off(uuid)
            return
        with contextlib.suppress(DriverError):
            self.virsh("shutdown", uuid, "--mode", "acpi")
        if not self._wait_off(uuid, self.shutdown_timeout):
            LOG.info("%s: %s ignored the ACPI shutdown; stopping it", self.host, uuid)
            self._force_off(uuid)

    @_one_at_a_time
    def power_on(self, uuid: str) -> None:
        record = self._record(uuid)
        state, defined = self._state(uuid)
        if state == PAUSED:
            self.virsh("resume", uuid)
            return
        if defined and state == RUNNING:
            return
        self._start(uuid, record)

    @_one_at_a_time
    def reboot(self, uuid: str, hard: bool) -> None:
        record = self._record(uuid)
        state, defined = self._state(uuid)
        if hard:
            if state in (RUNNING, PAUSED):
                if state == PAUSED:
                    self.virsh("resume", uuid)
                self._ensure_taps(self._spec(record))
                self.virsh("reset", uuid)
                return
            if self._managed_save(uuid):
                self.virsh("managedsave-remove", uuid)
            self._start(uuid, record)
            return
        if state == RUNNING:
            with contextlib.suppress(DriverError):
                self.virsh("shutdown", uuid, "--mode", "acpi")
            if not self._wait_off(uuid, self.shutdown_timeout):
                LOG.info("%s: %s ignored the soft reboot; resetting it", self.host, uuid)
                self.virsh("reset", uuid)
                return
        elif state == PAUSED:
            raise DriverError(f"Instance {uuid} is paused; a soft reboot needs it running.")
        self._start(uuid, record)

    def _running(self, uuid: str) -> dict[str, Any]:
        record = self._record(uuid)
        if not self._active(uuid):
            raise DriverError(f"Instance {uuid} is not running.")
        return record

    @_one_at_a_time
    def pause(self, uuid: str) -> None:
        self._running(uuid)
        self.virsh("suspend", uuid)

    @_one_at_a_time
    def unpause(self, uuid: str) -> None:
        self._record(uuid)
        if self._state(uuid)[0] == PAUSED:
            self.virsh("resume", uuid)

    @_one_at_a_time
    def suspend(self, uuid: str) -> None:
        """libvirt's managed save: memory to disk, the domain shut off."""
        self._running(uuid)
        self.virsh("managedsave", uuid)

    @_one_at_a_time
    def resume(self, uuid: str) -> None:
        record = self._record(uuid)
        state, _ = self._state(uuid)
        if state == PAUSED:
            self.virsh("resume", uuid)
        elif state != RUNNING:
            self._ensure_taps(self._spec(record))
            self.virsh("start", uuid)  # restores the managed save

    @_one_at_a_time
    def rescue(self, spec: InstanceSpec) -> None:
        """Boot from ``disk.rescue`` (an overlay on the rescue image) with the guest's own
        disk second, as Nova's rescue does."""
        uuid = spec.uuid
        record = self._record(uuid)
        rescue = spec.rescue_image or spec.image
        if not rescue.id or rescue.path is None:
            raise DriverError(f"rescue image {rescue.id} has no data on {self.host}")
        image = files.ensure_base(self.instances_dir / "_base", rescue, self.force_raw_images)
        self._force_off(uuid)
        target = self._dir(uuid) / "disk.rescue"
        target.unlink(missing_ok=True)
        files.make_root(target, image, 0)
        record["rescue"] = True
        self._save(uuid, record)
        self._start(uuid, record)

    @_one_at_a_time
    def unrescue(self, uuid: str) -> None:
        record = self._record(uuid)
        self._force_off(uuid)
        record.pop("rescue", None)
        self._save(uuid, record)
        (self._dir(uuid) / "disk.rescue").unlink(missing_ok=True)
        self._start(uuid, record)

    def console_output(self, uuid: str) -> str:
        self._record(uuid)
        try:
            with open(self._dir(uuid) / "console.log", "rb") as handle:
                handle.seek(0, os.SEEK_END)
                handle.seek(max(0, handle.tell() - _CONSOLE_MAX))
                return handle.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    @_one_at_a_time
    def resize(self, spec: InstanceSpec) -> None:
        """The new flavor: the guest stops, its root disk grows, its domain is redefined with
        the new vCPUs and memory, and it starts again if it was running."""
        uuid = spec.uuid
        record = self._record(uuid)
        was_on = self._active(uuid)
        if was_on:
            self._shutdown(uuid)
        new = spec.to_dict()
        new["network_interfaces"] = record["spec"]["network_interfaces"]
        record["spec"] = new
        if (self._dir(uuid) / "disk").exists():  # (a volume-backed guest has none)
            files.grow(self._dir(uuid) / "disk", spec.root_gb)
        self._save(uuid, record)
        if was_on:
            self._start(uuid, record)
        else:
            self._define(uuid, record)

    def set_admin_password(self, uuid: str, password: str) -> None:
        self._record(uuid)
        raise DriverError("The libvirt driver sets passwords through the QEMU guest agent, "
                          "which this guest image does not run.")

    def info(self, uuid: str) -> dict[str, Any]:
        record = self._record(uuid)
        spec = self._spec(record)
        base = self._dir(uuid)
        state, defined = self._state(uuid)
        pid = None
        with contextlib.suppress(OSError, ValueError):
            pid = int((self.daemon.run_dir / "qemu" / f"{spec.name}.pid").read_text())
        return {"power_state": state if defined else SHUTDOWN, "vcpus": spec.vcpus,
                "memory_mb": spec.memory_mb, "root_gb": spec.root_gb,
                "image": spec.image.id, "domain": spec.name, "virt_type": self.virt_type,
                "uri": self.daemon.uri, "qemu_pid": pid,
                "disk": str(base / "disk") if (base / "disk").exists() else None,
                "disks": json.loads((base / "disk.info").read_text())
                if (base / "disk.info").exists() else {},
                "taps": [v.devname for v in spec.network_interfaces],
                "vifs": sorted(v.port_id for v in spec.network_interfaces),
                "volumes": {k: v["device"] for k, v in (record.get("volumes") or {}).items()},
                "rescue": bool(record.get("rescue"))}

    @_one_at_a_time
    def snapshot(self, uuid: str) -> dict[str, Any]:
        """A standalone qcow2 of the root disk (the guest paused while it is read)."""
        record = self._record(uuid)
        disk = self._dir(uuid) / "disk"
        if not disk.exists():
            return {"image_id": self._spec(record).image.id}
        state, _ = self._state(uuid)
        target = self._dir(uuid) / f"snapshot-{int(time.time() * 1000)}.qcow2"
        if state == RUNNING:
            self.virsh("suspend", uuid)
        try:
            run.run(["qemu-img", "convert", "-U", "-O", "qcow2", str(disk), str(target)],
                    timeout=600)
        except run.KernelError as exc:
            target.unlink(missing_ok=True)
            raise DriverError(f"snapshot of {uuid}: {exc}") from exc
        finally:
            if state == RUNNING:
                self.virsh("resume", uuid)
        return {"path": str(target), "disk_format": "qcow2"}

    @staticmethod
    def _volume_entry(record: dict[str, Any], volume: VolumeConnection) -> dict[str, Any]:
        volumes: dict[str, Any] = record.setdefault("volumes", {})
        if volume.volume_id in volumes:
            return dict(volumes[volume.volume_id])
        path = volume_path(volume.connection_info)
        if not os.path.exists(path):
            raise DriverError(f"volume {volume.volume_id}: {path} is missing")
        used = {v["device"] for v in volumes.values()}
        used.add(record["spec"]["block_devices"].get("root_device_name") or "/dev/vda")
        spec = record["spec"]["block_devices"]
        letters = 1 + bool(spec.get("ephemeral_gb")) + bool(spec.get("swap_mb"))
        used.update(f"/dev/vd{'abcdefghijklmnop'[i]}" for i in range(letters))
        boot = volume.boot_index == 0  # (only a spawn passes the boot volume)
        if boot:  # the root disk of a volume-backed guest
            device = record["spec"]["block_devices"].get("root_device_name") or "/dev/vda"
        elif volume.device_name and volume.device_name not in used:
            device = volume.device_name
        else:
            device = next_device(used)
        entry = {"device": device, "path": path, **({"boot": True} if boot else {})}
        volumes[volume.volume_id] = entry
        return entry

    @_one_at_a_time
    def attach_volume(self, uuid: str, volume: VolumeConnection) -> str:
        """The volume's file as a virtio disk: hot-plugged into a running guest, and in the
        domain's definition for its next boot."""
        record = self._record(uuid)
        if volume.volume_id in (record.get("volumes") or {}):
            return str(record["volumes"][volume.volume_id]["device"])
        entry = self._volume_entry(record, volume)
        if self._active(uuid):
            disk = lvxml.Disk(entry["path"], entry["device"].rsplit("/", 1)[-1], fmt="raw",
                              serial=volume.volume_id[:20])
            self._live_device(uuid, "attach-device", lvxml.disk_element(disk))
        self._save(uuid, record)
        self._define(uuid, record)
        return str(entry["device"])

    def _live_device(self, uuid: str, command: str, element: ET.Element) -> None:
        path = self._dir(uuid) / f"device-{threading.get_ident()}.xml"
        path.write_text(ET.tostring(element, encoding="unicode"))
        try:
            self.virsh(command, uuid, str(path), "--live")
        finally:
            path.unlink(missing_ok=True)

    @_one_at_a_time
    def detach_volume(self, uuid: str, volume_id: str) -> None:
        record = self._record(uuid)
        entry = (record.get("volumes") or {}).pop(volume_id, None)
        if entry is None:
            return
        if self._active(uuid):
            disk = lvxml.Disk(entry["path"], entry["device"].rsplit("/", 1)[-1], fmt="raw",
                              serial=volume_id[:20])
            with contextlib.suppress(DriverError):
                self._live_device(uuid, "detach-device", lvxml.disk_element(disk))
        self._save(uuid, record)
        self._define(uuid, record)

    @_one_at_a_time
    def plug_vif(self, uuid: str, vif: NetworkInterface) -> None:
        record = self._record(uuid)
        interfaces = record["spec"]["network_interfaces"]
        if any(v.get("port_id") == vif.port_id for v in interfaces):
            return
        interfaces.append(asdict(vif))
        spec = self._spec(record)
        self._ensure_taps(spec)
        if self._active(uuid):
            nic = lvxml.Nic(vif.devname or f"tap{vif.port_id[:11]}", vif.mac_address, vif.mtu)
            self._live_device(uuid, "attach-device", lvxml.nic_element(nic, self.devices))
        self._save(uuid, record)
        self._define(uuid, record)

    @_one_at_a_time
    def unplug_vif(self, uuid: str, port_id: str) -> None:
        record = self._record(uuid)
        interfaces = record["spec"]["network_interfaces"]
        found = [NetworkInterface.from_dict(v) for v in interfaces if v.get("port_id") == port_id]
        if not found:
            return
        vif = found[0]
        tap = vif.devname or f"tap{port_id[:11]}"
        if self._active(uuid):
            with contextlib.suppress(DriverError):
                self._live_device(uuid, "detach-device",
                                  lvxml.nic_element(lvxml.Nic(tap, vif.mac_address, vif.mtu),
                                                    self.devices))
        record["spec"]["network_interfaces"] = [v for v in interfaces
                                                if v.get("port_id") != port_id]
        self._save(uuid, record)
        self._define(uuid, record)
        self._delete_taps({tap})


@functools.lru_cache(maxsize=1)
def _qemu_version() -> int:
    """``qemu-system-x86_64 --version`` as Nova reports it (7.2.22 -> 7002022)."""
    try:
        out = subprocess.run([lvhost.QEMU, "--version"], capture_output=True, text=True,
                             timeout=10, check=False).stdout
    except (OSError, subprocess.TimeoutExpired):
        return 0
    match = re.search(r"version (\d+)\.(\d+)\.(\d+)", out)
    if match is None:
        return 0
    major, minor, micro = (int(x) for x in match.groups())
    return major * 1_000_000 + minor * 1000 + micro


def create(context: DriverContext) -> LibvirtDriver:
    """The ``libvirt`` entry point: guests under ``STATE/hypervisors/<host>/instances`` (next
    to the image cache ``instances/_base``), a libvirtd of the host's own in
    ``STATE/hypervisors/<host>/libvirt``."""
    reason = missing()
    if reason is not None:
        raise ValueError(reason)
    s = context.settings
    names = KernelNames.for_settings(s.kernel_prefix, s.state_path)
    state = context.state_dir.resolve()
    driver = LibvirtDriver(context.host, names, state / "instances", state / "libvirt",
                           virt_type=s.libvirt_virt_type, force_raw_images=s.force_raw_images,
                           image_cache_max_age=float(s.image_cache_max_age),
                           shutdown_timeout=float(s.shutdown_timeout),
                           devices=lvxml.DeviceOptions(
                               pointer_model=s.pointer_model,
                               mem_stats_period_seconds=int(s.mem_stats_period_seconds),
                               nic_rom=s.libvirt_nic_rom,
                               disk_cache=lvxml.file_cache_mode(s.disk_cachemodes)))
    threading.Thread(target=driver.warm_up, name=f"libvirt-warm-up-{context.host}",
                     daemon=True).start()
    return driver
