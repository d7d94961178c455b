"""What other services may ask of networking (implemented by
:class:`pocketstack.network.public.NetworkInterface`); compute uses it to give an instance its
ports on the host it was scheduled to, to release them, and to show its addresses."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from pocketstack.common.context import RequestContext


@dataclass(frozen=True)
class PortRequest:
    """One ``networks`` entry of a server create: a network (with an optional fixed IP) or
    an existing port."""

    network_id: str | None = None
    port_id: str | None = None
    fixed_ip: str | None = None


@dataclass(frozen=True)
class FixedIP:
    address: str
    version: int
    subnet_id: str
    cidr: str
    gateway: str | None
    enable_dhcp: bool = False  # the subnet's: guests take this address by DHCP
    dns_nameservers: tuple[str, ...] = ()
    host_routes: tuple[tuple[str, str], ...] = ()  # (destination CIDR, nexthop)
    ipv6_address_mode: str | None = None  # slaac, dhcpv6-stateful, dhcpv6-stateless


@dataclass(frozen=True)
class Vif:
    """A bound port as the hypervisor driver needs it."""

    port_id: str
    network_id: str
    network_name: str
    mac_address: str
    vif_type: str  # "bridge", "ovs" or "binding_failed"
    vif_details: dict[str, Any]
    mtu: int
    network_type: str | None
    physical_network: str | None
    segmentation_id: int | None
    fixed_ips: tuple[FixedIP, ...] = field(default_factory=tuple)
    created: bool = True  # made for the instance (deleted with it) vs. passed in by the user
    status: str = "DOWN"  # the port's status (ACTIVE once its agent has wired it)
    binding_failure: str = ""  # with vif_type binding_failed: why no agent could bind it


class NetworkAPI(Protocol):
    def validate_requests(self, ctx: RequestContext, requests: list[PortRequest]) -> None:
        """Refuse (404/400/409 as Nova words them) networks or ports the caller cannot use,
        before an instance is created."""
        ...

    def allocate_for_instance(self, ctx: RequestContext, instance_id: str, host: str,
                              requests: list[PortRequest],
                              security_groups: list[str] | None = None,
                              migrating_from: str | None = None) -> list[Vif]:
        """Create (or take over) and bind the instance's ports on ``host``, all or none. A
        binding no agent on the host can serve comes back with ``vif_type`` ``binding_failed``
        (the caller reschedules). ``migrating_from``: a live migration's source host, whose
        agents keep serving the ports too until the next binding (the guest still runs there;
        recorded in ``binding:profile``, Neutron's ``migrating_to`` seen from the source)."""
        ...

    def deallocate_for_instance(self, ctx: RequestContext, instance_id: str,
                                keep_port_ids: tuple[str, ...] = (),
                                only_port_ids: tuple[str, ...] | None = None) -> None:
        """Delete the instance's ports except ``keep_port_ids`` (the ones the user passed in,
        ``Vif.created`` false: Nova's preserve_on_delete), which are unbound and kept; with
        ``only_port_ids``, only those of its ports (an interface detach)."""
        ...

    def instance_ports(self, instance_id: str) -> list[Vif]:
        """The instance's ports as they are now (for Nova's os-interface)."""
        ...

    def instance_addresses(self, instance_ids: list[str]) -> dict[str, dict[str, list[dict[
            str, Any]]]]:
        """Nova's ``addresses`` per instance: network name -> ``[{addr, version,
        OS-EXT-IPS:type (fixed/floating), OS-EXT-IPS-MAC:mac_addr}]``."""
        ...

    def instance_security_groups(self, instance_ids: list[str]) -> dict[str, list[dict[
            str, Any]]]:
        """The security groups of each instance's ports (Neutron's shape, rules included),
        each group once; for Nova's ``os-security-groups`` of a server."""
        ...

    def set_instance_security_group(self, ctx: RequestContext, instance_id: str,
                                    group: str, add: bool) -> str:
        """Add (or remove) the caller's group ``group`` (name or id) to (from) every port of
        the instance; answers the group's name. 404 for an unknown group, 400 (Nova's words)
        when it is already there (not there) or the instance has no ports."""
        ...

    def auto_networks(self, ctx: RequestContext) -> list[str]:
        """The networks ``networks: auto`` could mean for the caller: its own internal
        networks, else the shared ones (one is the answer, more are ambiguous)."""
        ...

    def visible_networks(self, ctx: RequestContext) -> list[dict[str, Any]]:
        """The networks the caller sees: ``[{id, name, external}]`` (Nova's os-networks)."""
        ...

    def floating_ips(self, ctx: RequestContext) -> list[dict[str, Any]]:
        """The caller's floating IPs in Nova's proxy shape: ``{id, ip, fixed_ip,
        instance_id, pool}`` (os-floating-ips)."""
        ...

    def floating_ip(self, ctx: RequestContext, fip_id: str) -> dict[str, Any]:
        """One of them (404 when the caller cannot see it)."""
        ...

    def create_floating_ip(self, ctx: RequestContext, pool: str) -> dict[str, Any]:
        """A new floating IP from the external network ``pool`` (name or id)."""
        ...

    def delete_floating_ip(self, ctx: RequestContext, fip_id: str) -> None:
        """Release a floating IP (404 when the caller cannot see it)."""
        ...

    def security_groups(self, ctx: RequestContext) -> list[dict[str, Any]]:
        """The caller's security groups in Neutron's shape, rules included (its project's
        ``default`` made on first use)."""
        ...

    def security_group(self, ctx: RequestContext, group_id: str) -> dict[str, Any]:
        """One group (404 when the caller cannot see it)."""
        ...

    def create_security_group(self, ctx: RequestContext, name: str,
                              description: str) -> dict[str, Any]:
        ...

    def update_security_group(self, ctx: RequestContext, group_id: str, name: str,
                              description: str) -> dict[str, Any]:
        ...

    def delete_security_group(self, ctx: RequestContext, group_id: str) -> None:
        """409 when ports use it or it is a project's default (for a non-admin)."""
        ...

    def create_security_group_rule(self, ctx: RequestContext,
                                   values: dict[str, Any]) -> dict[str, Any]:
        """A rule from Neutron's fields (``security_group_id``, ``direction``, ``protocol``,
        ``port_range_min/max``, ``remote_ip_prefix``, ``remote_group_id``, ``ethertype``)."""
        ...

    def delete_security_group_rule(self, ctx: RequestContext, rule_id: str) -> None:
        ...

    def associate_floating_ip(self, ctx: RequestContext, instance_id: str, address: str,
                              fixed_address: str | None, add: bool) -> None:
        """Nova's addFloatingIp (``add``) / removeFloatingIp: the caller's floating IP
        ``address`` to (from) a port of the instance (404 unknown address, 400 no such fixed
        address, 409 not associated with it)."""
        ...
