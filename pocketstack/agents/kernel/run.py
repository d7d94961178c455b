"""Running the kernel's own tools (``ip``, ``bridge``, ``nft``, ...) in a namespace.

Blocking calls, for worker threads (the agents run them off their event loop). A failure
raises :class:`KernelError` with the command and what it printed. ``ip -batch`` runs many
``ip`` commands in one process (most of a plug's cost is starting processes).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Sequence
from typing import Any

NETNS_DIR = "/run/netns"
#: what the Linux data plane needs on PATH
REQUIRED_TOOLS = ("ip", "bridge", "nft", "dnsmasq")


class KernelError(Exception):
    """A kernel tool failed (or is missing)."""


def missing() -> str | None:
    """Why the Linux data plane cannot run here, or None when it can."""
    if os.geteuid() != 0:
        return "the Linux data plane needs root (network namespaces, bridges, nftables)"
    absent = [tool for tool in REQUIRED_TOOLS if shutil.which(tool) is None]
    if absent:
        return f"the Linux data plane needs {', '.join(absent)} on PATH"
    return None


def in_netns(argv: Sequence[str], netns: str | None) -> list[str]:
    if netns is None:
        return list(argv)
    if argv and argv[0] == "ip":
        return ["ip", "-n", netns, *argv[1:]]
    return ["ip", "netns", "exec", netns, *argv]


def run(argv: Sequence[str], netns: str | None = None, input: str | None = None,
        check: bool = True, timeout: float = 30.0) -> str:
    """Run ``argv`` (inside ``netns``) and answer its standard output."""
    cmd = in_netns(argv, netns)
    try:
        proc = subprocess.run(cmd, input=input, capture_output=True, text=True,
                              timeout=timeout, check=False)
    except FileNotFoundError as exc:
        raise KernelError(f"{cmd[0]}: not installed") from exc
    except subprocess.TimeoutExpired as exc:
        raise KernelError(f"{' '.join(cmd)}: timed out after {timeout} s") from exc
    if check and proc.returncode != 0:
        raise KernelError(f"{' '.join(cmd)}: {(proc.stderr or proc.stdout).strip()}")
    return proc.stdout


def ip_batch(lines: Sequence[str], netns: str | None = None, force: bool = False) -> None:
    """Many ``ip`` commands in one process (``-force``: go on past a failing line)."""
    if not lines:
        return
    argv = ["ip", *(["-force"] if force else []), "-batch", "-"]
    run(argv, netns, input="\n".join(lines) + "\n")


def ip_json(args: Sequence[str], netns: str | None = None) -> list[dict[str, Any]]:
    out = run(["ip", "-j", *args], netns)
    return list(json.loads(out)) if out.strip() else []


def netns_list() -> list[str]:
    try:
        return sorted(os.listdir(NETNS_DIR))
    except FileNotFoundError:
        return []


def netns_exists(name: str) -> bool:
    return os.path.exists(os.path.join(NETNS_DIR, name))


def ensure_netns(name: str) -> bool:
    """Create the namespace (with ``lo`` up) unless it exists; True when it was created."""
    if netns_exists(name):
        return False
    proc = subprocess.run(["ip", "netns", "add", name], capture_output=True, text=True,
                          check=False)
    if proc.returncode != 0:
        if netns_exists(name):  # made by a racing caller
            return False
        raise KernelError(f"ip netns add {name}: {proc.stderr.strip()}")
    run(["ip", "link", "set", "lo", "up"], name)
    return True


def netns_pids(name: str) -> list[int]:
    if not netns_exists(name):
        return []
    out = run(["ip", "netns", "pids", name], check=False)
    return [int(p) for p in out.split() if p.isdigit()]


def delete_netns(name: str) -> None:
    """Kill every process inside, then remove the namespace (and with it its links)."""
    if not netns_exists(name):
        return
    for pid in netns_pids(name):
        try:
            os.kill(pid, 9)
        except ProcessLookupError:
            pass
    proc = subprocess.run(["ip", "netns", "delete", name], capture_output=True, text=True,
                          check=False)
    if proc.returncode != 0 and netns_exists(name):
        raise KernelError(f"ip netns delete {name}: {proc.stderr.strip()}")


def links(netns: str | None) -> dict[str, dict[str, Any]]:
    """The namespace's links by name (``ip -j link``)."""
    return {link["ifname"]: link for link in ip_json(["link", "show"], netns)}


def sysctl(netns: str, key: str, value: str) -> None:
    path = key.replace(".", "/")
    run(["sh", "-c", f"echo {value} > /proc/sys/{path}"], netns)
