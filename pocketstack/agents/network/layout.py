"""The fixed wiring of one host: its namespace, its link to the cloud's underlay and its links
to the physical networks (see ``docs/dataplane.md``, "Where things live").

* ``P-host-<host>``: the host namespace (``net.bridge.bridge-nf-call-ip[6]tables=1``, so the
  security groups' nftables rules see bridged frames; no IPv6 link-local addresses on the
  links made in it, so bridges and taps send no ND/MLD of their own into tenant networks);
* ``P-underlay`` with bridge ``br-underlay``; the host's veth ``ul0`` (host namespace, with the
  host's tunnel address) ↔ ``h-<host>`` (underlay namespace, enslaved to ``br-underlay``);
* per physical network ``P-phys-<physnet>`` with bridge ``br-phys`` (the world's address from
  ``physnet_gateways``, if any) and the veth ``ph-<physnet>`` (host namespace, up, no address)
  ↔ ``h-<host>`` (physnet namespace, enslaved to ``br-phys``).

Blocking and idempotent: every function looks first and only makes what is missing, so it is
safe to call on every sync and from several hosts' agents at once (a racing creator is
tolerated). Changes go through ``ip -batch`` (one process per namespace touched).
"""

from __future__ import annotations

import logging
from typing import Any

from pocketstack.agents.kernel import names as kn
from pocketstack.agents.kernel import run
from pocketstack.agents.kernel.names import KernelNames
from pocketstack.agents.network.base import AgentContext

LOG = logging.getLogger(__name__)

HOST_SYSCTLS = (("net.bridge.bridge-nf-call-iptables", "1"),
                ("net.bridge.bridge-nf-call-ip6tables", "1"),
                ("net.ipv6.conf.default.addr_gen_mode", "1"),  # none: no link-local address
                ("net.ipv6.conf.default.accept_ra", "0"))


def host_links(netns: str) -> dict[str, dict[str, Any]]:
    """The namespace's links by name, with details, addresses and masters (one process)."""
    return {link["ifname"]: link for link in run.ip_json(["-d", "addr", "show"], netns)}


def is_up(link: dict[str, Any]) -> bool:
    return "UP" in (link.get("flags") or [])


def addresses(link: dict[str, Any]) -> set[str]:
    return {f"{a['local']}/{a['prefixlen']}" for a in link.get("addr_info") or []
            if "local" in a}


def host_sysctls(netns: str) -> None:
    """Bridged frames pass the inet hooks (br_netfilter); links made later get no IPv6
    address of their own. One process for all of :data:`HOST_SYSCTLS`."""
    script = "; ".join(f"echo {value} > /proc/sys/{key.replace('.', '/')}"
                       for key, value in HOST_SYSCTLS)
    run.run(["sh", "-c", script], netns)


def ensure_host_ns(names: KernelNames, host: str) -> str:
    """The host's namespace (with bridge netfilter on); answers its name."""
    netns = names.host_ns(host)
    if run.ensure_netns(netns):
        host_sysctls(netns)
    return netns


def ensure_shared_bridge(netns: str, bridge: str, address: str | None = None) -> None:
    """A namespace shared by every host (underlay, physnet) with its bridge up (and the
    address, if given). Safe against another host's agent doing the same at once."""
    run.ensure_netns(netns)
    links = host_links(netns)
    lines = []
    if bridge not in links:
        lines.append(f"link add {bridge} type bridge")
    elif is_up(links[bridge]) and (not address or address in addresses(links[bridge])):
        return
    if address and (bridge not in links or address not in addresses(links[bridge])):
        lines.append(f"addr replace {address} dev {bridge}")
    lines.append(f"link set {bridge} up")
    try:
        run.ip_batch(lines, netns)
    except run.KernelError:
        # a racing agent made it first: what matters is that it is there now
        links = host_links(netns)
        if bridge not in links or (address and address not in addresses(links[bridge])):
            raise
        run.ip_batch([f"link set {bridge} up"], netns)


def ensure_layout(ctx: AgentContext, links: dict[str, dict[str, Any]] | None = None) -> bool:
    """The host namespace, its underlay link and its physnet links; ``links`` is the host
    namespace's current :func:`host_links` when the caller has it. Answers True when
    anything was made (the caller's listing of the host namespace is then stale)."""
    names, host = ctx.names, ctx.host
    netns = names.host_ns(host)
    if not run.netns_exists(netns):
        ensure_host_ns(names, host)
        links = None
    if links is None:
        links = host_links(netns)
    peer = kn.host_link(host)
    address = f"{ctx.underlay_ip}/{ctx.underlay_prefixlen}"
    lines: list[str] = []
    shared: list[tuple[str, str]] = []  # (namespace, bridge) whose h-<host> needs enslaving
    ul = links.get(kn.UNDERLAY_DEV)
    if ul is None:
        ensure_shared_bridge(names.underlay_ns(), kn.UNDERLAY_BRIDGE)
        lines += [f"link add {kn.UNDERLAY_DEV} type veth peer name {peer} "
                  f"netns {names.underlay_ns()}",
                  f"addr add {address} dev {kn.UNDERLAY_DEV}",
                  f"link set {kn.UNDERLAY_DEV} up"]
        shared.append((names.underlay_ns(), kn.UNDERLAY_BRIDGE))
    else:
        if address not in addresses(ul):
            lines.append(f"addr replace {address} dev {kn.UNDERLAY_DEV}")
        if not is_up(ul):
            lines.append(f"link set {kn.UNDERLAY_DEV} up")
    for physnet in ctx.physical_networks:
        dev = kn.physnet_dev(physnet)
        link = links.get(dev)
        if link is None:
            phys_ns = names.physnet_ns(physnet)
            gateway = (None if physnet in ctx.physnet_root_links
                       else ctx.physnet_gateways.get(physnet))
            ensure_shared_bridge(phys_ns, kn.PHYS_BRIDGE, gateway)
            lines += [f"link add {dev} type veth peer name {peer} netns {phys_ns}",
                      f"link set {dev} up"]
            shared.append((phys_ns, kn.PHYS_BRIDGE))
        elif not is_up(link):
            lines.append(f"link set {dev} up")
    for physnet in ctx.physnet_root_links:
        if physnet in ctx.physical_networks:
            ensure_root_link(names, physnet, ctx.physnet_gateways.get(physnet))
    if not lines:
        return False
    run.ip_batch(lines, netns)
    for shared_ns, bridge in shared:
        run.ip_batch([f"link set {peer} master {bridge} up"], shared_ns)
    if shared:
        LOG.info("%s: wired to %s", host, ", ".join(ns for ns, _ in shared))
    return True


def ensure_root_link(names: KernelNames, physnet: str, address: str | None) -> None:
    """The physnet's wire reaches the machine's own namespace (``physnet_root_links``): a
    veth ``PREFIX-PHYSNET`` there with the gateway address, its peer ``root`` on the
    physnet bridge. Made once; removed by ``pocketstack clean``."""
    link = names.root_link(physnet)
    phys_ns = names.physnet_ns(physnet)
    if link in run.links(None):
        return
    ensure_shared_bridge(phys_ns, kn.PHYS_BRIDGE)
    lines = [f"link add {link} type veth peer name root netns {phys_ns}"]
    if address:
        lines.append(f"addr add {address} dev {link}")
    lines.append(f"link set {link} up")
    try:
        run.ip_batch(lines)
    except run.KernelError:
        if link not in run.links(None):
            raise
        return
    run.ip_batch([f"link set root master {kn.PHYS_BRIDGE} up"], phys_ns)
    LOG.info("%s: linked to the machine's namespace as %s", phys_ns, link)
