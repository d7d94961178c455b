"""The conductor: turns intent in the database into work on compute hosts, and records what
the hosts report. It is the only writer of agent-observed state.

Every entry point (a bus hint, the reconciler, a restart) reads the instance from the database
and acts on its *current* state, so a duplicated or stale hint does nothing and a lost one only
waits for the reconciler. Database work runs in worker threads; messages are sent only after
the transaction that justified them has committed.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import socket
from collections.abc import Callable
from typing import Any

import anyio.to_thread

from pocketstack.common import exceptions
from pocketstack.common.db import Database
from pocketstack.compute.conductor import build, lifecycle
from pocketstack.compute.conductor import spec as spawn
from pocketstack.compute.domain import instances, nodes, services
from pocketstack.compute.domain.common import utcnow
from pocketstack.compute.scheduler.scheduler import Scheduler
from pocketstack.config import Settings

LOG = logging.getLogger(__name__)

Outbox = list[tuple[str, dict[str, Any]]]


class Conductor:
    """See the module docstring."""

    def __init__(self, db: Database, bus: Any, settings: Settings, placement: Any,
                 images: Any = None) -> None:
        self.db = db
        self.bus = bus
        self.settings = settings
        self.placement = placement
        self.images = images
        self.scheduler = Scheduler(db, placement, settings)
        self.hostname = socket.gethostname()
        self._tasks: list[asyncio.Task[None]] = []
        self._inventories: dict[str, dict[str, Any]] = {}

    # -- lifecycle ------------------------------------------------------------------------------
    async def start(self) -> None:
        await self.bus.subscribe("conductor", self.handle)
        await self._thread(self._record_own_services)
        await self._thread(self._resume)
        self._tasks.append(asyncio.create_task(self._loop(self.settings.reconcile_interval,
                                                          self.reconcile)))
        self._tasks.append(asyncio.create_task(self._loop(self.settings.heartbeat_interval,
                                                          self._own_heartbeat)))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()

    async def _loop(self, interval: float, fn: Callable[[], Any]) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                await fn()
            except Exception:
                LOG.exception("conductor periodic task %s failed", getattr(fn, "__name__", fn))

    async def _own_heartbeat(self) -> None:
        await self._thread(self._record_own_services)

    def _record_own_services(self) -> Outbox:
        def run(conn: Any) -> None:
            for binary in ("nova-conductor", "nova-scheduler"):
                services.record_heartbeat(conn, self.hostname, binary)

        self.db.write(run)
        return []

    async def _thread(self, fn: Callable[..., Outbox], *args: Any) -> None:
        outbox = await anyio.to_thread.run_sync(fn, *args)
        for topic, message in outbox or []:
            await self.bus.cast(topic, message)

    # -- messages -------------------------------------------------------------------------------
    async def handle(self, msg: dict[str, Any]) -> Any:
        op = msg.get("op")
        try:
            if op == "build":
                await self._thread(build.build, self, msg["uuid"])
            elif op == "heartbeat":
                await self._thread(self.on_heartbeat, msg)
            elif op == "report":
                await self._thread(lifecycle.on_report, self, msg)
            elif op == "delete":
                await self._thread(lifecycle.delete, self, msg["uuid"])
            elif op == "action":
                await self._thread(lifecycle.action, self, msg["uuid"])
            elif op == "image_chunk":  # an agent streaming an image into its cache
                return await anyio.to_thread.run_sync(spawn.image_chunk, self, msg)
            else:
                LOG.warning("conductor: unknown message %r", msg)
        except exceptions.ConcurrentUpdate:
            # someone else moved the instance on; the reconciler looks again later
            LOG.info("conductor: %s of %s raced another writer", op, msg.get("uuid"))
        return None

    def on_heartbeat(self, msg: dict[str, Any]) -> Outbox:
        host = msg["host"]
        inventory = msg["inventory"]

        def run(conn: Any) -> dict[str, Any]:
            services.record_heartbeat(conn, host, "nova-compute", msg.get("availability_zone"))
            return nodes.upsert(conn, host, inventory)

        node = self.db.write(run)
        wanted = {
            "VCPU": {"total": inventory["vcpus"], "reserved": 0, "min_unit": 1,
                     "max_unit": inventory["vcpus"], "step_size": 1,
                     "allocation_ratio": inventory["cpu_allocation_ratio"]},
            "MEMORY_MB": {"total": inventory["memory_mb"], "reserved": 0, "min_unit": 1,
                          "max_unit": inventory["memory_mb"], "step_size": 1,
                          "allocation_ratio": inventory["ram_allocation_ratio"]},
            "DISK_GB": {"total": inventory["local_gb"], "reserved": 0, "min_unit": 1,
                        "max_unit": inventory["local_gb"], "step_size": 1,
                        "allocation_ratio": inventory["disk_allocation_ratio"]},
        }
        if self._inventories.get(node["uuid"]) != wanted:
            self.placement.ensure_provider(node["uuid"], node["hypervisor_hostname"])
            self.placement.set_inventory(node["uuid"], wanted)
            self._inventories[node["uuid"]] = wanted
            self.scheduler.invalidate()  # a new or changed host: look again
        return self._orphans(host, list((msg.get("instances") or {}).keys()))

    def _orphans(self, host: str, guests: list[str]) -> Outbox:
        """Guests a hypervisor runs that the database does not place there (a spawn that
        finished after its build was given up, a delete that raced a restart): remove them."""
        if not guests:
            return []
        known = {r["uuid"]: r for r in self.db.read(instances.by_uuids, guests)}
        out: Outbox = []
        for uuid in guests:
            row = known.get(uuid)
            if row is not None and not row["deleted"] and (
                    row["task_state"] is not None
                    or host in (row["host"], row["migration_source"])):
                continue
            LOG.info("conductor: removing orphaned guest %s from %s", uuid, host)
            out.append((f"compute.{host}", {"op": "destroy", "uuid": uuid,
                                             "purpose": "cleanup"}))
        return out

    # -- reconciliation -------------------------------------------------------------------------
    async def reconcile(self) -> None:
        await self._thread(self._reconcile)

    def _reconcile(self) -> Outbox:
        now = utcnow()
        outbox: Outbox = []
        for row in self.db.read(instances.overdue, now):
            try:
                outbox += lifecycle.overdue(self, row, now)
            except exceptions.ConcurrentUpdate:
                continue
        return outbox

    def _resume(self) -> Outbox:
        """After a restart: pick up every task that was under way."""
        outbox: Outbox = []
        for row in self.db.read(instances.in_flight):
            try:
                outbox += lifecycle.resume(self, row)
            except exceptions.ConcurrentUpdate:
                continue
        return outbox

    def deadline(self, build_task: bool = False) -> dt.datetime:
        seconds = self.settings.build_timeout if build_task else self.settings.task_timeout
        return utcnow() + dt.timedelta(seconds=seconds)

    def host_is_up(self, host: str) -> bool:
        now = utcnow()
        with self.db.reader() as conn:
            svc = services.compute_services_by_host(conn).get(host)
        return bool(svc and services.is_up(svc, now, self.settings.service_down_time))
