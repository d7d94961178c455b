"""``/servers/{id}/os-interface``: a server's ports (Nova's interface attachments).

Attach allocates and binds a port on the server's host through networking's ``NetworkAPI``
and has the host's driver plug it (``plug_vif`` over the bus); detach unplugs it and releases
the port (a port the user passed in is unbound and kept). The server's record of its ports
(its requested networks and the bound ports the spawn spec carries) is updated with them.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import anyio.from_thread
from starlette.responses import Response

from pocketstack.common import exceptions
from pocketstack.common.api.app import ApiRequest, empty_response, json_response
from pocketstack.compute.api.admin_common import is_admin
from pocketstack.compute.api.common import auto_network, body, enforce, svc, version_at_least
from pocketstack.compute.conductor.spec import VIFS, vif_interface
from pocketstack.compute.domain import instances, states
from pocketstack.compute.domain.instance_access import load_instance
from pocketstack.compute.schemas import servers as schemas
from pocketstack.network.interface import NetworkAPI, PortRequest, Vif

ATTACHABLE = (states.ACTIVE, states.PAUSED, states.STOPPED)


def _network(req: ApiRequest) -> NetworkAPI:
    network = svc(req).network
    if network is None:
        raise exceptions.NotImplementedYet("Network driver does not support this function.")
    return network


def _load(req: ApiRequest, rule: str) -> dict[str, Any]:
    def read(conn: Any) -> dict[str, Any]:
        return load_instance(conn, req.ctx.project_id, is_admin(req),
                             req.path_params["server_id"])

    row = svc(req).db.read(read)
    enforce(req, rule, {"project_id": row["project_id"]})
    return row


def _view(req: ApiRequest, vif: Vif) -> dict[str, Any]:
    out: dict[str, Any] = {
        "port_id": vif.port_id, "net_id": vif.network_id, "mac_addr": vif.mac_address,
        "port_state": vif.status,
        "fixed_ips": [{"subnet_id": f.subnet_id, "ip_address": f.address}
                      for f in vif.fixed_ips]}
    if version_at_least(req, "2.70"):
        out["tag"] = None
    return out


def index(req: ApiRequest) -> Response:
    row = _load(req, "os_compute_api:os-attach-interfaces:list")
    vifs = _network(req).instance_ports(row["uuid"])
    return json_response({"interfaceAttachments": [_view(req, v) for v in vifs]})


def show(req: ApiRequest) -> Response:
    row = _load(req, "os_compute_api:os-attach-interfaces:show")
    port_id = req.path_params["port_id"]
    for vif in _network(req).instance_ports(row["uuid"]):
        if vif.port_id == port_id:
            return json_response({"interfaceAttachment": _view(req, vif)})
    raise exceptions.NotFound("Instance is not attached.")


def _check_state(row: dict[str, Any], action: str) -> None:
    if row["locked"]:
        raise exceptions.Conflict(f"Instance {row['uuid']} is locked")
    if row["vm_state"] not in ATTACHABLE or not row["host"]:
        raise exceptions.Conflict(f"Cannot '{action}' instance {row['uuid']} while it is in "
                                  f"vm_state {row['vm_state']}")
    if row["task_state"]:
        raise exceptions.Conflict(f"Cannot '{action}' instance {row['uuid']} while it is in "
                                  f"task_state {row['task_state']}")


def _host_call(req: ApiRequest, row: dict[str, Any], message: dict[str, Any]) -> str | None:
    """Ask the server's host; the error it reports, or None."""
    call = svc(req).bus_call
    if call is None:
        return "no message bus"
    try:
        reply = anyio.from_thread.run(call, f"compute.{row['host']}",
                                      {**message, "uuid": row["uuid"]}, 30.0)
    except Exception as exc:  # the host did not answer
        return str(exc) or type(exc).__name__
    if isinstance(reply, dict) and reply.get("error"):
        return str(reply["error"])
    return None


def _record(req: ApiRequest, uuid: str, networks: list[dict[str, Any]],
            vifs: list[dict[str, Any]]) -> None:
    def write(conn: Any) -> None:
        row = instances.get(conn, uuid)
        instances.update(conn, row, {"networks": networks, "scheduler_hints": dict(
            row["scheduler_hints"], **{VIFS: vifs})})

    instances.write_checked(svc(req).db, write)


def create(req: ApiRequest) -> Response:
    attach = body(req, schemas.INTERFACE_ATTACH).get("interfaceAttachment") or {}
    port_id, net_id = attach.get("port_id"), attach.get("net_id")
    fixed = attach.get("fixed_ips") or []
    if port_id and net_id:
        raise exceptions.BadRequest("Must not input both network_id and port_id")
    if fixed and not net_id:
        raise exceptions.BadRequest("Must input network_id when request IP address")
    row = _load(req, "os_compute_api:os-attach-interfaces:create")
    _check_state(row, "attach_interface")
    network, ctx = _network(req), req.ctx
    if not port_id and not net_id:
        try:  # Nova answers both with 400 here
            net_id = auto_network(network, ctx, explicit=False)
        except exceptions.Conflict as exc:
            raise exceptions.BadRequest(str(exc)) from None
        if net_id is None:
            raise exceptions.BadRequest("No specific network was requested and none are "
                                        f"available for project '{ctx.project_id}'.")
    request = PortRequest(network_id=None if port_id else net_id, port_id=port_id,
                          fixed_ip=fixed[0]["ip_address"] if fixed else None)
    try:
        network.validate_requests(ctx, [request])
    except exceptions.NotFound:
        if port_id:
            raise exceptions.NotFound(f"Port id {port_id} could not be found.") from None
        raise exceptions.NotFound(f"Network {net_id} could not be found.") from None
    except exceptions.Conflict:
        raise exceptions.Conflict(f"Port {port_id} is still in use.") from None
    ctx_user = dataclasses.replace(ctx, project_id=row["project_id"])
    try:
        made = network.allocate_for_instance(ctx_user, row["uuid"], row["host"], [request])
    except exceptions.Conflict as exc:
        raise exceptions.Conflict(str(exc)) from None
    except exceptions.BadRequest as exc:
        raise exceptions.BadRequest(str(exc)) from None
    vif = made[0]
    keep = (port_id,) if port_id else ()
    failure = None
    if vif.vif_type == "binding_failed":
        failure = f"Binding failed for port {vif.port_id}"
    else:
        failure = _host_call(req, row, {"op": "plug_vif",
                                        "vif": dataclasses.asdict(
                                            vif_interface(dataclasses.asdict(vif)))})
    if failure is not None:
        network.deallocate_for_instance(ctx_user, row["uuid"], keep, (vif.port_id,))
        raise exceptions.Conflict(f"Failed to attach network adapter device to {row['uuid']}: "
                                  f"{failure}")
    networks = [*row["networks"], {"network_id": vif.network_id if not port_id else None,
                                   "port_id": port_id, "fixed_ip": request.fixed_ip}]
    vifs = [*(row["scheduler_hints"].get(VIFS) or []), dataclasses.asdict(vif)]
    _record(req, row["uuid"], networks, vifs)
    return json_response({"interfaceAttachment": _view(req, vif)})


def delete(req: ApiRequest) -> Response:
    row = _load(req, "os_compute_api:os-attach-interfaces:delete")
    port_id = req.path_params["port_id"]
    _check_state(row, "detach_interface")
    network = _network(req)
    if port_id not in {v.port_id for v in network.instance_ports(row["uuid"])}:
        raise exceptions.NotFound(f"Port {port_id} is not attached")
    failure = _host_call(req, row, {"op": "unplug_vif", "port_id": port_id})
    if failure is not None:
        raise exceptions.Conflict(f"Failed to detach network adapter device from "
                                  f"{row['uuid']}: {failure}")
    user_ports = tuple(str(r["port_id"]) for r in row["networks"] if r.get("port_id"))
    network.deallocate_for_instance(req.ctx, row["uuid"], user_ports, (port_id,))
    networks = [r for r in row["networks"] if r.get("port_id") != port_id]
    vifs = [v for v in row["scheduler_hints"].get(VIFS) or [] if v["port_id"] != port_id]
    _record(req, row["uuid"], networks, vifs)
    return empty_response(202)


def inject_network_info(req: ApiRequest, arg: Any) -> Response:
    """Admin (Nova's ``injectNetworkInfo``): the server's host plugs each of the server's
    ports again as networking has them now (``plug_vif``: a driver plugs a port its guest
    lacks and takes the port's current addresses; one already plugged stays). 409 without a
    host (shelved offloaded, not yet scheduled), when locked, or when the host fails."""
    row = _load(req, "os_compute_api:os-admin-actions:inject_network_info")
    if row["locked"] and not is_admin(req):
        raise exceptions.Conflict(f"Instance {row['uuid']} is locked")
    if not row["host"] or row["vm_state"] in (states.BUILDING, states.SHELVED_OFFLOADED):
        raise exceptions.Conflict(f"Instance {row['uuid']} is not ready")
    network = svc(req).network
    if network is None:
        return empty_response(202)  # no ports to plug
    for vif in network.instance_ports(row["uuid"]):
        if vif.vif_type == "binding_failed":
            continue
        failure = _host_call(req, row, {"op": "plug_vif", "vif": dataclasses.asdict(
            vif_interface(dataclasses.asdict(vif)))})
        if failure is not None:
            raise exceptions.Conflict(f"Failed to inject network info into {row['uuid']}: "
                                      f"{failure}")
    return empty_response(202)
