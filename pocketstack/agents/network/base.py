"""What every network agent part is given and must do.

A *part* (L2, DHCP, L3, metadata proxy) keeps one slice of its host's kernel state equal to
the model: :meth:`AgentPart.sync` asks the network service (``ctx.rpc``) for that slice,
compares it with the kernel and fixes the difference. ``sync`` is level-triggered and
idempotent: it is run on start, after change hints, and every ``resync_interval`` seconds by
:class:`pocketstack.agents.network.runner.NetworkAgent`, one at a time per part. Kernel calls
block: run them with ``asyncio.to_thread``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from pocketstack.agents.kernel.names import KernelNames
from pocketstack.agents.network.rpc import NetworkRPC


@dataclass(frozen=True)
class AgentContext:
    host: str
    names: KernelNames
    rpc: NetworkRPC
    state_dir: Path  # this host's agent files (STATE/run/network/<host>); survives restarts
    underlay_ip: str  # this host's tunnel address, e.g. 10.254.0.2
    underlay_prefixlen: int
    physnet_gateways: dict[str, str]  # physnet -> "172.24.4.1/24"
    physical_networks: tuple[str, ...]  # physnets this host is wired to
    metadata_secret: str
    metadata_url: str  # where the metadata API answers (the cloud's public URL + /metadata)
    physnet_root_links: tuple[str, ...] = ()  # physnets linked into the machine's namespace


class AgentPart(Protocol):
    agent_type: str  # as Neutron names it: "Linux bridge agent", "DHCP agent", ...
    binary: str  # "neutron-linuxbridge-agent", ...
    topic: str  # "N/A", "dhcp_agent", "l3_agent"

    def configurations(self) -> dict[str, Any]:
        """What the agent reports in its heartbeat (``network agent show``)."""
        ...

    async def sync(self) -> None:
        """Make the kernel match the model for this part (see the module docstring)."""
        ...

    async def stop(self) -> None:
        """Stop serving; kernel state stays (a restart resyncs, instances keep forwarding)."""
        ...
