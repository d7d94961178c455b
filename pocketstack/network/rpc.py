"""The network agents' endpoint on the bus (topic ``network.rpc``), as Neutron's plugin RPC.

Agents never read the database: they ask this endpoint for the part of the model their host
serves (``l2_state``, ``dhcp_state``, ``l3_state``), report what they did (``set_port_status``)
and their heartbeats (``report``). Each op is a function ``(service, message) -> answer`` run
in a worker thread; its answer is plain JSON. An op that fails answers ``{"error": message}``
(the agent logs it and its next resync tries again).

The ops are listed in :data:`OPS`, one line each, from the modules that own them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pocketstack.network.domain import agents as agent_rows
from pocketstack.network.domain import l2state, l3state
from pocketstack.network.domain.dhcpstate import dhcp_state
from pocketstack.network.domain.metadatastate import metadata_lookup

if TYPE_CHECKING:
    from pocketstack.network.service import NetworkService

LOG = logging.getLogger(__name__)

RPC_TOPIC = "network.rpc"

Op = Callable[["NetworkService", dict[str, Any]], Any]


def report(service: NetworkService, msg: dict[str, Any]) -> dict[str, Any]:
    """An agent's heartbeat: ``{agent_type, binary, topic, host, availability_zone,
    configurations, starting}``; answers its id."""
    def write(conn: Any) -> str:
        return agent_rows.report(conn, msg["agent_type"], msg["binary"], msg.get("topic", "N/A"),
                                 msg["host"], msg.get("availability_zone"),
                                 dict(msg.get("configurations") or {}),
                                 bool(msg.get("starting")))
    return {"id": service.db.write(write)}


def _ops() -> dict[str, Op]:
    return {
        "report": report,
        "metadata_lookup": metadata_lookup,
        "l2_state": l2state.l2_state,
        "set_port_status": l2state.set_port_status,
        "dhcp_state": dhcp_state,
        "l3_state": l3state.l3_state,
        "set_floatingip_status": l3state.set_floatingip_status,
    }


class AgentRPC:
    """The role that answers ``network.rpc`` calls."""

    name = "network-rpc"

    def __init__(self, service: NetworkService) -> None:
        self.service = service
        self.ops = _ops()

    async def start(self) -> None:
        await self.service.runtime.bus.subscribe(RPC_TOPIC, self.handle)

    async def stop(self) -> None:
        return None

    async def handle(self, msg: dict[str, Any]) -> Any:
        op = self.ops.get(str(msg.get("op")))
        if op is None:
            return {"error": f"unknown network.rpc op {msg.get('op')!r}"}
        try:
            return await asyncio.to_thread(op, self.service, msg)
        except Exception as exc:  # answer the agent; it retries on its next resync
            LOG.exception("network.rpc %s failed", msg.get("op"))
            return {"error": f"{type(exc).__name__}: {exc}"}
