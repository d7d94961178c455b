"""The ``libvirt`` driver's lifecycle actions: spawn (and a guest moving here), power,
reboot, pause and suspend, rescue, resize, and the disks a guest leaving this machine takes.

* **Spawn** lays out the instance directory (:func:`.libvirt_files.make_instance_disks`:
  root overlay on the cached base image, ephemeral, swap, config drive; or the disks of a
  guest moving here, :class:`MovedDisks`), records the volumes, makes the taps and starts the
  domain; ``building`` stays in the record until it runs. A failed spawn leaves nothing; a
  retried spawn of a running guest does nothing.
* **Power**: off is an ACPI shutdown that becomes a forced stop after ``shutdown_timeout``
  seconds (Nova's clean shutdown; a paused guest is stopped at once, a suspended one loses
  its managed save); a soft reboot is the same then a start (a guest ignoring it is reset),
  a hard reboot a reset (or a start of a stopped guest).
* **Pause** is libvirt's suspend (vCPUs stop), **suspend** a managed save (memory to disk,
  the domain shut off; ``resume`` restores it).
* **Rescue** boots from ``disk.rescue`` (an overlay on the rescue image) with the guest's own
  disk second; **resize** stops the guest, grows its root disk and redefines the domain with
  the new flavor.

Every function takes the driver (:class:`.libvirt.LibvirtDriver`), whose protocol methods
hold the guest's lock around them.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pocketstack.agents.compute.drivers import libvirt_files as files
from pocketstack.agents.compute.drivers import libvirt_guest as guest
from pocketstack.agents.compute.drivers.base import (
    PAUSED,
    RUNNING,
    DriverError,
    InstanceNotFound,
    InstanceSpec,
    MovedDisks,
)

if TYPE_CHECKING:
    from pocketstack.agents.compute.drivers.libvirt import LibvirtDriver

LOG = logging.getLogger(__name__)


# -- spawn and moves ----------------------------------------------------------------------
def spawn(driver: LibvirtDriver, spec: InstanceSpec, moved: MovedDisks | None) -> None:
    """The guest built and started (with the disks of ``moved`` when it moves here)."""
    uuid = spec.uuid
    with contextlib.suppress(InstanceNotFound):
        record = guest.record(driver, uuid)
        if not record.get("building") and guest.active(driver, uuid):
            return  # idempotent: a retried spawn of a running guest is a no-op
    # what a spawn that did not finish left behind, if anything (a domain is defined only
    # once its directory is there: no directory, no virsh round trips for nothing)
    if guest.instance_dir(driver, uuid).exists():
        guest.remove(driver, uuid)
    if spec.image.path is not None and not os.path.isfile(spec.image.path):
        raise DriverError(f"{driver.host}: image file {spec.image.path} is missing.")
    with guest.removed_on_failure(driver, uuid, f"spawn of {uuid}"):
        _build(driver, spec, moved)


def _build(driver: LibvirtDriver, spec: InstanceSpec, moving: MovedDisks | None) -> None:
    uuid = spec.uuid
    base = guest.instance_dir(driver, uuid)
    base_dir = driver.instances_dir / "_base"
    image = None
    if spec.image.id and spec.image.path is not None:
        image = files.ensure_base(base_dir, spec.image, driver.force_raw_images)
    elif spec.image.id and not spec.block_devices.volumes:
        raise DriverError(f"image {spec.image.id} has no data on {driver.host}")
    base.mkdir(parents=True, exist_ok=False)
    record: dict[str, Any] = {"spec": spec.to_dict(), "created_at": time.time(),
                              "building": True, "volumes": {}}
    guest.save(driver, uuid, record)  # first, so that a failure's clean-up knows the taps
    if moving is None:
        moving = _moving_from(driver, uuid)
    if moving is not None:
        LOG.info("%s: %s moves here; its disks %s %s", driver.host, uuid,
                 "copied from" if moving.local else "taken over from", moving.directory)
    files.make_instance_disks(base, base_dir, spec, image, moving)
    for volume in spec.block_devices.volumes:
        guest.volume_entry(record, volume)
    guest.save(driver, uuid, record)
    guest.ensure_taps(driver, spec, replace=True)
    guest.start(driver, uuid, record)
    del record["building"]
    guest.save(driver, uuid, record)


def _moving_from(driver: LibvirtDriver, uuid: str) -> MovedDisks | None:
    """For a plain ``spawn`` (no agent told where the disks are: a driver used on its
    own, or a message from an older conductor): the instance directory of ``uuid`` on
    another compute host of this state directory (``STATE/hypervisors/<host>/instances``),
    if there is one — a spawn of a guest that exists there is its move to this host."""
    hypervisors = driver.instances_dir.parent.parent
    for other in sorted(hypervisors.glob(f"*/instances/{uuid}")):
        if other != guest.instance_dir(driver, uuid) and (other / "disk").is_file():
            return MovedDisks(other, local=True)
    return None


def export_disks(driver: LibvirtDriver, uuid: str, staging: Path,
                 flatten: bool) -> dict[str, Any]:
    """The guest's root and ephemeral disks written into ``staging`` for another machine
    (:func:`.libvirt_files.export_disk`): the root's own clusters over its image (all of
    it when ``flatten``), the ephemeral disk whole (the receiver's ephemeral base is a
    mkfs of its own). A running guest is paused while they are read (one instant of its
    disks, as a snapshot), then resumes."""
    guest.record(driver, uuid)
    base = guest.instance_dir(driver, uuid)
    names = [n for n in ("disk", "disk.eph0") if (base / n).is_file()]
    state, _ = guest.state(driver, uuid)
    if state == RUNNING:
        driver.virsh("suspend", uuid)
    try:
        out: dict[str, Any] = {}
        for name in names:
            fmt = files.export_disk(base / name, staging / name,
                                    keep_backing=name == "disk" and not flatten)
            out[name] = {"backing": "image" if fmt else None}
        return out
    finally:
        if state == RUNNING:
            driver.virsh("resume", uuid)


# -- power --------------------------------------------------------------------------------
def power_off(driver: LibvirtDriver, uuid: str) -> None:
    guest.record(driver, uuid)
    shutdown(driver, uuid)


def shutdown(driver: LibvirtDriver, uuid: str) -> None:
    """ACPI shutdown, then a forced stop after ``shutdown_timeout`` seconds."""
    if guest.managed_save(driver, uuid):
        driver.virsh("managedsave-remove", uuid)
        return
    if not guest.active(driver, uuid):
        return
    state, _ = guest.state(driver, uuid)
    if state == PAUSED:
        guest.force_off(driver, uuid)
        return
    with contextlib.suppress(DriverError):
        driver.virsh("shutdown", uuid, "--mode", "acpi")
    if not guest.wait_off(driver, uuid, driver.shutdown_timeout):
        LOG.info("%s: %s ignored the ACPI shutdown; stopping it", driver.host, uuid)
        guest.force_off(driver, uuid)


def power_on(driver: LibvirtDriver, uuid: str) -> None:
    record = guest.record(driver, uuid)
    state, defined = guest.state(driver, uuid)
    if state == PAUSED:
        driver.virsh("resume", uuid)
        return
    if defined and state == RUNNING:
        return
    guest.start(driver, uuid, record)


def reboot(driver: LibvirtDriver, uuid: str, hard: bool) -> None:
    record = guest.record(driver, uuid)
    state, defined = guest.state(driver, uuid)
    if hard:
        if state in (RUNNING, PAUSED):
            if state == PAUSED:
                driver.virsh("resume", uuid)
            guest.ensure_taps(driver, guest.spec_of(record))
            driver.virsh("reset", uuid)
            return
        if guest.managed_save(driver, uuid):
            driver.virsh("managedsave-remove", uuid)
        guest.start(driver, uuid, record)
        return
    if state == RUNNING:
        with contextlib.suppress(DriverError):
            driver.virsh("shutdown", uuid, "--mode", "acpi")
        if not guest.wait_off(driver, uuid, driver.shutdown_timeout):
            LOG.info("%s: %s ignored the soft reboot; resetting it", driver.host, uuid)
            driver.virsh("reset", uuid)
            return
    elif state == PAUSED:
        raise DriverError(f"Instance {uuid} is paused; a soft reboot needs it running.")
    guest.start(driver, uuid, record)


# -- pause and suspend --------------------------------------------------------------------
def _running(driver: LibvirtDriver, uuid: str) -> dict[str, Any]:
    record = guest.record(driver, uuid)
    if not guest.active(driver, uuid):
        raise DriverError(f"Instance {uuid} is not running.")
    return record


def pause(driver: LibvirtDriver, uuid: str) -> None:
    _running(driver, uuid)
    driver.virsh("suspend", uuid)


def unpause(driver: LibvirtDriver, uuid: str) -> None:
    guest.record(driver, uuid)
    if guest.state(driver, uuid)[0] == PAUSED:
        driver.virsh("resume", uuid)


def suspend(driver: LibvirtDriver, uuid: str) -> None:
    """libvirt's managed save: memory to disk, the domain shut off."""
    _running(driver, uuid)
    driver.virsh("managedsave", uuid)


def resume(driver: LibvirtDriver, uuid: str) -> None:
    record = guest.record(driver, uuid)
    state, _ = guest.state(driver, uuid)
    if state == PAUSED:
        driver.virsh("resume", uuid)
    elif state != RUNNING:
        guest.ensure_taps(driver, guest.spec_of(record))
        driver.virsh("start", uuid)  # restores the managed save


# -- rescue and resize --------------------------------------------------------------------
def rescue(driver: LibvirtDriver, spec: InstanceSpec) -> None:
    """Boot from ``disk.rescue`` (an overlay on the rescue image) with the guest's own
    disk second, as Nova's rescue does."""
    uuid = spec.uuid
    record = guest.record(driver, uuid)
    image_ref = spec.rescue_image or spec.image
    if not image_ref.id or image_ref.path is None:
        raise DriverError(f"rescue image {image_ref.id} has no data on {driver.host}")
    image = files.ensure_base(driver.instances_dir / "_base", image_ref,
                              driver.force_raw_images)
    guest.force_off(driver, uuid)
    target = guest.instance_dir(driver, uuid) / "disk.rescue"
    target.unlink(missing_ok=True)
    files.make_root(target, image, 0)
    record["rescue"] = True
    guest.save(driver, uuid, record)
    guest.start(driver, uuid, record)


def unrescue(driver: LibvirtDriver, uuid: str) -> None:
    record = guest.record(driver, uuid)
    guest.force_off(driver, uuid)
    record.pop("rescue", None)
    guest.save(driver, uuid, record)
    (guest.instance_dir(driver, uuid) / "disk.rescue").unlink(missing_ok=True)
    guest.start(driver, uuid, record)


def resize(driver: LibvirtDriver, spec: InstanceSpec) -> None:
    """The new flavor: the guest stops, its root disk grows, its domain is redefined with
    the new vCPUs and memory, and it starts again if it was running."""
    uuid = spec.uuid
    record = guest.record(driver, uuid)
    was_on = guest.active(driver, uuid)
    if was_on:
        shutdown(driver, uuid)
    new = spec.to_dict()
    new["network_interfaces"] = record["spec"]["network_interfaces"]
    record["spec"] = new
    disk = guest.instance_dir(driver, uuid) / "disk"
    if disk.exists():  # (a volume-backed guest has none)
        files.grow(disk, spec.root_gb)
    guest.save(driver, uuid, record)
    if was_on:
        guest.start(driver, uuid, record)
    else:
        guest.define(driver, uuid, record)
