"""``/servers/{id}/os-instance-actions``: what was done to a server, with events."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from pocketstack.common.api.app import ApiRequest, json_response
from pocketstack.compute.api.admin_common import (
    host_id,
    is_admin,
    page_params,
    paginate,
    parse_time,
)
from pocketstack.compute.api.common import allowed, enforce, svc, version_at_least
from pocketstack.compute.domain import instance_actions
from pocketstack.compute.domain.common import isotime_us
from pocketstack.compute.domain.instance_access import load_instance


def _action_view(req: ApiRequest, row: dict[str, Any]) -> dict[str, Any]:
    view = {
        "action": row["action"],
        "instance_uuid": row["instance_uuid"],
        "message": row["message"],
        "project_id": row["project_id"],
        "request_id": row["request_id"],
        "start_time": isotime_us(row["start_time"]),
        "user_id": row["user_id"],
    }
    if version_at_least(req, "2.58"):
        view["updated_at"] = isotime_us(row["updated_at"] or row["start_time"])
    return view


def _load(req: ApiRequest, conn: Any) -> dict[str, Any]:
    # From 2.21 the actions of deleted servers stay readable.
    return load_instance(conn, req.ctx.project_id, is_admin(req), req.path_params["server_id"],
                         read_deleted=version_at_least(req, "2.21"))


def list_actions(req: ApiRequest) -> Response:
    since = before = None
    wanted = None
    if version_at_least(req, "2.58"):
        if "changes-since" in req.query:
            since = parse_time(req.query["changes-since"], "changes-since")
        if version_at_least(req, "2.66") and "changes-before" in req.query:
            before = parse_time(req.query["changes-before"], "changes-before")
        wanted = page_params(req)

    def read(conn: Any) -> list[dict[str, Any]]:
        inst = _load(req, conn)
        enforce(req, "os_compute_api:os-instance-actions:list",
                {"project_id": inst["project_id"]})
        return instance_actions.list_(conn, inst["uuid"], since, before)

    rows = svc(req).db.read(read)
    body: dict[str, Any] = {}
    if wanted is not None:
        rows, links = paginate(req, rows, wanted, lambda r: r["request_id"])
        if links:
            body["links"] = links
    body["instanceActions"] = [_action_view(req, r) for r in rows]
    return json_response(body)


def show_action(req: ApiRequest) -> Response:
    request_id = req.path_params["request_id"]

    def read(conn: Any) -> tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]]]:
        inst = _load(req, conn)
        enforce(req, "os_compute_api:os-instance-actions:show",
                {"project_id": inst["project_id"]})
        action = instance_actions.get_by_request_id(conn, inst["uuid"], request_id)
        return inst, action, instance_actions.events(conn, action["id"])

    inst, action, events = svc(req).db.read(read)
    target = {"project_id": inst["project_id"]}
    see_events = allowed(req, "os_compute_api:os-instance-actions:events", target)
    view = _action_view(req, action)
    if see_events or version_at_least(req, "2.51"):
        see_details = version_at_least(req, "2.84") and allowed(
            req, "os_compute_api:os-instance-actions:events:details", target)
        out = []
        for e in events:
            ev: dict[str, Any] = {
                "event": e["event"],
                "start_time": isotime_us(e["start_time"]),
                "finish_time": isotime_us(e["finish_time"]),
                "result": e["result"],
            }
            if see_events:
                ev["traceback"] = e["traceback"]
            if version_at_least(req, "2.62"):
                ev["hostId"] = host_id(inst["project_id"], e["host"])
                if see_events:
                    ev["host"] = e["host"] or ""
            if see_details:
                ev["details"] = e["details"]
            out.append(ev)
        view["events"] = out
    return json_response({"instanceAction": view})
