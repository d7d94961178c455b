"""One host's network agents: start, resync on hints and on a timer, heartbeats.

Hints (``network.changes`` fanouts) only mark the parts dirty; one loop per part runs its
``sync`` again as soon as the previous one ends, so a burst of hints costs one or two syncs.
A sync that fails is logged and retried at the next hint or tick.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from pocketstack.agents.network.base import AgentContext, AgentPart
from pocketstack.agents.network.rpc import CHANGES_TOPIC, RPCError

LOG = logging.getLogger(__name__)


class NetworkAgent:
    """The role of one host's network agents."""

    def __init__(self, ctx: AgentContext, parts: list[AgentPart], bus: Any,
                 report_interval: float = 30.0, resync_interval: float = 10.0) -> None:
        self.ctx = ctx
        self.parts = parts
        self.bus = bus
        self.report_interval = report_interval
        self.resync_interval = resync_interval
        self.name = f"network-agent:{ctx.host}"
        self._dirty = {id(p): asyncio.Event() for p in parts}
        self._tasks: list[asyncio.Task[None]] = []
        self.syncs = 0  # completed syncs, for tests and benchmarks
        self.started = asyncio.Event()  # set once every part has synced once

    async def start(self) -> None:
        """Report, listen for hints, and converge in the background: the parts' first syncs
        run in order (L2 makes the host namespace the others plug into), then each part's
        loop. The cloud is ready before its kernel state is (a restart finds it in place)."""
        await self.report(starting=True)
        await self.bus.subscribe(CHANGES_TOPIC, self.hint)
        self._tasks = [asyncio.create_task(self._converge())]
        self._tasks.append(asyncio.create_task(self._reports()))

    async def _converge(self) -> None:
        for part in self.parts:
            self._dirty[id(part)].clear()  # this first sync covers hints so far
            await self._sync(part)
        self.started.set()
        loops = [asyncio.create_task(self._loop(p)) for p in self.parts]
        self._tasks += loops
        await asyncio.gather(*loops)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        for part in self.parts:
            await part.stop()

    async def hint(self, message: dict[str, Any]) -> None:
        if message.get("resource") == "device" and message.get("host") not in (None,
                                                                               self.ctx.host):
            return  # another host's devices changed (a compute agent's hint)
        for event in self._dirty.values():
            event.set()

    async def resync(self) -> None:
        """Sync every part now (tests, ``pocketstack`` commands)."""
        for part in self.parts:
            await self._sync(part)

    async def _sync(self, part: AgentPart) -> None:
        try:
            await part.sync()
            self.syncs += 1
        except RPCError as exc:
            LOG.warning("%s: %s sync: %s", self.ctx.host, part.agent_type, exc)
        except Exception:
            LOG.exception("%s: %s sync failed", self.ctx.host, part.agent_type)

    async def _loop(self, part: AgentPart) -> None:
        event = self._dirty[id(part)]
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), self.resync_interval)
            event.clear()
            await self._sync(part)

    async def report(self, starting: bool = False) -> None:
        for part in self.parts:
            try:
                await self.ctx.rpc.call(
                    "report", agent_type=part.agent_type, binary=part.binary,
                    topic=part.topic, host=self.ctx.host,
                    availability_zone=None if part.topic == "N/A" else "nova",
                    configurations=part.configurations(), starting=starting)
            except RPCError as exc:
                LOG.warning("%s: heartbeat of %s: %s", self.ctx.host, part.agent_type, exc)

    async def _reports(self) -> None:
        while True:
            await asyncio.sleep(self.report_interval)
            await self.report()
