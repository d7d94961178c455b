"""The compute agent: one per host, drives its hypervisor driver, never touches the database.

It listens on ``compute.<host>`` for work from the conductor, reports every outcome back on
``conductor``, and heartbeats its inventory and the guests it really has every
``heartbeat_interval`` seconds. Messages are hints: a spawn of a guest that already runs, or
a destroy of one that is gone, succeeds — so a retried message is harmless.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import asdict, dataclass
from typing import Any

from pocketstack.agents.compute.drivers.base import Driver, DriverError, InstanceSpec

LOG = logging.getLogger(__name__)

_POWER_OPS = {
    "stop": "power_off", "start": "power_on", "pause": "pause", "unpause": "unpause",
    "suspend": "suspend", "resume": "resume", "rescue": "power_on", "unrescue": "power_on",
}


@dataclass(frozen=True)
class AgentOptions:
    heartbeat_interval: float = 10.0
    cpu_allocation_ratio: float = 16.0
    ram_allocation_ratio: float = 1.5
    disk_allocation_ratio: float = 1.0
    availability_zone: str | None = None


class ComputeAgent:
    """Serves one host's hypervisor (see module docstring)."""

    def __init__(self, host: str, driver: Driver, bus: Any, options: AgentOptions) -> None:
        self.host = host
        self.driver = driver
        self.bus = bus
        self.options = options
        self._task: asyncio.Task[None] | None = None

    @property
    def topic(self) -> str:
        return f"compute.{self.host}"

    async def start(self) -> None:
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
            await asyncio.sleep(self.options.heartbeat_interval)
            try:
                await self.heartbeat()
            except Exception:  # the next beat retries; a missed one only delays
                LOG.exception("%s: heartbeat failed", self.host)

    async def heartbeat(self) -> None:
        inventory = asdict(await self.driver.inventory())
        inventory.update(cpu_allocation_ratio=self.options.cpu_allocation_ratio,
                         ram_allocation_ratio=self.options.ram_allocation_ratio,
                         disk_allocation_ratio=self.options.disk_allocation_ratio)
        await self.bus.cast("conductor", {
            "op": "heartbeat", "host": self.host, "inventory": inventory,
            "availability_zone": self.options.availability_zone,
            "instances": await self.driver.list_instances(),
            "capabilities": dict(self.driver.capabilities),
        })

    async def _report(self, msg: dict[str, Any], result: str, **extra: Any) -> None:
        await self.bus.cast("conductor", {
            "op": "report", "host": self.host, "uuid": msg.get("uuid"),
            "action": msg.get("op"), "result": result, "attempt": msg.get("attempt"),
            "purpose": msg.get("purpose"), **extra})

    async def handle(self, msg: dict[str, Any]) -> Any:
        op = msg.get("op")
        uuid = msg.get("uuid", "")
        try:
            if op == "console_output":
                return {"output": await self.driver.console_output(uuid)}
            if op == "spawn":
                await self.driver.spawn(InstanceSpec.from_dict(msg["spec"]))
            elif op == "destroy":
                await self.driver.destroy(uuid)
            elif op == "resize":
                await self.driver.resize(InstanceSpec.from_dict(msg["spec"]))
            elif op in ("reboot_soft", "reboot_hard"):
                await self.driver.reboot(uuid, hard=op == "reboot_hard")
            elif op in _POWER_OPS:
                await getattr(self.driver, _POWER_OPS[op])(uuid)
            else:
                raise DriverError(f"unknown operation {op!r}")
        except DriverError as exc:
            LOG.info("%s: %s of %s failed: %s", self.host, op, uuid, exc)
            await self._report(msg, "error", message=str(exc))
            return None
        except Exception as exc:  # a driver bug: report it rather than leave a task hanging
            LOG.exception("%s: %s of %s crashed", self.host, op, uuid)
            await self._report(msg, "error", message=f"{type(exc).__name__}: {exc}")
            return None
        power = None
        if op != "destroy":
            with contextlib.suppress(DriverError):
                power = await self.driver.power_state(uuid)
        await self._report(msg, "ok", power_state=power)
        return None
