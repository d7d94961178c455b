"""Volumes on the namespace driver against the real kernel: attaching a volume file makes a
loop device and a block node in the guest (its own /dev: the host's is untouched); the guest
reads and writes the volume's bytes; detach removes the node and frees the loop device, and
so does destroy; a guest spawned with a volume has it from the start."""

from __future__ import annotations

import os
import secrets
import subprocess
import time
import uuid as uuidlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from pocketstack.agents.compute.drivers import loader
from pocketstack.agents.compute.drivers.base import (
    BlockDevices,
    DriverContext,
    DriverError,
    InstanceSpec,
    VolumeConnection,
)
from pocketstack.agents.compute.drivers.namespace import NamespaceDriver, missing
from pocketstack.agents.compute.drivers.namespace_volumes import loops_of
from pocketstack.agents.kernel import cgroups, cleanup, run
from pocketstack.agents.kernel.names import KernelNames
from pocketstack.config import load_settings

REASON = run.missing() or missing() or (
    None if os.path.exists("/dev/loop-control") else "no loop devices (/dev/loop-control)")
pytestmark = pytest.mark.skipif(REASON is not None, reason=REASON or "")


@pytest.fixture
def driver(tmp_path: Path) -> Iterator[NamespaceDriver]:
    prefix = "pt" + secrets.token_hex(2)
    names = KernelNames(prefix)
    settings = load_settings(environ={}, overrides={"kernel_prefix": prefix,
                                                    "state_dir": str(tmp_path / "state")})
    context = DriverContext("h1", settings, tmp_path / "state" / "hypervisors" / "h1")
    made = loader.load_driver("namespace", context)
    assert isinstance(made, NamespaceDriver)
    try:
        yield made
    finally:
        for log in sorted(tmp_path.glob("state/hypervisors/h1/instances/*/console.log")):
            print(f"--- {log}\n{log.read_text()}")
        for guest in list(made.list_instances()):
            made.destroy(guest)
        cleanup.remove_all(names)
        assert not [ns for ns in run.netns_list() if names.owns(ns)]
        assert not cgroups.owned(prefix)


def _volume_file(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / f"volume-{uuidlib.uuid4()}"
    with open(path, "wb") as handle:
        handle.write(data)
        handle.truncate(8 << 20)
    return path


def _conn(path: Path, device: str | None = None, boot_index: int | None = None
          ) -> VolumeConnection:
    return VolumeConnection(volume_id=path.name.removeprefix("volume-"), device_name=device,
                            boot_index=boot_index,
                            connection_info={"driver_volume_type": "local",
                                             "data": {"device_path": str(path)}})


def _in_guest(driver: NamespaceDriver, uuid: str, command: str) -> subprocess.CompletedProcess[str]:
    init = driver.guest_init_pid(uuid)
    assert init is not None
    return subprocess.run(["nsenter", "-t", str(init), "-m", "sh", "-c", command],
                          capture_output=True, text=True, timeout=10, check=False)


def _spec(volumes: list[VolumeConnection] | None = None) -> InstanceSpec:
    uuid = str(uuidlib.uuid4())
    return InstanceSpec(uuid=uuid, name="instance-00000001", vcpus=1, memory_mb=128,
                        root_gb=0, block_devices=BlockDevices(volumes=volumes or []))


def test_attach_shows_a_block_device_in_the_guest(driver: NamespaceDriver,
                                                  tmp_path: Path) -> None:
    spec = _spec()
    driver.spawn(spec)
    marker = b"pocketstack-volume-" + secrets.token_hex(8).encode()
    path = _volume_file(tmp_path, marker)
    host_dev = set(os.listdir("/dev"))
    # a login's lsblk lists the guest's own disks (Tempest counts them around an attach)
    lsblk = "PATH=/usr/local/sbin:$PATH lsblk -lb --nodeps"
    for _ in range(100):  # until the boot script has made the login's tools
        if _in_guest(driver, spec.uuid, "test -x /usr/local/sbin/lsblk").returncode == 0:
            break
        time.sleep(0.05)
    before = _in_guest(driver, spec.uuid, lsblk)
    assert before.returncode == 0 and " disk " not in before.stdout, before.stdout
    device = driver.attach_volume(spec.uuid, _conn(path))
    assert device == "/dev/vdb"
    after = _in_guest(driver, spec.uuid, lsblk).stdout.splitlines()
    column = after[0].index("TYPE")
    assert [line.split()[0] for line in after[1:] if line[column:column + 4] == "disk"] == [
        "vdb"], after
    [loop] = loops_of(str(path))
    shown = _in_guest(driver, spec.uuid, "ls -l /dev/vdb && ls /dev/null /dev/pts && "
                      "head -c 35 /dev/vdb")
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.startswith("b") and marker.decode() in shown.stdout
    # the guest writes through its block device; the volume file has it
    wrote = _in_guest(driver, spec.uuid, "printf guest-wrote | dd of=/dev/vdb bs=1 seek=4096 "
                      "conv=notrunc 2>/dev/null && sync")
    assert wrote.returncode == 0, wrote.stderr
    with open(path, "rb") as handle:
        handle.seek(4096)
        assert handle.read(11) == b"guest-wrote"
    assert set(os.listdir("/dev")) - host_dev <= {os.path.basename(loop)}  # no vdb on host
    assert not os.path.exists("/dev/vdb")
    info = driver.info(spec.uuid)
    assert info["volumes"] == {_conn(path).volume_id: "/dev/vdb"}
    assert info["loop_devices"] == {_conn(path).volume_id: loop}
    assert driver.attach_volume(spec.uuid, _conn(path)) == "/dev/vdb"  # idempotent
    assert loops_of(str(path)) == [loop]
    driver.detach_volume(spec.uuid, _conn(path).volume_id)
    assert loops_of(str(path)) == []
    gone = _in_guest(driver, spec.uuid, "test -e /dev/vdb")
    assert gone.returncode != 0
    assert driver.info(spec.uuid)["volumes"] == {}
    # destroy frees the guest's loop devices
    second = _volume_file(tmp_path, b"second")
    assert driver.attach_volume(spec.uuid, _conn(second, "/dev/vdc")) == "/dev/vdc"
    assert len(loops_of(str(second))) == 1
    driver.destroy(spec.uuid)
    assert loops_of(str(second)) == []


def test_spawn_with_a_volume_and_power_cycle(driver: NamespaceDriver, tmp_path: Path) -> None:
    path = _volume_file(tmp_path, b"from-spawn")
    spec = _spec([_conn(path, "/dev/vdb")])
    driver.spawn(spec)
    shown = _in_guest(driver, spec.uuid, "head -c 10 /dev/vdb")
    assert shown.stdout == "from-spawn", shown.stderr
    driver.power_off(spec.uuid)
    driver.power_on(spec.uuid)  # a new mount namespace gets its node again
    shown = _in_guest(driver, spec.uuid, "head -c 10 /dev/vdb")
    assert shown.stdout == "from-spawn", shown.stderr
    driver.destroy(spec.uuid)
    assert loops_of(str(path)) == []


def test_non_local_or_missing_volume_is_refused(driver: NamespaceDriver,
                                                tmp_path: Path) -> None:
    spec = _spec()
    driver.spawn(spec)
    with pytest.raises(DriverError):
        driver.attach_volume(spec.uuid, VolumeConnection(
            volume_id="v1", driver_volume_type="iscsi",
            connection_info={"driver_volume_type": "iscsi", "data": {}}))
    with pytest.raises(DriverError):
        driver.attach_volume(spec.uuid, _conn(tmp_path / "volume-absent"))
    assert driver.info(spec.uuid)["volumes"] == {}
