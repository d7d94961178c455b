"""``/v2.0/agents``: the in-process agents with heartbeat-based ``alive`` (admin only)."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from pocketstack.common.api.app import ApiRequest, empty_response, json_response
from pocketstack.network import schemas
from pocketstack.network.api import views
from pocketstack.network.api.common import collection, list_query, pick_fields, svc
from pocketstack.network.domain import agents

FILTERS = {"id": "id", "agent_type": "agent_type", "binary": "binary", "topic": "topic",
           "host": "host", "admin_state_up": "admin_state_up",
           "availability_zone": "availability_zone"}


def _view(req: ApiRequest, row: dict[str, Any]) -> dict[str, Any]:
    return views.agent(row, agents.is_alive(row, svc(req).options.network_agent_down_time))


def list_agents(req: ApiRequest) -> Response:
    q = list_query(req, "agents", FILTERS)
    if not svc(req).policy.allowed(req.ctx, "get_agent", {}):
        return json_response({"agents": []})  # Neutron filters what policy hides
    rows, more = svc(req).db.read(agents.list_agents, q)
    items = [_view(req, r) for r in rows]
    alive = req.query.get("alive")
    if alive is not None:
        items = [i for i in items if i["alive"] == (alive.lower() in ("true", "1"))]
    return json_response(collection(req, "agents", items, q, more))


def show_agent(req: ApiRequest) -> Response:
    svc(req).enforce(req.ctx, "get_agent", {})
    row = svc(req).db.read(agents.get, req.path_params["id"])
    return json_response({"agent": pick_fields(req, _view(req, row))})


def update_agent(req: ApiRequest) -> Response:
    svc(req).enforce(req.ctx, "update_agent", {})
    values = schemas.check_body(schemas.AGENT, req.json(), "agent", False, req.ctx.is_admin)
    row = svc(req).db.write(agents.update, req.path_params["id"], values)
    return json_response({"agent": _view(req, row)})


def delete_agent(req: ApiRequest) -> Response:
    svc(req).enforce(req.ctx, "delete_agent", {})
    svc(req).db.write(agents.delete, req.path_params["id"])
    return empty_response()
