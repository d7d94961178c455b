"""The L2 agent of a host (Neutron's linuxbridge agent): one bridge per network with ports
here, its VXLAN device or physnet link, the ports' taps in the bridges, port status.

One :meth:`L2Part.sync` (level-triggered; see :mod:`.base`):

1. the host's fixed wiring (:mod:`.layout`) and a listing of its namespace's links;
2. ``l2_state(host)`` from the network service (listed *after* the links, so a tap already
   there belongs to a port the state knows: its owner binds the port before making the tap);
3. per network with ports here: bridge ``brq<net>`` (the network's MTU); VXLAN networks get
   ``vxlan-<vni>`` (``nolearning``, over ``ul0``) with one flood entry
   ``00:00:00:00:00:00 dst <peer>`` per other host with ports on the network, exactly
   ``peers[net]``; flat networks get ``ph-<physnet>``; other types are refused (their ports
   stay DOWN); per port whose tap ``tap<port>`` exists: enslaved, MTU; taps of no port bound
   here, and bridges and VXLAN devices of networks without ports here, are deleted;
4. the security groups (the ``firewall`` callable, when given), *then* new taps go up (a
   firewall that fails fails the sync: no tap goes up unfiltered);
5. ``set_port_status`` with the ports whose status changed (ACTIVE: tap wired and up).

Who makes taps: whoever owns the far end (the ``namespace`` driver, the DHCP and L3 agents)
makes the veth with its host end ``tap<port id[:11]>`` in the host namespace, DOWN; this part
enslaves it and sets it up.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pocketstack.agents.kernel import features, run
from pocketstack.agents.kernel import names as kn
from pocketstack.agents.kernel.names import KernelNames
from pocketstack.agents.network import layout
from pocketstack.agents.network.base import AgentContext

LOG = logging.getLogger(__name__)

VXLAN_PORT = 4789
FLOOD_MAC = "00:00:00:00:00:00"
#: ``(netns, names, ports, security_groups) -> None``: replaces the host's security groups
Firewall = Callable[[str, KernelNames, list[dict[str, Any]], dict[str, Any]], object]


@dataclass
class _Plan:
    """What one sync decided: kernel changes in order, and the ports' new status."""

    wire: list[str] = field(default_factory=list)  # ip lines before the firewall
    raise_taps: list[str] = field(default_factory=list)  # ip lines after it (taps up)
    flood: dict[str, set[str]] = field(default_factory=dict)  # vxlan dev -> wanted peers
    bridges: dict[str, str] = field(default_factory=dict)  # port id -> its bridge, if wired
    active: set[str] = field(default_factory=set)  # ports that will be ACTIVE
    ports: list[str] = field(default_factory=list)  # every port bound here


class L2Part:
    """The ``Linux bridge agent`` of one host."""

    agent_type = "Linux bridge agent"
    binary = "neutron-linuxbridge-agent"
    topic = "N/A"

    def __init__(self, ctx: AgentContext, firewall: Firewall | None = None) -> None:
        self.ctx = ctx
        self.firewall = firewall
        self.netns = ctx.names.host_ns(ctx.host)
        self.devices = 0  # ports wired at the last sync
        self._reported: dict[str, str] = {}  # port -> status last reported (if not in state)
        self._refused: set[str] = set()  # networks already logged as unsupported
        self._sysctls_set = False
        self._no_vlan: str | None = None  # why this host cannot serve VLANs (once probed)
        self._probed = False

    def configurations(self) -> dict[str, Any]:
        """The heartbeat's configurations; ``network_types`` (and ``vlan_supported``) tell
        port binding what this host can wire: vlan only where the kernel has 802.1Q (probed
        once, in the host namespace: blocking, a few ms, on the first heartbeat)."""
        mappings = {p: kn.physnet_dev(p) for p in self.ctx.physical_networks}
        if not self._probed:
            self._no_vlan = self._probe_vlan()
            self._probed = True
        types = ["flat", "vxlan"]  # vlan is not wired by this agent yet, even with 802.1Q
        return {"tunneling_ip": self.ctx.underlay_ip, "interface_mappings": mappings,
                "bridge_mappings": dict(mappings), "tunnel_types": ["vxlan"],
                "network_types": types, "vlan_supported": False,
                "vlan_unsupported_reason": self._no_vlan or "the Linux bridge agent here "
                "does not wire VLAN networks", "l2_population": True, "devices": self.devices}

    def _probe_vlan(self) -> str | None:
        try:
            layout.ensure_host_ns(self.ctx.names, self.ctx.host)
            return features.vlan_support(self.netns)
        except (run.KernelError, OSError) as exc:
            return f"VLAN support could not be probed: {exc}"

    async def stop(self) -> None:
        return None

    async def sync(self) -> None:
        links = await asyncio.to_thread(self._prepare)
        state = await self.ctx.rpc.call("l2_state", host=self.ctx.host)
        plan = self._plan(links, state)
        failed = await asyncio.to_thread(self._apply_wiring, plan)
        if self.firewall is not None:
            await asyncio.to_thread(self.firewall, self.netns, self.ctx.names,
                                    list(state.get("ports") or []),
                                    dict(state.get("security_groups") or {}))
        failed = await asyncio.to_thread(self._apply_raise, plan) or failed
        if failed:  # what really is wired, not what was meant to be
            plan.active = await asyncio.to_thread(self._really_active, plan)
        self.devices = len(plan.active)
        await self._report_status(state, plan)

    # -- kernel -------------------------------------------------------------------------------
    def _prepare(self) -> dict[str, dict[str, Any]]:
        layout.ensure_host_ns(self.ctx.names, self.ctx.host)
        links = layout.host_links(self.netns)
        if layout.ensure_layout(self.ctx, links):
            links = layout.host_links(self.netns)
        if not self._sysctls_set:  # a namespace made before this agent ran: set them once
            layout.host_sysctls(self.netns)
            self._sysctls_set = True
        return links

    def _plan(self, links: dict[str, dict[str, Any]], state: dict[str, Any]) -> _Plan:
        plan = _Plan()
        ports: list[dict[str, Any]] = list(state.get("ports") or [])
        networks: dict[str, dict[str, Any]] = dict(state.get("networks") or {})
        peers: dict[str, list[str]] = dict(state.get("peers") or {})
        plan.ports = [p["id"] for p in ports]
        used = {p["network_id"] for p in ports}
        wired: dict[str, tuple[str, int]] = {}  # network -> (bridge, mtu)
        keep = set()  # bridges and vxlan devices in use
        for net_id in sorted(used):
            net = networks.get(net_id)
            uplink = self._uplink(net_id, net)
            if net is None or uplink is None:
                continue
            bridge, mtu = kn.bridge(net_id), int(net.get("mtu") or 1500)
            wired[net_id] = (bridge, mtu)
            keep.add(bridge)
            link = links.get(bridge)
            if link is None:
                plan.wire.append(f"link add {bridge} type bridge")
            if link is None or link.get("mtu") != mtu or not layout.is_up(link):
                plan.wire.append(f"link set {bridge} mtu {mtu} up")
            dev = links.get(uplink)
            if uplink.startswith("vxlan-"):
                keep.add(uplink)
                vni = int(net["segmentation_id"])
                info = ((dev or {}).get("linkinfo") or {}).get("info_data") or {}
                if dev is not None and (info.get("id") != vni
                                        or info.get("local") != self.ctx.underlay_ip):
                    plan.wire.append(f"link del {uplink}")
                    dev = None
                if dev is None:
                    plan.wire.append(f"link add {uplink} type vxlan id {vni} "
                                     f"local {self.ctx.underlay_ip} dev {kn.UNDERLAY_DEV} "
                                     f"dstport {VXLAN_PORT} nolearning")
                plan.flood[uplink] = set(peers.get(net_id) or ()) - {self.ctx.underlay_ip}
            if dev is None or dev.get("master") != bridge or dev.get("mtu") != mtu \
                    or not layout.is_up(dev):
                plan.wire.append(f"link set {uplink} mtu {mtu} master {bridge} up")
        taps = {kn.tap(p["id"]) for p in ports}
        stale = [name for name in links
                 if (name.startswith("tap") and name not in taps)
                 or (name.startswith(("brq", "vxlan-")) and name not in keep)]
        plan.wire[:0] = [f"link del {name}" for name in sorted(stale)]
        for port in ports:
            tap = kn.tap(port["id"])
            link = links.get(tap)
            if link is None or port["network_id"] not in wired:
                continue
            bridge, mtu = wired[port["network_id"]]
            plan.bridges[port["id"]] = bridge
            if link.get("master") != bridge or link.get("mtu") != mtu:
                plan.wire.append(f"link set {tap} mtu {mtu} master {bridge}")
            if port.get("admin_state_up", True):
                plan.active.add(port["id"])
                if not layout.is_up(link):
                    plan.raise_taps.append(f"link set {tap} up")
            elif layout.is_up(link):
                plan.wire.append(f"link set {tap} down")
        return plan

    def _uplink(self, net_id: str, net: dict[str, Any] | None) -> str | None:
        """The network's link out of this host, or None when this host cannot wire it."""
        kind = (net or {}).get("network_type")
        if kind == "vxlan" and (net or {}).get("segmentation_id") is not None:
            return kn.vxlan(int((net or {})["segmentation_id"]))
        physnet = (net or {}).get("physical_network")
        if kind == "flat" and physnet in self.ctx.physical_networks:
            return kn.physnet_dev(str(physnet))
        if net_id not in self._refused:
            self._refused.add(net_id)
            LOG.warning("%s: network %s (%s%s) cannot be wired here; its ports stay DOWN",
                        self.ctx.host, net_id, kind, f" on {physnet}" if physnet else "")
        return None

    def _apply_wiring(self, plan: _Plan) -> bool:
        """Bridges, uplinks, taps, flood entries; answers True when something failed."""
        failed = self._batch(plan.wire)
        if plan.flood:
            failed = self._sync_flood(plan.flood) or failed
        return failed

    def _apply_raise(self, plan: _Plan) -> bool:
        return self._batch(plan.raise_taps)

    def _batch(self, lines: list[str]) -> bool:
        if not lines:
            return False
        try:
            run.ip_batch(lines, self.netns, force=True)
        except run.KernelError as exc:  # e.g. a tap deleted under us; the next sync retries
            LOG.warning("%s: l2 wiring: %s", self.ctx.host, exc)
            return True
        return False

    def _sync_flood(self, wanted: dict[str, set[str]]) -> bool:
        out = run.run(["bridge", "-n", self.netns, "-j", "fdb", "show"])
        have: dict[str, set[str]] = {dev: set() for dev in wanted}
        for entry in json.loads(out) if out.strip() else []:
            dev = entry.get("ifname")
            if entry.get("mac") == FLOOD_MAC and "dst" in entry and dev in have:
                have[dev].add(entry["dst"])
        lines = []
        for dev, peers in sorted(wanted.items()):
            lines += [f"fdb append {FLOOD_MAC} dev {dev} dst {p}"
                      for p in sorted(peers - have[dev])]
            lines += [f"fdb del {FLOOD_MAC} dev {dev} dst {p}"
                      for p in sorted(have[dev] - peers)]
        if not lines:
            return False
        try:
            run.run(["bridge", "-n", self.netns, "-force", "-batch", "-"],
                    input="\n".join(lines) + "\n")
        except run.KernelError as exc:
            LOG.warning("%s: l2 flood entries: %s", self.ctx.host, exc)
            return True
        return False

    def _really_active(self, plan: _Plan) -> set[str]:
        links = layout.host_links(self.netns)
        out = set()
        for port_id in plan.active:
            link = links.get(kn.tap(port_id))
            if link is not None and link.get("master") == plan.bridges[port_id] \
                    and layout.is_up(link):
                out.add(port_id)
        return out

    # -- the model ----------------------------------------------------------------------------
    async def _report_status(self, state: dict[str, Any], plan: _Plan) -> None:
        known = {p["id"]: p.get("status") for p in state.get("ports") or []}
        up: list[str] = []
        down: list[str] = []
        for port_id in plan.ports:
            status = "ACTIVE" if port_id in plan.active else "DOWN"
            current = known.get(port_id) or self._reported.get(port_id)
            if current != status:
                (up if status == "ACTIVE" else down).append(port_id)
        for port_id in list(self._reported):
            if port_id not in known:
                del self._reported[port_id]
        if not up and not down:
            return
        await self.ctx.rpc.call("set_port_status", host=self.ctx.host, up=up, down=down)
        self._reported.update({p: "ACTIVE" for p in up})
        self._reported.update({p: "DOWN" for p in down})
