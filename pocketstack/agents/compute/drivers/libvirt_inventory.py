"""What the ``libvirt`` driver reports: the host's inventory, its guests' power states, one
guest's details; and the image cache manager, run from the guests' listing.

* :func:`inventory`: the machine's real CPUs and memory, the disk of the instances
  directory, ``hypervisor_type`` QEMU with QEMU's version as Nova encodes it
  (7.2.22 -> 7002022), the CPU model ``qemu64`` under TCG, ``host-model`` under KVM.
* :func:`list_instances`: every guest with an ``instance.json`` here, with libvirt's power
  state from one ``virsh domstats`` call (a shut-off domain with a managed save is
  ``SUSPENDED``; a guest with no domain is ``SHUTDOWN``, or ``NOSTATE`` while it builds).
  Power states are libvirt's own, so a guest that powers itself off shows ``SHUTDOWN`` at
  the next heartbeat, which also times the image cache manager
  (:func:`.libvirt_files.age_bases`, every :data:`_AGE_EVERY` seconds at most).
* :func:`power_state` and :func:`info` for one guest.

Every function takes the driver (:class:`.libvirt.LibvirtDriver`); none takes a guest's lock.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import platform
import re
import shutil
import subprocess
import time
from typing import TYPE_CHECKING, Any

from pocketstack.agents.compute.drivers import libvirt_files as files
from pocketstack.agents.compute.drivers import libvirt_guest as guest
from pocketstack.agents.compute.drivers import libvirt_host as lvhost
from pocketstack.agents.compute.drivers.base import (
    CRASHED,
    NOSTATE,
    PAUSED,
    RUNNING,
    SHUTDOWN,
    SUSPENDED,
    HostInventory,
    InstanceNotFound,
)

if TYPE_CHECKING:
    from pocketstack.agents.compute.drivers.libvirt import LibvirtDriver

LOG = logging.getLogger(__name__)
_AGE_EVERY = 600.0  # seconds between two runs of the image cache manager
#: virDomainState numbers (domstats state.state) -> Nova's power_state
_STATE_NUMBERS = {0: NOSTATE, 1: RUNNING, 2: RUNNING, 3: PAUSED, 4: RUNNING, 5: SHUTDOWN,
                  6: CRASHED, 7: SUSPENDED}


def inventory(driver: LibvirtDriver) -> HostInventory:
    memory_kb = 0
    with open("/proc/meminfo") as meminfo:
        for line in meminfo:
            if line.startswith("MemTotal:"):
                memory_kb = int(line.split()[1])
    driver.instances_dir.mkdir(parents=True, exist_ok=True)
    disk = shutil.disk_usage(driver.instances_dir).total
    cpus = os.cpu_count() or 1
    virt_type = driver.virt_type
    return HostInventory(
        hypervisor_hostname=driver.host, hypervisor_type="QEMU",
        hypervisor_version=_qemu_version(), vcpus=cpus, memory_mb=memory_kb // 1024,
        local_gb=disk >> 30,
        cpu_info={"arch": platform.machine(), "model": "qemu64" if virt_type == "qemu"
                  else "host-model", "vendor": "QEMU" if virt_type == "qemu"
                  else "host", "topology": {"cores": cpus, "threads": 1, "sockets": 1},
                  "virt_type": virt_type},
        host_ip="127.0.0.1")


def list_instances(driver: LibvirtDriver) -> dict[str, int]:
    """Every guest of this host with libvirt's power state (one ``domstats`` call); the
    image cache manager runs from here every few minutes (the heartbeat is its timer)."""
    try:
        entries = sorted(os.listdir(driver.instances_dir))
    except FileNotFoundError:
        return {}
    records = {}
    for uuid in entries:
        with contextlib.suppress(InstanceNotFound, KeyError):
            if not uuid.startswith("_"):
                records[uuid] = guest.record(driver, uuid)
    if not records:
        _age(driver)
        return {}
    states = _all_states(driver)
    saved = set(driver.virsh("list", "--all", "--uuid", "--with-managed-save").split())
    found = {}
    for uuid, record in records.items():
        state = states.get(uuid)
        if state is None:
            state = NOSTATE if record.get("building") else SHUTDOWN
        elif state == SHUTDOWN and uuid in saved:
            state = SUSPENDED
        found[uuid] = state
    _age(driver)
    return found


def _all_states(driver: LibvirtDriver) -> dict[str, int]:
    names = {}
    for line in driver.virsh("list", "--all", "--uuid", "--name").splitlines():
        parts = line.split()
        if len(parts) == 2:
            names[parts[1]] = parts[0]
    states: dict[str, int] = {}
    current = None
    for line in driver.virsh("domstats", "--state", "--raw").splitlines():
        line = line.strip()
        if line.startswith("Domain:"):
            current = names.get(line.split(":", 1)[1].strip().strip("'"))
        elif line.startswith("state.state=") and current is not None:
            states[current] = _STATE_NUMBERS.get(int(line.split("=", 1)[1]), NOSTATE)
    return states


def _age(driver: LibvirtDriver) -> None:
    """The image cache manager, when it last ran :data:`_AGE_EVERY` seconds ago or more."""
    now = time.monotonic()
    if now - driver.last_aging < _AGE_EVERY:
        return
    driver.last_aging = now
    try:
        removed = files.age_bases(driver.instances_dir, driver.image_cache_max_age)
    except OSError as exc:
        LOG.warning("%s: image cache manager: %s", driver.host, exc)
        return
    if removed:
        LOG.info("%s: image cache manager removed %s", driver.host, ", ".join(removed))


def power_state(driver: LibvirtDriver, uuid: str) -> int:
    record = guest.record(driver, uuid)
    state, defined = guest.state(driver, uuid)
    if not defined:
        return NOSTATE if record.get("building") else SHUTDOWN
    return state


def info(driver: LibvirtDriver, uuid: str) -> dict[str, Any]:
    record = guest.record(driver, uuid)
    spec = guest.spec_of(record)
    base = guest.instance_dir(driver, uuid)
    state, defined = guest.state(driver, uuid)
    pid = None
    with contextlib.suppress(OSError, ValueError):
        pid = int((driver.daemon.run_dir / "qemu" / f"{spec.name}.pid").read_text())
    return {"power_state": state if defined else SHUTDOWN, "vcpus": spec.vcpus,
            "memory_mb": spec.memory_mb, "root_gb": spec.root_gb,
            "image": spec.image.id, "domain": spec.name, "virt_type": driver.virt_type,
            "uri": driver.daemon.uri, "qemu_pid": pid,
            "disk": str(base / "disk") if (base / "disk").exists() else None,
            "disks": json.loads((base / "disk.info").read_text())
            if (base / "disk.info").exists() else {},
            "taps": [v.devname for v in spec.network_interfaces],
            "vifs": sorted(v.port_id for v in spec.network_interfaces),
            "volumes": {k: v["device"] for k, v in (record.get("volumes") or {}).items()},
            "rescue": bool(record.get("rescue"))}


@functools.lru_cache(maxsize=1)
def _qemu_version() -> int:
    """``qemu-system-x86_64 --version`` as Nova reports it (7.2.22 -> 7002022)."""
    try:
        out = subprocess.run([lvhost.QEMU, "--version"], capture_output=True, text=True,
                             timeout=10, check=False).stdout
    except (OSError, subprocess.TimeoutExpired):
        return 0
    match = re.search(r"version (\d+)\.(\d+)\.(\d+)", out)
    if match is None:
        return 0
    major, minor, micro = (int(x) for x in match.groups())
    return major * 1_000_000 + minor * 1000 + micro
