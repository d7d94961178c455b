"""Nova's deprecated proxy of Neutron's security groups: ``/os-security-groups`` (list,
create, show, update, delete) and ``/os-security-group-rules`` (create, delete), only below
microversion 2.36 (404 from 2.36 on, as Nova), in Nova's shape (see
:mod:`~pocketstack.compute.api.server_security_groups`), through networking's ``NetworkAPI``.
"""

from __future__ import annotations

import uuid
from typing import Any

from starlette.responses import Response

from pocketstack.common import exceptions
from pocketstack.common.api.app import ApiRequest, empty_response, json_response
from pocketstack.compute.api.common import body, enforce, svc, version_at_least
from pocketstack.compute.api.server_security_groups import nova_group, nova_rule
from pocketstack.compute.schemas import servers as schemas
from pocketstack.network.interface import NetworkAPI

PROTOCOLS = ("tcp", "udp", "icmp")


def _network(req: ApiRequest, rule: str) -> NetworkAPI:
    if version_at_least(req, "2.36"):
        raise exceptions.NotFound("The resource could not be found.")
    enforce(req, rule, {"project_id": req.ctx.project_id})
    network = svc(req).network
    if network is None:
        raise exceptions.NotImplementedYet("Network driver does not support this function.")
    return network


def _not_found(group_id: str) -> exceptions.NotFound:
    return exceptions.NotFound(f"Security group {group_id} not found.")


def index(req: ApiRequest) -> Response:
    network = _network(req, "os_compute_api:os-security-groups:get")
    return json_response({"security_groups": [nova_group(g) for g in
                                              network.security_groups(req.ctx)]})


def show(req: ApiRequest) -> Response:
    network = _network(req, "os_compute_api:os-security-groups:show")
    group_id = req.path_params["security_group_id"]
    try:
        return json_response({"security_group": nova_group(network.security_group(
            req.ctx, group_id))})
    except exceptions.NotFound:
        raise _not_found(group_id) from None


def create(req: ApiRequest) -> Response:
    network = _network(req, "os_compute_api:os-security-groups:create")
    data = body(req, schemas.SECURITY_GROUP)["security_group"]
    try:
        group = network.create_security_group(req.ctx, data["name"], data["description"])
    except exceptions.Conflict as exc:
        raise exceptions.BadRequest(str(exc)) from None
    return json_response({"security_group": nova_group(group)})


def update(req: ApiRequest) -> Response:
    network = _network(req, "os_compute_api:os-security-groups:update")
    group_id = req.path_params["security_group_id"]
    data = body(req, schemas.SECURITY_GROUP)["security_group"]
    try:
        group = network.update_security_group(req.ctx, group_id, data["name"],
                                              data["description"])
    except exceptions.NotFound:
        raise _not_found(group_id) from None
    except exceptions.Conflict as exc:
        raise exceptions.BadRequest(str(exc)) from None
    return json_response({"security_group": nova_group(group)})


def delete(req: ApiRequest) -> Response:
    network = _network(req, "os_compute_api:os-security-groups:delete")
    group_id = req.path_params["security_group_id"]
    try:
        network.delete_security_group(req.ctx, group_id)
    except exceptions.NotFound:
        raise _not_found(group_id) from None
    except exceptions.Conflict as exc:  # in use, or a default group (Nova: 400)
        raise exceptions.BadRequest(str(exc)) from None
    return empty_response(202)


def _ports(protocol: str | None, low: Any, high: Any) -> tuple[int | None, int | None]:
    if protocol is None:
        return None, None
    try:
        lo, hi = int(low), int(high)
    except (TypeError, ValueError):
        raise exceptions.BadRequest(
            f"Invalid port range {low}:{high}. Valid ports should be integers.") from None
    if protocol == "icmp":
        if not (-1 <= lo <= 255 and -1 <= hi <= 255):
            raise exceptions.BadRequest(f"Invalid port range {lo}:{hi}. For ICMP, the type:"
                                        "code must be valid")
        return (None if lo == -1 else lo), (None if hi == -1 else hi)
    if not (1 <= lo <= 65535 and 1 <= hi <= 65535) or lo > hi:
        raise exceptions.BadRequest(f"Invalid port range {lo}:{hi}. Valid TCP ports should be "
                                    "between 1-65535")
    return lo, hi


def _uuid_like(value: Any) -> str:
    """Nova's validate_id with networking: a security group id must look like a UUID (400)."""
    try:
        uuid.UUID(str(value))
    except ValueError:
        raise exceptions.BadRequest("Security group id should be uuid") from None
    return str(value)


def create_rule(req: ApiRequest) -> Response:
    network = _network(req, "os_compute_api:os-security-groups:rule:create")
    data = body(req, schemas.SECURITY_GROUP_RULE)["security_group_rule"]
    parent = _uuid_like(data["parent_group_id"])
    if data.get("group_id") is not None:
        _uuid_like(data["group_id"])
    protocol = (data.get("ip_protocol") or None)
    if protocol is not None:
        protocol = str(protocol).lower()
        if protocol not in PROTOCOLS:
            raise exceptions.BadRequest(f"Invalid IP protocol {data['ip_protocol']}.")
    low, high = _ports(protocol, data.get("from_port"), data.get("to_port"))
    group_id, cidr = data.get("group_id"), data.get("cidr")
    if group_id and cidr:
        raise exceptions.BadRequest("Only one of cidr or group_id may be given.")
    try:
        network.security_group(req.ctx, parent)
    except exceptions.NotFound:
        raise _not_found(parent) from None
    if group_id:
        try:
            network.security_group(req.ctx, str(group_id))
        except exceptions.NotFound:
            raise _not_found(str(group_id)) from None
    cidr = None if group_id else (cidr or "0.0.0.0/0")
    values = {"security_group_id": parent, "direction": "ingress", "protocol": protocol,
              "port_range_min": low, "port_range_max": high, "remote_ip_prefix": cidr,
              "remote_group_id": group_id or None,
              "ethertype": "IPv6" if cidr and ":" in cidr else "IPv4"}
    try:
        rule = network.create_security_group_rule(req.ctx, values)
    except exceptions.Conflict as exc:
        raise exceptions.BadRequest(str(exc)) from None
    except exceptions.BadRequest as exc:
        raise exceptions.BadRequest(str(exc)) from None
    names = {g["id"]: g["name"] for g in network.security_groups(req.ctx)}
    return json_response({"security_group_rule": nova_rule(rule, names)})


def delete_rule(req: ApiRequest) -> Response:
    network = _network(req, "os_compute_api:os-security-groups:rule:delete")
    rule_id = req.path_params["security_group_rule_id"]
    try:
        network.delete_security_group_rule(req.ctx, rule_id)
    except exceptions.NotFound:
        raise exceptions.NotFound(f"Security group rule {rule_id} not found.") from None
    return empty_response(202)
