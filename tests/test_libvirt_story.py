"""Real virtual machines with the stock CLI: `pocketstack up` with the Linux data plane and the
`libvirt` driver boots the guest image (built from Debian packages) on `private`; it gets its
DHCP address, the key pair lets SSH in through a floating IP, user data ran, `virsh list`
shows the domain, a volume appears in the guest and goes, a snapshot boots (from a config
drive), stop/start and reboot work, a poweroff from inside shows SHUTOFF, and deleting the server
leaves no domain, file or tap behind. Prints create -> ACTIVE and create -> SSH-able.

Needs root, the data plane's tools, libvirt + QEMU and the guest image's build tools; skips
saying which is missing (CI installs them all).
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pocketstack.agents.kernel import run
from pocketstack.image import guestimage
from tests.conftest import LiveCloud
from tests.dataplane_kit import until
from tests.libvirt_kit import BOOT, guest_access, libvirt_cloud, virsh

TOOLS = ("ssh", "ssh-keygen", "genisoimage")


@pytest.fixture(scope="module")
def lv_cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveCloud, Path]]:
    yield from libvirt_cloud(tmp_path_factory, "libvirt guests", TOOLS, None)




def _status(cloud: LiveCloud, name: str) -> str:
    return str(cloud.osc("server", "show", name, "-c", "status", "-f", "value",
                         as_json=False).strip())


@pytest.mark.timeout(900)  # about 10 TCG boots' worth on a loaded 2-core machine
def test_boot_ssh_power_and_delete_a_real_vm(lv_cloud: tuple[LiveCloud, Path],
                                             tmp_path: Path) -> None:
    cloud, image = lv_cloud
    prefix = cloud.env["PREFIX"]
    public = f"{prefix}-phys-public"
    key = guest_access(cloud, image, tmp_path)

    user_data = tmp_path / "user-data.sh"
    user_data.write_text("#!/bin/sh\necho user-data-ran > /root/user-data-ran\n")
    started = time.monotonic()
    server = cloud.osc("server", "create", "--flavor", "m1.tiny", "--image", guestimage.NAME,
                       "--network", "private", "--key-name", "vmkey", "--user-data",
                       str(user_data), "--wait", "vm1")
    active = time.monotonic() - started
    assert server["status"] == "ACTIVE"
    uuid = server["id"]
    domain = server.get("OS-EXT-SRV-ATTR:instance_name") or ""
    assert domain.startswith("instance-")
    assert domain in virsh(cloud, "list", "--name").split()

    fip = cloud.osc("floating", "ip", "create", "public")["floating_ip_address"]
    cloud.osc("server", "add", "floating", "ip", "vm1", fip, as_json=False)
    ssh = ["ip", "netns", "exec", public, "ssh", "-i", str(key), "-o",
           "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o",
           "ConnectTimeout=3", "-o", "BatchMode=yes", "-o", "LogLevel=ERROR",
           f"root@{fip}"]

    def on(command: str) -> str | None:
        proc = subprocess.run([*ssh, command], capture_output=True, text=True, timeout=30,
                              check=False)
        return proc.stdout.strip() if proc.returncode == 0 else None

    assert until("ssh through the floating IP", lambda: on("hostname"), BOOT, 1.0) == "vm1"
    ssh_able = time.monotonic() - started
    print(f"\nlibvirt/TCG: create -> ACTIVE {active:.1f} s, create -> SSH-able {ssh_able:.1f} s")
    listed = cloud.osc("server", "show", "vm1")["addresses"]["private"]
    fixed = next(a for a in listed if "." in a and a != fip)
    assert f"inet {fixed}/" in (on("ip -4 -o addr show eth0") or "")  # its DHCP address
    pocket = subprocess.run([*ssh[:-1], f"{guestimage.SSH_USER}@{fip}", "id -un"],
                            capture_output=True, text=True, timeout=30, check=False)
    assert pocket.stdout.strip() == guestimage.SSH_USER, pocket.stderr
    console = cloud.osc("console", "log", "show", "vm1", as_json=False)
    assert guestimage.READY_MARKER in console and "instance data: metadata" in console
    assert on("cat /root/user-data-ran") == "user-data-ran"

    # a volume attached is a new virtio disk inside the guest; detached, it goes
    volume = cloud.osc("volume", "create", "--size", "1", "v1")["id"]
    until("the volume available", lambda: cloud.osc("volume", "show", volume)["status"]
           == "available", 60)
    cloud.osc("server", "add", "volume", "vm1", volume, as_json=False)
    assert until("vdb in the guest", lambda: on("cat /sys/block/vdb/size"), 60) == \
        str((1 << 30) // 512)
    cloud.osc("server", "remove", "volume", "vm1", volume, as_json=False)
    until("vdb gone from the guest", lambda: on("test -e /sys/block/vdb || echo gone"), 60)

    # a snapshot boots (with a config drive this time)
    cloud.osc("server", "image", "create", "--name", "vm1-snap", "--wait", "vm1")
    snap = cloud.osc("server", "create", "--flavor", "m1.tiny", "--image", "vm1-snap",
                     "--network", "private", "--key-name", "vmkey", "--config-drive", "true",
                     "--wait", "vm2")
    fip2 = cloud.osc("floating", "ip", "create", "public")["floating_ip_address"]
    cloud.osc("server", "add", "floating", "ip", "vm2", fip2, as_json=False)
    assert until("ssh to the snapshot's server", lambda: (lambda p: p.stdout.strip()
                  if p.returncode == 0 else None)(subprocess.run(
                      [*ssh[:-1], f"root@{fip2}", "hostname"], capture_output=True,
                      text=True, timeout=30, check=False)), BOOT, 1.0) == "vm2"
    assert "instance data: config drive" in cloud.osc("console", "log", "show", "vm2",
                                                      as_json=False)
    cloud.osc("server", "delete", "--wait", "vm2", as_json=False)
    assert not list(cloud.state_dir.glob(f"hypervisors/*/instances/{snap['id']}"))

    # stop (ACPI) / start
    cloud.osc("server", "stop", "vm1", as_json=False)
    until("SHUTOFF after stop", lambda: _status(cloud, "vm1") == "SHUTOFF", 90)
    assert domain not in virsh(cloud, "list", "--name").split()
    cloud.osc("server", "start", "vm1", as_json=False)
    until("ACTIVE after start", lambda: _status(cloud, "vm1") == "ACTIVE", 60)
    boot_id = until("ssh after start", lambda: on("cat /proc/sys/kernel/random/boot_id"),
                     BOOT, 1.0)

    # a soft reboot boots the guest again
    cloud.osc("server", "reboot", "--wait", "vm1", as_json=False)
    until("a new boot after reboot", lambda: (
        lambda b: b is not None and b != boot_id)(on("cat /proc/sys/kernel/random/boot_id")),
        BOOT, 1.0)

    # a poweroff from inside the guest is a SHUTOFF server (the power-state sync)
    on("poweroff; sleep 1")
    until("SHUTOFF after the guest's poweroff", lambda: _status(cloud, "vm1") == "SHUTOFF",
           90)

    port = cloud.osc("port", "list", "--server", "vm1")[0]["ID"]
    host_ns = f"{prefix}-host-{cloud.osc('server', 'show', 'vm1')['OS-EXT-SRV-ATTR:host']}"
    assert f"tap{port[:11]}" in run.links(host_ns)
    cloud.osc("server", "delete", "--wait", "vm1", as_json=False)
    assert domain not in virsh(cloud, "list", "--all", "--name").split()
    assert not list(cloud.state_dir.glob(f"hypervisors/*/instances/{uuid}"))
    assert f"tap{port[:11]}" not in run.links(host_ns)
