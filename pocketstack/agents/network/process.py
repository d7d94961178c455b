"""``pocketstack agent network``: one host's network agents in a process of their own, joined
to the cloud over the bus (they never touch the database; see :mod:`.host`)."""

from __future__ import annotations

import asyncio
import signal

from pocketstack.agents.network.host import build_agent, report_interval
from pocketstack.common.bus import make_bus
from pocketstack.config import Settings


def run_network_agent(settings: Settings, host: str, index: int, network_node: bool) -> int:
    """Serve ``host`` (underlay address number ``index``) until SIGINT/SIGTERM."""

    async def main() -> None:
        bus = make_bus(settings.transport_url or None)
        await bus.start()
        agent = build_agent(settings, host, index, bus, network_node=network_node,
                            report_interval=report_interval(settings))
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await agent.start()
        kinds = ", ".join(part.agent_type for part in agent.parts)
        print(f"network agents of {host} ({kinds}; underlay {agent.ctx.underlay_ip}) joined "
              f"via {settings.transport_url.split('@')[-1]}", flush=True)
        await stop.wait()
        await agent.stop()
        await bus.stop()

    asyncio.run(main())
    return 0
