"""Volumes of the ``namespace`` hypervisor: a volume file becomes a loop device on the host
(``losetup --find --show FILE``) and a block device node (``/dev/vdb``...) inside the guest.

The host's ``/dev`` is never touched: the first time a guest gets a volume, its own mount
namespace gets a private ``/dev`` (a small tmpfs, staged on ``instances/<uuid>/guestdev`` in
that namespace only, then moved over ``/dev``) holding binds of the host's essential nodes
(``null``, ``zero``, ``urandom``, ``tty``, ``ptmx``...) and of ``/dev/pts`` and ``/dev/shm``;
the volume's node is made there with ``mknod``. Everything runs through
``nsenter`` into the guest's mount namespace, so it all goes when the guest stops; a guest
that boots again gets its nodes again (:func:`expose`).
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

from pocketstack.agents.compute.drivers.base import DriverError

ESSENTIAL = ("null", "zero", "full", "random", "urandom", "tty", "console", "ptmx", "kmsg")
SUBTREES = ("pts", "shm", "mqueue")
_DEVICE = "abcdefghijklmnopqrstuvwxyz"


def _need(tool: str) -> None:
    if shutil.which(tool) is None:
        raise DriverError(f"The namespace driver needs {tool} to attach volumes; it is not "
                          "installed.")


def attach_loop(path: str) -> str:
    """A loop device for the file ``path`` (``/dev/loopN``)."""
    _need("losetup")
    if not os.path.isfile(path):
        raise DriverError(f"volume file {path} is missing")
    proc = subprocess.run(["losetup", "--find", "--show", path], capture_output=True,
                          text=True, check=False, timeout=30)
    if proc.returncode != 0:
        raise DriverError(f"losetup could not attach {path}: {proc.stderr.strip()}")
    return proc.stdout.strip()


def detach_loop(loop: str, path: str | None = None) -> None:
    """Free ``loop`` (nothing if it no longer backs ``path``)."""
    if shutil.which("losetup") is None or not loop:
        return
    if path is not None and loop not in loops_of(path):
        return
    subprocess.run(["losetup", "-d", loop], capture_output=True, check=False, timeout=30)


def loops_of(path: str) -> list[str]:
    """The loop devices backed by ``path``."""
    proc = subprocess.run(["losetup", "-j", path], capture_output=True, text=True,
                          check=False, timeout=30)
    return [line.split(":", 1)[0] for line in proc.stdout.splitlines() if ":" in line]


def _check_device(device: str) -> str:
    name = device.rsplit("/", 1)[-1]
    if not device.startswith("/dev/") or not name or not all(
            c.isalnum() for c in name):
        raise DriverError(f"invalid device name {device!r}")
    return name


def _script(base: Path, nodes: dict[str, str]) -> str:
    """Shell for the guest's mount namespace: a private /dev (once: staged on
    ``instances/<uuid>/guestdev`` with binds of the host's nodes, then moved over /dev, so
    the guest never sees an empty /dev), then the nodes ``{device: loop}``, each a block
    node with the loop device's numbers."""
    stage = base / "guestdev"
    lines = ["set -e",
             "if [ ! -e /dev/.pocketstack-guest ]; then",
             f"  mkdir -p '{stage}'",
             f"  mount -t tmpfs -o mode=0755,size=1m guestdev '{stage}'"]
    for name in ESSENTIAL:
        lines.append(f"  if [ -e /dev/{name} ]; then touch '{stage}/{name}' && "
                     f"mount --bind /dev/{name} '{stage}/{name}'; fi")
    for name in SUBTREES:
        lines.append(f"  if [ -d /dev/{name} ]; then mkdir -p '{stage}/{name}' && "
                     f"mount --rbind /dev/{name} '{stage}/{name}'; fi")
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
                         ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2")):
        lines.append(f"  ln -s {target} '{stage}/{name}'")
    lines += [f"  touch '{stage}/.pocketstack-guest'",
              f"  mount --move '{stage}' /dev",
              "fi"]
    for device, loop in nodes.items():
        name = _check_device(device)
        rdev = os.stat(loop).st_rdev
        if not stat.S_ISBLK(os.stat(loop).st_mode):
            raise DriverError(f"{loop} is not a block device")
        lines += [f"rm -f /dev/{name}",
                  f"mknod /dev/{name} b {os.major(rdev)} {os.minor(rdev)}"]
    return "\n".join(lines) + "\n"


def _nsenter(init_pid: int, script: str) -> None:
    _need("nsenter")
    proc = subprocess.run(["nsenter", "-t", str(init_pid), "-m", "sh", "-c", script],
                          capture_output=True, text=True, check=False, timeout=30)
    if proc.returncode != 0:
        raise DriverError(f"the guest's device nodes could not be made: "
                          f"{proc.stderr.strip() or proc.returncode}")


def expose(init_pid: int, base: Path, nodes: dict[str, str]) -> None:
    """Make ``{device: loop}`` block nodes in the running guest (``init_pid``: its PID 1)."""
    _nsenter(init_pid, _script(base, nodes))


def hide(init_pid: int, device: str) -> None:
    """Remove the guest's node ``device`` (when it has a private /dev)."""
    name = _check_device(device)
    _nsenter(init_pid, f"if [ -e /dev/.pocketstack-guest ]; then rm -f /dev/{name}; fi\n")


def next_device(used: set[str]) -> str:
    for letter in _DEVICE[1:]:
        if f"/dev/vd{letter}" not in used:
            return f"/dev/vd{letter}"
    raise DriverError("no free device name for another volume")


def volume_path(connection_info: dict[str, object]) -> str:
    """The file of a ``local`` connection (``data.device_path``)."""
    kind = connection_info.get("driver_volume_type") or "local"
    data = connection_info.get("data")
    if kind != "local" or not isinstance(data, dict) or not data.get("device_path"):
        raise DriverError(f"The namespace driver attaches only local volumes, not {kind}.")
    return str(data["device_path"])
