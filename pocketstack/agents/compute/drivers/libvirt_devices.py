"""The ``libvirt`` driver's device actions: volumes and interfaces, consoles, snapshots.

* **Volumes** (a ``local`` connection: a file both hosts of this machine see) become virtio
  disks with the volume id as serial; **interfaces** become ``ethernet`` NICs on a tap made
  here. Each is hot-plugged into (or out of) a running guest (``virsh attach-device --live``,
  ``detach-device --live``) and written into the record, so the redefined domain has it at
  the next boot; a detach a live guest does not acknowledge still leaves the definition.
* **Consoles**: the serial console and the VNC display are UNIX sockets QEMU listens on
  (read from the running domain's XML); ``console_output`` is the tail of ``console.log``.
* **Snapshot**: a standalone qcow2 of the root disk (``qemu-img convert``), the guest paused
  while it is read.

Every function takes the driver (:class:`.libvirt.LibvirtDriver`), whose protocol methods
hold the guest's lock around the ones that change it.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
import xml.etree.ElementTree as ET
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from pocketstack.agents.compute.drivers import libvirt_guest as guest
from pocketstack.agents.compute.drivers import libvirt_xml as lvxml
from pocketstack.agents.compute.drivers.base import (
    RUNNING,
    ConsoleTarget,
    ConsoleUnavailable,
    DriverError,
    InstanceNotReady,
    NetworkInterface,
    VolumeConnection,
)
from pocketstack.agents.kernel import run

if TYPE_CHECKING:
    from pocketstack.agents.compute.drivers.libvirt import LibvirtDriver

_CONSOLE_MAX = 256 * 1024  # bytes of console.log that console_output returns (the tail)


def _live_device(driver: LibvirtDriver, uuid: str, command: str, element: ET.Element) -> None:
    path = guest.instance_dir(driver, uuid) / f"device-{threading.get_ident()}.xml"
    path.write_text(ET.tostring(element, encoding="unicode"))
    try:
        driver.virsh(command, uuid, str(path), "--live")
    finally:
        path.unlink(missing_ok=True)


# -- volumes ------------------------------------------------------------------------------
def attach_volume(driver: LibvirtDriver, uuid: str, volume: VolumeConnection) -> str:
    """The volume's file as a virtio disk: hot-plugged into a running guest, and in the
    domain's definition for its next boot."""
    record = guest.record(driver, uuid)
    if volume.volume_id in (record.get("volumes") or {}):
        return str(record["volumes"][volume.volume_id]["device"])
    entry = guest.volume_entry(record, volume)
    if guest.active(driver, uuid):
        disk = lvxml.Disk(entry["path"], entry["device"].rsplit("/", 1)[-1], fmt="raw",
                          serial=volume.volume_id[:20])
        _live_device(driver, uuid, "attach-device", lvxml.disk_element(disk))
    guest.save(driver, uuid, record)
    guest.define(driver, uuid, record)
    return str(entry["device"])


def detach_volume(driver: LibvirtDriver, uuid: str, volume_id: str) -> None:
    record = guest.record(driver, uuid)
    entry = (record.get("volumes") or {}).pop(volume_id, None)
    if entry is None:
        return
    if guest.active(driver, uuid):
        disk = lvxml.Disk(entry["path"], entry["device"].rsplit("/", 1)[-1], fmt="raw",
                          serial=volume_id[:20])
        with contextlib.suppress(DriverError):
            _live_device(driver, uuid, "detach-device", lvxml.disk_element(disk))
    guest.save(driver, uuid, record)
    guest.define(driver, uuid, record)


# -- interfaces ---------------------------------------------------------------------------
def plug_vif(driver: LibvirtDriver, uuid: str, vif: NetworkInterface) -> None:
    record = guest.record(driver, uuid)
    interfaces = record["spec"]["network_interfaces"]
    if any(v.get("port_id") == vif.port_id for v in interfaces):
        return
    interfaces.append(asdict(vif))
    spec = guest.spec_of(record)
    guest.ensure_taps(driver, spec)
    if guest.active(driver, uuid):
        nic = lvxml.Nic(vif.devname or f"tap{vif.port_id[:11]}", vif.mac_address, vif.mtu)
        _live_device(driver, uuid, "attach-device", lvxml.nic_element(nic, driver.devices))
    guest.save(driver, uuid, record)
    guest.define(driver, uuid, record)


def unplug_vif(driver: LibvirtDriver, uuid: str, port_id: str) -> None:
    record = guest.record(driver, uuid)
    interfaces = record["spec"]["network_interfaces"]
    found = [NetworkInterface.from_dict(v) for v in interfaces if v.get("port_id") == port_id]
    if not found:
        return
    vif = found[0]
    tap = vif.devname or f"tap{port_id[:11]}"
    if guest.active(driver, uuid):
        with contextlib.suppress(DriverError):
            _live_device(driver, uuid, "detach-device",
                         lvxml.nic_element(lvxml.Nic(tap, vif.mac_address, vif.mtu),
                                           driver.devices))
    record["spec"]["network_interfaces"] = [v for v in interfaces
                                            if v.get("port_id") != port_id]
    guest.save(driver, uuid, record)
    guest.define(driver, uuid, record)
    guest.delete_taps(driver, {tap})


# -- consoles -----------------------------------------------------------------------------
def get_console(driver: LibvirtDriver, uuid: str, kind: str) -> ConsoleTarget:
    """The guest's serial console or VNC display: a UNIX socket QEMU listens on (a
    domain defined before consoles existed has none until it is hard rebooted)."""
    guest.record(driver, uuid)
    if not guest.active(driver, uuid):
        raise InstanceNotReady(f"Instance {uuid} is not running on {driver.host}.")
    path = lvxml.console_sockets(driver.virsh("dumpxml", uuid)).get(kind)
    if path is None:
        raise ConsoleUnavailable(f"{driver.host}: instance {uuid} has no {kind} console "
                                 "socket (a hard reboot gives it one)")
    return ConsoleTarget(path=path)


def console_output(driver: LibvirtDriver, uuid: str) -> str:
    """The last :data:`_CONSOLE_MAX` bytes of ``console.log`` (empty before the first boot)."""
    guest.record(driver, uuid)
    try:
        with open(guest.instance_dir(driver, uuid) / "console.log", "rb") as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(0, handle.tell() - _CONSOLE_MAX))
            return handle.read().decode("utf-8", "replace")
    except FileNotFoundError:
        return ""


# -- snapshot -----------------------------------------------------------------------------
def snapshot(driver: LibvirtDriver, uuid: str) -> dict[str, Any]:
    """A standalone qcow2 of the root disk (the guest paused while it is read)."""
    record = guest.record(driver, uuid)
    base = guest.instance_dir(driver, uuid)
    disk = base / "disk"
    if not disk.exists():
        return {"image_id": guest.spec_of(record).image.id}
    state, _ = guest.state(driver, uuid)
    target = base / f"snapshot-{int(time.time() * 1000)}.qcow2"
    if state == RUNNING:
        driver.virsh("suspend", uuid)
    try:
        run.run(["qemu-img", "convert", "-U", "-O", "qcow2", str(disk), str(target)],
                timeout=600)
    except run.KernelError as exc:
        target.unlink(missing_ok=True)
        raise DriverError(f"snapshot of {uuid}: {exc}") from exc
    finally:
        if state == RUNNING:
            driver.virsh("resume", uuid)
    return {"path": str(target), "disk_format": "qcow2"}
