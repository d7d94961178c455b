"""The in-process network agents (until the kernel data plane arrives): an L2 agent on every
compute host, and DHCP, L3 and metadata agents on the first one, each reporting a heartbeat
as Neutron's agents do (every ``network_agent_report_interval`` seconds)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import Any

from pocketstack.common.db import Database
from pocketstack.network.domain import agents

LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class AgentSpec:
    agent_type: str
    binary: str
    topic: str
    host: str
    availability_zone: str | None
    configurations: dict[str, Any]


def agent_specs(hosts: list[str], mechanism: str, physnets: list[str],
                tunnel_types: list[str]) -> list[AgentSpec]:
    bridges = {name: f"br-{name}"[:15] for name in physnets}
    out = []
    for host in hosts:
        if mechanism == "openvswitch":
            out.append(AgentSpec("Open vSwitch agent", "neutron-openvswitch-agent", "N/A", host,
                                 None, {"bridge_mappings": bridges,
                                        "tunnel_types": tunnel_types, "integration_bridge":
                                        "br-int", "arp_responder_enabled": False}))
        else:
            out.append(AgentSpec("Linux bridge agent", "neutron-linuxbridge-agent", "N/A",
                                 host, None, {"interface_mappings": bridges,
                                              "bridge_mappings": bridges,
                                              "tunnel_types": [t for t in tunnel_types
                                                               if t == "vxlan"]}))
    if hosts:
        head = hosts[0]
        out += [
            AgentSpec("DHCP agent", "neutron-dhcp-agent", "dhcp_agent", head, "nova",
                      {"dhcp_driver": "neutron.agent.linux.dhcp.Dnsmasq"}),
            AgentSpec("L3 agent", "neutron-l3-agent", "l3_agent", head, "nova",
                      {"agent_mode": "legacy"}),
            AgentSpec("Metadata agent", "neutron-metadata-agent", "N/A", head, None,
                      {"metadata_proxy_socket": "metadata_proxy", "nova_metadata_host":
                       "127.0.0.1"}),
        ]
    return out


class AgentHeartbeats:
    """One role for every in-process network agent: report at start, then periodically."""

    name = "network-agents"

    def __init__(self, db: Database, specs: list[AgentSpec], interval: float) -> None:
        self.db = db
        self.specs = specs
        self.interval = interval
        self._task: asyncio.Task[None] | None = None

    def report(self, starting: bool = False) -> None:
        def write(conn: Any) -> None:
            served = agents.served_counts(conn)
            for spec in self.specs:
                configurations = {**spec.configurations, **served.get(spec.agent_type, {})}
                agents.report(conn, spec.agent_type, spec.binary, spec.topic, spec.host,
                              spec.availability_zone, configurations, starting)
        self.db.write(write)

    async def start(self) -> None:
        await asyncio.to_thread(self.report, True)
        self._task = asyncio.create_task(self._loop())

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await asyncio.to_thread(self.report)
            except Exception:  # a missed heartbeat only ages the agent; keep reporting
                LOG.exception("network agents: heartbeat failed")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
