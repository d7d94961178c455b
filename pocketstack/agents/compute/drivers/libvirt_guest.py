"""The ``libvirt`` driver's bookkeeping of one guest: its record, its domain, its taps.

* The instance directory ``instances/<uuid>/`` and its ``instance.json`` (:func:`record`,
  :func:`save`): the spec, the volumes attached (:func:`volume_entry` gives a new one its
  device name), the rescue state, ``building`` while a spawn runs.
* The domain, always rebuilt from the record (:func:`domain`, :func:`define` writes it to
  ``libvirt.xml`` and defines it) so a lost libvirt definition is made again on the next
  start (:func:`start`); its power state as libvirt reports it (:func:`state`: a shut-off
  domain with a managed save is ``SUSPENDED``), and the forced stop (:func:`force_off`).
* The serial and VNC console sockets QEMU listens on (:func:`console_socket`).
* The taps, one per port, ``tap<port[:11]>`` in the host namespace (:func:`ensure_taps`,
  :func:`delete_taps`); and everything of a guest going at once (:func:`remove`).

Every function takes the driver (:class:`.libvirt.LibvirtDriver`), as :mod:`.libvirt_migrate`
does; the driver's lock per guest is taken by its protocol methods, not here.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pocketstack.agents.compute.drivers import libvirt_xml as lvxml
from pocketstack.agents.compute.drivers.base import (
    CRASHED,
    NOSTATE,
    PAUSED,
    RUNNING,
    SHUTDOWN,
    SUSPENDED,
    DriverError,
    InstanceNotFound,
    InstanceSpec,
    VolumeConnection,
    read_record,
    write_record,
)
from pocketstack.agents.compute.drivers.namespace_volumes import next_device, volume_path
from pocketstack.agents.kernel import run

if TYPE_CHECKING:
    from pocketstack.agents.compute.drivers.libvirt import LibvirtDriver

_MAC = re.compile(r"^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$")
_IFNAME = re.compile(r"^[A-Za-z0-9_.-]{1,15}$")
#: libvirt's domain state (virsh domstate) -> Nova's power_state
_STATES = {"running": RUNNING, "idle": RUNNING, "blocked": RUNNING, "in shutdown": RUNNING,
           "paused": PAUSED, "shut off": SHUTDOWN, "crashed": CRASHED,
           "pmsuspended": SUSPENDED, "dying": SHUTDOWN, "no state": NOSTATE}


# -- the record ---------------------------------------------------------------------------
def instance_dir(driver: LibvirtDriver, uuid: str) -> Path:
    """``instances/<uuid>/`` of this host."""
    return driver.instances_dir / uuid


def record(driver: LibvirtDriver, uuid: str) -> dict[str, Any]:
    """The guest's ``instance.json`` (:class:`InstanceNotFound` when it has none here)."""
    return read_record(instance_dir(driver, uuid), driver.host)


def save(driver: LibvirtDriver, uuid: str, data: dict[str, Any]) -> None:
    write_record(instance_dir(driver, uuid), data)


def spec_of(data: dict[str, Any]) -> InstanceSpec:
    return InstanceSpec.from_dict(data["spec"])


def volume_entry(data: dict[str, Any], volume: VolumeConnection) -> dict[str, Any]:
    """The record's entry for ``volume`` (device, file, boot), added with the device it gets
    (the one asked for when free, else the next free ``/dev/vdX``) unless already there."""
    volumes: dict[str, Any] = data.setdefault("volumes", {})
    if volume.volume_id in volumes:
        return dict(volumes[volume.volume_id])
    path = volume_path(volume.connection_info)
    if not os.path.exists(path):
        raise DriverError(f"volume {volume.volume_id}: {path} is missing")
    used = {v["device"] for v in volumes.values()}
    used.add(data["spec"]["block_devices"].get("root_device_name") or "/dev/vda")
    spec = data["spec"]["block_devices"]
    letters = 1 + bool(spec.get("ephemeral_gb")) + bool(spec.get("swap_mb"))
    used.update(f"/dev/vd{'abcdefghijklmnop'[i]}" for i in range(letters))
    boot = volume.boot_index == 0  # (only a spawn passes the boot volume)
    if boot:  # the root disk of a volume-backed guest
        device = data["spec"]["block_devices"].get("root_device_name") or "/dev/vda"
    elif volume.device_name and volume.device_name not in used:
        device = volume.device_name
    else:
        device = next_device(used)
    entry = {"device": device, "path": path, **({"boot": True} if boot else {})}
    volumes[volume.volume_id] = entry
    return entry


# -- the domain ---------------------------------------------------------------------------
def domain(driver: LibvirtDriver, uuid: str, data: dict[str, Any]) -> lvxml.Domain:
    """The domain the record describes: ``disk.rescue`` first during a rescue, the root disk
    (the boot volume of a volume-backed guest), ephemeral and swap, the other volumes, the
    config drive; one NIC per port."""
    spec = spec_of(data)
    base = instance_dir(driver, uuid)
    disks: list[lvxml.Disk] = []
    letters = iter("abcdefghijklmnopqrstuvwxyz")
    if data.get("rescue"):
        disks.append(lvxml.Disk(str(base / "disk.rescue"), f"vd{next(letters)}"))
    volumes: dict[str, Any] = data.get("volumes") or {}
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
    return lvxml.Domain(spec, driver.virt_type, disks, nics, base / "console.log",
                        console_socket(driver, uuid, "serial"),
                        console_socket(driver, uuid, "vnc"), options=driver.devices)


def console_socket(driver: LibvirtDriver, uuid: str, kind: str) -> Path:
    """Where QEMU listens for the guest's ``serial`` or ``vnc`` console: in the daemon's
    run directory (short enough for sun_path), named by the uuid's first 12 hex digits."""
    return driver.daemon.run_dir / f"{kind[0]}-{uuid.replace('-', '')[:12]}.sock"


def define(driver: LibvirtDriver, uuid: str, data: dict[str, Any]) -> str:
    """The domain XML written to ``libvirt.xml`` and defined in libvirt; returns the XML."""
    xml = lvxml.domain_xml(domain(driver, uuid, data))
    path = instance_dir(driver, uuid) / "libvirt.xml"
    path.write_text(xml)
    driver.virsh("define", str(path))
    return xml


def state(driver: LibvirtDriver, uuid: str) -> tuple[int, bool]:
    """(power_state, defined) of the domain."""
    try:
        out = driver.virsh("domstate", uuid).strip().splitlines()
    except InstanceNotFound:
        return NOSTATE, False
    found = _STATES.get(out[0].strip() if out else "", NOSTATE)
    if found == SHUTDOWN and managed_save(driver, uuid):
        return SUSPENDED, True
    return found, True


def managed_save(driver: LibvirtDriver, uuid: str) -> bool:
    """Whether the domain has a managed save (a suspended guest's memory)."""
    with contextlib.suppress(InstanceNotFound):
        for line in driver.virsh("dominfo", uuid).splitlines():
            if line.startswith("Managed save:"):
                return line.split(":", 1)[1].strip() == "yes"
    return False


def active(driver: LibvirtDriver, uuid: str) -> bool:
    """Whether the guest runs (paused counts: its QEMU is there)."""
    found, _ = state(driver, uuid)
    return found in (RUNNING, PAUSED)


def wait_off(driver: LibvirtDriver, uuid: str, timeout: float) -> bool:
    """Whether the guest stopped within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not active(driver, uuid):
            return True
        time.sleep(0.2)
    return not active(driver, uuid)


def force_off(driver: LibvirtDriver, uuid: str) -> None:
    """``virsh destroy`` of a running guest (its QEMU killed; the definition stays)."""
    if active(driver, uuid):
        with contextlib.suppress(InstanceNotFound):
            driver.virsh("destroy", uuid)


def start(driver: LibvirtDriver, uuid: str, data: dict[str, Any]) -> None:
    """Taps present, the domain (re)defined from the record, then started."""
    ensure_taps(driver, spec_of(data))
    define(driver, uuid, data)
    driver.virsh("start", uuid)


# -- taps ---------------------------------------------------------------------------------
def ensure_taps(driver: LibvirtDriver, spec: InstanceSpec, replace: bool = False) -> None:
    """One tap per port in the host namespace (MAC ``fe:…``, the port's MTU, left down for
    the L2 agent); ``replace`` makes again those already there."""
    run.ensure_netns(driver.host_ns)
    present = run.links(driver.host_ns)
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
            run.ip_batch(lines, driver.host_ns)
        except run.KernelError as exc:
            raise DriverError(f"{driver.host}: cannot make the taps: {exc}") from exc


def delete_taps(driver: LibvirtDriver, taps: set[str]) -> None:
    if not taps or not run.netns_exists(driver.host_ns):
        return
    present = set(run.links(driver.host_ns))
    run.ip_batch([f"link del {tap}" for tap in sorted(taps & present)], driver.host_ns,
                 force=True)


@contextlib.contextmanager
def removed_on_failure(driver: LibvirtDriver, uuid: str, what: str) -> Iterator[None]:
    """Making the guest here: on any failure nothing of it stays, and the failure is a
    :class:`DriverError` (``<host>: <what> failed: ...`` unless it was one already)."""
    try:
        yield
    except Exception as exc:
        remove(driver, uuid)
        if isinstance(exc, DriverError):
            raise
        raise DriverError(f"{driver.host}: {what} failed: {type(exc).__name__}: {exc}") \
            from exc


def remove(driver: LibvirtDriver, uuid: str) -> None:
    """Everything of a guest (domain, managed save, taps, files); nothing there is fine."""
    taps: set[str] = set()
    known = (instance_dir(driver, uuid) / "instance.json").exists()
    with contextlib.suppress(InstanceNotFound, KeyError):
        taps = {v.devname or "" for v in spec_of(record(driver, uuid)).network_interfaces}
    if known or driver.daemon.pid() is not None:  # nothing known, no daemon: nothing to do
        with contextlib.suppress(InstanceNotFound):
            force_off(driver, uuid)
            driver.virsh("undefine", uuid, "--managed-save", "--snapshots-metadata")
    delete_taps(driver, taps)
    for kind in ("serial", "vnc"):
        console_socket(driver, uuid, kind).unlink(missing_ok=True)
    shutil.rmtree(instance_dir(driver, uuid), ignore_errors=True)
