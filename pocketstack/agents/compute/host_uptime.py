"""The uptime of the machine a compute agent runs on, as ``uptime`` prints it.

Nova's ``GET /os-hypervisors/{id}/uptime`` (and the 2.88 hypervisor view) shows what the compute
host's driver answers; libvirt's answer is the output of ``uptime``. Every Pocketstack driver
runs its guests on the agent's own machine, so the agent answers for its host: the current time,
how long the kernel has been up (``/proc/uptime``) and the load averages (``/proc/loadavg``).
The logged-in user count of ``uptime`` is left out (it needs utmp, which containers often lack).
"""

from __future__ import annotations

import time
from pathlib import Path

PROC = Path("/proc")


def _since_boot(seconds: float) -> str:
    """``up``'s duration in procps' words: ``3 days,  4:05``, ``1:36``, ``41 min``."""
    minutes = int(seconds) // 60
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    out = f"{days} day{'s' if days != 1 else ''}, " if days else ""
    return out + (f"{hours:2d}:{minutes:02d}" if hours else f"{minutes} min")


def describe(proc: Path = PROC, now: float | None = None) -> str | None:
    """``HH:MM:SS up <duration>,  load average: a, b, c`` or None when ``/proc`` says nothing
    (then the API answers as Nova does for a driver without an uptime)."""
    try:
        booted = float((proc / "uptime").read_text().split()[0])
        loads = (proc / "loadavg").read_text().split()[:3]
    except (OSError, ValueError, IndexError):
        return None
    if len(loads) != 3:
        return None
    clock = time.strftime("%H:%M:%S", time.localtime(time.time() if now is None else now))
    return f" {clock} up {_since_boot(booted)},  load average: {', '.join(loads)}"
