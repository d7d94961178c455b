"""The storage agent: one per storage host (``host@backend``), drives its backend, never
touches the database.

It listens on ``volume.<host@backend>``. *Tasks* arrive as casts (``{"op": "create"|"delete"|
"extend"|"reimage"|"snapshot"|"delete_snapshot"|"backup"|"restore"|"delete_backup"|
"import_backup", "kind", "id", ...}``) and their outcome is cast back on
:data:`CONDUCTOR` as ``{"op": "report", "kind", "id", "action", "result": "ok"|"error",
"message"}``. *Calls* (``connection_info``, ``path``) answer directly (``{"error": ...}`` on
failure). Every ``report_interval`` seconds it heartbeats ``{"op": "heartbeat", "host",
"capabilities"}`` so ``os-services`` shows it up. Tasks are idempotent: a retried create of a
volume that exists, or a delete of one that is gone, succeeds.

A ``reimage`` writes an image into an existing volume as a create from that image does (the
new content replaces the old file only once it is complete). A long copy (a volume from an
image, snapshot, volume or backup, or a re-image) casts ``{"op": "progress",
"id", "progress": PERCENT}`` now and then (``progress_interval``).

Image data: the task names the image's local file (``image.path``) when the image store is a
directory this machine can read; otherwise the agent streams the image over the bus
(``{"op": "image_chunk"}`` calls to the conductor) into a temporary file first.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from pocketstack.agents.volume.backend import Backend, BackendError, Progress

LOG = logging.getLogger(__name__)

CONDUCTOR = "volume.conductor"
CHUNK = 1 << 20
TASK_OPS = frozenset({"create", "delete", "extend", "reimage", "snapshot", "delete_snapshot",
                      "backup", "restore", "delete_backup", "import_backup"})
CALL_OPS = frozenset({"connection_info", "path"})


def topic_of(host: str) -> str:
    return f"volume.{host}"


class VolumeAgent:
    """Serves one storage host (see module docstring)."""

    def __init__(self, host: str, backend: Backend, bus: Any, report_interval: float = 10.0,
                 availability_zone: str = "nova", scratch: Path | None = None,
                 progress_interval: float = 2.0) -> None:
        self.host = host  # host@backend
        self.backend = backend
        self.bus = bus
        self.report_interval = report_interval
        self.progress_interval = progress_interval
        self.availability_zone = availability_zone
        self.scratch = scratch
        self._task: asyncio.Task[None] | None = None

    @property
    def topic(self) -> str:
        return topic_of(self.host)

    async def start(self) -> None:
        scrub = getattr(self.backend, "scrub", None)
        if scrub is not None:
            await asyncio.to_thread(scrub)
        await self.bus.subscribe(self.topic, self.handle)
        await self.heartbeat()
        self._task = asyncio.create_task(self._heartbeats())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _heartbeats(self) -> None:
        while True:
            await asyncio.sleep(self.report_interval)
            try:
                await self.heartbeat()
            except Exception:  # the next beat retries
                LOG.exception("%s: heartbeat failed", self.host)

    async def heartbeat(self) -> None:
        caps = await asyncio.to_thread(self.backend.capabilities)
        await self.bus.cast(CONDUCTOR, {"op": "heartbeat", "host": self.host,
                                        "availability_zone": self.availability_zone,
                                        "capabilities": caps})

    async def handle(self, msg: dict[str, Any]) -> Any:
        op = msg.get("op")
        if op in CALL_OPS:
            return await self._answer(str(op), msg)
        try:
            if op not in TASK_OPS:
                raise BackendError(f"unknown operation {op!r}")
            await self._task_op(str(op), msg)
        except (BackendError, KeyError, TypeError, ValueError, OSError) as exc:
            LOG.info("%s: %s of %s failed: %s", self.host, op, msg.get("id"), exc)
            await self._report(msg, "error", message=str(exc)[:250])
            return None
        except Exception as exc:  # a backend bug: report it rather than leave a task hanging
            LOG.exception("%s: %s of %s crashed", self.host, op, msg.get("id"))
            await self._report(msg, "error", message=f"{type(exc).__name__}: {exc}"[:250])
            return None
        await self._report(msg, "ok")
        return None

    async def _report(self, msg: dict[str, Any], result: str, **extra: Any) -> None:
        await self.bus.cast(CONDUCTOR, {
            "op": "report", "host": self.host, "kind": msg.get("kind", "volume"),
            "id": msg.get("id"), "action": msg.get("op"), "result": result,
            "request_id": msg.get("request_id"), **extra})

    async def _task_op(self, op: str, msg: dict[str, Any]) -> None:
        b = self.backend
        ident = str(msg["id"])
        if op == "create":
            size = int(msg["size"])
            source = msg.get("source") or {}
            kind = source.get("type")
            if kind == "image":
                await self._from_image(ident, size, source)
            elif kind == "snapshot":
                await asyncio.to_thread(b.create_from_snapshot, ident, str(source["id"]), size,
                                        self._progress(ident))
            elif kind == "volume":
                await asyncio.to_thread(b.clone, ident, str(source["id"]), size,
                                        self._progress(ident))
            else:
                await asyncio.to_thread(b.create, ident, size)
        elif op == "reimage":  # from an image, or the snapshot a Nova snapshot image names
            source = msg.get("source") or {}
            if source.get("type") == "snapshot":
                if not await asyncio.to_thread(b.has_volume, ident):
                    raise BackendError(f"volume {ident} has no file")
                await asyncio.to_thread(b.create_from_snapshot, ident, str(source["id"]),
                                        int(msg["size"]), self._progress(ident))
            else:
                await self._from_image(ident, int(msg["size"]), source, replace=True)
        elif op == "delete":
            await asyncio.to_thread(b.delete, ident)
        elif op == "extend":
            await asyncio.to_thread(b.extend, ident, int(msg["size"]))
        elif op == "snapshot":
            await asyncio.to_thread(b.snapshot, ident, str(msg["volume_id"]))
        elif op == "delete_snapshot":
            await asyncio.to_thread(b.delete_snapshot, ident)
        elif op == "backup":
            snap = msg.get("snapshot_id")
            await asyncio.to_thread(b.backup, ident, str(msg["volume_id"]),
                                    None if snap is None else str(snap))
        elif op == "restore":  # an imported backup's data is filed under another id
            await asyncio.to_thread(b.restore, str(msg.get("data_id") or ident),
                                    str(msg["volume_id"]), int(msg["size"]),
                                    self._progress(str(msg["volume_id"])))
        elif op == "delete_backup":
            await asyncio.to_thread(b.delete_backup, str(msg.get("data_id") or ident))
        elif op == "import_backup":
            await asyncio.to_thread(b.check_backup, str(msg.get("data_id") or ident))

    async def _from_image(self, ident: str, size: int, source: dict[str, Any],
                          replace: bool = False) -> None:
        """Write the image into the volume: a new one, or (``replace``) over an existing
        one's content."""
        path = source.get("path")
        fmt = source.get("disk_format")
        write = self.backend.reimage if replace else self.backend.create_from_image
        if path and os.access(path, os.R_OK):
            await asyncio.to_thread(write, ident, size, Path(path), fmt, self._progress(ident))
            return
        fd, tmp = tempfile.mkstemp(prefix="image-", dir=self.scratch)
        try:
            with os.fdopen(fd, "wb") as out:
                offset = 0
                while True:
                    reply = await self.bus.call(CONDUCTOR, {
                        "op": "image_chunk", "image_id": source["id"], "offset": offset,
                        "length": CHUNK}, timeout=60)
                    if not isinstance(reply, dict) or reply.get("error"):
                        raise BackendError(f"image {source['id']}: "
                                           f"{(reply or {}).get('error', 'no data')}")
                    data = base64.b64decode(reply.get("data", ""))
                    if not data:
                        break
                    out.write(data)
                    offset += len(data)
            await asyncio.to_thread(write, ident, size, Path(tmp), fmt, self._progress(ident))
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)

    def _progress(self, volume_id: str) -> Progress:
        """A callback for the backend's worker thread: casts ``{"op": "progress"}`` for the
        volume on :data:`CONDUCTOR` when the whole percentage moved and at least
        ``progress_interval`` seconds passed since the last one (never on the copy's path: the
        cast is handed to the event loop)."""
        loop = asyncio.get_running_loop()
        last = {"at": 0.0, "value": -1}

        def report(percent: float) -> None:
            value = int(percent)
            now = time.monotonic()
            if value <= last["value"] or now - last["at"] < self.progress_interval:
                return
            last.update(at=now, value=value)
            asyncio.run_coroutine_threadsafe(self.bus.cast(CONDUCTOR, {
                "op": "progress", "kind": "volume", "id": volume_id, "progress": value,
                "host": self.host}), loop)

        return report

    async def _answer(self, op: str, msg: dict[str, Any]) -> dict[str, Any]:
        try:
            if op == "connection_info":
                return {"connection_info": await asyncio.to_thread(
                    self.backend.connection_info, str(msg["id"]))}
            info = await asyncio.to_thread(self.backend.connection_info, str(msg["id"]))
            return {"path": info["data"]["device_path"]}
        except (BackendError, KeyError, TypeError) as exc:
            return {"error": str(exc)}
