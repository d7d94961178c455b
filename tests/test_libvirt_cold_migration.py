"""A real cold migration and resize whose disks travel over the bus, with the stock CLI:
`pocketstack up` with the Linux data plane, the `libvirt` driver, two compute hosts (each its
own instances directory) and ``migration_transport = bus`` — the disks move as they would
between agents on two machines: chunked calls to the source host's agent, the root disk thin
(its own clusters) and re-pointed at the target's own ``_base`` copy of the image.

The guest image boots on compute1 and a file is written to its disk over SSH;
`openstack server migrate` takes it to compute2 (`server resize confirm`), then
`openstack server resize --flavor` (compute2 disabled, so the scheduler must pick compute1)
takes it back with a bigger flavor (confirm). After each move the file is there over SSH,
the guest's disk lies over its new host's base, the agent's log says the disks came over the
bus, and the host it left keeps no file of it. Then a move whose disk cannot come (removed
from under the guest) fails with the reason, the guest stays where it was and the target
keeps nothing. Prints how long each move took.

Needs root, the data plane's tools, libvirt + QEMU and the guest image's build tools; skips
saying which is missing.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pocketstack.image import guestimage
from tests.conftest import LiveCloud
from tests.dataplane_kit import until
from tests.libvirt_kit import BOOT, guest_access, libvirt_cloud, virsh

TOOLS = ("ssh", "ssh-keygen", "qemu-img")


@pytest.fixture(scope="module")
def lv_cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveCloud, Path]]:
    yield from libvirt_cloud(tmp_path_factory, "libvirt cold migration over the bus", TOOLS,
                             {"POCKETSTACK_COMPUTE_HOSTS": "2",
                              "POCKETSTACK_MIGRATION_TRANSPORT": "bus",
                              "POCKETSTACK_LOG_LEVEL": "info"})  # (the agent says how)


def backing(cloud: LiveCloud, host: str, uuid: str) -> str:
    disk = cloud.state_dir / "hypervisors" / host / "instances" / uuid / "disk"
    about = json.loads(subprocess.run(["qemu-img", "info", "-U", "--output=json", str(disk)],
                                      capture_output=True, text=True, check=True).stdout)
    return str(about.get("backing-filename"))


@pytest.mark.timeout(1500)
def test_cold_migrate_and_resize_move_the_disk_over_the_bus(
        lv_cloud: tuple[LiveCloud, Path], tmp_path: Path) -> None:
    cloud, image = lv_cloud
    log = cloud.state_dir.parent / f"{cloud.state_dir.name}.log"
    public = f"{cloud.env['PREFIX']}-phys-public"
    key = guest_access(cloud, image, tmp_path)
    cloud.osc("flavor", "create", "--ram", "256", "--disk", "1", "--vcpus", "1", "mv.small")
    cloud.osc("flavor", "create", "--ram", "320", "--disk", "2", "--vcpus", "1", "mv.big")
    server = cloud.osc("server", "create", "--flavor", "mv.small", "--image", guestimage.NAME,
                       "--network", "private", "--key-name", "vmkey", "--availability-zone",
                       "nova:compute1", "--wait", "vm1")
    uuid, domain = server["id"], server["OS-EXT-SRV-ATTR:instance_name"]
    image_id = cloud.osc("image", "show", guestimage.NAME)["id"]
    assert server["OS-EXT-SRV-ATTR:host"] == "compute1"
    fip = cloud.osc("floating", "ip", "create", "public")["floating_ip_address"]
    cloud.osc("server", "add", "floating", "ip", "vm1", fip, as_json=False)
    ssh = ["ip", "netns", "exec", public, "ssh", "-i", str(key), "-o",
           "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o",
           "ConnectTimeout=3", "-o", "BatchMode=yes", "-o", "LogLevel=ERROR", f"root@{fip}"]

    def on(command: str) -> str | None:
        proc = subprocess.run([*ssh, command], capture_output=True, text=True, timeout=30,
                              check=False)
        return proc.stdout.strip() if proc.returncode == 0 else None

    until("ssh through the floating IP", lambda: on("echo up"), BOOT, 1.0)
    token = secrets.token_hex(8)
    assert on(f"echo {token} > /root/before-move && sync") == ""

    def moved(to: str, left: str, what: str, took: float) -> None:
        shown = cloud.osc("server", "show", "vm1")
        assert (shown["status"], shown["OS-EXT-SRV-ATTR:host"]) == ("VERIFY_RESIZE", to)
        cloud.osc("server", "resize", "confirm", "vm1", as_json=False)
        until("ACTIVE", lambda: cloud.osc("server", "show", "vm1")["status"] == "ACTIVE", 120)
        print(f"\nlibvirt {what} {left} -> {to} over the bus: {took:.1f} s (API to "
              "VERIFY_RESIZE)")
        assert backing(cloud, to, uuid) == str(
            cloud.state_dir / "hypervisors" / to / "instances" / "_base" /
            hashlib.sha1(image_id.encode(), usedforsecurity=False).hexdigest())
        assert f"{to}: {uuid}'s disks came from {left} over the bus" in log.read_text()
        assert domain in virsh(cloud, "list", "--name", host=to).split()
        until(f"{left} forgets the guest", lambda: not list(
            cloud.state_dir.glob(f"hypervisors/{left}/instances/{uuid}")), 60)
        assert not list(cloud.state_dir.glob("hypervisors/*/instances/_moving/*"))
        assert until("ssh after the move", lambda: on("cat /root/before-move"), BOOT,
                     1.0) == token

    started = time.monotonic()
    cloud.osc("server", "migrate", "--wait", "vm1", as_json=False)
    moved("compute2", "compute1", "cold migration", time.monotonic() - started)

    assert on(f"echo {token}-2 > /root/after-migrate && sync") == ""
    cloud.osc("compute", "service", "set", "--disable", "compute2", "nova-compute",
              as_json=False)
    started = time.monotonic()
    cloud.osc("server", "resize", "--flavor", "mv.big", "--wait", "vm1", as_json=False)
    moved("compute1", "compute2", "resize", time.monotonic() - started)
    assert on("cat /root/after-migrate") == f"{token}-2"
    assert "mv.big" in str(cloud.osc("server", "show", "vm1")["flavor"])
    migrations = cloud.osc("--os-compute-api-version", "2.80", "server", "migration", "list",
                           "--server", uuid)
    assert sorted((m["Type"], m["Status"], m["Source Compute"], m["Dest Compute"])
                  for m in migrations) == [
        ("migration", "confirmed", "compute1", "compute2"),
        ("resize", "confirmed", "compute2", "compute1")]

    # a move that cannot get the disk (gone from under the running guest on compute1) fails
    # with the reason; the guest stays on compute1, compute2 keeps nothing of it
    cloud.osc("compute", "service", "set", "--enable", "compute2", "nova-compute",
              as_json=False)
    (cloud.state_dir / "hypervisors" / "compute1" / "instances" / uuid / "disk").unlink()
    cloud.osc("server", "migrate", "vm1", as_json=False)

    def settled() -> dict[str, Any] | None:
        shown = cloud.osc("server", "show", "vm1")
        return shown if not shown["OS-EXT-STS:task_state"] else None

    shown = until("the failed move settles", settled, 180, 1.0)
    assert (shown["status"], shown["OS-EXT-SRV-ATTR:host"]) == ("ACTIVE", "compute1")
    migrations = cloud.osc("--os-compute-api-version", "2.80", "server", "migration", "list",
                           "--server", uuid)
    assert ("migration", "error", "compute1", "compute2") in [
        (m["Type"], m["Status"], m["Source Compute"], m["Dest Compute"]) for m in migrations]
    assert "the moving guest's disk did not come" in log.read_text()
    assert not list(cloud.state_dir.glob(f"hypervisors/compute2/instances/{uuid}"))
    assert not list(cloud.state_dir.glob("hypervisors/*/instances/_moving/*"))
    cloud.osc("server", "delete", "--wait", "vm1", as_json=False)
    assert not list(cloud.state_dir.glob(f"hypervisors/*/instances/{uuid}"))
