"""Disk move benchmark: how fast a cold migration's disk crosses the bus, against a local copy.

Makes a guest-like root disk (a qcow2 overlay of 1 GiB on a 64 MiB raw base, with SIZE MiB
written by the "guest", 200 by default), then moves it as two compute agents on separate
machines would (``pocketstack.agents.compute.disk_move``): the source exports the overlay's own
clusters (``qemu-img convert -B``) and hashes them, the destination pulls them in chunks
(``disk_chunk`` bus calls, 1 and 4 MiB, one or four in flight) and re-points the disk at its
own base. Over the in-process bus and, when RabbitMQ answers on loopback (a private vhost),
over the broker with one connection per agent. Against: ``cp`` of the overlay file and the
local ``qemu-img convert -B`` the same-machine path does. Prints MB/s (of the SIZE written)
per phase with the load average.

    .venv/bin/python benchmarks/disk_move.py [--size-mib 200]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a file: make `benchmarks` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pocketstack.agents.compute import disk_move  # noqa: E402
from pocketstack.agents.compute.drivers import libvirt_files as files  # noqa: E402
from pocketstack.common.bus import InProcessBus, make_bus  # noqa: E402

UUID = "7d1f3a52-0000-4000-8000-00000000d15c"


class Exporter:
    """The source driver's part (what LibvirtDriver.export_disks does for a stopped guest)."""

    def __init__(self, disk: Path) -> None:
        self.disk = disk

    def export_disks(self, uuid: str, staging: Path, flatten: bool) -> dict[str, Any]:
        fmt = files.export_disk(self.disk, staging / "disk", keep_backing=not flatten)
        return {"disk": {"backing": "image" if fmt else None}}


def make_disk(tmp: Path, size_mib: int) -> tuple[Path, Path]:
    base = tmp / "src" / "_base" / "img"
    base.parent.mkdir(parents=True)
    with open(base, "wb") as fh:
        fh.write(os.urandom(16 << 20))
        fh.truncate(64 << 20)
    disk = tmp / "src" / UUID / "disk"
    disk.parent.mkdir(parents=True)
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-b", str(base),
                    str(disk), "1G"], check=True)
    # the guest writes SIZE MiB from 100 MiB on, one pattern per MiB
    argv = ["qemu-io", "-f", "qcow2"]
    for i in range(size_mib):
        argv += ["-c", f"write -q -P {i % 251 + 1} {100 + i}M 1M"]
    subprocess.run([*argv, str(disk)], check=True, capture_output=True)
    dst_base = tmp / "dst" / "_base" / "img"
    dst_base.parent.mkdir(parents=True)
    shutil.copyfile(base, dst_base)
    return disk, dst_base


async def move(bus_source: Any, bus_dest: Any, tmp: Path, disk: Path, dst_base: Path,
               chunk: int, window: int) -> dict[str, float]:
    src_instances, dst_instances = tmp / "src-instances", tmp / "dst-instances"
    exports = disk_move.DiskExports("src", src_instances, Exporter(disk))

    async def serve(msg: dict[str, Any]) -> Any:
        return await exports.answer(str(msg["op"]), msg)

    topic = f"compute.src-{uuid.uuid4().hex[:6]}"
    await bus_source.subscribe(topic, serve)
    pull = disk_move.DiskPull(bus_dest, "dst", dst_instances, "bus", chunk=chunk,
                              window=window)
    real_call = bus_dest.call
    phases: dict[str, float] = {}
    marks: dict[str, float] = {}

    async def call(t: str, message: dict[str, Any], timeout: float = 30.0) -> Any:
        op = message["op"]
        marks.setdefault(op, time.monotonic())
        try:
            return await real_call(topic, message, timeout)
        finally:
            marks[op + ".end"] = time.monotonic()

    pull.bus = type("B", (), {"call": staticmethod(call)})()
    started, cpu = time.monotonic(), time.process_time()
    moved = await pull.pull(UUID, "src", flatten=False)
    pulled = time.monotonic()
    phases["cpu"] = time.process_time() - cpu  # both agents' work (not the broker's)
    target = tmp / "dst-disk"
    await asyncio.to_thread(files.adopt_disk, moved.directory / "disk", target, (dst_base, "raw"))
    done = time.monotonic()
    phases["export"] = marks["disk_export.end"] - marks["disk_export"]
    phases["chunks"] = marks["disk_chunk.end"] - marks["disk_chunk"]
    phases["adopt"] = done - pulled
    phases["total"] = done - started
    phases["bytes"] = float(target.stat().st_size)
    same = subprocess.run(["qemu-img", "compare", "-q", str(disk), str(target)],
                          check=False).returncode
    if same != 0:
        raise SystemExit("the moved disk differs from the source")
    shutil.rmtree(moved.directory, ignore_errors=True)
    target.unlink()
    return phases


def timed(fn: Callable[[], object]) -> float:
    started = time.monotonic()
    fn()
    return time.monotonic() - started


def rabbitmq_url() -> tuple[str, Callable[[], None]] | None:
    ctl = shutil.which("rabbitmqctl")
    vhost = f"psbench-{uuid.uuid4().hex[:8]}"
    if ctl is None or subprocess.run([ctl, "add_vhost", vhost], capture_output=True,
                                     timeout=60).returncode != 0:
        return None
    subprocess.run([ctl, "set_permissions", "-p", vhost, "guest", ".*", ".*", ".*"],
                   check=True, capture_output=True, timeout=60)
    return (f"amqp://guest:guest@127.0.0.1:5672/{vhost}",
            lambda: subprocess.run([ctl, "delete_vhost", vhost], capture_output=True,
                                   timeout=60, check=False) and None)


def report(name: str, size_mib: int, phases: dict[str, float]) -> None:
    print(f"{name:34s} total {phases['total']:6.2f} s = {size_mib / phases['total']:6.1f} MB/s"
          f"  (export {phases['export']:.2f} s, chunks {phases['chunks']:.2f} s = "
          f"{phases['bytes'] / (1 << 20) / phases['chunks']:.1f} MB/s, "
          f"adopt {phases['adopt']:.2f} s; agents' CPU {phases['cpu']:.1f} s)", flush=True)


async def over(label: str, make: Callable[[], Awaitable[tuple[Any, Any]]], tmp: Path,
               disk: Path, dst_base: Path, size_mib: int) -> None:
    source, dest = await make()
    try:
        for chunk, window in ((1 << 20, 1), (1 << 20, 4), (4 << 20, 1), (4 << 20, 4)):
            phases = await move(source, dest, tmp, disk, dst_base, chunk, window)
            report(f"{label}, {chunk >> 20} MiB x{window}", size_mib, phases)
    finally:
        await source.stop()
        if dest is not source:
            await dest.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size-mib", type=int, default=200)
    args = parser.parse_args()
    size = args.size_mib
    with tempfile.TemporaryDirectory(prefix="disk-move-") as name:
        tmp = Path(name)
        disk, dst_base = make_disk(tmp, size)
        print(f"guest disk: {disk.stat().st_size >> 20} MiB qcow2 overlay, {size} MiB written; "
              f"load average {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f}", flush=True)
        copy = tmp / "copy"
        took = timed(lambda: shutil.copyfile(disk, copy))
        print(f"{'local cp of the overlay':34s} total {took:6.2f} s = {size / took:6.1f} MB/s")
        copy.unlink()
        took = timed(lambda: subprocess.run(
            ["qemu-img", "convert", "-q", "-U", "-f", "qcow2", "-O", "qcow2", "-F", "raw",
             "-B", str(dst_base), str(disk), str(copy)], check=True))
        print(f"{'local qemu-img convert -B':34s} total {took:6.2f} s = {size / took:6.1f} MB/s")
        copy.unlink()

        async def inproc() -> tuple[Any, Any]:
            bus = InProcessBus()
            return bus, bus

        asyncio.run(over("in-process bus", inproc, tmp, disk, dst_base, size))
        rabbit = rabbitmq_url()
        if rabbit is None:
            print("RabbitMQ: not reachable on loopback, skipped")
        else:
            url, drop = rabbit

            async def amqp() -> tuple[Any, Any]:
                source, dest = make_bus(url), make_bus(url)
                await source.start()
                await dest.start()
                return source, dest

            try:
                asyncio.run(over("RabbitMQ (two connections)", amqp, tmp, disk, dst_base, size))
            finally:
                drop()
        print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
