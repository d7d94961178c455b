"""The bootable guest image: built from Debian packages, booted with bare QEMU (TCG), reached
over SSH with the key from a config drive or the metadata service, powered off by ACPI; and
registered as the default image (`up --guest-image`, `image build-guest --register`).

Needs qemu-system-x86_64, qemu-img, the build tools (mke2fs, mkfs.vfat, mtools, syslinux), apt
with package lists (or a warm cache), ssh, genisoimage and busybox; skips saying which is
missing (CI installs them all).
"""

from __future__ import annotations

import http.server
import json
import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from pocketstack.image import guestimage
from tests.conftest import BIN, LiveCloud, free_port, own_cloud

HOST_TOOLS = ("qemu-system-x86_64", "qemu-img", "ssh", "ssh-keygen", "genisoimage", "busybox")
BOOT_DEADLINE = 240.0  # generous: TCG on a shared, loaded machine


def _missing() -> str | None:
    absent = [t for t in HOST_TOOLS if shutil.which(t) is None]
    if absent:
        return "missing " + ", ".join(absent)
    return guestimage.check_tools()


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> guestimage.GuestImage:
    why = _missing()
    if why:
        pytest.skip(f"guest image: {why}")
    out = tmp_path_factory.mktemp("guest") / "guest.qcow2"
    return guestimage.build_guest_image(out)


@pytest.fixture(scope="module")
def ssh_key(tmp_path_factory: pytest.TempPathFactory) -> Path:
    key = tmp_path_factory.mktemp("key") / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "guest-test", "-f",
                    str(key)], check=True)
    return key


def _meta(uuid: str, hostname: str, key: Path) -> dict[str, object]:
    return {"uuid": uuid, "name": hostname, "hostname": f"{hostname}.novalocal",
            "public_keys": {"test": key.with_suffix(".pub").read_text()},
            "keys": [{"name": "test", "type": "ssh",
                      "data": key.with_suffix(".pub").read_text()}]}


USER_DATA = "#!/bin/sh\necho \"user data ran as $(id -un)\" > /root/user-data-ran\n"


@dataclass
class Guest:
    proc: subprocess.Popen[bytes]
    console: Path
    qmp: Path
    ssh_port: int
    started: float

    def wait_console(self, text: str, timeout: float = BOOT_DEADLINE) -> float:
        deadline = self.started + timeout
        while time.monotonic() < deadline:
            if text in self.console.read_text(errors="replace"):
                return time.monotonic() - self.started
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        raise AssertionError(f"no {text!r} on the console:\n{self.console.read_text()}")

    def ssh(self, key: Path, user: str, command: str, timeout: float = 20) -> str:
        done = subprocess.run(
            ["ssh", "-i", str(key), "-p", str(self.ssh_port), "-o", "BatchMode=yes",
             "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
             "-o", "ConnectTimeout=10", "-o", "LogLevel=ERROR", f"{user}@127.0.0.1", command],
            capture_output=True, text=True, timeout=timeout, check=False)
        assert done.returncode == 0, f"ssh {user}: {done.returncode} {done.stderr}"
        return done.stdout

    def wait_ssh(self, key: Path, timeout: float = 60) -> float:
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.ssh(key, "root", "true", timeout=15)
                return time.monotonic() - self.started
            except (AssertionError, subprocess.TimeoutExpired):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)

    def qmp_command(self, command: str) -> None:
        with socket.socket(socket.AF_UNIX) as s:
            s.connect(str(self.qmp))
            f = s.makefile("rw")
            json.loads(f.readline())  # greeting
            for cmd in ("qmp_capabilities", command):
                f.write(json.dumps({"execute": cmd}) + "\n")
                f.flush()
                while "return" not in (reply := json.loads(f.readline())):
                    assert "error" not in reply, reply

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def boot(image: Path, work: Path, extra: list[str], netdev: str = "") -> Guest:
    disk = work / "disk.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", str(image),
                    str(disk)], check=True)
    port = free_port()
    console = work / "console.log"
    console.write_text("")
    qmp = work / "qmp.sock"
    cmd = ["qemu-system-x86_64", "-accel", "tcg", "-m", "256", "-smp", "1", "-nodefaults",
           "-nographic", "-serial", f"file:{console}", "-monitor", "none",
           "-qmp", f"unix:{qmp},server=on,wait=off",
           "-drive", f"file={disk},if=virtio,format=qcow2",
           "-netdev", f"user,id=n0,hostfwd=tcp:127.0.0.1:{port}-:22{netdev}",
           "-device", "virtio-net-pci,netdev=n0", *extra]
    started = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return Guest(proc, console, qmp, port, started)


def _config_drive(work: Path, meta: dict[str, object], user_data: str,
                  fmt: str = "iso9660") -> Path:
    """Nova's config drive: ISO 9660 (``genisoimage -V config-2 -r -J``), or vfat."""
    tree = work / "cd" / "openstack" / "latest"
    tree.mkdir(parents=True)
    (tree / "meta_data.json").write_text(json.dumps(meta))
    (tree / "user_data").write_text(user_data)
    if fmt == "vfat":
        img = work / "config.vfat"
        subprocess.run(["mkfs.vfat", "-C", "-n", "config-2", str(img), "4096"], check=True,
                       capture_output=True)
        env = dict(os.environ, MTOOLS_SKIP_CHECK="1")
        subprocess.run(["mcopy", "-s", "-i", str(img), str(work / "cd" / "openstack"), "::/"],
                       check=True, env=env)
        return img
    iso = work / "config.iso"
    subprocess.run(["genisoimage", "-quiet", "-o", str(iso), "-V", "config-2", "-r", "-J",
                    str(work / "cd")], check=True)
    return iso


def _power_off(guest: Guest) -> float:
    """ACPI power button through QMP; QEMU must exit by itself (guest poweroff)."""
    pressed = time.monotonic()
    guest.qmp_command("system_powerdown")
    rc = guest.proc.wait(timeout=60)
    assert rc == 0, guest.proc.stderr.read() if guest.proc.stderr else rc
    assert "power button pressed" in guest.console.read_text()
    return time.monotonic() - pressed


# Nova's default config drive (ISO 9660 on an IDE CD-ROM), and the vfat one on a virtio disk
DRIVES = {"iso9660": "media=cdrom,if=ide", "vfat": "if=virtio"}


@pytest.mark.parametrize("fmt", sorted(DRIVES))
def test_boots_from_config_drive_and_powers_off(image: guestimage.GuestImage, ssh_key: Path,
                                                tmp_path: Path, fmt: str) -> None:
    assert image.size < 40 << 20, image.size
    drive = _config_drive(tmp_path, _meta("6f1c7a52-1d4e-4c59-9d53-2b0c1bd0c001", "vm-cd",
                                          ssh_key), USER_DATA, fmt)
    blank = tmp_path / "blank.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(blank), "64M"], check=True)
    guest = boot(image.path, tmp_path, ["-drive", f"file={drive},{DRIVES[fmt]},format=raw",
                                        "-drive", f"file={blank},if=virtio,format=qcow2"])
    try:
        ready = guest.wait_console(guestimage.READY_MARKER)
        ssh_at = guest.wait_ssh(ssh_key)
        console = guest.console.read_text()
        assert "instance data: config drive" in console
        assert guest.ssh(ssh_key, "root", "hostname").strip() == "vm-cd"
        assert guest.ssh(ssh_key, "root", "cat /root/user-data-ran").strip() == \
            "user data ran as root"
        assert guest.ssh(ssh_key, guestimage.SSH_USER, "id -un").strip() == guestimage.SSH_USER
        # the disk is the image's: root on the virtio disk, the modules there
        assert "/dev/vda2" in guest.ssh(ssh_key, "root", "grep ' / ' /proc/mounts")
        # what Tempest's remote client runs (its prologue, sudo, lsblk, blkid, mke2fs -t ext4)
        run = "set -eu -o pipefail; PATH=$PATH:/sbin; "
        disks = guest.ssh(ssh_key, "root", run + "lsblk -lb --nodeps").splitlines()
        assert disks[0].split()[:6] == ["NAME", "MAJ:MIN", "RM", "SIZE", "RO", "TYPE"]
        blank_dev = next(line.split()[0] for line in disks if " 67108864 " in line)
        assert [line.split()[5] for line in disks if line.startswith(blank_dev)] == ["disk"]
        cd = guest.ssh(ssh_key, "root", run + "blkid -L config-2 -o device").strip()
        assert cd.startswith("/dev/") and cd != f"/dev/{blank_dev}"
        stamp = guest.ssh(ssh_key, "root", run + f"sudo mke2fs -q -t ext4 /dev/{blank_dev}; "
                          f"sudo mount /dev/{blank_dev} /mnt; sudo sh -c 'echo stamp > /mnt/t'; "
                          "sudo umount /mnt; sudo mount -r /dev/" + blank_dev + " /mnt; "
                          "cat /mnt/t; grep ' /mnt ' /proc/mounts")
        assert stamp.splitlines()[0] == "stamp" and " ext4 " in stamp.splitlines()[1]
        off = _power_off(guest)
    finally:
        guest.stop()
    print(f"\n{fmt} config drive; guest image {image.size / 2**20:.1f} MiB built in "
          f"{image.seconds:.1f}s {image.timings}; TCG boot: ready marker {ready:.1f}s, "
          f"SSH {ssh_at:.1f}s, poweroff {off:.1f}s")


class _Metadata(http.server.BaseHTTPRequestHandler):
    files: dict[str, bytes] = {}
    posted: list[tuple[str, bytes]] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        self.posted.append((self.path, self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        body = self.files.get(self.path)
        self.send_response(200 if body is not None else 404)
        self.send_header("Content-Length", str(len(body or b"")))
        self.end_headers()
        self.wfile.write(body or b"")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def metadata_server(ssh_key: Path) -> Iterator[tuple[int, list[tuple[str, bytes]]]]:
    handler = type("Handler", (_Metadata,), {"posted": [], "files": {
        "/openstack/latest/meta_data.json": json.dumps(
            _meta("6f1c7a52-1d4e-4c59-9d53-2b0c1bd0c002", "vm-md", ssh_key)).encode(),
        "/openstack/latest/user_data": USER_DATA.encode()}})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], handler.posted
    finally:
        server.shutdown()
        server.server_close()


def test_boots_from_metadata_service(image: guestimage.GuestImage, ssh_key: Path,
                                     tmp_path: Path,
                                     metadata_server: tuple[int, list[tuple[str, bytes]]]
                                     ) -> None:
    # 169.254.169.254:80 inside the guest is our HTTP server (each connection through nc)
    port, posted = metadata_server
    netdev = (",net=169.254.0.0/16,host=169.254.0.2,dhcpstart=169.254.0.15,"
              f"guestfwd=tcp:169.254.169.254:80-cmd:busybox nc 127.0.0.1 {port}")
    guest = boot(image.path, tmp_path, [], netdev)
    try:
        guest.wait_console(guestimage.READY_MARKER)
        assert "instance data: metadata service" in guest.console.read_text()
        guest.wait_ssh(ssh_key)
        assert guest.ssh(ssh_key, "root", "hostname").strip() == "vm-md"
        assert "user data ran" in guest.ssh(ssh_key, "root", "cat /root/user-data-ran")
        # the curl Tempest runs in a guest (test_server_basic_ops: GET, POST the password)
        md = "http://169.254.169.254/openstack"
        run = "set -eu -o pipefail; PATH=$PATH:/sbin; "
        assert guest.ssh(ssh_key, "root", run + f"curl {md}/latest/user_data") == USER_DATA
        assert guest.ssh(ssh_key, "root", run + f"curl {md}/latest/nothing; echo $?") == "0\n"
        guest.ssh(ssh_key, "root", run + f"curl -X POST -d testtest {md}/2013-10-17/password")
        assert posted == [("/openstack/2013-10-17/password", b"testtest")]
        # a reboot from inside: the disk keeps its state, user data does not run again
        guest.ssh(ssh_key, "root", "rm /root/user-data-ran; reboot")
        deadline = time.monotonic() + BOOT_DEADLINE
        while guest.console.read_text().count(guestimage.READY_MARKER) < 2:
            assert time.monotonic() < deadline and guest.proc.poll() is None, \
                guest.console.read_text()
            time.sleep(0.2)
        guest.wait_ssh(ssh_key)
        assert guest.ssh(ssh_key, "root", "hostname; ls /root").split() == ["vm-md"]
    finally:
        guest.stop()


def test_json_flattener_reads_metadata(tmp_path: Path) -> None:
    if shutil.which("busybox") is None:
        pytest.skip("busybox missing")
    doc = {"hostname": "a.novalocal", "public_keys": {"k1": "ssh-ed25519 AAAA x@y\n"},
           "meta": {"q": 'say "hi" \\ \u00e9'}, "list": [1, True, None, {"x": "y"}]}
    src = tmp_path / "m.json"
    src.write_text(json.dumps(doc))
    awk = Path(guestimage.__file__).parent / "files" / "json.awk"
    out = subprocess.run(["busybox", "awk", "-f", str(awk), str(src)], capture_output=True,
                         text=True, check=True).stdout.splitlines()
    assert out == ["hostname\ta.novalocal", "public_keys/k1\tssh-ed25519 AAAA x@y\\n",
                   'meta/q\tsay "hi" \\ ?', "list/0\t1", "list/1\ttrue", "list/2\tnull",
                   "list/3/x\ty"]


@pytest.fixture(scope="module")
def guest_cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveCloud]:
    why = _missing()
    if why:
        pytest.skip(f"guest image: {why}")
    yield from own_cloud(tmp_path_factory, "guestcloud", {
        "POCKETSTACK_IMAGE_DEFAULT_GUEST": "1"})


def test_up_registers_the_guest_as_default_and_register_replaces_it(
        guest_cloud: LiveCloud, tmp_path: Path) -> None:
    first = guest_cloud.osc("image", "show", guestimage.NAME, cloud="pocketstack")
    assert first["status"] == "active"
    assert first["visibility"] == "public"
    props = first["properties"]
    for key in ("hw_disk_bus", "hw_vif_model", "os_distro", "default_user"):
        assert props[key] == guestimage.PROPERTIES[key]
    names = [i["Name"] for i in guest_cloud.osc("image", "list")]
    assert "pocketstack-empty-qcow2" not in names  # the guest replaced the stub
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    done = subprocess.run([str(BIN / "pocketstack"), "image", "build-guest", "--output",
                           str(tmp_path / "g.qcow2"), "--register", "--state-dir",
                           str(guest_cloud.state_dir)], capture_output=True, text=True,
                          env=env, timeout=600, check=False)
    assert done.returncode == 0, done.stderr
    assert "registered image" in done.stdout
    again = [i for i in guest_cloud.osc("image", "list") if i["Name"] == guestimage.NAME]
    assert len(again) == 1 and again[0]["ID"] != first["id"]
    second = guest_cloud.osc("image", "show", again[0]["ID"])
    assert second["size"] == (tmp_path / "g.qcow2").stat().st_size
    assert second["properties"]["hw_vif_model"] == "virtio"


def test_register_without_a_cloud_says_why(tmp_path: Path) -> None:
    why = _missing()
    if why:
        pytest.skip(f"guest image: {why}")
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    done = subprocess.run([str(BIN / "pocketstack"), "image", "build-guest", "--output",
                           str(tmp_path / "g.qcow2"), "--register", "--state-dir",
                           str(tmp_path / "nowhere")], capture_output=True, text=True, env=env,
                          timeout=600, check=False)
    assert done.returncode == 1
    assert "cannot register the guest image: no cloud 'pocketstack-admin'" in done.stderr
