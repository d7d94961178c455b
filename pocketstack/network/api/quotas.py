"""``/v2.0/quotas``: list overrides, show/update/reset a project's limits, defaults, details."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from pocketstack.common.api.app import ApiRequest, empty_response, json_response
from pocketstack.network import errors
from pocketstack.network.api.common import svc
from pocketstack.network.domain import quotas


def _target(req: ApiRequest, rule: str) -> str:
    project_id = req.path_params.get("project_id") or req.ctx.project_id or ""
    svc(req).enforce(req.ctx, rule, {"project_id": project_id})
    return project_id


def list_quotas(req: ApiRequest) -> Response:
    svc(req).enforce(req.ctx, "get_quota", {"project_id": ""})
    service = svc(req)

    def read(conn: Any) -> list[dict[str, Any]]:
        return [dict(quotas.limits(conn, p, service.quota_defaults), project_id=p,
                     tenant_id=p) for p in quotas.projects_with_overrides(conn)]
    return json_response({"quotas": service.db.read(read)})


def show_quota(req: ApiRequest) -> Response:
    project_id = _target(req, "get_quota")
    service = svc(req)
    return json_response({"quota": service.db.read(quotas.limits, project_id,
                                                   service.quota_defaults)})


def show_defaults(req: ApiRequest) -> Response:
    _target(req, "get_quota")
    return json_response({"quota": dict(svc(req).quota_defaults)})


def show_details(req: ApiRequest) -> Response:
    project_id = _target(req, "get_quota")
    service = svc(req)
    return json_response({"quota": service.db.read(quotas.details, project_id,
                                                   service.quota_defaults)})


def show_tenant(req: ApiRequest) -> Response:
    project_id = req.ctx.project_id or ""
    return json_response({"tenant": {"tenant_id": project_id, "project_id": project_id}})


def update_quota(req: ApiRequest) -> Response:
    project_id = _target(req, "update_quota")
    body = req.json()
    if not isinstance(body, dict) or not isinstance(body.get("quota"), dict):
        raise errors.HTTPBadRequest("Unable to find 'quota' in request body")
    values: dict[str, int] = {}
    check_limit = body["quota"].get("check_limit", False)
    if not isinstance(check_limit, bool):
        raise errors.HTTPBadRequest(f"Invalid input for check_limit. Reason: '{check_limit}' "
                                    "is not a boolean.")
    for key, value in body["quota"].items():
        if key == "check_limit":
            continue
        if key not in quotas.RESOURCES:
            raise errors.HTTPBadRequest(f"Unrecognized attribute(s) '{key}'")
        if isinstance(value, bool) or not isinstance(value, (int, str)) or \
                not str(value).lstrip("-").isdigit() or int(value) < -1:
            raise errors.HTTPBadRequest(f"Invalid input for {key}. Reason: '{value}' is not "
                                        "an integer greater or equal to -1.")
        values[key] = int(value)
    service = svc(req)

    def write(conn: Any) -> dict[str, int]:
        if check_limit:
            quotas.check_not_below_usage(conn, project_id, values)
        quotas.update(conn, project_id, values)
        return quotas.limits(conn, project_id, service.quota_defaults)  # type: ignore[no-any-return]
    return json_response({"quota": service.db.write(write)})


def reset_quota(req: ApiRequest) -> Response:
    project_id = _target(req, "delete_quota")
    svc(req).db.write(quotas.reset, project_id)
    return empty_response()
