"""``/os-availability-zone``: zones with their state; ``/detail`` adds hosts and services."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from pocketstack.common.api.app import ApiRequest, json_response
from pocketstack.compute.api.common import enforce, svc
from pocketstack.compute.domain import aggregates, services
from pocketstack.compute.domain.common import isotime_us, utcnow


def _zones(req: ApiRequest, conn: Any) -> dict[str, dict[str, Any]]:
    """zone → {"available": bool, "hosts": {host: {binary: state}}}."""
    settings = svc(req).settings
    host_zones = aggregates.host_zones(conn)
    now = utcnow()
    zones: dict[str, dict[str, Any]] = {}
    for s in services.list_(conn):
        if s["binary"] == "nova-compute":
            zone = host_zones.get(s["host"], settings.default_availability_zone)
        else:
            zone = aggregates.INTERNAL_ZONE
        entry = zones.setdefault(zone, {"available": False, "hosts": {}})
        up = services.is_up(s, now, settings.service_down_time)
        if not s["disabled"]:
            entry["available"] = True
        entry["hosts"].setdefault(s["host"], {})[s["binary"]] = {
            "available": up, "active": not s["disabled"],
            "updated_at": isotime_us(s["updated_at"] or s["last_seen_up"])}
    return zones


def list_zones(req: ApiRequest) -> Response:
    enforce(req, "os_compute_api:os-availability-zone:list",
            {"project_id": req.ctx.project_id})
    zones = svc(req).db.read(lambda conn: _zones(req, conn))
    info = [{"zoneName": name, "zoneState": {"available": z["available"]}, "hosts": None}
            for name, z in sorted(zones.items()) if name != aggregates.INTERNAL_ZONE]
    return json_response({"availabilityZoneInfo": info})


def list_zones_detail(req: ApiRequest) -> Response:
    enforce(req, "os_compute_api:os-availability-zone:detail")
    zones = svc(req).db.read(lambda conn: _zones(req, conn))
    info = [{"zoneName": name, "zoneState": {"available": z["available"]},
             "hosts": z["hosts"] or None} for name, z in sorted(zones.items())]
    return json_response({"availabilityZoneInfo": info})
