"""Moving a guest's disks between agents over the bus (``agents/compute/disk_move``): chunked
calls on the source agent's topic, bounded chunks, a SHA-256 at the end, nothing half-copied
kept on a failure; the local copy only where the source's directory is really seen here; and
(with qemu-img) the thin overlay re-pointed at the receiver's own base reads identical to the
source (``qemu-img compare``)."""

from __future__ import annotations

import asyncio
import base64
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pocketstack.agents.compute import disk_move
from pocketstack.agents.compute.agent import AgentOptions, ComputeAgent
from pocketstack.agents.compute.drivers import libvirt_files as files
from pocketstack.agents.compute.drivers.base import DriverError, InstanceSpec, MovedDisks
from pocketstack.agents.compute.drivers.fake import FakeDriver
from pocketstack.common.bus import BusTimeout, InProcessBus

UUID = "0b0e5c55-2a77-4f37-9a8d-6f1d2c3b4a59"


class StagingDriver:
    """A source driver whose guest's disks are given bytes (export_disks copies them)."""

    def __init__(self, disks: dict[str, bytes]) -> None:
        self.disks = disks

    def export_disks(self, uuid: str, staging: Path, flatten: bool) -> dict[str, Any]:
        assert uuid == UUID
        for name, data in self.disks.items():
            (staging / name).write_bytes(data)
        return {name: {"backing": None} for name in self.disks}


class Recorder:
    """A bus in front of another that records (and may change) what the calls answer."""

    def __init__(self, bus: InProcessBus,
                 change: Callable[[dict[str, Any], Any], Any] | None = None) -> None:
        self.bus = bus
        self.change = change
        self.calls: list[dict[str, Any]] = []

    async def call(self, topic: str, message: dict[str, Any], timeout: float = 30.0) -> Any:
        self.calls.append(dict(message))
        reply = await self.bus.call(topic, message, timeout)
        return self.change(message, reply) if self.change else reply


async def subscribe(bus: InProcessBus, exports: disk_move.DiskExports) -> None:
    async def serve(msg: dict[str, Any]) -> Any:
        return await exports.answer(str(msg["op"]), msg)

    await bus.subscribe("compute.src", serve)


def test_disks_come_in_bounded_chunks_checked_at_the_end(tmp_path: Path) -> None:
    data = {"disk": os.urandom(300_000), "disk.eph0": os.urandom(70_000)}

    async def main() -> None:
        bus = InProcessBus()
        exports = disk_move.DiskExports("src", tmp_path / "src" / "instances",
                                        StagingDriver(data))
        await subscribe(bus, exports)
        seen = Recorder(bus)
        pull = disk_move.DiskPull(seen, "dst", tmp_path / "dst" / "instances", "bus",
                                  chunk=64 << 10)
        moved = await pull.pull(UUID, "src", flatten=False)
        assert not moved.local
        assert moved.directory == tmp_path / "dst" / "instances" / "_moving" / UUID
        for name, blob in data.items():
            assert (moved.directory / name).read_bytes() == blob
        assert sorted(p.name for p in moved.directory.iterdir()) == ["disk", "disk.eph0"]
        chunks = [c for c in seen.calls if c["op"] == "disk_chunk"]
        assert len(chunks) == 5 + 2  # 300 000 B in 64 KiB chunks, then 70 000 B
        assert max(c["length"] for c in chunks) == 64 << 10
        assert seen.calls[-1]["op"] == "disk_export_done"
        assert list((tmp_path / "src" / "instances" / "_moving").iterdir()) == []
        # a chunk asked bigger than the bound is cut to it
        big = await exports.export(UUID, False)
        reply = await bus.call("compute.src", {"op": "disk_chunk", "ticket": big["ticket"],
                                               "name": "disk", "offset": 0,
                                               "length": 64 << 20})
        assert len(base64.b64decode(reply["data"])) == min(300_000, disk_move.MAX_CHUNK)
        bad = await bus.call("compute.src", {"op": "disk_chunk", "ticket": big["ticket"],
                                             "name": "../../etc/passwd", "offset": 0,
                                             "length": 10})
        assert "has no" in bad["error"]
        exports.done(big["ticket"])
        escape = await bus.call("compute.src", {"op": "disk_export", "uuid": "../../etc"})
        assert "bad instance uuid" in escape["error"]

    asyncio.run(main())


def test_a_checksum_mismatch_fails_and_keeps_nothing(tmp_path: Path) -> None:
    data = {"disk": os.urandom(200_000)}

    def corrupt(message: dict[str, Any], reply: Any) -> Any:
        if message["op"] == "disk_chunk" and message["offset"] == 65536:
            raw = bytearray(base64.b64decode(reply["data"]))
            raw[10] ^= 0xFF
            return {"data": base64.b64encode(bytes(raw)).decode()}
        return reply

    async def main() -> None:
        bus = InProcessBus()
        await subscribe(bus, disk_move.DiskExports("src", tmp_path / "src" / "instances",
                                                   StagingDriver(data)))
        seen = Recorder(bus, corrupt)
        pull = disk_move.DiskPull(seen, "dst", tmp_path / "dst" / "instances", "bus",
                                  chunk=64 << 10)
        with pytest.raises(DriverError, match="checksum"):
            await pull.pull(UUID, "src", flatten=False)
        assert list((tmp_path / "dst" / "instances" / "_moving").iterdir()) == []
        assert seen.calls[-1]["op"] == "disk_export_done"  # the source's copy went too
        assert list((tmp_path / "src" / "instances" / "_moving").iterdir()) == []

    asyncio.run(main())


def test_a_source_that_vanishes_fails_the_move_with_the_reason(tmp_path: Path) -> None:
    data = {"disk": os.urandom(200_000)}

    def vanish(message: dict[str, Any], reply: Any) -> Any:
        if message["op"] == "disk_chunk" and message["offset"] > 0:
            raise BusTimeout("no reply on compute.src within 60s")
        return reply

    async def main() -> None:
        bus = InProcessBus()
        await subscribe(bus, disk_move.DiskExports("src", tmp_path / "src" / "instances",
                                                   StagingDriver(data)))
        pull = disk_move.DiskPull(Recorder(bus, vanish), "dst",
                                  tmp_path / "dst" / "instances", "bus", chunk=64 << 10)
        with pytest.raises(DriverError, match="disk_chunk got no answer.*BusTimeout"):
            await pull.pull(UUID, "src", flatten=False)
        assert list((tmp_path / "dst" / "instances" / "_moving").iterdir()) == []
        # no agent at all on the source's topic
        gone = disk_move.DiskPull(bus, "dst", tmp_path / "dst" / "instances", "bus",
                                  timeout=0.2)
        with pytest.raises(DriverError, match="disk_source got no answer"):
            await gone.pull(UUID, "elsewhere", flatten=False)
        # a source agent restarted mid-way forgot the export
        exports = disk_move.DiskExports("src", tmp_path / "src" / "instances",
                                        StagingDriver(data))
        with pytest.raises(DriverError, match="no disk export"):
            await exports.chunk("nope", "disk", 0, 10)

    asyncio.run(main())


def test_local_copy_only_where_the_sources_directory_is_seen(tmp_path: Path) -> None:
    machine = tmp_path / "machine-id"
    machine.write_text("abc123\n")
    instances = tmp_path / "src" / "instances"
    here = disk_move.identity(instances, machine)
    assert disk_move.same_place(here, machine)
    assert not disk_move.same_place({**here, "machine_id": "other"}, machine)
    assert not disk_move.same_place({**here, "ino": here["ino"] + 1}, machine)
    assert not disk_move.same_place({**here, "instances_dir": str(tmp_path / "none")}, machine)
    assert not disk_move.same_place(here, tmp_path / "no-machine-id")
    with pytest.raises(ValueError, match="migration_transport"):
        disk_move.DiskPull(None, "dst", tmp_path, "scp")


def test_a_full_disk_fails_the_move_and_keeps_nothing(tmp_path: Path) -> None:
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("a small tmpfs for the receiver needs root")
    small = tmp_path / "small"
    small.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "pt-diskmove", str(small)],
                   check=True)
    try:
        async def main() -> None:
            bus = InProcessBus()
            await subscribe(bus, disk_move.DiskExports(
                "src", tmp_path / "src" / "instances", StagingDriver(
                    {"disk": os.urandom(1 << 20)})))
            pull = disk_move.DiskPull(bus, "dst", small / "instances", "bus")
            with pytest.raises(DriverError, match="cannot write the disk disk.*No space"):
                await pull.pull(UUID, "src", flatten=False)
            assert list((small / "instances" / "_moving").iterdir()) == []

        asyncio.run(main())
    finally:
        subprocess.run(["umount", str(small)], check=True)


QEMU = shutil.which("qemu-img") and shutil.which("qemu-io")


def qemu_io(path: Path, *commands: str, fmt: str = "qcow2") -> None:
    argv = ["qemu-io", "-f", fmt]
    for command in commands:
        argv += ["-c", command]
    subprocess.run([*argv, str(path)], check=True, capture_output=True)


@pytest.mark.skipif(not QEMU, reason="needs qemu-img and qemu-io")
def test_the_rebased_overlay_reads_as_the_source(tmp_path: Path) -> None:
    """The source's own clusters (data, and zeroes written over the image's data) sent thin,
    re-pointed at another copy of the base: ``qemu-img compare`` finds it identical; the
    standalone export too; and it is much smaller than the image under it."""
    src_base = tmp_path / "src" / "_base" / "img"
    src_base.parent.mkdir(parents=True)
    subprocess.run(["qemu-img", "create", "-q", "-f", "raw", str(src_base), "64M"], check=True)
    qemu_io(src_base, "write -P 0x11 0 8M", "write -P 0x22 32M 4M", fmt="raw")
    disk = tmp_path / "src" / "disk"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-b",
                    str(src_base), str(disk), "128M"], check=True)
    qemu_io(disk, "write -P 0x5a 1M 64k", "write -z 2M 1M", "write -P 0x77 33M 4k",
            "write -P 0x33 100M 2M")
    dst_base = tmp_path / "dst" / "_base" / "img"
    dst_base.parent.mkdir(parents=True)
    shutil.copyfile(src_base, dst_base)

    thin = tmp_path / "staged" / "disk"
    thin.parent.mkdir()
    assert files.export_disk(disk, thin, keep_backing=True) == "raw"
    assert thin.stat().st_size < 8 << 20  # what the guest wrote, not the 12 MiB of image data
    sent = tmp_path / "received" / "disk"
    sent.parent.mkdir()
    shutil.copyfile(thin, sent)  # (the bus carries its bytes)
    src_base.rename(src_base.with_name("gone"))  # the receiver never reads the source's base
    target = tmp_path / "dst" / "disk"
    files.adopt_disk(sent, target, (dst_base, "raw"))
    assert files.info(target, "qcow2")["backing-filename"] == str(dst_base)
    src_base.with_name("gone").rename(src_base)
    same = subprocess.run(["qemu-img", "compare", "-f", "qcow2", "-F", "qcow2", str(disk),
                           str(target)], capture_output=True, text=True, check=False)
    assert same.returncode == 0, same.stdout + same.stderr

    whole = tmp_path / "whole"
    assert files.export_disk(disk, whole, keep_backing=False) is None
    alone = tmp_path / "dst" / "alone"
    files.adopt_disk(whole, alone, None)
    assert "backing-filename" not in files.info(alone, "qcow2")
    same = subprocess.run(["qemu-img", "compare", str(disk), str(alone)],
                          capture_output=True, text=True, check=False)
    assert same.returncode == 0, same.stdout + same.stderr
    with pytest.raises(DriverError, match="no data of"):
        files.export_disk(disk, thin, keep_backing=True)
        files.adopt_disk(thin, tmp_path / "dst" / "x", None)


class MovingFakeDriver(FakeDriver):
    """The fake hypervisor with disks: each guest's ``disk`` is bytes the test gives it."""

    def __init__(self, host: str) -> None:
        super().__init__(host)
        self.data: dict[str, bytes] = {}
        self.received: dict[str, tuple[bool, Path, bytes]] = {}

    def export_disks(self, uuid: str, staging: Path, flatten: bool) -> dict[str, Any]:
        (staging / "disk").write_bytes(self.data[uuid])
        return {"disk": {"backing": None}}

    async def spawn_moved(self, spec: InstanceSpec, moved: MovedDisks) -> None:
        self.received[spec.uuid] = (moved.local, moved.directory,
                                    (moved.directory / "disk").read_bytes())
        await self.spawn(spec)


@pytest.mark.parametrize("transport", ["bus", "auto"])
def test_two_agents_move_a_guests_disk(tmp_path: Path, transport: str) -> None:
    """A ``spawn`` with a ``source`` (the conductor's move) makes the target's agent pull the
    disk from the source's agent (``bus``), or, with ``auto`` where the source's directory is
    seen here (one machine), hand the driver that directory; a source that does not answer
    fails the spawn with the reason, and nothing is left staged."""
    bus = InProcessBus()
    reports: list[dict[str, Any]] = []
    drivers = {h: MovingFakeDriver(h) for h in ("h1", "h2")}
    agents = {h: ComputeAgent(h, d, bus, AgentOptions(
        heartbeat_interval=60, state_dir=tmp_path / h, migration_transport=transport))
        for h, d in drivers.items()}
    blob = os.urandom(5 << 20)  # two chunks
    drivers["h1"].data["u1"] = blob
    (tmp_path / "h1" / "instances" / "u1").mkdir(parents=True)
    (tmp_path / "h1" / "instances" / "u1" / "disk").write_bytes(blob)
    nothing = InstanceSpec(uuid="u1", name="instance-u1", vcpus=1, memory_mb=256,
                           root_gb=1).to_dict()

    async def conductor(msg: dict[str, Any]) -> None:
        if msg["op"] == "report":
            reports.append(msg)

    async def task(host: str, **message: Any) -> dict[str, Any]:
        before = len(reports)
        await bus.cast(f"compute.{host}", {"uuid": "u1", **message})
        for _ in range(2000):
            await asyncio.sleep(0.005)
            if len(reports) > before:
                return reports[-1]
        raise AssertionError(f"no report for {message}")

    async def main() -> None:
        await bus.subscribe("conductor", conductor)
        for agent in agents.values():
            await agent.start()
        try:
            assert (await task("h1", op="spawn", spec=nothing))["result"] == "ok"
            moved = await task("h2", op="spawn", spec=nothing, purpose="migrate", source="h1")
            assert moved["result"] == "ok", moved
            local, where, data = drivers["h2"].received["u1"]
            assert data == blob
            if transport == "bus" or not disk_move.machine_id():  # (no identity: the bus)
                assert not local and where == tmp_path / "h2" / "instances" / "_moving" / "u1"
            else:
                assert local and where == tmp_path / "h1" / "instances" / "u1"
            assert not (tmp_path / "h2" / "instances" / "_moving" / "u1").exists()
            assert not list((tmp_path / "h1" / "instances" / "_moving").glob("*")) \
                if (tmp_path / "h1" / "instances" / "_moving").exists() else True
            # the source's agent gone: the move fails with the reason
            await drivers["h2"].destroy("u1")
            pulls = agents["h2"].pulls
            assert pulls is not None
            pulls.timeout = 0.3
            failed = await task("h2", op="spawn", spec=nothing, purpose="migrate",
                                source="h9")
            assert failed["result"] == "error"
            assert "moving the disks from h9: disk_source got no answer" in failed["message"]
            assert "u1" not in drivers["h2"].guests
        finally:
            for agent in agents.values():
                await agent.stop()
            await bus.stop()

    asyncio.run(main())
