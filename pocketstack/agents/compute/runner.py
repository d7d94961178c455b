"""``pocketstack agent compute``: one compute host in its own process, joined over the bus.

The driver is chosen by name (``--driver``, setting ``compute_driver``); the host keeps its
state (the fake driver's guests, the image cache) under ``STATE_DIR/hypervisors/<host>``. If
the driver crashes the agent (the fake driver's ``crash`` failure mode), the process exits
with status 70 at once, as a killed agent would.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal

from pocketstack.agents.compute.agent import AgentOptions
from pocketstack.agents.compute.drivers.loader import driver_name, load_agent
from pocketstack.common.bus import make_bus
from pocketstack.config import Settings

LOG = logging.getLogger(__name__)


def _crash(exc: BaseException) -> None:
    LOG.critical("compute agent crashed: %s", exc)
    logging.shutdown()
    os._exit(70)


def run_compute_agent(settings: Settings, host: str) -> int:
    """Serve ``host`` until SIGINT/SIGTERM. The agent never touches the database."""

    async def main() -> None:
        bus = make_bus(settings.transport_url or None)
        await bus.start()
        agent = load_agent(host, settings, bus, AgentOptions.from_settings(settings),
            settings.state_path / "hypervisors" / host, on_crash=_crash)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await agent.start()
        print(f"compute agent {host} ({driver_name(settings)}) joined via "
              f"{settings.transport_url.split('@')[-1]}", flush=True)
        await stop.wait()
        await agent.stop()
        await bus.stop()

    asyncio.run(main())
    return 0
