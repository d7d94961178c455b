"""``/os-hypervisors``: compute nodes with their capacity, use and service state."""

from __future__ import annotations

import json
from typing import Any

import anyio.from_thread
from starlette.responses import Response

from pocketstack.common import exceptions
from pocketstack.common.api.app import ApiRequest, json_response
from pocketstack.common.api.validation import query_bool
from pocketstack.compute.api.admin_common import page_params, paginate
from pocketstack.compute.api.common import enforce, svc, version_at_least
from pocketstack.compute.domain import nodes, services
from pocketstack.compute.domain.common import utcnow


class _Snapshot:
    """Everything the views need, read in one transaction."""

    def __init__(self, conn: Any) -> None:
        self.nodes = nodes.list_(conn)
        self.services = services.compute_services_by_host(conn)
        self.usage = nodes.usage_by_host(conn)
        self.conn = conn


def _ident(req: ApiRequest, node: dict[str, Any]) -> Any:
    return node["uuid"] if version_at_least(req, "2.53") else node["id"]


def _state(req: ApiRequest, service: dict[str, Any] | None) -> tuple[str, str]:
    if service is None:
        return "down", "disabled"
    up = services.is_up(service, utcnow(), svc(req).settings.service_down_time)
    return ("up" if up else "down"), ("disabled" if service["disabled"] else "enabled")


def _host_uptime(req: ApiRequest, host: str) -> str | None:
    """What the host's compute agent says of its machine's uptime (its ``host_uptime`` call,
    as Nova asks the compute host's driver); None when no agent answers it, which Nova shows as
    for a driver without one: null in the 2.88 view, 501 from ``.../uptime``."""
    bus_call = svc(req).bus_call
    if bus_call is None:
        return None
    try:
        reply = anyio.from_thread.run(bus_call, f"compute.{host}", {"op": "host_uptime"}, 10.0)
    except Exception:
        return None
    uptime = reply.get("uptime") if isinstance(reply, dict) else None
    return uptime if isinstance(uptime, str) and uptime else None


def _brief(req: ApiRequest, snap: _Snapshot, node: dict[str, Any]) -> dict[str, Any]:
    state, status = _state(req, snap.services.get(node["host"]))
    return {"id": _ident(req, node), "hypervisor_hostname": node["hypervisor_hostname"],
            "state": state, "status": status}


def _servers(req: ApiRequest, snap: _Snapshot, out: dict[str, Any], node: dict[str, Any],
             always: bool = False) -> None:
    servers = nodes.servers_on(snap.conn, node["host"])
    if servers or always:
        out["servers"] = servers


def _detail(req: ApiRequest, snap: _Snapshot, node: dict[str, Any]) -> dict[str, Any]:
    service = snap.services.get(node["host"])
    out = _brief(req, snap, node)
    out.update({
        "hypervisor_type": node["hypervisor_type"],
        "hypervisor_version": node["hypervisor_version"],
        "host_ip": node["host_ip"] or "127.0.0.1",
        "service": {
            "host": node["host"],
            "id": (service["uuid"] if version_at_least(req, "2.53") else service["id"])
            if service else None,
            "disabled_reason": service["disabled_reason"] if service else None,
        },
    })
    if not version_at_least(req, "2.88"):
        used = snap.usage.get(node["host"], {"vcpus": 0, "ram": 0, "disk": 0, "count": 0,
                                             "busy": 0})
        free_disk = node["local_gb"] - used["disk"]
        cpu_info: Any = node["cpu_info"] or {}
        out.update({
            "vcpus": node["vcpus"], "vcpus_used": used["vcpus"],
            "memory_mb": node["memory_mb"], "memory_mb_used": used["ram"],
            "free_ram_mb": node["memory_mb"] - used["ram"],
            "local_gb": node["local_gb"], "local_gb_used": used["disk"],
            "free_disk_gb": free_disk, "disk_available_least": free_disk,
            "running_vms": used["count"], "current_workload": used["busy"],
            "cpu_info": cpu_info if version_at_least(req, "2.28") else json.dumps(cpu_info),
        })
    else:
        out["uptime"] = None
    return out


def _with_servers(req: ApiRequest) -> bool:
    if not version_at_least(req, "2.53"):
        return False
    raw = req.query.get("with_servers")
    try:
        return bool(query_bool(raw, False))
    except exceptions.BadRequest:
        raise exceptions.BadRequest(f"Invalid input for query parameters with_servers. "
                                    f"Value: {raw}.") from None


def _list(req: ApiRequest, detailed: bool) -> Response:
    enforce(req, "os_compute_api:os-hypervisors:list-detail" if detailed
            else "os_compute_api:os-hypervisors:list")
    pattern = req.query.get("hypervisor_hostname_pattern") if version_at_least(
        req, "2.53") else None
    with_servers = _with_servers(req)
    paged = version_at_least(req, "2.33")
    if pattern is not None and ("limit" in req.query or "marker" in req.query):
        raise exceptions.BadRequest("Paging over hypervisors with the "
                                    "hypervisor_hostname_pattern query parameter is not "
                                    "supported.")

    def read(conn: Any) -> tuple[list[dict[str, Any]], list[dict[str, str]] | None]:
        snap = _Snapshot(conn)
        items = snap.nodes
        if pattern is not None:
            items = [n for n in items if pattern in n["hypervisor_hostname"]]
            if not items:
                raise exceptions.NotFound(f"No hypervisor matching '{pattern}' could be "
                                          f"found.")
        links = None
        if paged and pattern is None:
            wanted = page_params(req)
            items, links = paginate(req, items, wanted, lambda n: str(_ident(req, n)),
                                    f"marker [{wanted.marker}] not found")
        views = []
        for n in items:
            v = _detail(req, snap, n) if detailed else _brief(req, snap, n)
            if with_servers:
                _servers(req, snap, v, n)
            views.append(v)
        return views, links

    views, links = svc(req).db.read(read)
    out: dict[str, Any] = {"hypervisors": views}
    if links:
        out["hypervisors_links"] = links
    return json_response(out)


def list_hypervisors(req: ApiRequest) -> Response:
    return _list(req, False)


def list_hypervisors_detail(req: ApiRequest) -> Response:
    return _list(req, True)


def _find(req: ApiRequest, snap: _Snapshot, ident: str) -> dict[str, Any]:
    for n in snap.nodes:
        if str(_ident(req, n)) == ident:
            return n
    raise exceptions.NotFound(f"Hypervisor with ID {ident} could not be found.")


def show_hypervisor(req: ApiRequest) -> Response:
    enforce(req, "os_compute_api:os-hypervisors:show")
    with_servers = _with_servers(req)

    def read(conn: Any) -> tuple[dict[str, Any], str]:
        snap = _Snapshot(conn)
        node = _find(req, snap, req.path_params["hypervisor_id"])
        v = _detail(req, snap, node)
        if with_servers:
            _servers(req, snap, v, node)
        return v, node["host"]

    view, host = svc(req).db.read(read)
    if "uptime" in view:  # 2.88: the show view has the host's uptime (the lists have null)
        view["uptime"] = _host_uptime(req, host)
    return json_response({"hypervisor": view})


def uptime(req: ApiRequest) -> Response:
    if version_at_least(req, "2.88"):
        raise exceptions.NotFound("The resource could not be found.")
    enforce(req, "os_compute_api:os-hypervisors:uptime")

    def read(conn: Any) -> dict[str, Any]:
        snap = _Snapshot(conn)
        node = _find(req, snap, req.path_params["hypervisor_id"])
        if _state(req, snap.services.get(node["host"]))[0] == "down":
            raise exceptions.BadRequest(
                f"Compute service of {node['host']} is unavailable at this time.")
        return {**_brief(req, snap, node), "host": node["host"]}

    view = svc(req).db.read(read)
    uptime = _host_uptime(req, view.pop("host"))
    if uptime is None:
        raise exceptions.NotImplementedYet("The requested functionality is not supported.")
    return json_response({"hypervisor": {**view, "uptime": uptime}})


def statistics(req: ApiRequest) -> Response:
    if version_at_least(req, "2.88"):
        raise exceptions.NotFound("The resource could not be found.")
    enforce(req, "os_compute_api:os-hypervisors:statistics")

    def read(conn: Any) -> dict[str, int]:
        snap = _Snapshot(conn)
        keys = ("vcpus", "vcpus_used", "memory_mb", "memory_mb_used", "free_ram_mb",
                "local_gb", "local_gb_used", "free_disk_gb", "disk_available_least",
                "running_vms", "current_workload")
        total = dict.fromkeys(keys, 0)
        for n in snap.nodes:
            d = _detail(req, snap, n)
            for k in keys:
                total[k] += int(d[k])
        total["count"] = len(snap.nodes)
        return total

    return json_response({"hypervisor_statistics": svc(req).db.read(read)})


def _legacy_match(req: ApiRequest, rule: str, servers: bool) -> Response:
    if version_at_least(req, "2.53"):
        raise exceptions.NotFound("The resource could not be found.")
    enforce(req, rule)
    pattern = req.path_params["pattern"]

    def read(conn: Any) -> list[dict[str, Any]]:
        snap = _Snapshot(conn)
        found = [n for n in snap.nodes if pattern in n["hypervisor_hostname"]]
        if not found:
            raise exceptions.NotFound(f"No hypervisor matching '{pattern}' could be found.")
        out = []
        for n in found:
            v = _brief(req, snap, n)
            if servers:
                _servers(req, snap, v, n)
            out.append(v)
        return out

    return json_response({"hypervisors": svc(req).db.read(read)})


def search(req: ApiRequest) -> Response:
    return _legacy_match(req, "os_compute_api:os-hypervisors:search", False)


def servers(req: ApiRequest) -> Response:
    return _legacy_match(req, "os_compute_api:os-hypervisors:servers", True)
