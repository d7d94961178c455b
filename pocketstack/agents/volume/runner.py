"""``pocketstack agent volume``: one storage host in its own process, joined over the bus.

Volumes live under ``STATE_DIR/volumes/<host@backend>/``, backups under ``STATE_DIR/backups/``.
"""

from __future__ import annotations

import asyncio
import signal

from pocketstack.agents.volume.agent import VolumeAgent
from pocketstack.agents.volume.backend import FileBackend
from pocketstack.common.bus import make_bus
from pocketstack.config import Settings


def run_volume_agent(settings: Settings, host: str, backend_name: str = "file",
                     report_interval: float = 10.0, availability_zone: str = "nova") -> int:
    """Serve ``host@backend`` until SIGINT/SIGTERM. The agent never touches the database."""
    full = host if "@" in host else f"{host}@{backend_name}"

    async def main() -> None:
        bus = make_bus(settings.transport_url or None)
        await bus.start()
        backend = FileBackend(settings.state_path / "volumes" / full, full.partition("@")[2],
                              settings.state_path / "backups")
        agent = VolumeAgent(full, backend, bus, report_interval, availability_zone)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await agent.start()
        print(f"volume agent {full} joined via {settings.transport_url.split('@')[-1]}",
              flush=True)
        await stop.wait()
        await agent.stop()
        await bus.stop()

    asyncio.run(main())
    return 0
