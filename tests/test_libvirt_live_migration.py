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
from collections.abc import Iterator
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
def test_live_migrate_a_running_vm(lv_cloud: tuple[LiveCloud, Path], tmp_path: Path) -> None:
    cloud, image = lv_cloud
    public = f"{cloud.env['PREFIX']}-phys-public"
    key = guest_access(cloud, image, tmp_path)
    server = cloud.osc("server", "create", "--flavor", "m1.tiny", "--image", guestimage.NAME,
                       "--network", "private", "--key-name", "vmkey", "--availability-zone",
                       "nova:compute1", "--wait", "vm1")
    uuid, domain = server["id"], server["OS-EXT-SRV-ATTR:instance_name"]
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
