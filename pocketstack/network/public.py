"""The :class:`~pocketstack.network.interface.NetworkAPI` other services use."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pocketstack.common.context import RequestContext
from pocketstack.network.api import views
from pocketstack.network.domain import instances
from pocketstack.network.domain import security_groups as sgs
from pocketstack.network.interface import FixedIP, PortRequest, Vif

if TYPE_CHECKING:
    from pocketstack.network.service import NetworkService


_ADMIN = RequestContext(roles=["admin"])


def _request(r: PortRequest) -> dict[str, Any]:
    return {"network_id": r.network_id, "port_id": r.port_id, "fixed_ip": r.fixed_ip}


class NetworkInterface:
    def __init__(self, service: NetworkService) -> None:
        self.service = service

    def validate_requests(self, ctx: RequestContext, requests: list[PortRequest]) -> None:
        self.service.db.read(instances.validate, ctx, [_request(r) for r in requests])

    def allocate_for_instance(self, ctx: RequestContext, instance_id: str, host: str,
                              requests: list[PortRequest],
                              security_groups: list[str] | None = None,
                              migrating_from: str | None = None) -> list[Vif]:
        svc = self.service
        made = svc.db.write(instances.allocate, ctx, instance_id, host,
                            [_request(r) for r in requests], security_groups,
                            svc.quota_defaults, svc.binding, migrating_from)
        svc.changed("port", [m["port_id"] for m in made])
        return [Vif(**{**m, "fixed_ips": tuple(_fixed_ip(f) for f in m["fixed_ips"])})
                for m in made]

    def deallocate_for_instance(self, ctx: RequestContext, instance_id: str,
                                keep_port_ids: tuple[str, ...] = (),
                                only_port_ids: tuple[str, ...] | None = None) -> None:
        self.service.db.write(instances.deallocate, ctx, instance_id, keep_port_ids,
                              self.service.binding, only_port_ids)
        self.service.changed("port", [])

    def instance_ports(self, instance_id: str) -> list[Vif]:
        found = self.service.db.read(instances.ports_of, instance_id)
        return [Vif(**{**m, "fixed_ips": tuple(_fixed_ip(f) for f in m["fixed_ips"])})
                for m in found]

    def instance_addresses(self, instance_ids: list[str]) -> dict[str, dict[str, list[dict[
            str, Any]]]]:
        return self.service.db.read(instances.addresses, instance_ids)  # type: ignore[no-any-return]

    def instance_security_groups(self, instance_ids: list[str]) -> dict[str, list[dict[
            str, Any]]]:
        found = self.service.db.read(instances.security_groups, instance_ids)
        return {i: [views.security_group(g, _ADMIN) for g in groups]
                for i, groups in found.items()}

    def set_instance_security_group(self, ctx: RequestContext, instance_id: str,
                                    group: str, add: bool) -> str:
        name, changed = self.service.db.write(instances.set_security_group, ctx, instance_id,
                                              group, add, self.service.binding)
        self.service.changed("port", changed)
        return str(name)

    def auto_networks(self, ctx: RequestContext) -> list[str]:
        return self.service.db.read(instances.auto_networks, ctx)  # type: ignore[no-any-return]

    def visible_networks(self, ctx: RequestContext) -> list[dict[str, Any]]:
        return self.service.db.read(instances.visible_networks, ctx)  # type: ignore[no-any-return]

    def floating_ips(self, ctx: RequestContext) -> list[dict[str, Any]]:
        return self.service.db.read(instances.floating_ips, ctx)  # type: ignore[no-any-return]

    def floating_ip(self, ctx: RequestContext, fip_id: str) -> dict[str, Any]:
        return self.service.db.read(instances.floating_ip, ctx, fip_id)  # type: ignore[no-any-return]

    def create_floating_ip(self, ctx: RequestContext, pool: str) -> dict[str, Any]:
        svc = self.service
        fip: dict[str, Any] = svc.db.write(instances.create_floating_ip, ctx, pool,
                                           svc.quota_defaults, svc.binding)
        svc.changed("floatingip", [fip["id"]])
        return fip

    def delete_floating_ip(self, ctx: RequestContext, fip_id: str) -> None:
        self.service.db.write(instances.delete_floating_ip, ctx, fip_id)
        self.service.changed("floatingip", [fip_id])

    def security_groups(self, ctx: RequestContext) -> list[dict[str, Any]]:
        found = self.service.db.write(instances.groups_of_caller, ctx)
        return [views.security_group(g, ctx) for g in found]

    def security_group(self, ctx: RequestContext, group_id: str) -> dict[str, Any]:
        return views.security_group(self.service.db.read(sgs.get_visible, ctx, group_id), ctx)

    def create_security_group(self, ctx: RequestContext, name: str,
                              description: str) -> dict[str, Any]:
        svc = self.service
        group = svc.db.write(sgs.create, ctx, {"name": name, "description": description,
                                               "project_id": ctx.project_id or ""},
                             svc.quota_defaults)
        svc.changed("security_group", [group["id"]])
        return views.security_group(group, ctx)

    def update_security_group(self, ctx: RequestContext, group_id: str, name: str,
                              description: str) -> dict[str, Any]:
        group = self.service.db.write(sgs.update, ctx, group_id,
                                      {"name": name, "description": description}, None)
        self.service.changed("security_group", [group_id])
        return views.security_group(group, ctx)

    def delete_security_group(self, ctx: RequestContext, group_id: str) -> None:
        self.service.db.write(sgs.delete, ctx, group_id)
        self.service.changed("security_group", [group_id])

    def create_security_group_rule(self, ctx: RequestContext,
                                   values: dict[str, Any]) -> dict[str, Any]:
        svc = self.service
        rule = svc.db.write(sgs.create_rule, ctx, values, svc.quota_defaults)
        svc.changed("security_group", [rule["security_group_id"]])
        return views.security_group_rule(rule, ctx)

    def delete_security_group_rule(self, ctx: RequestContext, rule_id: str) -> None:
        self.service.db.write(sgs.delete_rule, ctx, rule_id)
        self.service.changed("security_group", [])

    def associate_floating_ip(self, ctx: RequestContext, instance_id: str, address: str,
                              fixed_address: str | None, add: bool) -> None:
        fip_id = self.service.db.write(instances.associate_floating_ip, ctx, instance_id,
                                       address, fixed_address, add)
        self.service.changed("floatingip", [fip_id])


def _fixed_ip(values: dict[str, Any]) -> FixedIP:
    """A FixedIP from its dict (host routes as pairs, whatever JSON made of them)."""
    routes = tuple((str(d), str(n)) for d, n in values.get("host_routes") or ())
    return FixedIP(**{**values, "dns_nameservers": tuple(values.get("dns_nameservers") or ()),
                      "host_routes": routes})
