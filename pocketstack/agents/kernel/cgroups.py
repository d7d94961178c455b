"""Control groups (v1) of the processes one cloud runs as guests.

This kernel mounts the v1 hierarchies (``/sys/fs/cgroup/<controller>``); cgroup v2 has no
controllers here (see the data plane reference). A group is named ``<prefix>-<id>`` at the
root of each hierarchy, so :func:`owned` finds every group of one cloud. The ``freezer``
group pauses a guest; ``memory`` and ``cpu`` bound it (``memory.limit_in_bytes``,
``cpu.cfs_quota_us``). A frozen process cannot die, so :func:`remove` and :func:`kill` thaw
first.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import time
from pathlib import Path

ROOT = Path("/sys/fs/cgroup")
CONTROLLERS = ("freezer", "memory", "cpu")
CFS_PERIOD_US = 100_000


def path(controller: str, name: str) -> Path:
    return ROOT / controller / name


def available(controller: str) -> bool:
    """Whether the v1 hierarchy of ``controller`` is mounted (its root has ``tasks``)."""
    return (ROOT / controller / "tasks").exists()


def create(name: str, memory_mb: int | None = None, vcpus: int | None = None) -> list[str]:
    """Make the group in each available hierarchy, with its limits; answers where it was made."""
    made = []
    for controller in CONTROLLERS:
        if not available(controller):
            continue
        path(controller, name).mkdir(exist_ok=True)
        made.append(controller)
    set_limits(name, memory_mb, vcpus)
    return made


def set_limits(name: str, memory_mb: int | None, vcpus: int | None) -> None:
    """Memory limit (MB) and CPU quota (``vcpus`` whole CPUs); None or 0 leaves one unset."""
    if memory_mb and path("memory", name).is_dir():
        _write(path("memory", name) / "memory.limit_in_bytes", str(memory_mb << 20))
    if vcpus and path("cpu", name).is_dir():
        _write(path("cpu", name) / "cpu.cfs_period_us", str(CFS_PERIOD_US))
        _write(path("cpu", name) / "cpu.cfs_quota_us", str(vcpus * CFS_PERIOD_US))


def join_paths(name: str) -> list[Path]:
    """The ``cgroup.procs`` files a process writes its pid into to enter the group."""
    return [path(c, name) / "cgroup.procs" for c in CONTROLLERS if path(c, name).is_dir()]


def pids(name: str) -> list[int]:
    """Processes in the group (the freezer's, else any hierarchy's)."""
    for controller in CONTROLLERS:
        procs = path(controller, name) / "cgroup.procs"
        try:
            return [int(p) for p in procs.read_text().split()]
        except (FileNotFoundError, ValueError):
            continue
    return []


def freezer_state(name: str) -> str | None:
    """``THAWED``, ``FREEZING`` or ``FROZEN``; None without a freezer group."""
    try:
        return (path("freezer", name) / "freezer.state").read_text().strip()
    except FileNotFoundError:
        return None


def freeze(name: str, timeout: float = 5.0) -> None:
    _write(path("freezer", name) / "freezer.state", "FROZEN")
    deadline = time.monotonic() + timeout
    while freezer_state(name) == "FREEZING" and time.monotonic() < deadline:
        time.sleep(0.01)


def thaw(name: str) -> None:
    if freezer_state(name) not in (None, "THAWED"):
        _write(path("freezer", name) / "freezer.state", "THAWED")


def kill(name: str, timeout: float = 5.0) -> None:
    """SIGKILL every process of the group (thawed first) and wait until none is left."""
    thaw(name)
    deadline = time.monotonic() + timeout
    while True:
        left = pids(name)
        if not left or time.monotonic() >= deadline:
            return
        for pid in left:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.01)


def remove(name: str, timeout: float = 5.0) -> None:
    """Kill what is left in the group and remove it from every hierarchy."""
    kill(name, timeout)
    deadline = time.monotonic() + timeout
    for controller in CONTROLLERS:
        group = path(controller, name)
        while group.is_dir():
            try:
                group.rmdir()
            except FileNotFoundError:
                break
            except OSError as exc:  # EBUSY while a killed process is still exiting
                if exc.errno != errno.EBUSY or time.monotonic() >= deadline:
                    raise
                time.sleep(0.01)


def owned(prefix: str) -> list[str]:
    """Names of the groups of the cloud with this prefix, in any hierarchy."""
    found: set[str] = set()
    for controller in CONTROLLERS:
        try:
            entries = os.listdir(ROOT / controller)
        except (FileNotFoundError, NotADirectoryError, PermissionError):
            continue
        found.update(e for e in entries if e.startswith(f"{prefix}-")
                     and (ROOT / controller / e).is_dir())
    return sorted(found)


def _write(file: Path, value: str) -> None:
    with open(file, "w") as handle:
        handle.write(value)
