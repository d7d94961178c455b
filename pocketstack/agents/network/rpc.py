"""The agents' side of ``network.rpc`` (see :mod:`pocketstack.network.rpc` for the ops)."""

from __future__ import annotations

from typing import Any

RPC_TOPIC = "network.rpc"
#: fanout hints from the network service: ``{"resource", "ids"}``; agents look again
CHANGES_TOPIC = "network.changes"


class RPCError(Exception):
    """The network service answered an error (or did not answer)."""


class NetworkRPC:
    def __init__(self, bus: Any, timeout: float = 15.0) -> None:
        self.bus = bus
        self.timeout = timeout

    async def call(self, op: str, **args: Any) -> Any:
        try:
            answer = await self.bus.call(RPC_TOPIC, {"op": op, **args}, timeout=self.timeout)
        except Exception as exc:  # BusTimeout, BusUnavailable
            raise RPCError(f"network.rpc {op}: {exc}") from exc
        if isinstance(answer, dict) and "error" in answer and len(answer) == 1:
            raise RPCError(f"network.rpc {op}: {answer['error']}")
        return answer

    async def hint(self, message: dict[str, Any]) -> None:
        """Tell every network agent to look again (e.g. a driver made a tap)."""
        await self.bus.fanout(CHANGES_TOPIC, message)
