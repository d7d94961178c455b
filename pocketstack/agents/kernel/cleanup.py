"""Removing everything one cloud made in the kernel: every namespace with its prefix (the
processes inside them are killed first, links go with their namespace) and the processes it
started outside any namespace of its own (recorded in pid files under ``STATE/run``), and the
control groups of its guests (thawed and emptied first: a frozen process cannot die), and the
short run directories under ``/run/pocketstack/<prefix>-*`` (a libvirtd's, when its socket path
in the state dir would be too long)."""

from __future__ import annotations

import os
import shutil
import signal
from pathlib import Path

from pocketstack.agents.kernel import cgroups, run
from pocketstack.agents.kernel.names import KernelNames

SHORT_RUN = Path("/run/pocketstack")


def remove_all(names: KernelNames, state_dir: Path | None = None,
               short_run: Path = SHORT_RUN) -> list[str]:
    """Kill the cloud's processes, delete its namespaces and remove its control groups;
    answers the namespaces removed."""
    groups = cgroups.owned(names.prefix)
    for group in groups:
        cgroups.kill(group)
    short_dirs = sorted(short_run.glob(f"{names.prefix}-*")) if short_run.is_dir() else []
    pidfiles = [p for d in short_dirs for p in d.glob("**/*.pid")]
    if state_dir is not None:
        pidfiles = sorted((state_dir / "run").glob("**/*.pid")) + pidfiles
    for pidfile in pidfiles:
        try:
            pid = int(pidfile.read_text().strip() or 0)
            if pid > 1:
                os.kill(pid, signal.SIGKILL)
        except (ValueError, ProcessLookupError, PermissionError, OSError):
            pass
        pidfile.unlink(missing_ok=True)
    removed = []
    for short in short_dirs:
        shutil.rmtree(short, ignore_errors=True)
        removed.append(str(short))
    for link in run.links(None):
        if link.startswith(f"{names.prefix}-"):  # physnet_root_links
            run.run(["ip", "link", "delete", link], check=False)
            removed.append(f"link {link}")
    for netns in run.netns_list():
        if names.owns(netns):
            run.delete_netns(netns)
            removed.append(netns)
    for group in groups:
        cgroups.remove(group)
    return removed
