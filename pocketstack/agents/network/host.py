"""Building one host's network agents from the cloud's settings: its :class:`AgentContext`
(kernel names, underlay address, physical networks, metadata secret) and its parts.

Used by the network service's roles (``pocketstack up``, one agent per compute host) and by
``pocketstack agent network`` (one host in a process of its own). Host number ``index``
(1-based, as ``compute1``..``computeN``) takes underlay address ``underlay_cidr`` + index + 1
(``compute1`` → 10.254.0.2); the first host is the network node.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pocketstack.agents.kernel import run
from pocketstack.agents.kernel.names import KernelNames
from pocketstack.agents.network import firewall
from pocketstack.agents.network.base import AgentContext, AgentPart
from pocketstack.agents.network.dhcp import DhcpPart
from pocketstack.agents.network.l2 import L2Part
from pocketstack.agents.network.l3 import L3Part
from pocketstack.agents.network.metadata import MetadataPart
from pocketstack.agents.network.rpc import NetworkRPC
from pocketstack.agents.network.runner import NetworkAgent
from pocketstack.config import Settings


def underlay_address(cidr: str, index: int) -> tuple[str, int]:
    """Host ``index``'s (1-based) tunnel address and prefix length."""
    network = ipaddress.ip_network(cidr, strict=False)
    if index < 1 or index + 1 >= network.num_addresses - 1:
        raise ValueError(f"host index {index} does not fit in underlay_cidr {cidr}")
    return str(network.network_address + index + 1), network.prefixlen


def parse_gateways(text: str) -> dict[str, str]:
    """``PHYSNET:ADDRESS/PREFIX,...`` → ``{physnet: "address/prefix"}``."""
    out = {}
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        physnet, sep, address = item.partition(":")
        if not sep or not physnet:
            raise ValueError(f"physnet_gateways: {item!r} is not PHYSNET:ADDRESS/PREFIX")
        ipaddress.ip_interface(address)  # refuses what is not an address/prefix
        out[physnet.strip()] = address.strip()
    return out


def physical_networks(settings: Settings) -> tuple[str, ...]:
    """The cloud's physical networks: the network service's ``network_physical_networks``
    when its settings section is loaded (agents may not import the service), else the
    physnets with a gateway."""
    for section in settings.sections.values():
        value = getattr(section, "network_physical_networks", None)
        if isinstance(value, str):
            return tuple(p.strip() for p in value.split(",") if p.strip())
    return tuple(parse_gateways(settings.physnet_gateways))


def report_interval(settings: Settings, default: float = 30.0) -> float:
    """Seconds between heartbeats: the network service's ``network_agent_report_interval``
    when its settings section is loaded (agents may not import the service)."""
    for section in settings.sections.values():
        value = getattr(section, "network_agent_report_interval", None)
        if isinstance(value, (int, float)):
            return float(value)
    return default


def context(settings: Settings, host: str, index: int, bus: Any,
            physnets: Sequence[str] | None = None) -> AgentContext:
    ip, prefixlen = underlay_address(settings.underlay_cidr, index)
    state_dir = Path(settings.state_path) / "run" / "network" / host
    state_dir.mkdir(parents=True, exist_ok=True)
    return AgentContext(
        host=host,
        names=KernelNames.for_settings(settings.kernel_prefix, settings.state_path),
        rpc=NetworkRPC(bus),
        state_dir=state_dir,
        underlay_ip=ip,
        underlay_prefixlen=prefixlen,
        physnet_gateways=parse_gateways(settings.physnet_gateways),
        physical_networks=tuple(physnets) if physnets is not None
        else physical_networks(settings),
        metadata_secret=settings.effective_metadata_secret,
        metadata_url=settings.effective_public_url + "/metadata",
        physnet_root_links=tuple(p.strip() for p in settings.physnet_root_links.split(",")
                                 if p.strip()),
    )


def parts_for(ctx: AgentContext, network_node: bool) -> list[AgentPart]:
    """The agent parts of a host: L2 (with its security groups) everywhere; DHCP, L3 and the
    metadata proxy (in the DHCP namespaces) on the network node."""
    sg = functools.partial(firewall.sync_firewall, cache=firewall.FirewallCache())
    parts: list[AgentPart] = [L2Part(ctx, firewall=sg)]
    if network_node:
        dhcp = DhcpPart(ctx)
        parts += [dhcp, L3Part(ctx), MetadataPart(ctx, dhcp.served)]
    return parts


def build_agent(settings: Settings, host: str, index: int, bus: Any,
                network_node: bool | None = None, physnets: Sequence[str] | None = None,
                report_interval: float = 30.0) -> NetworkAgent:
    """Host ``index``'s (1-based) network agents; the first host is the network node unless
    ``network_node`` says otherwise."""
    ctx = context(settings, host, index, bus, physnets)
    node = index == 1 if network_node is None else network_node
    return NetworkAgent(ctx, parts_for(ctx, node), bus, report_interval=report_interval,
                        resync_interval=settings.dataplane_resync_interval)


def dataplane_on(settings: Settings) -> bool:
    """Whether the cloud runs the Linux data plane (``dataplane``: ``linux``, or ``auto``
    where it can run); ``linux`` where it cannot is an error saying why."""
    mode = settings.dataplane
    if mode == "none":
        return False
    if mode not in ("linux", "auto"):
        raise ValueError(f"dataplane must be none, linux or auto, not {mode!r}")
    why = run.missing()
    if why is not None and mode == "linux":
        raise ValueError(f"dataplane = linux: {why}")
    return why is None
