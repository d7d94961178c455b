"""The L3 agent of the network host (Neutron's ``neutron-l3-agent``, legacy mode).

Each sync asks the network service for every router (``l3_state``, which also binds the
routers' ports to this host so the L2 agent wires their taps), makes each router's namespace
equal to it (:mod:`pocketstack.agents.network.router`; an administratively down router keeps
its ports plugged, with no address, route or NAT: :func:`dark`), deletes the namespaces of
routers that are gone, hints the L2 agent about taps it made, and reports
floating IP (and router) statuses that changed: ACTIVE once configured, ERROR when the
router could not be, DOWN when its router is down. Metadata is served from the DHCP
namespaces (``force_metadata``), so there is no 169.254.169.254 redirect here.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

from pocketstack.agents.kernel import run
from pocketstack.agents.network import router as routerns
from pocketstack.agents.network.base import AgentContext

LOG = logging.getLogger(__name__)


@dataclass
class Outcome:
    """What one pass over the kernel did (for the statuses and the hint)."""

    new_taps: list[str] = field(default_factory=list)
    fips: dict[str, str] = field(default_factory=dict)  # fip id -> status now
    routers: dict[str, str] = field(default_factory=dict)  # router id -> status now


def dark(router: dict[str, Any]) -> dict[str, Any]:
    """An administratively down router as its namespace keeps it: the ports plugged (so the
    L2 agent marks them ACTIVE, as Neutron shows a down router's interfaces, and Tempest waits
    for) but no address, route, NAT or floating IP: nothing reaches or passes the router."""
    def bare(port: dict[str, Any] | None) -> dict[str, Any] | None:
        return None if port is None else {**port, "fixed_ips": []}

    return {**router, "gateway": bare(router.get("gateway")), "routes": [],
            "interfaces": [bare(port) for port in router.get("interfaces") or []],
            "floating_ips": [], "enable_snat": False}


class L3Part:
    agent_type = "L3 agent"
    binary = "neutron-l3-agent"
    topic = "l3_agent"

    def __init__(self, ctx: AgentContext) -> None:
        self.ctx = ctx
        self._memos: dict[str, routerns.RouterMemo] = {}
        self._counts = {"routers": 0, "floating_ips": 0, "interfaces": 0, "gateways": 0}

    def configurations(self) -> dict[str, Any]:
        return {"agent_mode": "legacy", "interface_driver": "linuxbridge",
                "handle_internal_only_routers": True, "ex_gw_ports": self._counts["gateways"],
                **self._counts}

    async def sync(self) -> None:
        state = await self.ctx.rpc.call("l3_state", host=self.ctx.host)
        routers = list(state.get("routers") or [])
        outcome = await asyncio.to_thread(self.apply, routers)
        if outcome.new_taps:
            await self.ctx.rpc.hint({"resource": "ports", "ids": outcome.new_taps})
        model_fips = {f["id"]: f.get("status") for r in routers for f in r["floating_ips"]}
        model_routers = {r["id"]: r.get("status") for r in routers}
        fips = {i: s for i, s in outcome.fips.items() if model_fips.get(i) != s}
        changed = {i: s for i, s in outcome.routers.items() if model_routers.get(i) != s}
        if fips or changed:
            await self.ctx.rpc.call("set_floatingip_status", statuses=fips, routers=changed)

    async def stop(self) -> None:
        return None

    def apply(self, routers: list[dict[str, Any]]) -> Outcome:
        """Make the kernel match ``routers`` (blocking; run in a worker thread)."""
        names, out = self.ctx.names, Outcome()
        serving = {r["id"]: r for r in routers if r.get("admin_state_up", True)}
        known = {r["id"] for r in routers}
        for router_id in routerns.router_ids(names):
            if router_id not in known:
                routerns.remove(names, router_id)
                self._memos.pop(router_id, None)
        for router_id in set(self._memos) - known:
            self._memos.pop(router_id)
        if routers and not run.netns_exists(names.host_ns(self.ctx.host)):
            LOG.info("%s: waiting for the L2 agent to make %s", self.ctx.host,
                     names.host_ns(self.ctx.host))
            return out
        for router in routers:
            down = router["id"] not in serving
            if down:
                out.fips.update({f["id"]: "DOWN" for f in router["floating_ips"]})
                router = dark(router)
            memo = self._memos.setdefault(router["id"], routerns.RouterMemo())
            try:
                done = routerns.apply(names, self.ctx.host, router, memo)
            except run.KernelError as exc:
                LOG.warning("%s: router %s: %s", self.ctx.host, router["id"], exc)
                self._memos[router["id"]] = routerns.RouterMemo()  # look again at everything
                if not down:
                    out.fips.update({f["id"]: "ERROR" for f in router["floating_ips"]})
                    out.routers[router["id"]] = "ERROR"
                continue
            out.new_taps += done.new_taps
            if down:
                continue
            active = "ACTIVE" if router.get("gateway") else "DOWN"
            out.fips.update({f["id"]: active for f in router["floating_ips"]})
            out.routers[router["id"]] = "ACTIVE"
        self._counts = {
            "routers": len(serving),
            "floating_ips": sum(len(r["floating_ips"]) for r in serving.values()),
            "interfaces": sum(len(r["interfaces"]) for r in serving.values()),
            "gateways": sum(1 for r in serving.values() if r.get("gateway")),
        }
        return out
