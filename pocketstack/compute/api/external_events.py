"""``POST /os-server-external-events``: other services tell Nova about its servers."""

from __future__ import annotations

import copy
from typing import Any

from starlette.responses import Response

from pocketstack.common.api.app import ApiRequest, json_response
from pocketstack.compute.api.common import body, enforce, svc, version_at_least
from pocketstack.compute.domain import external_events

_NAMES = ["network-changed", "network-vif-plugged", "network-vif-unplugged",
          "network-vif-deleted"]
# microversion -> event names it adds
_ADDED = (("2.51", "volume-extended"), ("2.76", "power-update"),
          ("2.82", "accelerator-request-bound"), ("2.93", "volume-reimaged"))
_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["events"], "additionalProperties": False,
    "properties": {"events": {"type": "array", "minItems": 1, "items": {
        "type": "object", "required": ["name", "server_uuid"], "additionalProperties": False,
        "properties": {
            "name": {"type": "string", "enum": _NAMES},
            "server_uuid": {"type": "string", "format": "uuid"},
            "status": {"type": "string", "enum": ["failed", "completed", "in-progress"]},
            "tag": {"type": "string", "maxLength": 255},
        }}}}}


def _schema(req: ApiRequest) -> dict[str, Any]:
    schema = copy.deepcopy(_SCHEMA)
    names = schema["properties"]["events"]["items"]["properties"]["name"]["enum"]
    names.extend(name for version, name in _ADDED if version_at_least(req, version))
    return schema


def create(req: ApiRequest) -> Response:
    enforce(req, "os_compute_api:os-server-external-events:create")
    events = body(req, _schema(req))["events"]
    ctx = req.ctx
    out, status = svc(req).db.write(external_events.accept, events, req.request_id,
                                    ctx.project_id or "", ctx.user_id or "")
    return json_response({"events": out}, status=status)
