"""``pocketstack agent compute``: one compute host in its own process, joined over the bus."""

from __future__ import annotations

import asyncio
import logging
import signal

from pocketstack.agents.compute.agent import AgentOptions, ComputeAgent
from pocketstack.agents.compute.drivers.fake import FakeDriver
from pocketstack.common.bus import make_bus
from pocketstack.config import Settings

LOG = logging.getLogger(__name__)


def run_compute_agent(settings: Settings, host: str) -> int:
    """Serve ``host`` until SIGINT/SIGTERM. The agent never touches the database."""

    async def main() -> None:
        bus = make_bus(settings.transport_url or None)
        await bus.start()
        driver = FakeDriver(host, settings.fake_vcpus, settings.fake_memory_mb,
                            settings.fake_disk_gb, settings.cpu_allocation_ratio,
                            settings.ram_allocation_ratio, settings.disk_allocation_ratio)
        agent = ComputeAgent(host, driver, bus, AgentOptions(
            heartbeat_interval=settings.heartbeat_interval,
            cpu_allocation_ratio=settings.cpu_allocation_ratio,
            ram_allocation_ratio=settings.ram_allocation_ratio,
            disk_allocation_ratio=settings.disk_allocation_ratio))
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await agent.start()
        print(f"compute agent {host} joined via {settings.transport_url.split('@')[-1]}",
              flush=True)
        await stop.wait()
        await agent.stop()
        await bus.stop()

    asyncio.run(main())
    return 0
