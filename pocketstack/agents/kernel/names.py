"""Names of the kernel objects one cloud makes.

Every network namespace, nft table and process of a cloud carries the cloud's prefix
(``KernelNames.prefix``), so two clouds on one machine never meet and deleting a cloud finds
all of its objects. Links live inside the cloud's namespaces, so they keep Neutron's and
Nova's names there (``brq``/``tap``/``ns-``/``qr-``/``qg-`` + the first 11 characters of the
id, 15 at most, as the kernel allows).

Namespaces (``P`` is the prefix):

* ``P-host-<host>``: one per compute/network host; its bridges, taps and VXLAN devices;
* ``P-underlay``: the bridge ``br-underlay`` joining every host's ``ul0`` (the tunnel network);
* ``P-phys-<physnet>``: a physical network's wire (bridge ``br-phys``), with the gateway
  address of the world beyond it (``public``: 172.24.4.1/24, devstack's br-ex);
* ``P-qdhcp-<network id>``, ``P-qrouter-<router id>``: DHCP servers and routers;
* ``P-inst-<instance uuid>``: a ``namespace`` driver guest.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

IFNAMSIZ = 15
UNDERLAY_BRIDGE = "br-underlay"
UNDERLAY_DEV = "ul0"  # a host's end of its underlay veth
PHYS_BRIDGE = "br-phys"  # the bridge inside a physnet namespace


def _short(text: str, room: int) -> str:
    if len(text) <= room:
        return text
    return hashlib.sha1(text.encode()).hexdigest()[:room]


def prefix_for_state(state_dir: Path | str) -> str:
    """The default prefix: ``ps`` + 4 hex digits of the state directory's absolute path."""
    digest = hashlib.sha1(str(Path(state_dir).resolve()).encode()).hexdigest()
    return f"ps{digest[:4]}"


def bridge(network_id: str) -> str:
    return f"brq{network_id[:11]}"


def tap(port_id: str) -> str:
    """The host end of any port's veth (instance, DHCP or router port), as Neutron names it."""
    return f"tap{port_id[:11]}"


def dhcp_dev(port_id: str) -> str:
    return f"ns-{port_id[:11]}"


def router_dev(port_id: str) -> str:
    return f"qr-{port_id[:11]}"


def gateway_dev(port_id: str) -> str:
    return f"qg-{port_id[:11]}"


def vxlan(vni: int) -> str:
    return f"vxlan-{vni}"


def physnet_dev(physnet: str) -> str:
    """A host's link to a physical network (the linuxbridge agent's interface mapping)."""
    return f"ph-{_short(physnet, IFNAMSIZ - 3)}"


def host_link(host: str) -> str:
    """The far end, in the underlay or a physnet namespace, of a host's link."""
    return f"h-{_short(host, IFNAMSIZ - 2)}"


@dataclass(frozen=True)
class KernelNames:
    """Namespace (and nft table) names of one cloud."""

    prefix: str

    def host_ns(self, host: str) -> str:
        return f"{self.prefix}-host-{host}"

    def underlay_ns(self) -> str:
        return f"{self.prefix}-underlay"

    def physnet_ns(self, physnet: str) -> str:
        return f"{self.prefix}-phys-{physnet}"

    def dhcp_ns(self, network_id: str) -> str:
        return f"{self.prefix}-qdhcp-{network_id}"

    def router_ns(self, router_id: str) -> str:
        return f"{self.prefix}-qrouter-{router_id}"

    def guest_ns(self, uuid: str) -> str:
        return f"{self.prefix}-inst-{uuid}"

    def root_link(self, physnet: str) -> str:
        """The machine-side link of a physical network (``physnet_root_links``): the only
        object the cloud makes in the machine's own namespace, and only when configured."""
        return f"{self.prefix}-{physnet}"[:IFNAMSIZ]

    def nft_table(self, role: str) -> str:
        """An nft table of the cloud's (``role``: ``sg``, ``nat``, ...)."""
        return f"{self.prefix}_{role}"

    def owns(self, netns: str) -> bool:
        return netns.startswith(f"{self.prefix}-")

    @classmethod
    def for_settings(cls, kernel_prefix: str, state_dir: Path | str) -> KernelNames:
        return cls(kernel_prefix or prefix_for_state(state_dir))
