"""The volume conductor (cinder-scheduler's and the volume manager's database half): casts
tasks to storage hosts, applies the agents' reports and heartbeats, serves image chunks to
remote agents, and reconciles expired tasks to error states.

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
                await asyncio.to_thread(
                    self.service.db.write, tasks.finish, str(msg.get("kind")), str(msg["id"]),
                    str(msg.get("action")), msg.get("result") == "ok", msg.get("message"),
                    msg.get("request_id"))
                self.service.task_done(str(msg["id"]))
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

    def _chunk(self, msg: dict[str, Any]) -> dict[str, Any]:
        images = self.service.image_api()
        if images is None:
            return {"error": "no image service"}
        length = min(int(msg.get("length", 1 << 20)), 4 << 20)
        data = b"".join(images.open_image(str(msg["image_id"]), int(msg["offset"]), length))
        return {"data": base64.b64encode(data).decode()}
