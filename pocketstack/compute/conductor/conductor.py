"""The conductor: turns intent in the database into work on compute hosts, and records what
the hosts report. It is the only writer of agent-observed state.

It dispatches to one class per task family (:mod:`.build`, :mod:`.power`, :mod:`.resize`,
:mod:`.live_migrate`, :mod:`.shelve`, :mod:`.delete`, :mod:`.snapshot`), chosen by the
instance's current ``task_state``; volume attaches and detaches to :mod:`.volume_tasks`; host
heartbeats go to :mod:`.hosts` and :mod:`.power_sync`, console requests to :mod:`.console`,
restarts and deadlines to :mod:`.recovery`.

Every entry point (a bus hint, a host's report, the reconciler, a restart, a power sync) is a
:class:`~.family.Step` run through the per-instance work queue (:mod:`.workqueue`): one step
in flight per instance, each one transaction that re-reads the instance and acts on its
*current* state — so a duplicated or stale hint does nothing and a lost one only waits for the
reconciler. A step that loses a compare-and-swap to another writer (the API) is re-run from a
fresh read. Database work runs in worker threads; messages are sent only after the
transaction that justified them has committed.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import socket
from collections.abc import Callable
from typing import Any, TypeVar

import anyio.to_thread
from sqlalchemy.engine import Connection

from pocketstack.common import exceptions
from pocketstack.common.db import Database
from pocketstack.compute.conductor import reimage, volumes
from pocketstack.compute.conductor import spec as spawn
from pocketstack.compute.conductor.build import SERVICE_CTX, Build, bind_ports
from pocketstack.compute.conductor.console import Console
from pocketstack.compute.conductor.delete import Delete
from pocketstack.compute.conductor.family import NeedsWrite, Outbox, Step, TaskFamily
from pocketstack.compute.conductor.hosts import Hosts
from pocketstack.compute.conductor.live_migrate import LiveMigrate
from pocketstack.compute.conductor.power import PowerActions
from pocketstack.compute.conductor.power_sync import PowerSync
from pocketstack.compute.conductor.recovery import Recovery
from pocketstack.compute.conductor.resize import ResizeMigrate
from pocketstack.compute.conductor.shelve import Shelve
from pocketstack.compute.conductor.snapshot import Snapshot
from pocketstack.compute.conductor.soft_delete import SoftDelete
from pocketstack.compute.conductor.volume_tasks import VolumeTasks
from pocketstack.compute.conductor.workqueue import InstanceWorkQueue
from pocketstack.compute.domain import instances, services
from pocketstack.compute.domain.common import utcnow
from pocketstack.compute.scheduler.scheduler import Scheduler
from pocketstack.compute.settings import ComputeSettings
from pocketstack.config import Settings

LOG = logging.getLogger(__name__)
T = TypeVar("T")

STEP_ATTEMPTS = 5  # a step that keeps losing its compare-and-swap waits for the reconciler
HINTS = ("build", "action", "delete")  # "look at this instance" from the API

__all__ = ["Conductor", "Outbox"]


class Conductor:
    """See the module docstring."""

    def __init__(self, db: Database, bus: Any, settings: Settings, placement: Any,
                 images: Any = None, network: Any = None,
                 volume: Callable[[], Any] | None = None) -> None:
        self.db = db
        self.bus = bus
        self.settings = settings
        self.placement = placement  # PlacementClient: claims join a step's transaction
        self.images = images
        self.network = network  # NetworkAPI, or None when the cloud runs no networking
        self.volume_api = volume or (lambda: None)  # VolumeAPI (or None), found when needed
        self.scheduler = Scheduler(db, placement, settings)
        self.hostname = socket.gethostname()
        self.queue = InstanceWorkQueue()
        self.soft_delete = SoftDelete(self)
        self.snapshot = Snapshot(self)
        self.families: list[TaskFamily] = [Build(self), PowerActions(self),
                                           ResizeMigrate(self), LiveMigrate(self), Shelve(self),
                                           Delete(self), self.soft_delete, self.snapshot]
        self._by_task = {task: f for f in self.families for task in f.task_states}
        self.hosts = Hosts(self)
        self.power_sync = PowerSync(self)
        self.recovery = Recovery(self)
        self.console = Console(self)
        self.volume_tasks = VolumeTasks(self)
        self._tasks: list[asyncio.Task[None]] = []

    def family_of(self, row: dict[str, Any]) -> TaskFamily | None:
        return self._by_task.get(row["task_state"])

    # -- lifecycle ------------------------------------------------------------------------------
    async def start(self) -> None:
        await self.bus.subscribe("conductor", self.handle)
        await self.in_thread(self._record_own_services)
        # resumed in the background (the API serves meanwhile); each resume is an ordinary
        # step that re-reads its instance, so newer work for it is never undone
        self._tasks.append(asyncio.create_task(self._resume_all()))
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
        await self.in_thread(self._record_own_services)

    def _record_own_services(self) -> None:
        def run(conn: Any) -> None:
            for binary in ("nova-conductor", "nova-scheduler"):
                services.record_heartbeat(conn, self.hostname, binary)

        self.db.write(run)

    async def in_thread(self, fn: Callable[..., T], *args: Any) -> T:
        return await anyio.to_thread.run_sync(fn, *args)

    async def send(self, outbox: Outbox) -> None:
        for topic, message in outbox:
            await self.bus.cast(topic, message)

    # -- steps ----------------------------------------------------------------------------------
    async def run_step(self, uuid: str, fn: Callable[..., None], *args: Any,
                       hint: str | None = None, read_first: bool = False) -> None:
        """Run ``fn(step, *args)`` for the instance, in its turn of the work queue; with
        ``read_first``, try it in a read transaction first (see :class:`~.family.Step`)."""

        async def job() -> None:
            await self.send(await self.in_thread(self._step, uuid, fn, args, read_first))

        await self.queue.run(uuid, job, hint=hint)

    def _step(self, uuid: str, fn: Callable[..., None], args: tuple[Any, ...],
              read_first: bool = False) -> Outbox:
        writable = not read_first
        for _ in range(STEP_ATTEMPTS):
            try:
                if writable:
                    step = self.db.write(self._in_transaction, uuid, fn, args, True)
                else:
                    step = self.db.read(self._in_transaction, uuid, fn, args, False)
            except NeedsWrite:
                writable = True
                continue
            except exceptions.ConcurrentUpdate:
                # another writer (the API) changed the instance under us; nothing of this
                # step was committed, claims included: look again from a fresh read
                self.scheduler.invalidate()  # its view counted a claim that was rolled back
                continue
            except Exception:
                self.scheduler.invalidate()
                raise
            if step is None:
                return []
            for note in step.notes:
                LOG.info("[instance: %s] %s", uuid, note)
            return step.out
        LOG.warning("[instance: %s] %s kept racing other writers; the reconciler will "
                    "look again", uuid, getattr(fn, "__name__", fn))
        return []

    def _in_transaction(self, conn: Connection, uuid: str, fn: Callable[..., None],
                        args: tuple[Any, ...], writable: bool) -> Step | None:
        try:
            row = instances.get(conn, uuid)
        except exceptions.NotFound:
            return None  # deleted meanwhile
        step = Step(conn, row, writable)
        with self.placement.joining(conn):
            fn(step, *args)
        return step

    def advance(self, step: Step) -> None:
        family = self.family_of(step.row)
        if family is not None:
            family.advance(step)

    def report(self, step: Step, msg: dict[str, Any]) -> None:
        family = self.family_of(step.row)
        if family is not None:
            family.on_report(step, msg)

    # -- messages -------------------------------------------------------------------------------
    async def handle(self, msg: dict[str, Any]) -> Any:
        op = msg.get("op")
        uuid = str(msg.get("uuid") or "")
        try:
            if op in HINTS and uuid:  # a build always writes; actions and deletes mostly
                # only send work to the host
                await self.run_step(uuid, self.advance, hint="advance", read_first=op != "build")
            elif op == "report" and uuid:
                if msg.get("purpose") != "cleanup":  # a former host's leftover: nothing to do
                    await self.run_step(uuid, self.report, msg)
            elif op == "allocate_ports" and uuid and self.network is not None:
                build = next(f for f in self.families if isinstance(f, Build))

                async def job() -> None:
                    await self.send(await self.in_thread(
                        build.allocate_ports, uuid, str(msg.get("host")),
                        int(msg.get("attempt") or 1)))

                await self.queue.run(uuid, job)
            elif op == "bind_ports" and uuid and self.network is not None:
                host = msg.get("host")
                source = msg.get("migrating_from")
                then = [(str(t), dict(m)) for t, m in msg.get("then") or []]

                async def bind() -> None:
                    try:
                        await self.in_thread(bind_ports, self, uuid,
                                             None if host is None else str(host),
                                             None if source is None else str(source))
                    finally:  # a spawn waits for its ports (a failed bind fails there)
                        await self.send(then)

                await self.queue.run(uuid, bind)
            elif op == "release_ports" and uuid and self.network is not None:
                await self.in_thread(self.network.deallocate_for_instance, SERVICE_CTX, uuid,
                                     tuple(msg.get("keep") or ()))
            elif op == "prepare_volumes" and uuid:
                build = next(f for f in self.families if isinstance(f, Build))

                async def prepare() -> None:
                    await self.send(await self.in_thread(
                        build.prepare_volumes, uuid, str(msg.get("host")),
                        int(msg.get("attempt") or 1)))

                await self.queue.run(uuid, prepare)
            elif op == "reimage_root" and uuid:

                async def reimage_root() -> None:
                    await self.send(await self.in_thread(reimage.run, self, uuid))

                await self.queue.run(uuid, reimage_root)
            elif op == "attach_volume" and uuid:
                await self.volume_tasks.attach(uuid, str(msg.get("volume_id")))
            elif op == "detach_volume" and uuid:
                await self.volume_tasks.detach(uuid, str(msg.get("volume_id")))
            elif op == "release_volumes" and uuid:
                await self.in_thread(volumes.release, self.volume_api(), uuid,
                                     list(msg.get("volumes") or []))
            elif op == "upload_snapshot" and uuid:
                await self.snapshot.upload(uuid)
            elif op == "delete_image" and msg.get("image_id"):
                await self.in_thread(self.delete_image, str(msg["image_id"]), uuid)
            elif op == "heartbeat":
                await self.on_heartbeat(msg)
            elif op == "console_output":
                return await self.console.output(uuid)
            elif op == "console_connect":
                return await self.console.connect(uuid, str(msg.get("kind")),
                                                  str(msg.get("console_type")))
            elif op == "console_check_token":
                return await self.console.check_token(str(msg.get("token") or ""),
                                                      str(msg.get("host") or ""))
            elif op == "image_chunk":  # an agent streaming an image into its cache
                return await self.in_thread(spawn.image_chunk, self, msg)
            else:
                LOG.warning("conductor: unknown message %r", msg)
        except Exception:
            LOG.exception("[instance: %s] conductor: %s failed; the reconciler will look "
                          "again", uuid or "-", op)
        return None

    def delete_image(self, image_id: str, uuid: str) -> None:
        """Delete an image the compute service made (a shelved server's snapshot)."""
        if self.images is None:
            return
        try:
            self.images.delete_image(SERVICE_CTX, image_id)
        except exceptions.NotFound:
            return  # deleted already
        LOG.info("[instance: %s] image %s deleted", uuid or "-", image_id)

    async def on_heartbeat(self, msg: dict[str, Any]) -> None:
        received = utcnow()
        await self.send(await self.in_thread(self.hosts.on_heartbeat, msg))
        host = msg["host"]
        found = await self.in_thread(self.power_sync.candidates, host,
                                     self.power_sync.observed(msg), received)
        for uuid, observed in found:
            if not self.queue.busy(uuid):  # work in flight: the next heartbeat looks again
                await self.run_step(uuid, self.power_sync.sync, host, observed)

    # -- reconciliation -------------------------------------------------------------------------
    async def reconcile(self) -> None:
        now = utcnow()
        for row in await self.in_thread(self.db.read, instances.overdue, now):
            if not self.queue.busy(row["uuid"]):
                await self.run_step(row["uuid"], self.recovery.overdue, now)
        interval = self.settings.section(ComputeSettings).reclaim_instance_interval
        if interval > 0:  # deferred deletes whose time is up (Nova's _reclaim_queued_deletes)
            before = now - dt.timedelta(seconds=interval)
            for row in await self.in_thread(self.db.read, instances.reclaimable, before):
                if not self.queue.busy(row["uuid"]):
                    await self.run_step(row["uuid"], self.soft_delete.reclaim,
                                        self.deadline())
        await self.volume_tasks.reconcile()

    async def _resume_all(self) -> None:
        """After a restart: pick up every task that was under way, side by side."""
        try:
            rows = await self.in_thread(self.db.read, instances.in_flight)
            await asyncio.gather(*(self.run_step(row["uuid"], self.recovery.resume)
                                   for row in rows))
        except Exception:  # the reconciler takes over at each task's deadline
            LOG.exception("conductor: resuming tasks after the restart failed")

    def deadline(self, build_task: bool = False) -> dt.datetime:
        seconds = self.settings.build_timeout if build_task else self.settings.task_timeout
        return utcnow() + dt.timedelta(seconds=seconds)

    def host_is_up(self, host: str) -> bool:
        now = utcnow()
        with self.db.reader() as conn:
            svc = services.compute_service_of(conn, host)
        return bool(svc and services.is_up(svc, now, self.settings.service_down_time))
