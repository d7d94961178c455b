"""The ``libvirt`` hypervisor: every guest a QEMU virtual machine defined in libvirt.

A guest ``<uuid>`` is

* the persistent domain ``instance-%08x`` (libvirt uuid = instance uuid), domain type ``kvm``
  where a guest boots under KVM, else ``qemu`` (TCG);
* ``instances/<uuid>/`` with its disks, ``disk.info``, ``console.log``, ``libvirt.xml`` and
  ``instance.json`` (the spec, the volumes attached, rescue state): the domain XML is always
  rebuilt from it, so a lost libvirt definition is made again on the next power-on;
* one tap per port, ``tap<port[:11]>`` in the host namespace, made by the driver (``ip tuntap``,
  MAC ``fe:…`` as Nova's taps, left down for the L2 agent to wire to its ``brq`` bridge and set
  up) and opened by libvirt (``<interface type='ethernet'>``, ``managed='no'``).

This module holds the driver protocol, :class:`LibvirtDriver`, and its entry point
:func:`create`. Each method hands over to a function taking the driver; those that change a
guest hold that guest's lock first (``_one_at_a_time``), except the abort and force-complete
of a live migration, which act while the move holds it. The rest is in

* :mod:`.libvirt_host`: the accelerator probe (KVM or TCG) and the host's own libvirtd, in its
  network namespace ``P-host-<host>``;
* :mod:`.libvirt_inventory`: the host's inventory, its guests' power states, one guest's
  details, the image cache manager;
* :mod:`.libvirt_guest`: a guest's record, its domain (built from the record, defined, its
  state, started, stopped), its console sockets and taps, and its removal;
* :mod:`.libvirt_lifecycle`: spawn (and a guest moving here), power (off is Nova's clean
  shutdown), reboot, pause (vCPUs stop) and suspend (managed save), rescue, resize, the disks
  a guest leaving this machine takes;
* :mod:`.libvirt_devices`: volume attach/detach, interface plug/unplug, consoles, snapshot;
* :mod:`.libvirt_migrate`: live migration between two hosts of this machine;
* :mod:`.libvirt_files`: the instance and image cache files; :mod:`.libvirt_xml`: the domain
  XML.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar, cast

from pocketstack.agents.compute.drivers import libvirt_devices as devices
from pocketstack.agents.compute.drivers import libvirt_guest as guest
from pocketstack.agents.compute.drivers import libvirt_host as lvhost
from pocketstack.agents.compute.drivers import libvirt_inventory as lvinventory
from pocketstack.agents.compute.drivers import libvirt_lifecycle as lifecycle
from pocketstack.agents.compute.drivers import libvirt_migrate as lvmigrate
from pocketstack.agents.compute.drivers import libvirt_xml as lvxml
from pocketstack.agents.compute.drivers.base import (
    ConsoleTarget,
    DriverContext,
    DriverError,
    HostInventory,
    InstanceSpec,
    MovedDisks,
    NetworkInterface,
    VolumeConnection,
)
from pocketstack.agents.kernel.names import KernelNames

LOG = logging.getLogger(__name__)

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
        self.last_aging = 0.0  # (time.monotonic) of the image cache manager's last run
        self._locks: dict[str, threading.RLock] = {}
        self._locks_guard = threading.Lock()

    def _guest_lock(self, uuid: str) -> threading.RLock:
        with self._locks_guard:
            return self._locks.setdefault(uuid, threading.RLock())

    # -- host (libvirt_host, libvirt_inventory) --------------------------------------------
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

    def inventory(self) -> HostInventory:
        return lvinventory.inventory(self)

    def list_instances(self) -> dict[str, int]:
        """Every guest of this host with libvirt's power state; the image cache manager runs
        from here every few minutes (:func:`.libvirt_inventory.list_instances`)."""
        return lvinventory.list_instances(self)

    def power_state(self, uuid: str) -> int:
        return lvinventory.power_state(self, uuid)

    def info(self, uuid: str) -> dict[str, Any]:
        return lvinventory.info(self, uuid)

    def console_socket(self, uuid: str, kind: str) -> Path:
        """Where QEMU listens for the guest's ``serial`` or ``vnc`` console
        (:func:`.libvirt_guest.console_socket`)."""
        return guest.console_socket(self, uuid, kind)

    # -- lifecycle (libvirt_lifecycle) -----------------------------------------------------
    @_one_at_a_time
    def spawn(self, spec: InstanceSpec) -> None:
        lifecycle.spawn(self, spec, None)

    @_one_at_a_time
    def spawn_moved(self, spec: InstanceSpec, moved: MovedDisks) -> None:
        """A guest moving here (cold migration or resize), with its disks from ``moved``."""
        lifecycle.spawn(self, spec, moved)

    @_one_at_a_time
    def export_disks(self, uuid: str, staging: Path, flatten: bool) -> dict[str, Any]:
        """The guest's root and ephemeral disks written into ``staging`` for another machine
        (:func:`.libvirt_lifecycle.export_disks`)."""
        return lifecycle.export_disks(self, uuid, staging, flatten)

    @_one_at_a_time
    def destroy(self, uuid: str) -> None:
        """Everything of the guest (:func:`.libvirt_guest.remove`); nothing there is fine."""
        guest.remove(self, uuid)

    @_one_at_a_time
    def power_off(self, uuid: str) -> None:
        lifecycle.power_off(self, uuid)

    @_one_at_a_time
    def power_on(self, uuid: str) -> None:
        lifecycle.power_on(self, uuid)

    @_one_at_a_time
    def reboot(self, uuid: str, hard: bool) -> None:
        lifecycle.reboot(self, uuid, hard)

    @_one_at_a_time
    def pause(self, uuid: str) -> None:
        lifecycle.pause(self, uuid)

    @_one_at_a_time
    def unpause(self, uuid: str) -> None:
        lifecycle.unpause(self, uuid)

    @_one_at_a_time
    def suspend(self, uuid: str) -> None:
        """libvirt's managed save: memory to disk, the domain shut off."""
        lifecycle.suspend(self, uuid)

    @_one_at_a_time
    def resume(self, uuid: str) -> None:
        lifecycle.resume(self, uuid)

    @_one_at_a_time
    def rescue(self, spec: InstanceSpec) -> None:
        """Boot from ``disk.rescue`` (an overlay on the rescue image) with the guest's own
        disk second, as Nova's rescue does."""
        lifecycle.rescue(self, spec)

    @_one_at_a_time
    def unrescue(self, uuid: str) -> None:
        lifecycle.unrescue(self, uuid)

    @_one_at_a_time
    def resize(self, spec: InstanceSpec) -> None:
        """The new flavor: the guest stops, its root disk grows, its domain is redefined with
        the new vCPUs and memory, and it starts again if it was running."""
        lifecycle.resize(self, spec)

    def set_admin_password(self, uuid: str, password: str) -> None:
        guest.record(self, uuid)
        raise DriverError("The libvirt driver sets passwords through the QEMU guest agent, "
                          "which this guest image does not run.")

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

    def live_migration_abort(self, uuid: str) -> None:  # not serialized: the move holds the lock
        lvmigrate.abort(self, uuid)

    def live_migration_force_complete(self, uuid: str) -> None:  # likewise
        lvmigrate.force_complete(self, uuid)

    # -- devices (libvirt_devices) ---------------------------------------------------------
    def get_console(self, uuid: str, kind: str) -> ConsoleTarget:
        """The guest's serial console or VNC display: a UNIX socket QEMU listens on (a
        domain defined before consoles existed has none until it is hard rebooted)."""
        return devices.get_console(self, uuid, kind)

    def console_output(self, uuid: str) -> str:
        return devices.console_output(self, uuid)

    @_one_at_a_time
    def snapshot(self, uuid: str) -> dict[str, Any]:
        """A standalone qcow2 of the root disk (the guest paused while it is read)."""
        return devices.snapshot(self, uuid)

    @_one_at_a_time
    def attach_volume(self, uuid: str, volume: VolumeConnection) -> str:
        """The volume's file as a virtio disk: hot-plugged into a running guest, and in the
        domain's definition for its next boot."""
        return devices.attach_volume(self, uuid, volume)

    @_one_at_a_time
    def detach_volume(self, uuid: str, volume_id: str) -> None:
        devices.detach_volume(self, uuid, volume_id)

    @_one_at_a_time
    def plug_vif(self, uuid: str, vif: NetworkInterface) -> None:
        devices.plug_vif(self, uuid, vif)

    @_one_at_a_time
    def unplug_vif(self, uuid: str, port_id: str) -> None:
        devices.unplug_vif(self, uuid, port_id)


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
