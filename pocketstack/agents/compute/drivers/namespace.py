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
boundary. It starts with a clean environment (:data:`GUEST_ENV`), nothing of the agent's.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import fcntl
import functools
import json
import logging
import os
import platform
import re
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any, TypeVar, cast

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
    NetworkInterface,
    VolumeConnection,
)
from pocketstack.agents.kernel import cgroups, run
from pocketstack.agents.kernel.names import KernelNames

#: tools a namespace guest needs besides the data plane's (``run.missing``)
LOG = logging.getLogger(__name__)
REQUIRED_TOOLS = ("busybox", "dropbear", "dropbearkey", "qemu-img", "unshare", "setsid", "curl")
#: qemu-img's name of each Glance disk_format the overlay can sit on
_QEMU_FORMATS = {"raw": "raw", "qcow2": "qcow2", "vmdk": "vmdk", "vdi": "vdi", "vhd": "vpc",
                 "vhdx": "vhdx", "iso": "raw", "ami": "raw", "ari": "raw", "aki": "raw",
                 "ploop": "raw"}
_KILL_WAIT = 5.0  # seconds for a killed guest's processes to be gone
_SOFT_WAIT = 1.0  # seconds a guest has to stop on SIGTERM before it is killed
_CONSOLE_MAX = 256 * 1024  # bytes of console.log that console_output returns (the tail)
#: the environment a guest starts with (nothing of the agent's)
GUEST_ENV = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
             "HOME": "/root", "TERM": "linux", "LANG": "C.UTF-8"}
_MAC = re.compile(r"^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$")
_IFNAME = re.compile(r"^[A-Za-z0-9_.-]{1,15}$")


_F = TypeVar("_F", bound=Callable[..., Any])


def _one_at_a_time(method: _F) -> _F:
    """Serialize a driver method per guest (its first argument: a uuid or a spec)."""
    @functools.wraps(method)
    def wrapper(self: NamespaceDriver, first: Any, *args: Any, **kwargs: Any) -> Any:
        uuid = first.uuid if isinstance(first, InstanceSpec) else str(first)
        with self._guest_lock(uuid), self._machine_lock(uuid):
            return method(self, first, *args, **kwargs)
    return cast(_F, wrapper)


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


class NamespaceDriver:
    """Guests as namespaces with a busybox init (see the module docstring)."""

    capabilities = {"supports_pause": True, "supports_suspend": True, "supports_resize": True,
                    "supports_attach_volume": True, "supports_attach_interface": True,
                    "supports_console_output": True, "supports_snapshot": True,
                    "supports_rescue": False, "supports_rebuild": True,
                    "supports_set_admin_password": False, "supports_live_migration": False}

    def __init__(self, host: str, names: KernelNames, instances_dir: Path) -> None:
        self.host = host
        self.names = names
        self.instances_dir = instances_dir
        self._locks: dict[str, threading.RLock] = {}
        self._locks_guard = threading.Lock()

    def _guest_lock(self, uuid: str) -> threading.RLock:
        """One operation at a time on a guest (the agent runs them in worker threads)."""
        with self._locks_guard:
            return self._locks.setdefault(uuid, threading.RLock())

    @contextlib.contextmanager
    def _machine_lock(self, uuid: str) -> Any:
        """The guest's kernel names are the machine's, not the host's: while a migration's
        source and target both have the guest (a revert's destroy on one, boot on the other),
        one host's operation on it at a time (a lock file beside the hosts' directories)."""
        locks = self.instances_dir.parent.parent / ".guest-locks"
        locks.mkdir(parents=True, exist_ok=True)
        with open(locks / uuid, "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    # -- where things are ------------------------------------------------------------------
    def _dir(self, uuid: str) -> Path:
        return self.instances_dir / uuid

    def _group(self, uuid: str) -> str:
        return f"{self.names.prefix}-{uuid}"

    def _record(self, uuid: str) -> dict[str, Any]:
        try:
            data: dict[str, Any] = json.loads((self._dir(uuid) / "instance.json").read_text())
        except (FileNotFoundError, NotADirectoryError, json.JSONDecodeError):
            raise InstanceNotFound(f"Instance {uuid} could not be found on {self.host}.")\
                from None
        return data

    def _save(self, uuid: str, record: dict[str, Any]) -> None:
        path = self._dir(uuid) / "instance.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(record, indent=1))
        os.replace(tmp, path)

    def _netns_owner(self, uuid: str) -> str | None:
        """The host whose guest holds the name ``P-inst-<uuid>`` now (the alias its spawn
        gave the namespace's ``lo``), "" for a namespace without one, None for none."""
        netns = self.names.guest_ns(uuid)
        if not run.netns_exists(netns):
            return None
        try:
            return str(run.links(netns).get("lo", {}).get("ifalias") or "")
        except run.KernelError:
            return None

    def _claim_netns(self, uuid: str) -> None:
        """Make (or keep) the guest's namespace and mark it as this host's guest's; one
        another host's guest holds (a reverted migration's target) is stopped and removed."""
        netns = self.names.guest_ns(uuid)
        if not self._owns_kernel_objects(uuid):
            self._stop(uuid, soft=False, links_down=False)
            run.delete_netns(netns)
        run.ensure_netns(netns)
        run.run(["ip", "link", "set", "lo", "alias", self.host], netns)

    def _owns_kernel_objects(self, uuid: str) -> bool:
        """Whether the guest's namespace and cgroup (named by uuid alone: one kernel holds
        every host) belong to this host's guest. They do not once a cold migration or resize
        moved the guest to another host, whose spawn took the names over (and stopped this
        host's guest, as Nova powers off a migration's source): the source's clean-up on
        confirm must leave them to the target's guest."""
        return self._netns_owner(uuid) in (None, "", self.host)

    @staticmethod
    def _spec(record: dict[str, Any]) -> InstanceSpec:
        return InstanceSpec.from_dict(record["spec"])

    # -- the init process ------------------------------------------------------------------
    def _init_pid(self, uuid: str) -> int | None:
        """The pid of the guest's launcher (``unshare``, parent of the guest's PID 1) when it is
        alive and really this guest's (in its network namespace), else None."""
        try:
            pid = int((self._dir(uuid) / "init.pid").read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        try:
            with open(f"/proc/{pid}/stat") as handle:
                state = handle.read().rpartition(")")[2].split()[0]
            if state in ("Z", "X"):
                return None
            ns = os.stat(os.path.join(run.NETNS_DIR, self.names.guest_ns(uuid)))
            mine = os.stat(f"/proc/{pid}/ns/net")
        except (FileNotFoundError, ProcessLookupError, IndexError):
            return None
        if (ns.st_dev, ns.st_ino) != (mine.st_dev, mine.st_ino):
            return None  # the pid was reused by someone else
        return pid

    def guest_init_pid(self, uuid: str) -> int | None:
        """The host pid of the guest's PID 1 (the boot script), or None when it is not running."""
        pid = self._init_pid(uuid)
        if pid is None:
            return None
        try:
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except FileNotFoundError:
            return None
        return int(children[0]) if children else None

    def _start(self, uuid: str, record: dict[str, Any]) -> None:
        """Write the boot scripts and start the guest's init detached; fail if it dies at once."""
        spec = self._spec(record)
        base = self._dir(uuid)
        boot.write_scripts(base, spec, record["devs"])
        group = self._group(uuid)
        cgroups.create(group, spec.memory_mb, spec.vcpus)
        _trim(base / "console.log")
        pidfile = base / "init.pid"
        pidfile.unlink(missing_ok=True)
        joins = " ".join(f"echo $$ > {boot.q(str(p))} &&" for p in cgroups.join_paths(group))
        launcher = (f"{joins} echo $$ > {boot.q(str(pidfile))} && exec ip netns exec "
                    f"{boot.q(self.names.guest_ns(uuid))} unshare --pid --uts --mount "
                    f"{_time_namespace()}--fork "
                    f"--mount-proc --propagation private busybox sh "
                    f"{boot.q(str(base / 'init.sh'))}")
        with open(base / "console.log", "ab") as console:
            proc = subprocess.run(["setsid", "-f", "sh", "-c", launcher], stdin=subprocess.DEVNULL,
                                  stdout=console, stderr=subprocess.STDOUT, cwd="/",
                                  env=GUEST_ENV, check=False)
        if proc.returncode != 0:
            raise DriverError(f"{uuid}: the guest's init could not be started "
                              f"(setsid exited {proc.returncode}).")
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline:
            init = self.guest_init_pid(uuid)
            if init is not None:
                record["booted_at"] = time.time()
                self._save(uuid, record)
                volumes = record.get("volumes") or {}
                if volumes:  # a new mount namespace: its device nodes again
                    vols.expose(init, base, {v["device"]: v["loop"]
                                             for v in volumes.values()})
                return
            time.sleep(0.005)
        raise DriverError(f"{uuid}: the guest's init did not start; console: "
                          f"{self._console_tail(uuid, 400)!r}")

    def _stop(self, uuid: str, soft: bool, links_down: bool = True) -> None:
        """Stop every process of the guest (its PID 1 first, with SIGTERM when ``soft``); its
        links go down (``links_down``) so that nothing answers for it any more."""
        group = self._group(uuid)
        cgroups.thaw(group)
        init = self.guest_init_pid(uuid)
        if soft and init is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(init, signal.SIGTERM)
            deadline = time.monotonic() + _SOFT_WAIT
            while time.monotonic() < deadline and self._init_pid(uuid) is not None:
                time.sleep(0.01)
        netns = self.names.guest_ns(uuid)
        left = set(run.netns_pids(netns)) | set(cgroups.pids(group))
        for pid in left:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + _KILL_WAIT
        while left and time.monotonic() < deadline:
            left = {pid for pid in left if _alive(pid)}
            time.sleep(0.005)
        cgroups.kill(group)
        if links_down and run.netns_exists(netns):
            lines = []
            for dev in run.links(netns):
                if dev != "lo":
                    lines += [f"link set {dev} down", f"addr flush dev {dev}"]
            run.ip_batch(lines, netns, force=True)

    # -- links -----------------------------------------------------------------------------
    def _plug(self, uuid: str, vif: NetworkInterface, dev: str,
              host_links: dict[str, dict[str, Any]] | None = None) -> None:
        """Create the veth ``dev`` (guest) / ``vif.devname`` (host, left down)."""
        host_ns = self.names.host_ns(self.host)
        tap = vif.devname or f"tap{vif.port_id[:11]}"
        if not _MAC.match(vif.mac_address or ""):
            raise DriverError(f"port {vif.port_id}: bad MAC address {vif.mac_address!r}")
        if not _IFNAME.match(tap):
            raise DriverError(f"port {vif.port_id}: bad device name {tap!r}")
        run.ensure_netns(host_ns)
        if host_links is None:
            host_links = run.links(host_ns)
        if tap in host_links:  # left over by a guest that was not cleaned up
            run.run(["ip", "link", "del", tap], host_ns, check=False)
        mtu = f" mtu {int(vif.mtu)}" if vif.mtu else ""
        host_mac = "fe" + vif.mac_address[2:]  # as Nova's taps: the bridge never takes it
        try:
            run.ip_batch([f"link add {dev} address {vif.mac_address}{mtu} type veth peer name "
                          f"{tap} address {host_mac}{mtu} netns {host_ns}"],
                         self.names.guest_ns(uuid))
        except run.KernelError as exc:
            raise DriverError(f"port {vif.port_id}: cannot plug {dev} (host end {tap} in "
                              f"{host_ns}): {str(exc).splitlines()[0].split(': ', 1)[-1]}"
                              ) from exc

    def _unplug(self, uuid: str, vif: NetworkInterface, dev: str) -> None:
        host_ns = self.names.host_ns(self.host)
        tap = vif.devname or f"tap{vif.port_id[:11]}"
        if run.netns_exists(host_ns):
            run.run(["ip", "link", "del", tap], host_ns, check=False)
        if run.netns_exists(self.names.guest_ns(uuid)):
            run.run(["ip", "link", "del", dev], self.names.guest_ns(uuid), check=False)

    def _ensure_links(self, uuid: str, record: dict[str, Any]) -> None:
        """Recreate the namespace and veths a guest is missing (e.g. after the host's reboot)."""
        netns = self.names.guest_ns(uuid)
        self._claim_netns(uuid)
        present = run.links(netns)
        for vif in self._spec(record).network_interfaces:
            dev = record["devs"][vif.port_id]
            if dev not in present:
                self._plug(uuid, vif, dev)

    # -- the driver protocol ---------------------------------------------------------------
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

    def _repair_links(self, uuid: str) -> None:
        with self._guest_lock(uuid):
            try:
                record = self._record(uuid)
                netns = self.names.guest_ns(uuid)
                init = self.guest_init_pid(uuid)
                if record.get("building") or init is None or not run.netns_exists(netns):
                    return
                present = run.links(netns)
                for vif in self._spec(record).network_interfaces:
                    dev = record["devs"].get(vif.port_id)
                    if dev is None or dev in present:
                        continue
                    LOG.warning("%s: guest %s lost %s; plugging it again", self.host, uuid,
                                dev)
                    self._stop_dhcp(uuid, dev)
                    self._plug(uuid, vif, dev)
                    self._hotplug(uuid, init, dev)
            except (DriverError, run.KernelError, InstanceNotFound) as exc:
                LOG.warning("%s: guest %s: links not repaired: %s", self.host, uuid, exc)

    def power_state(self, uuid: str) -> int:
        record = self._record(uuid)
        if self._init_pid(uuid) is None:
            return NOSTATE if record.get("building") else SHUTDOWN
        if cgroups.freezer_state(self._group(uuid)) in ("FROZEN", "FREEZING"):
            return SUSPENDED if record.get("suspended") else PAUSED
        return RUNNING

    @_one_at_a_time
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

    def _make_disk(self, spec: InstanceSpec, disk: Path) -> None:
        """A qcow2 overlay on the cached image (or a blank disk of the flavor's size)."""
        size = f"{spec.root_gb}G" if spec.root_gb else None
        if spec.image.path is not None:
            fmt = _QEMU_FORMATS.get((spec.image.disk_format or "raw").lower(), "raw")
            argv = ["qemu-img", "create", "-q", "-f", "qcow2", "-F", fmt, "-b",
                    str(Path(spec.image.path).resolve()), str(disk)]
            if size:
                virtual = spec.image.virtual_size or (spec.image.size if fmt == "raw" else None)
                if virtual is None:
                    about = json.loads(run.run(["qemu-img", "info", "--output=json", "-f", fmt,
                                                spec.image.path]))
                    virtual = int(about["virtual-size"])
                if virtual <= spec.root_gb << 30:  # never smaller than the image
                    argv.append(size)
        elif size:
            argv = ["qemu-img", "create", "-q", "-f", "qcow2", str(disk), size]
        else:
            return
        run.run(argv, timeout=60)

    @_one_at_a_time
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

    @_one_at_a_time
    def power_off(self, uuid: str) -> None:
        record = self._record(uuid)
        self._stop(uuid, soft=True)
        if record.get("suspended"):
            record["suspended"] = False
            self._save(uuid, record)
        self._console_line(uuid, "[pocketstack] powered off")

    @_one_at_a_time
    def power_on(self, uuid: str) -> None:
        record = self._record(uuid)
        if self._init_pid(uuid) is not None:
            return  # already running
        self._ensure_links(uuid, record)
        self._start(uuid, record)

    @_one_at_a_time
    def reboot(self, uuid: str, hard: bool) -> None:
        record = self._record(uuid)
        self._stop(uuid, soft=not hard)
        record["suspended"] = False
        self._save(uuid, record)
        self._console_line(uuid, f"[pocketstack] {'hard' if hard else 'soft'} reboot")
        self._ensure_links(uuid, record)
        self._start(uuid, record)

    def _running(self, uuid: str) -> dict[str, Any]:
        record = self._record(uuid)
        if self._init_pid(uuid) is None:
            raise DriverError(f"Instance {uuid} is not running.")
        return record

    @_one_at_a_time
    def pause(self, uuid: str) -> None:
        self._running(uuid)
        cgroups.freeze(self._group(uuid))

    @_one_at_a_time
    def unpause(self, uuid: str) -> None:
        self._record(uuid)
        cgroups.thaw(self._group(uuid))

    @_one_at_a_time
    def suspend(self, uuid: str) -> None:
        """The guest's memory stays where it is (frozen), recorded as suspended."""
        record = self._running(uuid)
        record["suspended"] = True
        self._save(uuid, record)
        cgroups.freeze(self._group(uuid))

    @_one_at_a_time
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

    def console_output(self, uuid: str) -> str:
        self._record(uuid)
        return self._console_tail(uuid, _CONSOLE_MAX)

    def _console_tail(self, uuid: str, size: int) -> str:
        try:
            with open(self._dir(uuid) / "console.log", "rb") as handle:
                handle.seek(0, os.SEEK_END)
                handle.seek(max(0, handle.tell() - size))
                return handle.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def _console_line(self, uuid: str, line: str) -> None:
        with open(self._dir(uuid) / "console.log", "a") as handle:
            handle.write(line + "\n")

    @_one_at_a_time
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

    @_one_at_a_time
    def snapshot(self, uuid: str) -> dict[str, Any]:
        """``{"image_id"}`` while the root disk has nothing of its own beyond its image, else a
        standalone qcow2 copy ``{"path", "disk_format"}``."""
        record = self._record(uuid)
        spec = self._spec(record)
        disk = self._dir(uuid) / "disk"
        if not disk.exists():
            return {"image_id": spec.image.id}
        extents = json.loads(run.run(["qemu-img", "map", "--output=json", str(disk)]))
        own = [e for e in extents if e.get("depth") == 0 and e.get("data")]
        if not own and spec.image.path is not None:
            return {"image_id": spec.image.id}
        target = self._dir(uuid) / f"snapshot-{int(time.time() * 1000)}.qcow2"
        run.run(["qemu-img", "convert", "-O", "qcow2", str(disk), str(target)], timeout=600)
        return {"path": str(target), "disk_format": "qcow2"}

    @staticmethod
    def _loop(record: dict[str, Any], volume: VolumeConnection) -> dict[str, Any]:
        """A loop device for ``volume``, recorded (not yet in the guest)."""
        volumes: dict[str, Any] = record.setdefault("volumes", {})
        if volume.volume_id in volumes:
            return dict(volumes[volume.volume_id])
        path = vols.volume_path(volume.connection_info)
        used = {v["device"] for v in volumes.values()}
        used.add(record["spec"]["block_devices"].get("root_device_name") or "/dev/vda")
        device = volume.device_name if volume.device_name and (
            volume.device_name not in used or volume.boot_index == 0) \
            else vols.next_device(used)
        entry = {"loop": vols.attach_loop(path), "device": device, "path": path}
        volumes[volume.volume_id] = entry
        return entry

    @_one_at_a_time
    def attach_volume(self, uuid: str, volume: VolumeConnection) -> str:
        """The volume's file as a loop device, shown in a running guest as a block node."""
        record = self._record(uuid)
        if volume.volume_id in (record.get("volumes") or {}):
            return str(record["volumes"][volume.volume_id]["device"])
        entry = self._loop(record, volume)
        init = self.guest_init_pid(uuid)
        try:
            if init is not None:
                vols.expose(init, self._dir(uuid), {entry["device"]: entry["loop"]})
        except DriverError:
            vols.detach_loop(entry["loop"], entry["path"])
            raise
        self._save(uuid, record)
        return str(entry["device"])

    @_one_at_a_time
    def detach_volume(self, uuid: str, volume_id: str) -> None:
        record = self._record(uuid)
        entry = (record.get("volumes") or {}).pop(volume_id, None)
        if entry is None:
            return
        init = self.guest_init_pid(uuid)
        if init is not None:
            with contextlib.suppress(DriverError):
                vols.hide(init, entry["device"])
        vols.detach_loop(entry["loop"], entry["path"])
        self._save(uuid, record)

    @_one_at_a_time
    def plug_vif(self, uuid: str, vif: NetworkInterface) -> None:
        """A new ``eth<i>`` (the lowest free); a running guest runs DHCP on it at once."""
        record = self._record(uuid)
        if vif.port_id in record["devs"]:
            return
        used = set(record["devs"].values())
        dev = next(f"eth{i}" for i in range(len(used) + 1) if f"eth{i}" not in used)
        self._claim_netns(uuid)
        self._plug(uuid, vif, dev)
        record["devs"][vif.port_id] = dev
        record["spec"]["network_interfaces"].append(asdict(vif))
        self._save(uuid, record)
        boot.write_scripts(self._dir(uuid), self._spec(record), record["devs"])
        init = self.guest_init_pid(uuid)
        if init is not None:
            self._hotplug(uuid, init, dev)

    def _hotplug(self, uuid: str, init: int, dev: str) -> None:
        """Run the guest's interface script for ``dev`` inside its namespaces and groups."""
        base = self._dir(uuid)
        joins = " ".join(f"echo $$ > {boot.q(str(p))} &&"
                         for p in cgroups.join_paths(self._group(uuid)))
        command = (f"{joins} exec nsenter -t {init} -n -m -u -p busybox sh "
                   f"{boot.q(str(base / 'net.sh'))} {boot.q(dev)}")
        with open(base / "console.log", "ab") as console:
            subprocess.run(["setsid", "-f", "sh", "-c", command], stdin=subprocess.DEVNULL,
                           stdout=console, stderr=subprocess.STDOUT, cwd="/", env=GUEST_ENV,
                           check=False)

    def _stop_dhcp(self, uuid: str, dev: str) -> None:
        """Kill the guest's DHCP client of ``dev``, or its wait for carrier (the interface is
        about to go)."""
        for pid in run.netns_pids(self.names.guest_ns(uuid)):
            try:
                argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            except (FileNotFoundError, ProcessLookupError):
                continue
            dhcp = b"udhcpc" in argv or any(arg.endswith(b"/net.sh") for arg in argv)
            if dhcp and dev.encode() in argv:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)

    @_one_at_a_time
    def unplug_vif(self, uuid: str, port_id: str) -> None:
        record = self._record(uuid)
        dev = record["devs"].pop(port_id, None)
        if dev is None:
            return
        interfaces = record["spec"]["network_interfaces"]
        vif = next((NetworkInterface.from_dict(v) for v in interfaces
                    if v.get("port_id") == port_id), NetworkInterface(port_id, ""))
        self._stop_dhcp(uuid, dev)
        self._unplug(uuid, vif, dev)
        record["spec"]["network_interfaces"] = [v for v in interfaces
                                                if v.get("port_id") != port_id]
        self._save(uuid, record)
        boot.write_scripts(self._dir(uuid), self._spec(record), record["devs"])


def _trim(console: Path) -> None:
    """Keep a console log that grew past 4 × :data:`_CONSOLE_MAX` to its last part."""
    try:
        if console.stat().st_size <= 4 * _CONSOLE_MAX:
            return
        with open(console, "rb") as handle:
            handle.seek(-_CONSOLE_MAX, os.SEEK_END)
            tail = handle.read()
    except FileNotFoundError:
        return
    tmp = console.with_suffix(".tmp")
    tmp.write_bytes(tail)
    os.replace(tmp, console)


def _time_namespace() -> str:
    """``unshare`` options for a time namespace whose boot time is now (the guest's
    ``/proc/uptime`` counts from its boot, as a VM's does), or "" when the kernel has none."""
    if not os.path.exists("/proc/self/ns/time"):
        return ""
    try:
        with open("/proc/uptime") as handle:
            uptime = int(float(handle.read().split()[0]))
    except (OSError, ValueError, IndexError):
        return ""
    return f"--time --boottime -{uptime} "


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rpartition(")")[2].split()[0] not in ("Z", "X")
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False


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
