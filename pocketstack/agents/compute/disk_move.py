"""Moving a guest's disks between compute agents for a cold migration or resize.

The conductor's ``spawn`` of a move names the ``source`` host. The destination's agent asks
the source's agent (bus calls on ``compute.<source>``) where its disks are:

1. ``disk_source`` answers the source's machine identity (``/etc/machine-id``) and its
   instances directory with that directory's device and inode. When the transport is
   ``auto``, the machine is this one and the same directory is seen here, the destination's
   driver copies the disks from there itself (:class:`MovedDisks` ``local``).
2. Otherwise ``disk_export`` has the source's driver write each disk to move into a staging
   directory of its own (``instances/_moving/<ticket>/``): a qcow2 holding only the disk's own
   clusters, its backing file still the source's base (the destination fetches its own base
   of the image as a spawn does, and re-points the disk at it), or a standalone qcow2 when the
   destination has no image data or the disk has no base. The answer lists each file's size
   and SHA-256.
3. ``disk_chunk`` calls read it, :data:`CHUNK` bytes at a time (at most :data:`MAX_CHUNK`,
   :data:`WINDOW` calls in flight), into ``instances/_moving/<uuid>/`` on the destination;
   each file is checked against its size and SHA-256 at the end. ``disk_export_done``
   removes the source's staging files (exports left behind by a destination that vanished go
   after :data:`STALE_EXPORT` s).

Any failure (the source gone or not answering, a checksum or size mismatch, a full disk)
raises :class:`DriverError` with the reason and leaves no staged file on the destination; the
conductor then fails the move and the guest stays on its source.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import collections
import contextlib
import hashlib
import logging
import os
import re
import secrets
import shutil
import time
from pathlib import Path
from typing import Any

from pocketstack.agents.compute.drivers.base import DriverError, MovedDisks

LOG = logging.getLogger(__name__)

CHUNK = 4 << 20
MAX_CHUNK = 4 << 20
WINDOW = 2  # chunk calls in flight
STALE_EXPORT = 3600.0
TRANSPORTS = ("auto", "bus")
#: the bus calls a source agent answers
OPS = frozenset({"disk_source", "disk_export", "disk_chunk", "disk_export_done"})
MACHINE_ID = Path("/etc/machine-id")


_UUID = re.compile(r"^[A-Za-z0-9-]{1,64}$")


def _checked(uuid: str) -> str:
    """A guest's uuid, safe as a directory name."""
    if not _UUID.match(uuid):
        raise DriverError(f"bad instance uuid {uuid!r}")
    return uuid


def machine_id(path: Path = MACHINE_ID) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return ""


def identity(instances_dir: Path, machine_file: Path = MACHINE_ID) -> dict[str, Any]:
    """What the source tells a destination about where its disks are."""
    instances_dir.mkdir(parents=True, exist_ok=True)
    st = os.stat(instances_dir)
    return {"machine_id": machine_id(machine_file), "instances_dir": str(instances_dir),
            "dev": st.st_dev, "ino": st.st_ino}


def same_place(theirs: dict[str, Any], machine_file: Path = MACHINE_ID) -> bool:
    """The source's instances directory is on this machine and is the very directory this
    agent sees at that path (same device and inode)."""
    mine = machine_id(machine_file)
    if not mine or theirs.get("machine_id") != mine:
        return False
    try:
        st = os.stat(str(theirs.get("instances_dir") or ""))
    except OSError:
        return False
    return (st.st_dev, st.st_ino) == (theirs.get("dev"), theirs.get("ino"))


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


class DiskExports:
    """The source side: exports of this host's guests' disks, served chunk by chunk."""

    def __init__(self, host: str, instances_dir: Path, driver: Any) -> None:
        self.host = host
        self.instances_dir = instances_dir
        self.root = instances_dir / "_moving"
        self.driver = driver
        self._tickets: dict[str, dict[str, Any]] = {}

    async def answer(self, op: str, msg: dict[str, Any]) -> dict[str, Any]:
        try:
            if op == "disk_source":
                return {"source": await asyncio.to_thread(identity, self.instances_dir)}
            if op == "disk_export":
                return await self.export(str(msg["uuid"]), bool(msg.get("flatten")))
            if op == "disk_chunk":
                data = await self.chunk(str(msg["ticket"]), str(msg["name"]),
                                        int(msg["offset"]), int(msg["length"]))
                return {"data": base64.b64encode(data).decode()}
            if op == "disk_export_done":
                await asyncio.to_thread(self.done, str(msg["ticket"]))
                return {}
            return {"error": f"unknown operation {op!r}"}
        except DriverError as exc:
            return {"error": str(exc)}
        except (KeyError, TypeError, ValueError) as exc:
            return {"error": f"bad {op} request: {type(exc).__name__}: {exc}"}
        except OSError as exc:
            return {"error": f"{self.host}: {op}: {exc}"}

    async def export(self, uuid: str, flatten: bool) -> dict[str, Any]:
        if getattr(self.driver, "export_disks", None) is None:
            raise DriverError(f"the {type(self.driver).__name__} of host {self.host} cannot "
                              "export a guest's disks")
        await asyncio.to_thread(self._forget_stale)
        ticket = f"{_checked(uuid)}.{secrets.token_hex(4)}"
        staging = self.root / ticket
        staging.mkdir(parents=True)
        try:
            fn = self.driver.export_disks
            if asyncio.iscoroutinefunction(fn):
                kinds = await fn(uuid, staging, flatten)
            else:
                kinds = await asyncio.to_thread(fn, uuid, staging, flatten)
            disks = []
            for name, about in dict(kinds).items():
                path = staging / name
                disks.append({"name": name, "size": path.stat().st_size,
                              "sha256": await asyncio.to_thread(_sha256, path),
                              "backing": (about or {}).get("backing")})
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        self._tickets[ticket] = {"dir": staging, "names": {d["name"] for d in disks}}
        LOG.info("%s: exported the disks of %s (%s)", self.host, uuid,
                 ", ".join(f"{d['name']} {d['size']} B" for d in disks) or "none")
        return {"ticket": ticket, "disks": disks}

    async def chunk(self, ticket: str, name: str, offset: int, length: int) -> bytes:
        entry = self._tickets.get(ticket)
        if entry is None:
            raise DriverError(f"{self.host}: no disk export {ticket} (the source agent "
                              "restarted or the export ended)")
        if name not in entry["names"] or offset < 0 or length <= 0:
            raise DriverError(f"{self.host}: export {ticket} has no {name!r} at {offset}")

        def read() -> bytes:
            with open(entry["dir"] / name, "rb") as fh:
                fh.seek(offset)
                return fh.read(min(length, MAX_CHUNK))

        return await asyncio.to_thread(read)

    def done(self, ticket: str) -> None:
        entry = self._tickets.pop(ticket, None)
        if entry is not None:
            shutil.rmtree(entry["dir"], ignore_errors=True)

    def _forget_stale(self) -> None:
        """Exports a destination never ended (it died mid-way), after an hour."""
        if not self.root.is_dir():
            return
        now = time.time()
        for entry in self.root.iterdir():
            with contextlib.suppress(OSError):
                if now - entry.stat().st_mtime > STALE_EXPORT:
                    self._tickets.pop(entry.name, None)
                    shutil.rmtree(entry, ignore_errors=True)


class DiskPull:
    """The destination side: gets a moving guest's disks from its source's agent."""

    def __init__(self, bus: Any, host: str, instances_dir: Path, transport: str = "auto",
                 timeout: float = 60.0, export_timeout: float = 600.0,
                 chunk: int = CHUNK, window: int = WINDOW) -> None:
        if transport not in TRANSPORTS:
            raise ValueError(f"migration_transport {transport!r}: expected one of "
                             f"{', '.join(TRANSPORTS)}")
        self.bus = bus
        self.host = host
        self.root = instances_dir / "_moving"
        self.transport = transport
        self.timeout = timeout
        self.export_timeout = export_timeout
        self.chunk = max(1, min(chunk, MAX_CHUNK))
        self.window = max(1, window)

    async def _call(self, source: str, message: dict[str, Any], timeout: float) -> dict[str, Any]:
        try:
            reply = await self.bus.call(f"compute.{source}", message, timeout)
        except Exception as exc:  # a timeout, the broker, the source's agent gone
            raise DriverError(f"moving the disks from {source}: {message['op']} got no "
                              f"answer ({type(exc).__name__}: {exc})") from exc
        if not isinstance(reply, dict):
            raise DriverError(f"moving the disks from {source}: {message['op']} got no answer "
                              "(is its compute agent up?)")
        if reply.get("error"):
            raise DriverError(f"moving the disks from {source}: {reply['error']}")
        return reply

    async def pull(self, uuid: str, source: str, flatten: bool) -> MovedDisks:
        """The guest's disks, where this host's driver can take them (see the module
        docstring); a staged directory is the caller's to remove after the spawn."""
        where = (await self._call(source, {"op": "disk_source", "uuid": uuid},
                                  self.timeout)).get("source") or {}
        if self.transport == "auto" and await asyncio.to_thread(same_place, where):
            return MovedDisks(Path(where["instances_dir"]) / uuid, local=True)
        staging = self.root / _checked(uuid)
        await asyncio.to_thread(shutil.rmtree, staging, True)
        started = time.monotonic()
        export = await self._call(source, {"op": "disk_export", "uuid": uuid,
                                           "flatten": flatten}, self.export_timeout)
        ticket = str(export.get("ticket") or "")
        total = 0
        try:
            staging.mkdir(parents=True)
            for disk in export.get("disks") or []:
                total += await self._pull_file(source, ticket, disk, staging)
        except BaseException:
            await asyncio.to_thread(shutil.rmtree, staging, True)
            raise
        finally:
            with contextlib.suppress(DriverError):
                await self._call(source, {"op": "disk_export_done", "ticket": ticket},
                                 self.timeout)
        took = time.monotonic() - started
        LOG.info("%s: %s's disks came from %s over the bus: %d bytes in %.1f s", self.host,
                 uuid, source, total, took)
        return MovedDisks(staging, local=False)

    async def _chunk(self, source: str, ticket: str, name: str, offset: int,
                     length: int) -> bytes:
        reply = await self._call(source, {"op": "disk_chunk", "ticket": ticket, "name": name,
                                          "offset": offset, "length": length}, self.timeout)
        try:
            # strict a2b: the same check as b64decode(validate=True), 2x faster
            data = binascii.a2b_base64(str(reply.get("data") or ""), strict_mode=True)
        except (binascii.Error, TypeError, ValueError):
            raise DriverError(f"moving the disks from {source}: a corrupt chunk of "
                              f"{name}") from None
        if len(data) != length:
            raise DriverError(f"moving the disks from {source}: {name} came short at "
                              f"{offset} ({len(data)} of {length} bytes)")
        return data

    async def _pull_file(self, source: str, ticket: str, disk: dict[str, Any],
                         staging: Path) -> int:
        """One file, :data:`WINDOW` chunk calls in flight (the round trips overlap), written
        in order and hashed as they come."""
        name, size, expected = str(disk["name"]), int(disk["size"]), str(disk["sha256"])
        if "/" in name or name.startswith("."):
            raise DriverError(f"moving the disks from {source}: bad disk name {name!r}")
        part = staging / f".{name}.part"
        digest = hashlib.sha256()
        pending: collections.deque[asyncio.Task[bytes]] = collections.deque()
        asked = 0
        try:
            with open(part, "xb") as fh:
                while asked < size or pending:
                    while asked < size and len(pending) < self.window:
                        length = min(self.chunk, size - asked)
                        pending.append(asyncio.ensure_future(
                            self._chunk(source, ticket, name, asked, length)))
                        asked += length
                    data = await pending.popleft()
                    await asyncio.to_thread(fh.write, data)
                    digest.update(data)
                await asyncio.to_thread(os.fsync, fh.fileno())
        except OSError as exc:  # ENOSPC and friends
            raise DriverError(f"{self.host}: cannot write the disk {name} of the move: "
                              f"{exc}") from exc
        finally:
            for task in pending:
                task.cancel()
                if task.done() and not task.cancelled():
                    task.exception()  # (retrieved: the first failure is the one raised)
        if digest.hexdigest() != expected:
            raise DriverError(f"moving the disks from {source}: {name} failed its checksum "
                              "(SHA-256 mismatch); nothing kept")
        os.replace(part, staging / name)
        return size
