"""What the storage backends report, as the scheduler sees it: ``/capabilities/{host}``,
``/scheduler-stats/get_pools`` and ``/os-hosts`` (admin only).

Everything comes from the storage agents' heartbeats (``cinder_services.capabilities``): the
file backend reports its name, protocol (``local``), vendor, driver version, and the size and
free space of the filesystem its directory is on. It has one pool, named like the backend, so
a pool is ``host@backend#backend`` (the ``os-vol-host-attr:host`` of its volumes)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from starlette.responses import Response

from pocketstack.common import exceptions
from pocketstack.common.api.app import ApiRequest, json_response
from pocketstack.volume.api.common import ctx, svc, to_bool
from pocketstack.volume.api.views import when
from pocketstack.volume.domain import services
from pocketstack.volume.domain import types as vtypes
from pocketstack.volume.domain.common import now

#: the capability keys a volume type's extra specs can pin (the capabilities filter's)
_MATCHED = ("volume_backend_name", "storage_protocol", "vendor_name")

#: what each reported feature means (Cinder's standard capability descriptions)
_PROPERTIES = {
    "thin_provisioning_support": ("thin_provisioning", "Thin Provisioning",
                                  "Sets thin provisioning."),
    "QoS_support": ("qos", "QoS", "Enables QoS."),
    "compression_support": ("compression", "Compression", "Enables compression."),
    "replication_enabled": ("replication_enabled", "Replication", "Enables replication."),
}


def _pool_name(host: str, caps: dict[str, Any]) -> str:
    return f"{host}#{caps.get('pool_name') or caps.get('volume_backend_name') or 'file'}"


def capabilities(req: ApiRequest) -> Response:
    c = ctx(req)
    s = svc(req)
    s.enforce(c, "volume_extension:capabilities", {})
    name = req.path_params["host"]
    row = s.db.read(services.find_volume_host, name)
    if row is None:
        raise exceptions.NotFound(f"Can't find service: {name}")
    caps = dict(row["capabilities"] or {})
    props = {key: {"title": title, "description": text, "type": "boolean"}
             for flag, (key, title, text) in _PROPERTIES.items() if caps.get(flag)}
    return json_response({
        "namespace": f"OS::Storage::Capabilities::{row['host']}",
        "vendor_name": str(caps.get("vendor_name", "")),
        "volume_backend_name": str(caps.get("volume_backend_name", "")),
        "pool_name": None, "driver_version": str(caps.get("driver_version", "")),
        "storage_protocol": str(caps.get("storage_protocol", "")),
        "display_name": None, "description": None, "visibility": None,
        "replication_targets": [], "properties": props})


def get_pools(req: ApiRequest) -> Response:
    c = ctx(req)
    s = svc(req)
    s.enforce(c, "scheduler_extension:scheduler_stats:get_pools", {})
    detail = to_bool(req.query.get("detail", "false"), "detail")
    wanted_name = req.query.get("name")
    type_ref = req.query.get("volume_type")

    def read(conn: Any) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]],
                                 dict[str, str] | None]:
        rows = services.volume_hosts(conn, s.options.volume_service_down_time)
        used = {r["host"]: services.usage_on_host(conn, r["host"]) for r in rows}
        specs = None
        if type_ref:
            specs = vtypes.get(conn, type_ref, c.project_id, c.is_admin)["extra_specs"]
        return rows, {h: _totals(u) for h, u in used.items()}, specs

    rows, totals, specs = s.db.read(read)
    pools: list[dict[str, Any]] = []
    for r in rows:
        caps = dict(r["capabilities"] or {})
        name = _pool_name(r["host"], caps)
        if wanted_name and wanted_name != name:
            continue
        if specs is not None and any(k in specs and str(caps.get(k)) != str(specs[k])
                                     for k in _MATCHED):
            continue
        if not detail:
            pools.append({"name": name})
            continue
        allocated = totals[r["host"]]["gb"]
        pools.append({"name": name, "capabilities": {
            "pool_name": name.partition("#")[2],
            "volume_backend_name": caps.get("volume_backend_name"),
            "vendor_name": caps.get("vendor_name"),
            "driver_version": caps.get("driver_version"),
            "storage_protocol": caps.get("storage_protocol"),
            "total_capacity_gb": caps.get("total_capacity_gb", 0),
            "free_capacity_gb": caps.get("free_capacity_gb", 0),
            "allocated_capacity_gb": allocated, "provisioned_capacity_gb": allocated,
            "reserved_percentage": 0, "max_over_subscription_ratio": "1.0",
            "QoS_support": bool(caps.get("QoS_support", False)),
            "thin_provisioning_support": bool(caps.get("thin_provisioning_support", False)),
            "thick_provisioning_support": not caps.get("thin_provisioning_support", False),
            "multiattach": True,
            "timestamp": when(r["heartbeat_at"]), "updated": when(r["heartbeat_at"])}})
    return json_response({"pools": pools})


def _totals(per_project: list[dict[str, Any]]) -> dict[str, int]:
    return {"gb": sum(int(p["total_volume_gb"]) for p in per_project)}


def list_hosts(req: ApiRequest) -> Response:
    c = ctx(req)
    s = svc(req)
    s.enforce(c, "volume_extension:hosts", {})
    zone = req.query.get("zone")
    limit = dt.timedelta(seconds=s.options.volume_service_down_time)
    stamp = now()
    out = []
    for r in s.db.read(services.list_services):
        if zone and r["availability_zone"] != zone:
            continue
        out.append({"host_name": r["host"], "service": r["binary"],
                    "zone": r["availability_zone"],
                    "service-status": "available" if stamp - r["heartbeat_at"] <= limit
                    else "unavailable",
                    "service-state": "disabled" if r["disabled"] else "enabled",
                    "last-update": when(r["heartbeat_at"])})
    return json_response({"hosts": out})


def show_host(req: ApiRequest) -> Response:
    """Volume usage on a cinder-volume host, in total and per project (Cinder's strings)."""
    c = ctx(req)
    s = svc(req)
    s.enforce(c, "volume_extension:hosts", {})
    host = req.path_params["host_name"]

    def read(conn: Any) -> list[dict[str, Any]] | None:
        rows = [r for r in services.list_services(conn, "cinder-volume")
                if r["host"] == host and not r["disabled"]]
        return services.usage_on_host(conn, host) if rows else None

    per_project = s.db.read(read)
    if per_project is None:
        raise exceptions.NotFound(f"Host {host} could not be found.")
    keys = ("volume_count", "total_volume_gb", "snapshot_count", "total_snapshot_gb")
    total = {k: sum(int(p[k]) for p in per_project) for k in keys}
    resources = [{"resource": {"host": host, "project": "(total)",
                               **{k: str(v) for k, v in total.items()}}}]
    resources += [{"resource": {"host": host, "project": p["project"],
                                **{k: str(p[k]) for k in keys}}} for p in per_project]
    return json_response({"host": resources})
