"""``/os-services``: compute, conductor and scheduler services; enable/disable/force down."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from pocketstack.common import exceptions
from pocketstack.common.api.app import ApiRequest, empty_response, json_response
from pocketstack.compute.api.common import body, enforce, svc, version_at_least
from pocketstack.compute.domain import aggregates, services
from pocketstack.compute.domain.common import isotime_us, utcnow
from pocketstack.compute.schemas import admin as schemas


def _zone(s: dict[str, Any], zones: dict[str, str], default: str) -> str:
    if s["binary"] != "nova-compute":
        return aggregates.INTERNAL_ZONE
    return zones.get(s["host"], default)


def view(req: ApiRequest, s: dict[str, Any], zones: dict[str, str]) -> dict[str, Any]:
    settings = svc(req).settings
    up = services.is_up(s, utcnow(), settings.service_down_time)
    out: dict[str, Any] = {
        "id": s["uuid"] if version_at_least(req, "2.53") else s["id"],
        "binary": s["binary"],
        "host": s["host"],
        "zone": _zone(s, zones, settings.default_availability_zone),
        "status": "disabled" if s["disabled"] else "enabled",
        "state": "up" if up else "down",
        "updated_at": isotime_us(s["updated_at"] or s["last_seen_up"]),
        "disabled_reason": s["disabled_reason"],
    }
    if version_at_least(req, "2.11"):
        out["forced_down"] = bool(s["forced_down"])
    return out


def list_services(req: ApiRequest) -> Response:
    enforce(req, "os_compute_api:os-services:list")

    def read(conn: Any) -> tuple[list[dict[str, Any]], dict[str, str]]:
        return (services.list_(conn, binary=req.query.get("binary"),
                               host=req.query.get("host")), aggregates.host_zones(conn))

    rows, zones = svc(req).db.read(read)
    return json_response({"services": [view(req, s, zones) for s in rows]})


def _update_253(req: ApiRequest, ident: str) -> Response:
    data = body(req, schemas.SERVICE_UPDATE_253)
    status = data.get("status")
    if "disabled_reason" in data and status != "disabled":
        raise exceptions.BadRequest("Specifying 'disabled_reason' with status other than "
                                    "'disabled' is invalid.")

    def write(conn: Any) -> tuple[dict[str, Any], dict[str, str]]:
        s = services.get(conn, ident, by_uuid=True)
        if s["binary"] != "nova-compute":
            raise exceptions.BadRequest(
                f"Updating a {s['binary']} service is not supported. Only nova-compute "
                f"services can be updated.")
        values: dict[str, Any] = {}
        if status == "enabled":
            values.update(disabled=False, disabled_reason=None)
        elif status == "disabled":
            values.update(disabled=True, disabled_reason=data.get("disabled_reason"))
        if "forced_down" in data:
            values["forced_down"] = data["forced_down"]
        return services.update(conn, s["id"], values), aggregates.host_zones(conn)

    s, zones = svc(req).db.write(write)
    out = view(req, s, zones)
    out["updated_at"] = isotime_us(s["updated_at"])
    return json_response({"service": out})


def _legacy(req: ApiRequest, action: str) -> Response:
    if action not in ("enable", "disable", "disable-log-reason", "force-down") or (
            action == "force-down" and not version_at_least(req, "2.11")):
        raise exceptions.NotFound(f"Unknown action {action}")
    data = body(req, schemas.SERVICE_LEGACY)
    values: dict[str, Any]
    if action == "enable":
        values = {"disabled": False, "disabled_reason": None}
    elif action == "disable":
        values = {"disabled": True}
    elif action == "disable-log-reason":
        reason = data.get("disabled_reason")
        if not reason:
            raise exceptions.BadRequest("Missing disabled reason field")
        values = {"disabled": True, "disabled_reason": reason}
    else:
        if "forced_down" not in data:
            raise exceptions.BadRequest("Missing forced_down field")
        values = {"forced_down": data["forced_down"]}

    def write(conn: Any) -> dict[str, Any]:
        s = services.find(conn, data["host"], data["binary"])
        return services.update(conn, s["id"], values)

    s = svc(req).db.write(write)
    out: dict[str, Any] = {"host": s["host"], "binary": s["binary"]}
    if action == "force-down":
        out["forced_down"] = bool(s["forced_down"])
    else:
        out["status"] = "disabled" if s["disabled"] else "enabled"
    if action == "disable-log-reason":
        out["disabled_reason"] = s["disabled_reason"]
    return json_response({"service": out})


def update_service(req: ApiRequest) -> Response:
    enforce(req, "os_compute_api:os-services:update")
    ident = req.path_params["service_id"]
    if version_at_least(req, "2.53"):
        return _update_253(req, ident)
    return _legacy(req, ident)


def delete_service(req: ApiRequest) -> Response:
    enforce(req, "os_compute_api:os-services:delete")
    ident = req.path_params["service_id"]
    by_uuid = version_at_least(req, "2.53")

    def write(conn: Any) -> None:
        s = services.get(conn, ident, by_uuid)
        services.delete(conn, s["id"])

    svc(req).db.write(write)
    return empty_response(204)
