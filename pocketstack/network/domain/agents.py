"""Network agents: registration and heartbeats (the ``alive`` rule: a report within the down
time), admin state, and which host's L2 agent can bind which segment."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from pocketstack.network import tables as t
from pocketstack.network.domain import common
from pocketstack.network.domain.common import ListQuery

L2_TYPES = ("Linux bridge agent", "Open vSwitch agent")


def report(conn: Connection, agent_type: str, binary: str, topic: str, host: str,
           availability_zone: str | None, configurations: dict[str, Any],
           starting: bool = False) -> str:
    """Upsert the agent's row and stamp its heartbeat; returns its id."""
    stamp = common.now()
    a = t.agents
    found = conn.execute(sa.select(a.c.id).where(a.c.agent_type == agent_type,
                                                 a.c.host == host)).first()
    if found is None:
        agent_id = common.new_id()
        conn.execute(sa.insert(a).values(
            id=agent_id, agent_type=agent_type, binary=binary, topic=topic, host=host,
            admin_state_up=True, availability_zone=availability_zone,
            configurations=configurations, description=None, created_at=stamp,
            started_at=stamp, heartbeat_timestamp=stamp))
        return agent_id
    values: dict[str, Any] = {"heartbeat_timestamp": stamp, "configurations": configurations,
                              "binary": binary, "topic": topic}
    if starting:
        values["started_at"] = stamp
    conn.execute(sa.update(a).where(a.c.id == found[0]).values(**values))
    return str(found[0])


def served_counts(conn: Connection) -> dict[str, dict[str, int]]:
    """What the single DHCP and L3 agents serve, as Neutron's agents report it in their
    configurations (every DHCP-enabled network; every router)."""
    dhcp_networks = common.count(conn, t.networks, t.networks.c.id.in_(
        sa.select(t.subnets.c.network_id).where(t.subnets.c.enable_dhcp.is_(True))))
    return {
        "DHCP agent": {
            "networks": dhcp_networks,
            "subnets": common.count(conn, t.subnets, t.subnets.c.enable_dhcp.is_(True)),
            "ports": common.count(conn, t.ports),
        },
        "L3 agent": {
            "routers": common.count(conn, t.routers),
            "floating_ips": common.count(conn, t.floatingips,
                                         t.floatingips.c.fixed_port_id.is_not(None)),
            "interfaces": common.count(conn, t.ports,
                                       t.ports.c.device_owner == "network:router_interface"),
            "gateways": common.count(conn, t.routers, t.routers.c.gw_port_id.is_not(None)),
        },
    }


def is_alive(agent: dict[str, Any], down_time: int, now: dt.datetime | None = None) -> bool:
    current = now or common.now()
    return bool((current - agent["heartbeat_timestamp"]).total_seconds() <= down_time)


def get(conn: Connection, agent_id: str) -> dict[str, Any]:
    return common.get_row(conn, t.agents, agent_id, "Agent")


def list_agents(conn: Connection, q: ListQuery) -> tuple[list[dict[str, Any]], bool]:
    return common.list_rows(conn, t.agents, "agents", q, (), "Agent")


def update(conn: Connection, agent_id: str, values: dict[str, Any]) -> dict[str, Any]:
    get(conn, agent_id)
    columns = {k: values[k] for k in ("admin_state_up", "description") if k in values}
    if columns:
        conn.execute(sa.update(t.agents).where(t.agents.c.id == agent_id).values(**columns))
    return get(conn, agent_id)


def delete(conn: Connection, agent_id: str) -> None:
    get(conn, agent_id)
    conn.execute(sa.delete(t.agents).where(t.agents.c.id == agent_id))


def _can_bind(config: dict[str, Any], segment: dict[str, Any]) -> str | None:
    """None when an L2 agent with these ``configurations`` can wire ``segment``, else why
    not. An agent that reports ``network_types`` (the Linux data plane's) serves only those;
    one that does not (the in-process heartbeats) any flat/vlan network on its mappings."""
    kind = segment["network_type"]
    mappings = config.get("bridge_mappings") or config.get("interface_mappings") or {}
    tunnels = config.get("tunnel_types") or []
    served = config.get("network_types")
    if kind == "local":
        return None
    if kind in ("flat", "vlan"):
        if served is not None and kind not in served:
            if kind == "vlan":
                why = config.get("vlan_unsupported_reason") or "no 802.1Q on the host"
                return f"vlan not supported by the host's L2 agent ({why})"
            return f"{kind} not supported by the host's L2 agent"
        if segment["physical_network"] not in mappings:
            return (f"physical network {segment['physical_network']} is not mapped on the "
                    "host's L2 agent")
        return None
    if kind in tunnels:
        return None
    return f"{kind} not supported by the host's L2 agent (tunnel types: " \
        f"{', '.join(tunnels) or 'none'})"


def _l2_agents(conn: Connection, host: str) -> list[dict[str, Any]]:
    return [dict(row) for row in conn.execute(sa.select(t.agents).where(
        t.agents.c.host == host, t.agents.c.agent_type.in_(L2_TYPES))).mappings()]


def l2_agent_serving(conn: Connection, host: str, segments: list[dict[str, Any]],
                     down_time: int) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """The live, enabled L2 agent on ``host`` and the first segment it can bind."""
    for agent in _l2_agents(conn, host):
        if not agent["admin_state_up"] or not is_alive(agent, down_time):
            continue
        config = agent["configurations"] or {}
        for segment in segments:
            if _can_bind(config, segment) is None:
                return agent, segment
    return None


def binding_failure(conn: Connection, host: str, segments: list[dict[str, Any]],
                    down_time: int) -> str:
    """Why no L2 agent on ``host`` can bind any of ``segments`` (for a build's fault)."""
    found = _l2_agents(conn, host)
    if not found:
        return f"no L2 agent on host {host}"
    reasons = []
    for agent in found:
        if not agent["admin_state_up"]:
            reasons.append(f"the {agent['agent_type']} on {host} is disabled")
        elif not is_alive(agent, down_time):
            reasons.append(f"the {agent['agent_type']} on {host} is not alive")
        else:
            config = agent["configurations"] or {}
            reasons += [r for r in (_can_bind(config, s) for s in segments) if r]
    if not segments:
        reasons.append("the network has no segments")
    return "; ".join(dict.fromkeys(reasons)) or f"no L2 agent on host {host} can bind it"
