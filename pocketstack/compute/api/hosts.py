"""``/os-hosts`` (deprecated, gone from 2.43 on): hosts as the services they run, a host's
resources (total, used now, per project), enable/disable, and power actions.

Power actions (startup/shutdown/reboot) are not something the fake hypervisor can do: like
Nova with libvirt they answer 501 for a real host (404 for an unknown one).
"""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from pocketstack.common import exceptions
from pocketstack.common.api.app import ApiRequest, json_response
from pocketstack.common.api.validation import validate
from pocketstack.compute.api.common import enforce, svc, version_at_least
from pocketstack.compute.domain import aggregates, instances, nodes, services

SERVICE_NAMES = {"nova-compute": "compute", "nova-conductor": "conductor",
                 "nova-scheduler": "scheduler"}
UPDATE = {"type": "object", "properties": {
    "status": {"type": "string", "enum": ["enable", "disable", "Enable", "Disable",
                                          "ENABLE", "DISABLE"]},
    "maintenance_mode": {"type": "string", "enum": ["enable", "disable", "Enable", "Disable",
                                                    "ENABLE", "DISABLE"]}},
    "anyOf": [{"required": ["status"]}, {"required": ["maintenance_mode"]}],
    "additionalProperties": False}


def _gate(req: ApiRequest) -> None:
    if version_at_least(req, "2.43"):
        raise exceptions.NotFound("The resource could not be found.")


def list_hosts(req: ApiRequest) -> Response:
    _gate(req)
    enforce(req, "os_compute_api:os-hosts:list")
    default = svc(req).settings.default_availability_zone

    def read(conn: Any) -> tuple[list[dict[str, Any]], dict[str, str]]:
        return services.list_(conn), aggregates.host_zones(conn)

    rows, zones = svc(req).db.read(read)
    hosts = []
    for s in rows:
        if s["disabled"]:  # as Nova: a disabled service's host is not listed
            continue
        zone = (zones.get(s["host"], default) if s["binary"] == "nova-compute"
                else aggregates.INTERNAL_ZONE)
        hosts.append({"host_name": s["host"], "service": SERVICE_NAMES.get(
            s["binary"], s["binary"].removeprefix("nova-")), "zone": zone})
    if "zone" in req.query and req.query["zone"]:
        hosts = [h for h in hosts if h["zone"] == req.query["zone"]]
    return json_response({"hosts": hosts})


def _compute_host(conn: Any, host: str) -> dict[str, Any]:
    try:
        return services.find(conn, host, "nova-compute")
    except exceptions.NotFound:
        raise exceptions.NotFound(f"Compute host {host} could not be found.") from None


def show_host(req: ApiRequest) -> Response:
    _gate(req)
    enforce(req, "os_compute_api:os-hosts:show")
    host = req.path_params["host"]

    def read(conn: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        _compute_host(conn, host)
        return nodes.list_(conn, host), instances.on_host(conn, host)

    found, guests = svc(req).db.read(read)
    total = {"cpu": 0, "memory_mb": 0, "disk_gb": 0}
    for n in found:
        total["cpu"] += int(n["vcpus"])
        total["memory_mb"] += int(n["memory_mb"])
        total["disk_gb"] += int(n["local_gb"])
    per_project: dict[str, dict[str, int]] = {}
    for g in guests:
        f = g["flavor"] or {}
        use = per_project.setdefault(g["project_id"], {"cpu": 0, "memory_mb": 0, "disk_gb": 0})
        use["cpu"] += int(f.get("vcpus", 0))
        use["memory_mb"] += int(f.get("ram", 0))
        use["disk_gb"] += int(f.get("disk", 0)) + int(f.get("ephemeral", 0))
    used = {k: sum(p[k] for p in per_project.values()) for k in total}
    rows = [("(total)", total), ("(used_now)", used), ("(used_max)", used),
            *sorted(per_project.items())]
    return json_response({"host": [{"resource": {"host": host, "project": project, **res}}
                                   for project, res in rows]})


def update_host(req: ApiRequest) -> Response:
    _gate(req)
    enforce(req, "os_compute_api:os-hosts:update")
    data = validate(UPDATE, req.json())
    host = req.path_params["host"]

    def write(conn: Any) -> dict[str, Any]:
        service = _compute_host(conn, host)
        out: dict[str, Any] = {"host": host}
        if "maintenance_mode" in data:
            raise exceptions.NotImplementedYet(
                "Virt driver does not implement host maintenance mode.")
        disable = data["status"].lower() == "disable"
        services.update(conn, service["id"], {"disabled": disable, "disabled_reason": None})
        out["status"] = "disabled" if disable else "enabled"
        return out

    return json_response(svc(req).db.write(write))


def _power(req: ApiRequest, action: str) -> Response:
    _gate(req)
    enforce(req, "os_compute_api:os-hosts:" + action)
    host = req.path_params["host"]
    svc(req).db.read(_compute_host, host)
    raise exceptions.NotImplementedYet("Virt driver does not implement host power management.")


def startup(req: ApiRequest) -> Response:
    return _power(req, "start")


def shutdown(req: ApiRequest) -> Response:
    return _power(req, "shutdown")


def reboot(req: ApiRequest) -> Response:
    return _power(req, "reboot")
