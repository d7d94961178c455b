"""Nova's deprecated proxies of the networking service: ``/os-networks`` and
``/os-tenant-networks`` (list, show), ``/os-floating-ip-pools`` and ``/os-floating-ips``
(list, show, allocate, release).

They answer only below microversion 2.36, as Nova's (404 from 2.36 on), and read or write
through networking's ``NetworkAPI``; a cloud without networking has none to show.
"""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from pocketstack.common import exceptions
from pocketstack.common.api.app import ApiRequest, empty_response, json_response
from pocketstack.compute.api.common import body, enforce, svc, version_at_least
from pocketstack.compute.schemas import servers as schemas
from pocketstack.network.interface import NetworkAPI

ADMIN_FIELDS = ("created_at", "updated_at", "deleted_at", "deleted", "injected", "bridge",
                "vlan", "vpn_public_address", "vpn_public_port", "vpn_private_address",
                "dhcp_start", "project_id", "host", "bridge_interface", "multi_host",
                "priority", "rxtx_base", "mtu", "dhcp_server", "enable_dhcp",
                "share_address")
FIELDS = ("cidr", "netmask", "gateway", "broadcast", "dns1", "dns2", "cidr_v6", "gateway_v6",
          "netmask_v6")


def _network(req: ApiRequest) -> NetworkAPI | None:
    if version_at_least(req, "2.36"):
        raise exceptions.NotFound("The resource could not be found.")
    return svc(req).network


def _net_view(req: ApiRequest, net: dict[str, Any]) -> dict[str, Any]:
    """As Nova shows a Neutron network here: its id and name (``label``), the nova-network
    fields null (admins see more of them, null too)."""
    out: dict[str, Any] = {"id": net["id"], "label": net["name"], **dict.fromkeys(FIELDS)}
    if req.ctx.is_admin:
        out.update(dict.fromkeys(ADMIN_FIELDS))
    return out


def list_networks(req: ApiRequest) -> Response:
    network = _network(req)
    enforce(req, "os_compute_api:os-networks:list", {"project_id": req.ctx.project_id})
    found = network.visible_networks(req.ctx) if network else []
    return json_response({"networks": [_net_view(req, n) for n in found]})


def show_network(req: ApiRequest) -> Response:
    network = _network(req)
    enforce(req, "os_compute_api:os-networks:view", {"project_id": req.ctx.project_id})
    network_id = req.path_params["network_id"]
    for net in network.visible_networks(req.ctx) if network else []:
        if net["id"] == network_id:
            return json_response({"network": _net_view(req, net)})
    raise exceptions.NotFound(f"Network {network_id} could not be found.")


def _tenant_view(net: dict[str, Any]) -> dict[str, Any]:
    # Nova prints the cidr a Neutron network does not have: the string "None"
    return {"id": net["id"], "cidr": "None", "label": net["name"]}


def list_tenant_networks(req: ApiRequest) -> Response:
    network = _network(req)
    enforce(req, "os_compute_api:os-tenant-networks:list", {"project_id": req.ctx.project_id})
    found = network.visible_networks(req.ctx) if network else []
    return json_response({"networks": [_tenant_view(n) for n in found]})


def show_tenant_network(req: ApiRequest) -> Response:
    network = _network(req)
    enforce(req, "os_compute_api:os-tenant-networks:show", {"project_id": req.ctx.project_id})
    network_id = req.path_params["network_id"]
    for net in network.visible_networks(req.ctx) if network else []:
        if net["id"] == network_id:
            return json_response({"network": _tenant_view(net)})
    raise exceptions.NotFound("Network not found")


def list_pools(req: ApiRequest) -> Response:
    network = _network(req)
    enforce(req, "os_compute_api:os-floating-ip-pools:list",
            {"project_id": req.ctx.project_id})
    found = network.visible_networks(req.ctx) if network else []
    return json_response({"floating_ip_pools": [{"name": n["name"]} for n in found
                                                if n["external"]]})


def list_floating_ips(req: ApiRequest) -> Response:
    network = _network(req)
    enforce(req, "os_compute_api:os-floating-ips:list", {"project_id": req.ctx.project_id})
    return json_response({"floating_ips": network.floating_ips(req.ctx) if network else []})


def _fip_not_found(fip_id: str) -> exceptions.NotFound:
    return exceptions.NotFound(f"Floating IP not found for ID {fip_id}")


def show_floating_ip(req: ApiRequest) -> Response:
    network = _network(req)
    enforce(req, "os_compute_api:os-floating-ips:show", {"project_id": req.ctx.project_id})
    fip_id = req.path_params["floating_ip_id"]
    if network is None:
        raise _fip_not_found(fip_id)
    try:
        return json_response({"floating_ip": network.floating_ip(req.ctx, fip_id)})
    except exceptions.NotFound:
        raise _fip_not_found(fip_id) from None


def create_floating_ip(req: ApiRequest) -> Response:
    network = _network(req)
    enforce(req, "os_compute_api:os-floating-ips:create", {"project_id": req.ctx.project_id})
    data = body(req, schemas.FLOATING_IP_CREATE) if req.body else {}
    if network is None:
        raise exceptions.NotFound("Floating IP pool not found.")
    pool = data.get("pool")
    if not pool:  # Nova's default_floating_pool: here the one external network there is
        pools = [n["name"] for n in network.visible_networks(req.ctx) if n["external"]]
        if len(pools) != 1:
            raise exceptions.NotFound("Floating IP pool not found.")
        pool = pools[0]
    try:
        fip = network.create_floating_ip(req.ctx, str(pool))
    except exceptions.NotFound:
        raise exceptions.NotFound("Floating IP pool not found.") from None
    except exceptions.Conflict as exc:  # the pool has no address left, or over quota
        raise exceptions.Forbidden(f"No more floating IPs in pool {pool}. ({exc})") from None
    return json_response({"floating_ip": fip})


def delete_floating_ip(req: ApiRequest) -> Response:
    network = _network(req)
    enforce(req, "os_compute_api:os-floating-ips:delete", {"project_id": req.ctx.project_id})
    fip_id = req.path_params["floating_ip_id"]
    if network is None:
        raise _fip_not_found(fip_id)
    try:
        network.delete_floating_ip(req.ctx, fip_id)
    except exceptions.NotFound:
        raise _fip_not_found(fip_id) from None
    return empty_response(202)
