"""A ``namespace`` driver guest's bookkeeping and processes (:class:`Guests`).

What every operation of :class:`.namespace.NamespaceDriver` stands on: the guest's directory
``instances/<uuid>/`` and its ``instance.json`` record, the locks that let one operation at a
time touch a guest (a thread lock per guest and, because the kernel names are the machine's
and not the host's, a lock file shared by every host of the cloud), which host's guest holds
the network namespace ``P-inst-<uuid>`` now, the guest's init (started detached in its own
PID, UTS, mount and time namespaces and control groups; stopped with all its processes) and
its console log. The veths are :mod:`.namespace_links`' and the disks
:mod:`.namespace_disks`'.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar, cast

from pocketstack.agents.compute.drivers import namespace_boot as boot
from pocketstack.agents.compute.drivers import namespace_volumes as vols
from pocketstack.agents.compute.drivers.base import (
    ConsoleTarget,
    ConsoleUnavailable,
    DriverError,
    InstanceSpec,
    read_record,
    write_record,
)
from pocketstack.agents.kernel import cgroups, run
from pocketstack.agents.kernel.names import KernelNames

_KILL_WAIT = 5.0  # seconds for a killed guest's processes to be gone
_SOFT_WAIT = 1.0  # seconds a guest has to stop on SIGTERM before it is killed
_CONSOLE_MAX = 256 * 1024  # bytes of console.log that console_output returns (the tail)
#: the environment a guest starts with (nothing of the agent's)
GUEST_ENV = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
             "HOME": "/root", "TERM": "linux", "LANG": "C.UTF-8"}

_F = TypeVar("_F", bound=Callable[..., Any])


def one_at_a_time(method: _F) -> _F:
    """Serialize a driver method per guest (its first argument: a uuid or a spec)."""
    @functools.wraps(method)
    def wrapper(self: Guests, first: Any, *args: Any, **kwargs: Any) -> Any:
        uuid = first.uuid if isinstance(first, InstanceSpec) else str(first)
        with self._guest_lock(uuid), self._machine_lock(uuid):
            return method(self, first, *args, **kwargs)
    return cast(_F, wrapper)


class Guests:
    """This host's guests as directories, records and processes (see the module docstring)."""

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
        return read_record(self._dir(uuid), self.host)

    def _save(self, uuid: str, record: dict[str, Any]) -> None:
        write_record(self._dir(uuid), record)

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

    def _running(self, uuid: str) -> dict[str, Any]:
        record = self._record(uuid)
        if self._init_pid(uuid) is None:
            raise DriverError(f"Instance {uuid} is not running.")
        return record

    # -- the console -----------------------------------------------------------------------
    def console_output(self, uuid: str) -> str:
        self._record(uuid)
        return self._console_tail(uuid, _CONSOLE_MAX)

    def get_console(self, uuid: str, kind: str) -> ConsoleTarget:
        """No interactive console: the guest's init writes to its log, nothing reads a
        terminal (the API answers 400 ``Unavailable console type``)."""
        self._record(uuid)
        raise ConsoleUnavailable(f"namespace guests have no {kind} console")

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
