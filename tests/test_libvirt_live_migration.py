"""A real live migration with the stock CLI: `pocketstack up` with the Linux data plane, the
`libvirt` driver and two compute hosts (each its own libvirtd in its own network namespace)
boots the guest image on compute1; `openstack server migrate --live-migration --host compute2`
moves it while it runs (memory and disk over UNIX sockets, see
``pocketstack.agents.compute.drivers.libvirt_migrate``). The same boot (its boot_id), a file
kept only in its RAM (``/run`` is a tmpfs) and one on its disk are there after the move, SSH
through the floating IP still works (its port is bound to compute2 now), the domain is in
compute2's libvirtd and gone from compute1's, and compute1 kept no files of it. Prints how long
the migration took.

Needs root, the data plane's tools, libvirt + QEMU and the guest image's build tools; skips
saying which is missing.
"""

from __future__ import annotations

import contextlib
import secrets
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from websockets.sync.client import connect

from pocketstack.image import guestimage
from tests.conftest import LiveCloud
from tests.dataplane_kit import until
from tests.libvirt_kit import BOOT, guest_access, libvirt_cloud, virsh

TOOLS = ("ssh", "ssh-keygen")


@pytest.fixture(scope="module")
def lv_cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveCloud, Path]]:
    yield from libvirt_cloud(tmp_path_factory, "libvirt live migration", TOOLS,
                             {"POCKETSTACK_COMPUTE_HOSTS": "2",
                              "POCKETSTACK_SERIALPROXY_PORT": "0"})



@pytest.fixture(scope="module")
def key(lv_cloud: tuple[LiveCloud, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    cloud, image = lv_cloud
    return guest_access(cloud, image, tmp_path_factory.mktemp("vmkey"))


def _ssh(cloud: LiveCloud, key: Path, fip: str) -> Callable[[str], str | None]:
    ssh = ["ip", "netns", "exec", f"{cloud.env['PREFIX']}-phys-public", "ssh", "-i", str(key),
           "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o",
           "ConnectTimeout=3", "-o", "BatchMode=yes", "-o", "LogLevel=ERROR", f"root@{fip}"]

    def on(command: str) -> str | None:
        proc = subprocess.run([*ssh, command], capture_output=True, text=True, timeout=30,
                              check=False)
        return proc.stdout.strip() if proc.returncode == 0 else None
    return on


def _console_prompt(cloud: LiveCloud) -> bytes:
    """What vm1's serial console shows over the proxy when Enter is pressed (up to 30 s)."""
    url = cloud.osc("console", "url", "show", "--serial", "vm1")["url"]
    seen = b""
    with connect(url, open_timeout=10) as ws:
        for _ in range(10):
            ws.send(b"\r")
            with contextlib.suppress(TimeoutError):
                seen += ws.recv(timeout=3)
            if b"login: " in seen:
                break
    return seen


@pytest.mark.timeout(900)
def test_live_migrate_a_running_vm(lv_cloud: tuple[LiveCloud, Path], key: Path) -> None:
    cloud, _image = lv_cloud
    server = cloud.osc("server", "create", "--flavor", "m1.tiny", "--image", guestimage.NAME,
                       "--network", "private", "--key-name", "vmkey", "--availability-zone",
                       "nova:compute1", "--wait", "vm1")
    uuid, domain = server["id"], server["OS-EXT-SRV-ATTR:instance_name"]
    assert server["OS-EXT-SRV-ATTR:host"] == "compute1"
    fip = cloud.osc("floating", "ip", "create", "public")["floating_ip_address"]
    cloud.osc("server", "add", "floating", "ip", "vm1", fip, as_json=False)
    on = _ssh(cloud, key, fip)
    boot_id = until("ssh through the floating IP", lambda: on(
        "cat /proc/sys/kernel/random/boot_id"), BOOT, 1.0)
    token = secrets.token_hex(8)
    assert on(f"echo {token} > /run/in-ram && echo {token} > /root/on-disk && sync") == ""

    assert b"vm1 login:" in _console_prompt(cloud)  # the serial console, before the move
    started = time.monotonic()
    cloud.osc("--os-compute-api-version", "2.30", "server", "migrate", "--live-migration",
              "--host", "compute2", "--wait", "vm1", as_json=False)
    took = time.monotonic() - started
    shown = cloud.osc("server", "show", "vm1")
    assert (shown["status"], shown["OS-EXT-SRV-ATTR:host"]) == ("ACTIVE", "compute2")
    print(f"\nlibvirt live migration compute1 -> compute2: {took:.1f} s (API to ACTIVE)")
    assert domain in virsh(cloud, "list", "--name", host="compute2").split()
    assert domain not in virsh(cloud, "list", "--all", "--name", host="compute1").split()
    assert not list(cloud.state_dir.glob(f"hypervisors/compute1/instances/{uuid}"))

    # the same running guest: same boot, its RAM and disk came along; its network too
    assert until("ssh after the move", lambda: on("cat /proc/sys/kernel/random/boot_id"),
                  60, 1.0) == boot_id
    assert on("cat /run/in-ram") == token
    assert on("cat /root/on-disk") == token
    # its serial console moved along: compute2's proxy, compute2's socket (the getty answers)
    seen = _console_prompt(cloud)
    print(f"serial console after the move: {seen[-60:]!r}")
    assert b"vm1 login" in seen, seen[-300:]
    assert f"s-{uuid.replace('-', '')[:12]}.sock" in virsh(cloud, "dumpxml", uuid,
                                                          host="compute2")
    migration = cloud.osc("--os-compute-api-version", "2.80", "server", "migration", "list",
                          "--server", uuid)
    assert [(m["Type"], m["Status"], m["Source Compute"], m["Dest Compute"])
            for m in migration] == [("live-migration", "completed", "compute1", "compute2")]

    # and a stop/start on its new host works from its record there
    cloud.osc("server", "stop", "vm1", as_json=False)
    until("SHUTOFF", lambda: cloud.osc("server", "show", "vm1")["status"] == "SHUTOFF", 90)
    cloud.osc("server", "start", "vm1", as_json=False)
    until("ssh after start", lambda: on("cat /root/on-disk"), BOOT, 1.0)
    cloud.osc("server", "delete", "--wait", "vm1", as_json=False)
    assert not list(cloud.state_dir.glob(f"hypervisors/*/instances/{uuid}"))



def _migration(cloud: LiveCloud, uuid: str) -> dict[str, str]:
    rows = cloud.osc("--os-compute-api-version", "2.80", "server", "migration", "list",
                     "--server", uuid)
    return dict(rows[0]) if rows else {}


@pytest.mark.timeout(900)
def test_abort_then_force_complete(lv_cloud: tuple[LiveCloud, Path], key: Path) -> None:
    """A move slowed to 1 MiB/s (``virsh migrate-setspeed`` on the source's domain) is
    ``running`` long enough to act on: an abort (``server migration abort``) cancels libvirt's
    job and the guest runs on at compute1; a force complete (``server migration force
    complete``) pauses it on compute1 and, once the copy may go at full speed again, it runs
    on compute2 — resumed, the same boot, SSH working."""
    cloud, _image = lv_cloud
    server = cloud.osc("server", "create", "--flavor", "m1.tiny", "--image", guestimage.NAME,
                       "--network", "private", "--key-name", "vmkey", "--availability-zone",
                       "nova:compute1", "--wait", "vm2")
    uuid, domain = server["id"], server["OS-EXT-SRV-ATTR:instance_name"]
    fip = cloud.osc("floating", "ip", "create", "public")["floating_ip_address"]
    cloud.osc("server", "add", "floating", "ip", "vm2", fip, as_json=False)
    on = _ssh(cloud, key, fip)
    boot_id = until("ssh through the floating IP", lambda: on(
        "cat /proc/sys/kernel/random/boot_id"), BOOT, 1.0)
    # every page of the guest's RAM dirty and not zero, so the copy has work to do
    assert on("head -c 24m /dev/urandom > /run/fill && echo ok") == "ok"

    def start_slow_move() -> dict[str, str]:
        virsh(cloud, "migrate-setspeed", domain, "1", host="compute1")
        cloud.osc("--os-compute-api-version", "2.30", "server", "migrate", "--live-migration",
                  "--host", "compute2", "vm2", as_json=False)
        return until("a running migration", lambda: (
            m if (m := _migration(cloud, uuid)).get("Status") == "running" else None), 120, 0.3)

    row = start_slow_move()
    cloud.osc("--os-compute-api-version", "2.24", "server", "migration", "abort", uuid,
              str(row["Id"]), as_json=False)
    until("cancelled", lambda: _migration(cloud, uuid).get("Status") in ("cancelled", "error"),
          120)
    assert _migration(cloud, uuid)["Status"] == "cancelled"
    until("ACTIVE", lambda: cloud.osc("server", "show", "vm2")["status"] == "ACTIVE", 60)
    assert cloud.osc("server", "show", "vm2")["OS-EXT-SRV-ATTR:host"] == "compute1"
    assert domain in virsh(cloud, "list", "--name", host="compute1").split()
    assert domain not in virsh(cloud, "list", "--all", "--name", host="compute2").split()
    # the same boot; its port went back to compute1, which the network takes a moment for
    assert until("ssh after the abort", lambda: on("cat /proc/sys/kernel/random/boot_id"),
                 60, 1.0) == boot_id

    row = start_slow_move()
    cloud.osc("--os-compute-api-version", "2.22", "server", "migration", "force", "complete",
              uuid, str(row["Id"]), as_json=False)
    until("paused on the source", lambda: "paused" in virsh(cloud, "domstate", domain,
                                                             host="compute1"), 60, 0.3)
    virsh(cloud, "migrate-setspeed", domain, "8796093022207", host="compute1")  # unlimited
    until("completed", lambda: _migration(cloud, uuid).get("Status") in (
        "completed", "error", "cancelled"), 180)
    assert _migration(cloud, uuid)["Status"] == "completed"
    until("ACTIVE on compute2", lambda: (s := cloud.osc("server", "show", "vm2"))["status"]
          == "ACTIVE" and s["OS-EXT-SRV-ATTR:host"] == "compute2", 60)
    assert virsh(cloud, "domstate", domain, host="compute2").strip() == "running"
    assert until("ssh after the move", lambda: on("cat /proc/sys/kernel/random/boot_id"),
                 60, 1.0) == boot_id
    cloud.osc("server", "delete", "--wait", "vm2", as_json=False)
    assert not list(cloud.state_dir.glob(f"hypervisors/*/instances/{uuid}"))
