"""The ``namespace`` hypervisor: a guest is a set of Linux namespaces running busybox.

A guest ``<uuid>`` is

* the network namespace ``P-inst-<uuid>`` (:meth:`KernelNames.guest_ns`) with one veth per
  port: ``eth<i>`` inside (the port's MAC and MTU), ``tap<port[:11]>`` in the host namespace
  ``P-host-<host>``, left DOWN — the L2 agent enslaves it to its network's bridge, applies the
  security groups and sets it up, and only then does the guest see carrier;
* an *init*: ``busybox sh`` as PID 1 of new PID, UTS and mount namespaces inside that network
  namespace, started detached (``setsid``), running the boot script this module writes
  (:mod:`.namespace_boot`): hostname, DHCP on every ``eth<i>`` once it has carrier, the
  metadata service (keys, hostname, user data), then dropbear on port 22;
* control groups ``P-<uuid>`` (v1 ``freezer``, ``memory``, ``cpu``): the flavor's memory and
  vCPUs bound it, the freezer pauses it; its ``/proc/cpuinfo`` shows the flavor's vCPUs and,
  in a time namespace of its own, its ``/proc/uptime`` counts from its boot.

Files follow Nova's layout under the host's state directory, next to the image cache
(``instances/_base``): ``instances/<uuid>/`` holds ``instance.json`` (the spec and which
``eth<i>`` each port is), ``disk`` (a qcow2 overlay on the cached image), ``console.log``
(everything the guest prints), the boot scripts, ``init.pid``, the guest's ``root/`` (its
``/root``, bind-mounted inside its mount namespace so the host's stays untouched) and its
dropbear host key. Everything the driver reports is read back from those files and the
kernel (namespace present, init alive, freezer state), so guests outlive an agent restart.

Power: ``power_off`` stops the init (every process of the guest dies with its PID 1) and takes
its links down — the namespace, the taps and the files stay; ``power_on`` boots again; a
reboot is both. Pause and suspend freeze the guest's control group (suspend is recorded so
that it reports ``SUSPENDED``). The inventory is the host's real CPUs, memory and the disk of
the state directory. A volume (a ``local`` connection: a file) becomes a loop device on the host
and a block node (``/dev/vdb``...) in the guest's own ``/dev`` (:mod:`.namespace_volumes`);
``instance.json`` records ``volumes`` (id → loop, device, file), freed on detach and destroy.
Rescue and passwords are not supported (``DriverError``), nor is live migration: a guest is
a process tree with its own network namespace, whose running state could only move with a
checkpoint/restore tool (CRIU), which this machine does not have.

A guest shares the host's filesystem and runs as root (only ``/root``, ``/run``, ``/tmp``,
``/var/log`` and ``/etc/resolv.conf`` are its own): a test hypervisor, not an isolation
boundary. It starts with a clean environment (:data:`.namespace_guest.GUEST_ENV`), nothing of
the agent's.

This module holds the driver protocol (spawn, destroy, power, pause, resize, info...) and its
entry point; it stands on :mod:`.namespace_guest` (records, locks, the init, the console),
:mod:`.namespace_links` (the veths) and :mod:`.namespace_disks` (root disk, snapshots,
volumes).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import os
import platform
import shutil
import time
from pathlib import Path
from typing import Any

from pocketstack.agents.compute.drivers import namespace_boot as boot
from pocketstack.agents.compute.drivers import namespace_volumes as vols
from pocketstack.agents.compute.drivers.base import (
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
)
from pocketstack.agents.compute.drivers.namespace_disks import GuestDisks
from pocketstack.agents.compute.drivers.namespace_guest import one_at_a_time
from pocketstack.agents.compute.drivers.namespace_links import GuestLinks
from pocketstack.agents.kernel import cgroups, run
from pocketstack.agents.kernel.names import KernelNames

#: tools a namespace guest needs besides the data plane's (``run.missing``)
REQUIRED_TOOLS = ("busybox", "dropbear", "dropbearkey", "qemu-img", "unshare", "setsid", "curl")


def missing() -> str | None:
    """Why namespace guests cannot run here, or None when they can."""
    reason = run.missing()
    if reason is not None:
        return reason
    absent = [tool for tool in REQUIRED_TOOLS if shutil.which(tool) is None]
    if absent:
        return f"the namespace driver needs {', '.join(absent)} on PATH"
    if not cgroups.available("freezer"):
        return "the namespace driver needs the cgroup v1 freezer (/sys/fs/cgroup/freezer)"
    return None


class NamespaceDriver(GuestLinks, GuestDisks):
    """Guests as namespaces with a busybox init (see the module docstring): the driver
    protocol, on the guests' bookkeeping (:class:`.namespace_guest.Guests`), links and disks."""

    capabilities = {"supports_pause": True, "supports_suspend": True, "supports_resize": True,
                    "supports_attach_volume": True, "supports_attach_interface": True,
                    "supports_console_output": True, "supports_snapshot": True,
                    "supports_rescue": False, "supports_rebuild": True,
                    "supports_set_admin_password": False, "supports_live_migration": False}

    def inventory(self) -> HostInventory:
        """The host's real capacity: its CPUs, memory and the disk of the state directory."""
        memory_kb = 0
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemTotal:"):
                    memory_kb = int(line.split()[1])
        self.instances_dir.mkdir(parents=True, exist_ok=True)
        disk = shutil.disk_usage(self.instances_dir).total
        release = platform.release().split("-")[0].split(".")
        numbers = [int(part) if part.isdigit() else 0 for part in (release + ["0", "0"])[:3]]
        cpus = os.cpu_count() or 1
        return HostInventory(
            hypervisor_hostname=self.host, hypervisor_type="namespace",
            hypervisor_version=numbers[0] * 1_000_000 + numbers[1] * 1000 + numbers[2],
            vcpus=cpus, memory_mb=memory_kb // 1024, local_gb=disk >> 30,
            cpu_info={"arch": platform.machine(), "model": "host", "vendor": "linux",
                      "topology": {"cores": cpus, "threads": 1, "sockets": 1}},
            host_ip="127.0.0.1")

    def list_instances(self) -> dict[str, int]:
        """Every guest and its power state; a running guest that lost a veth (its tap deleted
        in the host namespace) is plugged again on the way (the compute agent's heartbeat is
        this driver's periodic task), as a hot-plugged interface: DHCP runs on it again."""
        found = {}
        try:
            entries = sorted(os.listdir(self.instances_dir))
        except FileNotFoundError:
            return {}
        for uuid in entries:
            if (self.instances_dir / uuid / "instance.json").is_file():
                with contextlib.suppress(InstanceNotFound):
                    found[uuid] = self.power_state(uuid)
                    if found[uuid] == RUNNING:
                        self._repair_links(uuid)
        return found

    def power_state(self, uuid: str) -> int:
        record = self._record(uuid)
        if self._init_pid(uuid) is None:
            return NOSTATE if record.get("building") else SHUTDOWN
        if cgroups.freezer_state(self._group(uuid)) in ("FROZEN", "FREEZING"):
            return SUSPENDED if record.get("suspended") else PAUSED
        return RUNNING

    @one_at_a_time
    def spawn(self, spec: InstanceSpec) -> None:
        uuid = spec.uuid
        if self._init_pid(uuid) is not None:
            return  # idempotent: a retried spawn of a running guest is a no-op
        # what a spawn that did not finish left behind, if anything; or the guest on the host
        # a cold migration or resize comes from: stopped, its namespace and cgroup taken over
        self._remove(uuid, take_over=True)
        if spec.image.path is not None and not os.path.isfile(spec.image.path):
            raise DriverError(f"{self.host}: image file {spec.image.path} is missing.")
        base = self._dir(uuid)
        try:
            self._build(spec, base)
        except Exception as exc:
            self._remove(uuid)
            if isinstance(exc, DriverError):
                raise
            raise DriverError(f"{self.host}: spawn of {uuid} failed: "
                              f"{type(exc).__name__}: {exc}") from exc

    def _build(self, spec: InstanceSpec, base: Path) -> None:
        uuid = spec.uuid
        base.mkdir(parents=True, exist_ok=False)
        devs = {vif.port_id: f"eth{i}" for i, vif in enumerate(spec.network_interfaces)}
        record = {"spec": spec.to_dict(), "devs": devs, "suspended": False,
                  "created_at": time.time(), "building": True}
        self._save(uuid, record)  # first, so that a failure's clean-up knows the taps
        self._make_disk(spec, base / "disk")
        root = base / "root"
        (root / ".ssh").mkdir(mode=0o700, parents=True)
        root.chmod(0o700)
        (base / "log").mkdir()
        (base / "run").mkdir()
        if spec.key_data:
            keys = root / ".ssh" / "authorized_keys"
            keys.write_text(spec.key_data.strip() + "\n")
            keys.chmod(0o600)
        run.run(["dropbearkey", "-t", "ed25519", "-f", str(base / "dropbear_host_key")])
        user_data = _decode(spec.user_data)
        if user_data is not None:
            (base / "user_data.local").write_bytes(user_data)
        netns = self.names.guest_ns(uuid)
        if run.netns_exists(netns):  # left over by a guest that was not cleaned up
            run.delete_netns(netns)
        self._claim_netns(uuid)
        host_links = run.links(self.names.host_ns(self.host)) \
            if run.netns_exists(self.names.host_ns(self.host)) else {}
        for vif in spec.network_interfaces:
            self._plug(uuid, vif, devs[vif.port_id], host_links)
        record["volumes"] = {}
        for volume in spec.block_devices.volumes:
            self._loop(record, volume)
            self._save(uuid, record)
        self._start(uuid, record)
        del record["building"]
        self._save(uuid, record)

    @one_at_a_time
    def destroy(self, uuid: str) -> None:
        self._remove(uuid)

    def _remove(self, uuid: str, take_over: bool = False) -> None:
        """Everything of a guest, whatever state it is in (nothing there is fine); its
        namespace and cgroup only when they are this host's guest's (or ``take_over``)."""
        base = self._dir(uuid)
        group = self._group(uuid)
        owned = take_over or self._owns_kernel_objects(uuid)
        if owned:
            cgroups.thaw(group)
        netns = self.names.guest_ns(uuid)
        host_ns = self.names.host_ns(self.host)
        with contextlib.suppress(InstanceNotFound):
            record = self._record(uuid)
            if run.netns_exists(host_ns):
                taps = {v.devname or "" for v in self._spec(record).network_interfaces}
                present = set(run.links(host_ns))
                run.ip_batch([f"link del {tap}" for tap in sorted(taps & present)], host_ns,
                             force=True)
        if owned and run.netns_exists(netns):
            self._stop(uuid, soft=False, links_down=False)
            run.delete_netns(netns)
        with contextlib.suppress(InstanceNotFound):
            for volume in (self._record(uuid).get("volumes") or {}).values():
                vols.detach_loop(volume["loop"], volume.get("path"))
        if owned:
            cgroups.remove(group)
        shutil.rmtree(base, ignore_errors=True)

    @one_at_a_time
    def power_off(self, uuid: str) -> None:
        record = self._record(uuid)
        self._stop(uuid, soft=True)
        if record.get("suspended"):
            record["suspended"] = False
            self._save(uuid, record)
        self._console_line(uuid, "[pocketstack] powered off")

    @one_at_a_time
    def power_on(self, uuid: str) -> None:
        record = self._record(uuid)
        if self._init_pid(uuid) is not None:
            return  # already running
        self._ensure_links(uuid, record)
        self._start(uuid, record)

    @one_at_a_time
    def reboot(self, uuid: str, hard: bool) -> None:
        record = self._record(uuid)
        self._stop(uuid, soft=not hard)
        record["suspended"] = False
        self._save(uuid, record)
        self._console_line(uuid, f"[pocketstack] {'hard' if hard else 'soft'} reboot")
        self._ensure_links(uuid, record)
        self._start(uuid, record)

    @one_at_a_time
    def pause(self, uuid: str) -> None:
        self._running(uuid)
        cgroups.freeze(self._group(uuid))

    @one_at_a_time
    def unpause(self, uuid: str) -> None:
        self._record(uuid)
        cgroups.thaw(self._group(uuid))

    @one_at_a_time
    def suspend(self, uuid: str) -> None:
        """The guest's memory stays where it is (frozen), recorded as suspended."""
        record = self._running(uuid)
        record["suspended"] = True
        self._save(uuid, record)
        cgroups.freeze(self._group(uuid))

    @one_at_a_time
    def resume(self, uuid: str) -> None:
        record = self._record(uuid)
        cgroups.thaw(self._group(uuid))
        record["suspended"] = False
        self._save(uuid, record)

    def rescue(self, spec: InstanceSpec) -> None:
        self._record(spec.uuid)
        raise DriverError("The namespace driver does not support rescue.")

    def unrescue(self, uuid: str) -> None:
        self._record(uuid)
        raise DriverError("The namespace driver does not support rescue.")

    @one_at_a_time
    def resize(self, spec: InstanceSpec) -> None:
        """Record the new size; a running guest's memory and CPU limits change at once."""
        record = self._record(spec.uuid)
        new = spec.to_dict()
        new["network_interfaces"] = record["spec"]["network_interfaces"]
        record["spec"] = new
        self._save(spec.uuid, record)
        cgroups.set_limits(self._group(spec.uuid), spec.memory_mb, spec.vcpus)
        boot.write_cpuinfo(self._dir(spec.uuid), spec.vcpus)

    def set_admin_password(self, uuid: str, password: str) -> None:
        self._record(uuid)
        raise DriverError("The namespace driver does not support setting the admin password "
                          "(its guests share the host's /etc/shadow).")

    def pre_live_migration(self, spec: InstanceSpec, source: str,
                           block_migration: bool | None) -> dict[str, Any]:
        raise DriverError(f"{self.host}: the namespace driver cannot live-migrate: a guest is "
                          "a process tree in namespaces of its own, and moving it running "
                          "needs a checkpoint/restore tool (CRIU) this driver does not use; "
                          "migrate it cold (server migrate) instead")

    def info(self, uuid: str) -> dict[str, Any]:
        record = self._record(uuid)
        spec = self._spec(record)
        disk = self._dir(uuid) / "disk"
        init = self.guest_init_pid(uuid)
        addresses: dict[str, list[str]] = {}
        netns = self.names.guest_ns(uuid)
        if run.netns_exists(netns):
            for link in run.ip_json(["-4", "addr", "show"], netns):
                if link.get("ifname") != "lo":
                    addresses[link["ifname"]] = [a["local"] for a in link.get("addr_info", [])]
        return {"power_state": self.power_state(uuid), "vcpus": spec.vcpus,
                "memory_mb": spec.memory_mb, "root_gb": spec.root_gb,
                "image": spec.image.id, "image_path": spec.image.path,
                "disk": str(disk) if disk.exists() else None,
                "namespace": netns, "init_pid": init,
                "vifs": sorted(record["devs"]), "devices": dict(record["devs"]),
                "addresses": addresses,
                "volumes": {k: v["device"] for k, v in (record.get("volumes") or {}).items()},
                "loop_devices": {k: v["loop"]
                                 for k, v in (record.get("volumes") or {}).items()},
                "uptime": None if init is None else time.time() - record.get("booted_at", 0)}


def _decode(user_data: str | None) -> bytes | None:
    """Nova's user_data is base64; anything else is taken as it is."""
    if not user_data:
        return None
    try:
        return base64.b64decode(user_data, validate=True)
    except (binascii.Error, ValueError):
        return user_data.encode()


def create(context: DriverContext) -> NamespaceDriver:
    """The ``namespace`` entry point: guests under ``STATE_DIR/instances`` (next to the image
    cache ``instances/_base``), kernel objects named with the cloud's prefix."""
    reason = missing()
    if reason is not None:
        raise ValueError(reason)
    s = context.settings
    names = KernelNames.for_settings(s.kernel_prefix, s.state_path)
    return NamespaceDriver(context.host, names, (context.state_dir / "instances").resolve())
