"""The libvirt driver against a real libvirtd and QEMU (TCG here): guests with blank or
tiny disks (no OS needed) show the files, domain XML, taps and power states Nova's libvirt
driver would; destroy leaves nothing; a wrong-format image fails clean.

One libvirtd (started by the driver itself, in the host namespace of a unique prefix) serves
the whole module; each test makes its own guests. Booting a real guest image end to end is
``tests/test_libvirt_story.py``.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import secrets
import shutil
import signal
import subprocess
import threading
import time
import uuid as uuidlib
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pytest

from pocketstack.agents.compute import disk_move
from pocketstack.agents.compute.drivers import libvirt_files as files
from pocketstack.agents.compute.drivers import libvirt_host as lvhost
from pocketstack.agents.compute.drivers import libvirt_xml as lvxml
from pocketstack.agents.compute.drivers import loader
from pocketstack.agents.compute.drivers.base import (
    PAUSED,
    RUNNING,
    SHUTDOWN,
    SUSPENDED,
    BlockDevices,
    DriverContext,
    DriverError,
    ImageSource,
    InstanceNotFound,
    InstanceSpec,
    NetworkInterface,
    VolumeConnection,
)
from pocketstack.agents.compute.drivers.libvirt import LibvirtDriver, missing
from pocketstack.agents.kernel import cleanup, run
from pocketstack.agents.kernel.names import KernelNames
from pocketstack.common.bus import InProcessBus
from pocketstack.config import load_settings

REASON = missing()
pytestmark = pytest.mark.skipif(REASON is not None, reason=REASON or "")

HOST = "h1"


@dataclass
class World:
    driver: LibvirtDriver
    names: KernelNames
    tmp: Path
    image: ImageSource

    @property
    def host_ns(self) -> str:
        return self.names.host_ns(HOST)

    def taps(self) -> set[str]:
        return {name for name in run.links(self.host_ns) if name.startswith("tap")} \
            if run.netns_exists(self.host_ns) else set()

    def spec(self, *, image: ImageSource | None = None, ports: int = 1, ephemeral_gb: int = 0,
             swap_mb: int = 0) -> InstanceSpec:
        uuid = str(uuidlib.uuid4())
        vifs = [NetworkInterface(port_id=str(uuidlib.uuid4()), mtu=1450, mac_address="fa:16:3e:"
                                 + ":".join(f"{b:02x}" for b in secrets.token_bytes(3)))
                for _ in range(ports)]
        return InstanceSpec(uuid=uuid, name=f"instance-{secrets.randbelow(1 << 24):08x}",
                            vcpus=1, memory_mb=64, root_gb=1, image=image or ImageSource(),
                            network_interfaces=vifs,
                            block_devices=BlockDevices(root_gb=1, ephemeral_gb=ephemeral_gb,
                                                      swap_mb=swap_mb))

    def domain(self, uuid: str) -> ET.Element:
        return ET.fromstring(self.driver.virsh("dumpxml", uuid))


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("libvirt")
    prefix = "pt" + secrets.token_hex(2)
    names = KernelNames(prefix)
    settings = load_settings(environ={}, overrides={
        "kernel_prefix": prefix, "state_dir": str(tmp / "state"), "shutdown_timeout": 2})
    context = DriverContext(HOST, settings, tmp / "state" / "hypervisors" / HOST)
    image_file = tmp / "image.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(image_file), "64M"],
                   check=True)
    image = ImageSource(id=str(uuidlib.uuid4()), disk_format="qcow2", container_format="bare",
                        path=str(image_file))
    driver = loader.load_driver("libvirt", context)
    assert isinstance(driver, LibvirtDriver)
    try:
        yield World(driver, names, tmp, image)
    finally:
        driver.daemon.stop()
        cleanup.remove_all(names)


def until(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.1)


def assert_gone(world: World, spec: InstanceSpec) -> None:
    assert spec.uuid not in world.driver.virsh("list", "--all", "--uuid").split()
    assert not (world.driver.instances_dir / spec.uuid).exists()
    assert not {v.devname for v in spec.network_interfaces} & world.taps()


def test_domain_type_is_probed_once_per_boot(world: World, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    virt_type = world.driver.virt_type
    cache = tmp_path / "virt-type.json"
    first = lvhost.probe_virt_type(cache)
    assert first["virt_type"] in ("kvm", "qemu") and first["reason"]
    saved = json.loads(cache.read_text())
    assert saved["boot_id"] == Path("/proc/sys/kernel/random/boot_id").read_text().strip()

    def no_probe() -> dict[str, object]:
        raise AssertionError("probed again")

    monkeypatch.setattr(lvhost, "probe", no_probe)
    assert lvhost.probe_virt_type(cache)["virt_type"] == first["virt_type"]
    # the driver uses what the probe found (no KVM that runs stock guests -> TCG)
    assert virt_type == json.loads(
        (world.driver.libvirt_dir / "virt-type.json").read_text())["virt_type"]
    if os.path.isdir("/sys/module/kvm_pvm"):
        assert virt_type == "qemu"


def test_spawn_makes_nova_files_domain_and_taps(world: World) -> None:
    spec = world.spec(image=world.image, ephemeral_gb=1, swap_mb=16)
    spec.config_drive, spec.key_name, spec.key_data = True, "mykey", "ssh-ed25519 AAAA test"
    spec.user_data = base64.b64encode(b"#!/bin/sh\necho hi\n").decode()
    world.driver.spawn(spec)
    try:
        base = world.driver.instances_dir / spec.uuid
        cached = world.driver.instances_dir / "_base" / files.base_name(world.image.id or "")
        assert files.info(cached)["format"] == "raw"  # force_raw_images
        disk = files.info(base / "disk", "qcow2")
        assert disk["format"] == "qcow2" and disk["backing-filename"] == str(cached)
        assert json.loads((base / "disk.info").read_text()) == {
            str(base / "disk"): "qcow2", str(base / "disk.eph0"): "qcow2",
            str(base / "disk.swap"): "qcow2", str(base / "disk.config"): "raw"}
        iso = (base / "disk.config").read_bytes()
        assert iso[0x8001:0x8006] == b"CD001" and iso[0x8028:0x8030] == b"config-2"
        meta = json.loads(files.config_drive_files(spec)["openstack/latest/meta_data.json"])
        assert meta["uuid"] == spec.uuid and meta["public_keys"] == {"mykey": spec.key_data}
        assert b"echo hi" in iso and spec.uuid.encode() in iso
        assert (base / "console.log").exists()

        listed = world.driver.virsh("list", "--name").split()
        assert spec.name in listed
        dom = world.domain(spec.uuid)
        assert dom.get("type") == world.driver.virt_type
        assert dom.findtext("name") == spec.name and dom.findtext("uuid") == spec.uuid
        assert dom.find("features/acpi") is not None
        caches = [d.get("cache") for d in dom.findall("devices/disk/driver")]
        assert caches == ["writeback"] * 3 + [None]  # disk_cachemodes file=writeback; cdrom
        targets = [(d.get("dev"), d.get("bus")) for d in dom.findall("devices/disk/target")]
        assert targets == [("vda", "virtio"), ("vdb", "virtio"), ("vdc", "virtio"),
                           ("hdd", "ide")]  # the config drive, a cdrom as Nova's
        nic = dom.find("devices/interface")
        assert nic is not None and nic.get("type") == "ethernet"
        vif = spec.network_interfaces[0]
        assert nic.find("mac").get("address") == vif.mac_address  # type: ignore[union-attr]
        assert nic.find("target").get("dev") == vif.devname  # type: ignore[union-attr]
        assert nic.find("model").get("type") == "virtio"  # type: ignore[union-attr]
        assert nic.find("driver").get("name") == "qemu"  # type: ignore[union-attr]
        # the serial port: a UNIX socket for the console proxy, logged to console.log
        serial = dom.find("devices/serial")
        assert serial is not None and serial.get("type") == "unix"
        socket_path = world.driver.console_socket(spec.uuid, "serial")
        assert serial.find("source").get("path") == str(socket_path)  # type: ignore[union-attr]
        assert serial.find("log").get("file") == str(base / "console.log")  # type: ignore[union-attr]
        assert socket_path.is_socket() and len(str(socket_path)) <= 107
        assert world.driver.get_console(spec.uuid, "serial").path == str(socket_path)
        assert world.driver.get_console(spec.uuid, "vnc").path == \
            str(world.driver.console_socket(spec.uuid, "vnc"))
        # a virtio RNG from the host's urandom (Nova's <rng>), here by default
        rng = dom.find("devices/rng")
        assert rng is not None and rng.get("model") == "virtio"
        assert rng.findtext("backend") == "/dev/urandom"
        qemu_argv = Path(f"/proc/{world.driver.info(spec.uuid)['qemu_pid']}/cmdline") \
            .read_bytes().split(b"\0")
        assert any(b"virtio-rng" in arg for arg in qemu_argv)
        # no iPXE ROM on the NIC (nothing boots from the network); Nova's tablet and balloon
        assert nic.find("rom").get("enabled") == "no"  # type: ignore[union-attr]
        net = next(arg for arg in qemu_argv if b'"virtio-net-pci"' in arg)
        assert json.loads(net)["romfile"] == ""
        assert dom.find("devices/input[@type='tablet']").get("bus") == "usb"  # type: ignore
        assert dom.find("devices/memballoon/stats").get("period") == "10"  # type: ignore
        if world.driver.virt_type == "qemu":  # TCG: a bounded translation cache
            cache = dom.find("features/tcg/tb-cache")  # libvirt shows it in KiB
            assert cache is not None and cache.get("unit") == "KiB"
            assert cache.text == str(lvxml.TCG_TB_CACHE_MIB * 1024)
            assert any(f"tb-size={lvxml.TCG_TB_CACHE_MIB}".encode() in arg for arg in qemu_argv)

        # the tap is in the host namespace, Nova's fe: MAC, left for the L2 agent to wire
        link = run.links(world.host_ns)[vif.devname or ""]
        assert link["address"] == "fe" + vif.mac_address[2:]
        assert link["mtu"] == 1450
        assert world.driver.list_instances()[spec.uuid] == RUNNING
        world.driver.spawn(spec)  # a retried spawn of a running guest changes nothing
        assert world.driver.power_state(spec.uuid) == RUNNING
    finally:
        world.driver.destroy(spec.uuid)
    assert_gone(world, spec)
    world.driver.destroy(spec.uuid)  # destroying an unknown guest succeeds


def test_rng_follows_the_flavor_and_image(world: World) -> None:
    """Nova's knobs: ``hw_rng:allowed=false`` (flavor) or ``hw_rng_model`` other than virtio
    (image) leave the RNG out; ``hw_rng:rate_bytes``/``rate_period`` limit it."""
    def rng(extra: dict[str, str], props: dict[str, str] | None = None) -> ET.Element | None:
        spec = world.spec(image=ImageSource(id="i", properties=props or {}))
        spec.extra_specs = extra
        xml = lvxml.domain_xml(lvxml.Domain(spec, "qemu"))
        return ET.fromstring(xml).find("devices/rng")

    assert rng({}) is not None and rng({"hw_rng:allowed": "True"}) is not None
    assert rng({"hw_rng:allowed": "false"}) is None
    assert rng({}, {"hw_rng_model": "none"}) is None
    limited = rng({"hw_rng:rate_bytes": "2048", "hw_rng:rate_period": "500"})
    assert limited is not None and limited.find("rate") is not None
    assert limited.find("rate").attrib == {"bytes": "2048", "period": "500"}  # type: ignore
    assert rng({"hw_rng:rate_bytes": "x"}).find("rate") is None  # type: ignore[union-attr]


def test_optional_devices_follow_nova_knobs(world: World) -> None:
    """Nova's ``pointer_model`` (image ``hw_pointer_model``/``hw_input_bus`` first): no
    tablet means no USB controller (``model='none'``, or the image's ``hw_usb_model``);
    ``mem_stats_period_seconds=0``: no balloon; ``libvirt_nic_rom`` gives the NIC its ROM."""
    def devices(props: dict[str, str] | None = None, **options: object) -> ET.Element:
        spec = world.spec(image=ImageSource(id="i", properties=props or {}))
        dom = lvxml.Domain(spec, "qemu", nics=[lvxml.Nic("tapx", "fa:16:3e:00:00:01")],
                           options=lvxml.DeviceOptions(**options))  # type: ignore[arg-type]
        found = ET.fromstring(lvxml.domain_xml(dom)).find("devices")
        assert found is not None
        return found

    default = devices()
    assert [(i.get("type"), i.get("bus")) for i in default.findall("input")] == [
        ("tablet", "usb")]
    assert default.find("controller[@type='usb']") is None  # libvirt's own (piix3-uhci)
    assert default.find("interface/rom").attrib == {"enabled": "no"}  # type: ignore
    plain = devices(pointer_model="ps2mouse")
    assert plain.find("input") is None
    assert plain.find("controller[@type='usb']").get("model") == "none"  # type: ignore
    assert devices({"hw_pointer_model": "usbtablet"}, pointer_model="ps2mouse") \
        .find("input").get("bus") == "usb"  # type: ignore[union-attr]
    virtio = devices({"hw_input_bus": "virtio"})
    assert virtio.find("input").get("bus") == "virtio"  # type: ignore[union-attr]
    assert virtio.find("controller[@type='usb']").get("model") == "none"  # type: ignore
    assert devices({"hw_usb_model": "qemu-xhci"}, pointer_model="ps2mouse") \
        .find("controller[@type='usb']").get("model") == "qemu-xhci"  # type: ignore
    assert devices(mem_stats_period_seconds=0).find("memballoon").attrib == {  # type: ignore
        "model": "none"}
    assert devices(nic_rom=True).find("interface/rom") is None
    # Nova's disk_cachemodes for the guest's own disks; a volume (its id as serial) stays none
    assert lvxml.file_cache_mode("block=none, file=writeback") == "writeback"
    assert lvxml.file_cache_mode("file=bogus") == lvxml.file_cache_mode("") == "none"
    options = lvxml.DeviceOptions(disk_cache="writeback")
    own = lvxml.disk_element(lvxml.Disk("/x/disk", "vda"), options).find("driver")
    volume = lvxml.disk_element(lvxml.Disk("/dev/v", "vdb", serial="v1"), options).find("driver")
    assert own is not None and own.get("cache") == "writeback"
    assert volume is not None and volume.get("cache") == "none"
    # a domain without a tablet really starts, with no USB controller in QEMU
    spec = world.spec(image=world.image)
    world.driver.devices = lvxml.DeviceOptions(pointer_model="ps2mouse",
                                               mem_stats_period_seconds=0)
    try:
        world.driver.spawn(spec)
        argv = Path(f"/proc/{world.driver.info(spec.uuid)['qemu_pid']}/cmdline").read_bytes()
        assert b"usb" not in argv.replace(b"usb=off", b"") and b"balloon" not in argv
        assert world.driver.power_state(spec.uuid) == RUNNING
    finally:
        world.driver.devices = lvxml.DeviceOptions()
        world.driver.destroy(spec.uuid)
    assert_gone(world, spec)


def test_power_pause_suspend_reboot(world: World) -> None:
    spec = world.spec()
    drv = world.driver
    drv.spawn(spec)
    try:
        u = spec.uuid
        drv.pause(u)
        assert drv.power_state(u) == PAUSED
        drv.unpause(u)
        assert drv.power_state(u) == RUNNING
        drv.suspend(u)
        assert drv.power_state(u) == SUSPENDED
        assert drv.list_instances()[u] == SUSPENDED
        drv.resume(u)
        assert drv.power_state(u) == RUNNING
        pid = drv.info(u)["qemu_pid"]
        drv.reboot(u, hard=True)  # a reset: the same QEMU process
        assert drv.power_state(u) == RUNNING and drv.info(u)["qemu_pid"] == pid
        started = time.monotonic()
        drv.power_off(u)  # no OS answers ACPI: stopped after shutdown_timeout
        assert drv.power_state(u) == SHUTDOWN
        assert time.monotonic() - started >= 2
        assert (drv.instances_dir / u / "disk").exists()  # files and taps stay
        assert spec.network_interfaces[0].devname in world.taps()
        drv.power_on(u)
        assert drv.power_state(u) == RUNNING
        run.run(["ip", "link", "del", spec.network_interfaces[0].devname or ""],
                world.host_ns)
        drv.power_off(u)
        drv.power_on(u)  # a tap lost while off is made again
        assert spec.network_interfaces[0].devname in world.taps()
        with pytest.raises(InstanceNotFound):
            drv.pause(str(uuidlib.uuid4()))
    finally:
        drv.destroy(spec.uuid)
    assert_gone(world, spec)


def test_a_guest_that_dies_shows_shutdown_and_survives_libvirtd(world: World) -> None:
    spec = world.spec()
    drv = world.driver
    drv.spawn(spec)
    try:
        drv.daemon.stop()
        until(lambda: drv.daemon.pid() is None, 10, "libvirtd to stop")
        # the guest outlives its daemon; the next call starts libvirtd again and finds it
        assert drv.list_instances()[spec.uuid] == RUNNING
        pid = drv.info(spec.uuid)["qemu_pid"]
        os.kill(pid, signal.SIGKILL)  # the guest crashes
        until(lambda: drv.list_instances()[spec.uuid] == SHUTDOWN, 10, "SHUTDOWN")
    finally:
        drv.destroy(spec.uuid)
    assert_gone(world, spec)


def test_a_delete_during_a_spawn_leaves_nothing(world: World) -> None:
    """What the conductor's deadline does to a boot that outlived it: destroy (it waits for
    the spawn under way, then removes everything)."""
    spec = world.spec(image=world.image)
    spawning = threading.Thread(target=world.driver.spawn, args=(spec,))
    spawning.start()
    until(lambda: (world.driver.instances_dir / spec.uuid).exists(), 30, "the spawn to start")
    world.driver.destroy(spec.uuid)
    spawning.join(60)
    assert_gone(world, spec)


def test_wrong_format_image_fails_and_leaves_nothing(world: World) -> None:
    raw = world.tmp / "not-really.qcow2"
    raw.write_bytes(b"\0" * (1 << 20))
    image = ImageSource(id=str(uuidlib.uuid4()), disk_format="qcow2", path=str(raw))
    spec = world.spec(image=image)
    with pytest.raises(DriverError, match="declared qcow2 but its data is raw"):
        world.driver.spawn(spec)
    assert_gone(world, spec)
    assert not (world.driver.instances_dir / "_base" / files.base_name(image.id or "")).exists()


def test_volumes_snapshot_rescue_resize(world: World) -> None:
    spec = world.spec(image=world.image)
    drv = world.driver
    drv.spawn(spec)
    try:
        u = spec.uuid
        volume_file = world.tmp / f"volume-{u}"
        volume_file.write_bytes(b"\0" * (8 << 20))
        volume = VolumeConnection(volume_id=str(uuidlib.uuid4()), connection_info={
            "driver_volume_type": "local", "data": {"device_path": str(volume_file)}})
        assert drv.attach_volume(u, volume) == "/dev/vdb"
        assert str(volume_file) in drv.virsh("domblklist", u)  # hot-plugged
        drv.detach_volume(u, volume.volume_id)  # (leaving a live guest takes its OS's ack)
        assert str(volume_file) not in drv.virsh("domblklist", u, "--inactive")
        assert drv.info(u)["volumes"] == {}

        snap = drv.snapshot(u)
        about = files.info(Path(snap["path"]), "qcow2")
        assert snap["disk_format"] == "qcow2" and "backing-filename" not in about
        assert drv.power_state(u) == RUNNING

        data = spec.to_dict()
        drv.rescue(InstanceSpec.from_dict({**data, "rescue_image": data["image"]}))
        sources = [d.get("file") for d in world.domain(u).findall("devices/disk/source")]
        assert sources[:2] == [str(drv.instances_dir / u / "disk.rescue"),
                               str(drv.instances_dir / u / "disk")]
        drv.unrescue(u)
        sources = [d.get("file") for d in world.domain(u).findall("devices/disk/source")]
        assert sources == [str(drv.instances_dir / u / "disk")]

        bigger = InstanceSpec.from_dict({**spec.to_dict(), "vcpus": 2, "memory_mb": 96,
                                         "root_gb": 2})
        drv.resize(bigger)
        dom = world.domain(u)
        assert dom.findtext("vcpu") == "2" and dom.findtext("memory") == str(96 * 1024)
        assert files.info(drv.instances_dir / u / "disk", "qcow2")["virtual-size"] == 2 << 30
        assert drv.power_state(u) == RUNNING
    finally:
        drv.destroy(spec.uuid)
    assert_gone(world, spec)


def test_a_volume_backed_guest_boots_from_its_volume_as_vda(world: World) -> None:
    """As Nova: no local root disk; the boot volume is vda, an ephemeral disk vdb, a volume
    attached later vdc; a resize keeps that layout; delete leaves the volume's file."""
    drv = world.driver
    plain = world.spec(ephemeral_gb=1)
    boot_file = world.tmp / f"boot-{plain.uuid}"
    subprocess.run(["qemu-img", "convert", "-q", "-O", "raw", world.image.path or "",
                    str(boot_file)], check=True)
    boot = VolumeConnection(volume_id=str(uuidlib.uuid4()), device_name="/dev/vda",
                            boot_index=0, connection_info={
                                "driver_volume_type": "local",
                                "data": {"device_path": str(boot_file)}})
    data = plain.to_dict()
    data["block_devices"]["volumes"] = [asdict(boot)]
    spec = InstanceSpec.from_dict(data)
    drv.spawn(spec)
    u = spec.uuid
    try:
        assert not (drv.instances_dir / u / "disk").exists()

        def layout() -> list[tuple[str | None, str | None]]:
            return [(d.find("source").get("file"), d.find("target").get("dev"))  # type: ignore[union-attr]
                    for d in world.domain(u).findall("devices/disk")
                    if d.get("device") == "disk"]

        assert layout() == [(str(boot_file), "vda"),
                            (str(drv.instances_dir / u / "disk.eph0"), "vdb")]
        assert drv.info(u)["volumes"] == {boot.volume_id: "/dev/vda"}
        assert drv.power_state(u) == RUNNING
        extra_file = world.tmp / f"extra-{u}"
        extra_file.write_bytes(b"\0" * (8 << 20))
        extra = VolumeConnection(volume_id=str(uuidlib.uuid4()), connection_info={
            "driver_volume_type": "local", "data": {"device_path": str(extra_file)}})
        assert drv.attach_volume(u, extra) == "/dev/vdc"
        drv.resize(InstanceSpec.from_dict({**spec.to_dict(), "vcpus": 2, "root_gb": 2}))
        assert world.domain(u).findtext("vcpu") == "2"
        assert layout()[:2] == [(str(boot_file), "vda"),
                                (str(drv.instances_dir / u / "disk.eph0"), "vdb")]
        assert not (drv.instances_dir / u / "disk").exists()
    finally:
        drv.destroy(u)
    assert_gone(world, spec)
    assert boot_file.exists()


def test_image_cache_manager_ages_unused_bases(world: World) -> None:
    image = ImageSource(id=str(uuidlib.uuid4()), disk_format="qcow2",
                        path=world.image.path)
    spec = world.spec(image=image, ports=0)
    drv = world.driver
    drv.spawn(spec)
    cached = drv.instances_dir / "_base" / files.base_name(image.id or "")
    try:
        old = time.time() - 10 * 86400
        os.utime(cached, (old, old))
        assert cached.name not in files.age_bases(drv.instances_dir, 86400)
        assert cached.stat().st_mtime > old  # in use: touched
    finally:
        drv.destroy(spec.uuid)
    assert cached.name in files.age_bases(drv.instances_dir, 86400, now=time.time() + 86401)
    assert not cached.exists()


def test_a_guest_moved_to_another_host_takes_its_disk(world: World) -> None:
    """Cold migration / resize to another host of this machine: the conductor spawns the guest
    on the target; its disk (what differs from the image) is copied from the source, onto the
    target's own base file."""
    settings = load_settings(environ={}, overrides={
        "kernel_prefix": world.names.prefix, "state_dir": str(world.tmp / "state"),
        "shutdown_timeout": 2})
    target = loader.load_driver("libvirt", DriverContext(
        "h2", settings, world.tmp / "state" / "hypervisors" / "h2"))
    assert isinstance(target, LibvirtDriver)
    spec = world.spec(image=world.image)
    source = world.driver
    source.spawn(spec)
    try:
        source.power_off(spec.uuid)
        disk = source.instances_dir / spec.uuid / "disk"
        subprocess.run(["qemu-io", "-f", "qcow2", "-c", "write -P 0x5a 1M 64k", str(disk)],
                       check=True, capture_output=True)
        target.spawn(spec)
        moved = target.instances_dir / spec.uuid / "disk"
        assert files.info(moved, "qcow2")["backing-filename"] == str(
            target.instances_dir / "_base" / files.base_name(world.image.id or ""))
        check = subprocess.run(["qemu-io", "-r", "-U", "-f", "qcow2", "-c", "read -P 0x5a 1M 64k",
                                str(moved)], capture_output=True, text=True, check=False)
        assert check.returncode == 0 and "Pattern verification failed" not in check.stdout
        assert target.power_state(spec.uuid) == RUNNING
        assert spec.name in target.virsh("list", "--name").split()
    finally:
        source.destroy(spec.uuid)
        target.destroy(spec.uuid)
        target.daemon.stop()
    assert_gone(world, spec)
    assert not (target.instances_dir / spec.uuid).exists()


def test_a_guest_moved_over_the_bus_takes_its_disks(world: World) -> None:
    """The same move between agents that share no directory (``migration_transport = bus``):
    the source's driver exports the disk's own clusters (the guest paused meanwhile) and the
    ephemeral disk whole, the target's agent pulls them in chunks and its driver re-points the
    root at its own base; both disks read as the source's."""
    settings = load_settings(environ={}, overrides={
        "kernel_prefix": world.names.prefix, "state_dir": str(world.tmp / "state3"),
        "shutdown_timeout": 2})
    target = loader.load_driver("libvirt", DriverContext(
        "h3", settings, world.tmp / "state3" / "hypervisors" / "h3"))
    assert isinstance(target, LibvirtDriver)
    spec = world.spec(image=world.image, ephemeral_gb=1)
    source = world.driver
    source.spawn(spec)
    try:
        source.power_off(spec.uuid)
        disk = source.instances_dir / spec.uuid / "disk"
        subprocess.run(["qemu-io", "-f", "qcow2", "-c", "write -P 0x6b 2M 64k", str(disk)],
                       check=True, capture_output=True)
        source.power_on(spec.uuid)  # running: the export pauses it

        async def move() -> None:
            bus = InProcessBus()
            exports = disk_move.DiskExports(HOST, source.instances_dir, source)

            async def serve(msg: dict[str, Any]) -> Any:
                return await exports.answer(str(msg["op"]), msg)

            await bus.subscribe(f"compute.{HOST}", serve)
            pull = disk_move.DiskPull(bus, "h3", target.instances_dir, "bus", chunk=1 << 20)
            moved = await pull.pull(spec.uuid, HOST, flatten=False)
            assert not moved.local
            try:
                await asyncio.to_thread(target.spawn_moved, spec, moved)
            finally:
                shutil.rmtree(moved.directory, ignore_errors=True)

        asyncio.run(move())
        assert source.power_state(spec.uuid) == RUNNING  # paused for the export only
        moved_disk = target.instances_dir / spec.uuid / "disk"
        assert files.info(moved_disk, "qcow2")["backing-filename"] == str(
            target.instances_dir / "_base" / files.base_name(world.image.id or ""))
        for name in ("disk", "disk.eph0"):
            same = subprocess.run(["qemu-img", "compare", "-U", str(source.instances_dir /
                                   spec.uuid / name), str(target.instances_dir / spec.uuid /
                                   name)], capture_output=True, text=True, check=False)
            assert same.returncode == 0, same.stdout + same.stderr
        assert target.power_state(spec.uuid) == RUNNING
        assert not list((source.instances_dir / "_moving").iterdir())
    finally:
        source.destroy(spec.uuid)
        target.destroy(spec.uuid)
        target.daemon.stop()
    assert_gone(world, spec)


def test_interfaces_hot_plug(world: World) -> None:
    spec = world.spec()
    drv = world.driver
    drv.spawn(spec)
    try:
        extra = NetworkInterface(port_id=str(uuidlib.uuid4()), mac_address="fa:16:3e:00:aa:01")
        drv.plug_vif(spec.uuid, extra)
        assert extra.devname in world.taps()
        listed = drv.virsh("domiflist", spec.uuid)
        assert extra.devname in listed and extra.mac_address in listed
        assert extra.mac_address in drv.virsh("dumpxml", spec.uuid, "--inactive")
        drv.unplug_vif(spec.uuid, extra.port_id)
        assert extra.devname not in world.taps()
        assert extra.mac_address not in drv.virsh("dumpxml", spec.uuid, "--inactive")
        assert drv.info(spec.uuid)["vifs"] == [spec.network_interfaces[0].port_id]
    finally:
        drv.destroy(spec.uuid)
    assert_gone(world, spec)


def test_console_sockets_in_the_domain_xml(tmp_path: Path) -> None:
    """The serial port is a UNIX socket logged to console.log, VNC a UNIX socket; both are
    found again in the XML (what ``get_console`` reads from ``virsh dumpxml``)."""
    spec = InstanceSpec(uuid="u1", name="instance-00000001", vcpus=1, memory_mb=64, root_gb=1,
                        image=ImageSource(id="i"))
    serial, vnc = tmp_path / "s-u1.sock", tmp_path / "v-u1.sock"
    xml = lvxml.domain_xml(lvxml.Domain(spec, "qemu", console=tmp_path / "console.log",
                                        serial_socket=serial, vnc_socket=vnc))
    port = ET.fromstring(xml).find("devices/serial")
    assert port is not None and port.get("type") == "unix"
    assert port.find("source").attrib == {"mode": "bind", "path": str(serial)}  # type: ignore
    assert port.find("log").attrib == {"file": str(tmp_path / "console.log"),  # type: ignore
                                       "append": "on"}
    assert lvxml.console_sockets(xml) == {"serial": str(serial), "vnc": str(vnc)}
    old = lvxml.domain_xml(lvxml.Domain(spec, "qemu", console=tmp_path / "console.log"))
    assert lvxml.console_sockets(old) == {}  # a domain from before: file serial, TCP VNC
