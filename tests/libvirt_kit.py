"""What the real-VM test modules share: why they would skip, a libvirt cloud with the kernel
data plane (its guest image built once per module), and `virsh` against a host's libvirtd."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from pocketstack.agents.compute.drivers.libvirt import missing
from pocketstack.image import guestimage
from tests.conftest import LiveCloud
from tests.dataplane_kit import dataplane_cloud

BOOT = 240.0  # seconds a TCG boot may take on a loaded 2-core machine


def why_not(tools: tuple[str, ...]) -> str | None:
    """Why real VMs cannot run here (libvirt, the guest image builder, ``tools``), or None."""
    reason = missing() or guestimage.check_tools()
    if reason:
        return reason
    absent = [t for t in tools if shutil.which(t) is None]
    return f"missing {', '.join(absent)}" if absent else None


def libvirt_cloud(tmp_path_factory: pytest.TempPathFactory, what: str, tools: tuple[str, ...],
                  env: dict[str, str] | None = None) -> Iterator[tuple[LiveCloud, Path]]:
    """For a module-scoped fixture: a cloud on the libvirt driver and the guest image to boot
    (skips saying why when the machine cannot)."""
    why = why_not(tools)
    if why:
        pytest.skip(f"{what}: {why}")
    image = guestimage.build_guest_image(tmp_path_factory.mktemp("guest") / "guest.qcow2")
    state = tmp_path_factory.mktemp("lvcloud") / "state"
    with dataplane_cloud(state, {"POCKETSTACK_COMPUTE_DRIVER": "libvirt",
                                 "POCKETSTACK_HEARTBEAT_INTERVAL": "2",
                                 "POCKETSTACK_DATAPLANE_RESYNC_INTERVAL": "2",
                                 **(env or {})}) as live:
        yield live, image.path


def virsh(cloud: LiveCloud, *args: str, host: str = "*") -> str:
    """``virsh`` against a compute host's libvirtd (by default the first found). Its socket is
    in the state dir, or in /run/pocketstack/<prefix>-<host> when that path would pass
    sun_path's 108 bytes (a deep state dir, as under pytest-xdist)."""
    socket = next(iter([
        *cloud.state_dir.glob(f"hypervisors/{host}/libvirt/run/libvirt-sock"),
        *Path("/run/pocketstack").glob(f"{cloud.env['PREFIX']}-{host}/libvirt-sock")]))
    return subprocess.run(["virsh", "-q", "-c", f"qemu:///system?socket={socket}", *args],
                          capture_output=True, text=True, check=True, timeout=60).stdout


def guest_access(cloud: LiveCloud, image: Path, tmp_path: Path) -> Path:
    """What reaching a guest as admin takes: the guest image registered, a key pair ``vmkey``
    (its private key returned) and SSH allowed by the default security group."""
    key = tmp_path / "id"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    cloud.osc("keypair", "create", "--public-key", f"{key}.pub", "vmkey")
    cloud.osc("image", "create", "--disk-format", "qcow2", "--container-format", "bare",
              "--file", str(image), "--public", guestimage.NAME)
    group = next(g["ID"] for g in cloud.osc("security", "group", "list", "--project", "admin")
                 if g["Name"] == "default")
    cloud.osc("security", "group", "rule", "create", "--protocol", "tcp", "--dst-port", "22",
              group)
    return key
