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

import secrets
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pocketstack.agents.compute.drivers.libvirt import missing
from pocketstack.agents.kernel import run
from pocketstack.image import guestimage
from tests.conftest import BIN, LiveCloud, start_cloud

TOOLS = ("ssh", "ssh-keygen", "genisoimage")
BOOT = 240.0  # seconds a TCG boot may take on a loaded 2-core machine


def _why_not() -> str | None:
    reason = missing() or guestimage.check_tools()
    if reason:
        return reason
    absent = [t for t in TOOLS if subprocess.run(["sh", "-c", f"command -v {t}"],
                                                 capture_output=True).returncode]
    return f"missing {', '.join(absent)}" if absent else None


def _until(what: str, check: Any, timeout: float = 30.0, interval: float = 0.5) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"{what}: not within {timeout} s (last: {last!r})")


@pytest.fixture(scope="module")
def lv_cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveCloud, Path]]:
    why = _why_not()
    if why:
        pytest.skip(f"libvirt guests: {why}")
    image = guestimage.build_guest_image(tmp_path_factory.mktemp("guest") / "guest.qcow2")
    state = tmp_path_factory.mktemp("lvcloud") / "state"
    state.mkdir()
    prefix = "pt" + secrets.token_hex(2)
    live = start_cloud(state, {"POCKETSTACK_DATAPLANE": "linux",
                               "POCKETSTACK_COMPUTE_DRIVER": "libvirt",
                               "POCKETSTACK_KERNEL_PREFIX": prefix,
                               "POCKETSTACK_HEARTBEAT_INTERVAL": "2",
                               "POCKETSTACK_DATAPLANE_RESYNC_INTERVAL": "2"})
    live.env["PREFIX"] = prefix
    try:
        yield live, image.path
    finally:
        live.stop()
        subprocess.run([str(BIN / "pocketstack"), "clean", "--state-dir", str(state)],
                       env=live.env, capture_output=True, timeout=60, check=False)
        leftovers = [n for n in run.netns_list() if n.startswith(prefix + "-")]
        assert not leftovers, f"namespaces left behind: {leftovers}"


def _virsh(cloud: LiveCloud, *args: str) -> str:
    # the daemon's socket is in the state dir, or in /run/pocketstack/<prefix>-<host> when that
    # path would pass sun_path's 108 bytes (a deep state dir, as under pytest-xdist)
    socket = next(iter([*cloud.state_dir.glob("hypervisors/*/libvirt/run/libvirt-sock"),
                        *Path("/run/pocketstack").glob(f"{cloud.env['PREFIX']}-*/libvirt-sock")]))
    return subprocess.run(["virsh", "-q", "-c", f"qemu:///system?socket={socket}", *args],
                          capture_output=True, text=True, check=True, timeout=60).stdout


def _status(cloud: LiveCloud, name: str) -> str:
    return str(cloud.osc("server", "show", name, "-c", "status", "-f", "value",
                         as_json=False).strip())


@pytest.mark.timeout(900)  # about 10 TCG boots' worth on a loaded 2-core machine
def test_boot_ssh_power_and_delete_a_real_vm(lv_cloud: tuple[LiveCloud, Path],
                                             tmp_path: Path) -> None:
    cloud, image = lv_cloud
    prefix = cloud.env["PREFIX"]
    public = f"{prefix}-phys-public"
    key = tmp_path / "id"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    cloud.osc("keypair", "create", "--public-key", f"{key}.pub", "vmkey")
    cloud.osc("image", "create", "--disk-format", "qcow2", "--container-format", "bare",
              "--file", str(image), "--public", guestimage.NAME)
    group = next(g["ID"] for g in cloud.osc("security", "group", "list", "--project", "admin")
                 if g["Name"] == "default")
    cloud.osc("security", "group", "rule", "create", "--protocol", "tcp", "--dst-port", "22",
              group)

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
    assert domain in _virsh(cloud, "list", "--name").split()

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

    assert _until("ssh through the floating IP", lambda: on("hostname"), BOOT, 1.0) == "vm1"
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
    _until("the volume available", lambda: cloud.osc("volume", "show", volume)["status"]
           == "available", 60)
    cloud.osc("server", "add", "volume", "vm1", volume, as_json=False)
    assert _until("vdb in the guest", lambda: on("cat /sys/block/vdb/size"), 60) == \
        str((1 << 30) // 512)
    cloud.osc("server", "remove", "volume", "vm1", volume, as_json=False)
    _until("vdb gone from the guest", lambda: on("test -e /sys/block/vdb || echo gone"), 60)

    # a snapshot boots (with a config drive this time)
    cloud.osc("server", "image", "create", "--name", "vm1-snap", "--wait", "vm1")
    snap = cloud.osc("server", "create", "--flavor", "m1.tiny", "--image", "vm1-snap",
                     "--network", "private", "--key-name", "vmkey", "--config-drive", "true",
                     "--wait", "vm2")
    fip2 = cloud.osc("floating", "ip", "create", "public")["floating_ip_address"]
    cloud.osc("server", "add", "floating", "ip", "vm2", fip2, as_json=False)
    assert _until("ssh to the snapshot's server", lambda: (lambda p: p.stdout.strip()
                  if p.returncode == 0 else None)(subprocess.run(
                      [*ssh[:-1], f"root@{fip2}", "hostname"], capture_output=True,
                      text=True, timeout=30, check=False)), BOOT, 1.0) == "vm2"
    assert "instance data: config drive" in cloud.osc("console", "log", "show", "vm2",
                                                      as_json=False)
    cloud.osc("server", "delete", "--wait", "vm2", as_json=False)
    assert not list(cloud.state_dir.glob(f"hypervisors/*/instances/{snap['id']}"))

    # stop (ACPI) / start
    cloud.osc("server", "stop", "vm1", as_json=False)
    _until("SHUTOFF after stop", lambda: _status(cloud, "vm1") == "SHUTOFF", 90)
    assert domain not in _virsh(cloud, "list", "--name").split()
    cloud.osc("server", "start", "vm1", as_json=False)
    _until("ACTIVE after start", lambda: _status(cloud, "vm1") == "ACTIVE", 60)
    boot_id = _until("ssh after start", lambda: on("cat /proc/sys/kernel/random/boot_id"),
                     BOOT, 1.0)

    # a soft reboot boots the guest again
    cloud.osc("server", "reboot", "--wait", "vm1", as_json=False)
    _until("a new boot after reboot", lambda: (
        lambda b: b is not None and b != boot_id)(on("cat /proc/sys/kernel/random/boot_id")),
        BOOT, 1.0)

    # a poweroff from inside the guest is a SHUTOFF server (the power-state sync)
    on("poweroff; sleep 1")
    _until("SHUTOFF after the guest's poweroff", lambda: _status(cloud, "vm1") == "SHUTOFF",
           90)

    port = cloud.osc("port", "list", "--server", "vm1")[0]["ID"]
    host_ns = f"{prefix}-host-{cloud.osc('server', 'show', 'vm1')['OS-EXT-SRV-ATTR:host']}"
    assert f"tap{port[:11]}" in run.links(host_ns)
    cloud.osc("server", "delete", "--wait", "vm1", as_json=False)
    assert domain not in _virsh(cloud, "list", "--all", "--name").split()
    assert not list(cloud.state_dir.glob(f"hypervisors/*/instances/{uuid}"))
    assert f"tap{port[:11]}" not in run.links(host_ns)
