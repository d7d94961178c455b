"""The volume conductor (cinder-scheduler's and the volume manager's database half): casts
tasks to storage hosts, applies the agents' reports (outcomes, and the progress of long copies)
and heartbeats, serves image chunks to remote agents, and reconciles expired tasks to error
states.

It listens on ``volume.conductor``; the storage agents never touch the database.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
from typing import TYPE_CHECKING, Any

from pocketstack.volume.domain import services as dservices
from pocketstack.volume.domain import tasks

if TYPE_CHECKING:
    from pocketstack.volume.service import VolumeService

LOG = logging.getLogger(__name__)

TOPIC = "volume.conductor"


class VolumeConductor:
    """A role of the volume service (see module docstring)."""

    name = "volume-conductor"

    def __init__(self, service: VolumeService, reconcile_interval: float | None = None) -> None:
        self.service = service
        timeout = service.options.volume_task_timeout
        self.reconcile_interval = reconcile_interval or min(5.0, max(0.5, timeout / 4))
        self._task: asyncio.Task[None] | None = None
        self._reports: list[dict[str, Any]] = []  # waiting for the next commit
        self._applying = False

    async def start(self) -> None:
        bus = self.service.runtime.bus
        await bus.subscribe(TOPIC, self.handle)
        await asyncio.to_thread(self._scheduler_beat)
        for msg in await asyncio.to_thread(self.service.db.read, tasks.pending):
            if msg.get("host"):
                await bus.cast(f"volume.{msg['host']}", msg)
        self._task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def _scheduler_beat(self) -> None:
        host = self.service.scheduler_host
        self.service.db.write(dservices.heartbeat, "cinder-scheduler", host,
                              self.service.options.volume_availability_zone, {})

    async def _loop(self) -> None:
        beat = 0.0
        while True:
            await asyncio.sleep(self.reconcile_interval)
            try:
                moved = await asyncio.to_thread(self.service.db.write, tasks.reconcile)
                if moved:
                    LOG.warning("volume: %d task(s) passed their deadline; moved to error",
                                moved)
                beat += self.reconcile_interval
                if beat >= self.service.options.volume_report_interval:
                    beat = 0.0
                    await asyncio.to_thread(self._scheduler_beat)
            except Exception:  # the next round retries
                LOG.exception("volume conductor: reconcile failed")

    async def handle(self, msg: dict[str, Any]) -> Any:
        op = msg.get("op")
        try:
            if op == "report":
                await self._apply(msg)
            elif op == "progress":
                await asyncio.to_thread(self.service.db.write, tasks.progress,
                                        str(msg["id"]), int(msg.get("progress") or 0))
            elif op == "heartbeat":
                await asyncio.to_thread(
                    self.service.db.write, dservices.heartbeat, "cinder-volume",
                    str(msg["host"]), str(msg.get("availability_zone") or "nova"),
                    dict(msg.get("capabilities") or {}))
                if (msg.get("capabilities") or {}).get("backup"):
                    await asyncio.to_thread(
                        self.service.db.write, dservices.heartbeat, "cinder-backup",
                        str(msg["host"]).partition("@")[0],
                        str(msg.get("availability_zone") or "nova"), {})
            elif op == "image_chunk":
                return await asyncio.to_thread(self._chunk, msg)
        except Exception:
            LOG.exception("volume conductor: %s failed", op)
            if op == "image_chunk":
                return {"error": "image read failed"}
        return None

    async def _apply(self, msg: dict[str, Any]) -> None:
        """Apply a report. Group commit: reports that arrive while a write is under way are
        applied together in the next transaction (a burst of 20 creates finishes in a couple of
        writes instead of 20), each as it would be alone; no report waits for a timer."""
        self._reports.append(msg)
        if self._applying:
            return  # the running loop below takes it
        self._applying = True
        try:
            while self._reports:
                batch, self._reports = self._reports, []
                try:
                    await asyncio.to_thread(self.service.db.write, _finish_all, batch)
                except Exception:  # one bad report must not lose the others: one by one
                    LOG.exception("volume conductor: applying %d reports failed; retrying "
                                  "them one by one", len(batch))
                    for one in batch:
                        try:
                            await asyncio.to_thread(self.service.db.write, _finish_all, [one])
                        except Exception:
                            LOG.exception("volume conductor: report %r failed", one)
                for one in batch:
                    self.service.task_done(str(one["id"]))
        finally:
            self._applying = False

    def _chunk(self, msg: dict[str, Any]) -> dict[str, Any]:
        images = self.service.image_api()
        if images is None:
            return {"error": "no image service"}
        length = min(int(msg.get("length", 1 << 20)), 4 << 20)
        data = b"".join(images.open_image(str(msg["image_id"]), int(msg["offset"]), length))
        return {"data": base64.b64encode(data).decode()}


def _finish_all(conn: Any, reports: list[dict[str, Any]]) -> None:
    for msg in reports:
        tasks.finish(conn, str(msg.get("kind")), str(msg["id"]), str(msg.get("action")),
                     msg.get("result") == "ok", msg.get("message"), msg.get("request_id"))
