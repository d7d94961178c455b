"""``/os-simple-tenant-usage``: instance-hours of projects over a window."""

from __future__ import annotations

import datetime as dt
from typing import Any

from starlette.responses import Response

from pocketstack.common import exceptions
from pocketstack.common.api.app import ApiRequest, json_response
from pocketstack.common.api.validation import query_bool
from pocketstack.compute.api.admin_common import page_params, paginate
from pocketstack.compute.api.common import enforce, svc, version_at_least
from pocketstack.compute.domain import usage
from pocketstack.compute.domain.common import utcnow

_FORMATS = ("%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M:%S.%f", "%Y-%m-%d %H:%M:%S.%f",
            "%Y-%m-%d %H:%M:%S")


def _when(req: ApiRequest, name: str) -> dt.datetime:
    raw = req.query.get(name)
    if not raw:
        return utcnow()
    text = raw.strip()
    if text.endswith("Z"):
        text = text[:-1]
    for fmt in _FORMATS:
        try:
            return dt.datetime.strptime(text, fmt)
        except ValueError:
            continue
    raise exceptions.BadRequest(f"Invalid input for query parameters {name}. Value: {raw}. "
                                f"Invalid time format")


def _window(req: ApiRequest) -> tuple[dt.datetime, dt.datetime]:
    start, end = _when(req, "start"), _when(req, "end")
    if start > end:
        raise exceptions.BadRequest("Invalid start time. The start time cannot occur after "
                                    "the end time.")
    return start, end


def _paged(req: ApiRequest, rows: list[dict[str, Any]]
           ) -> tuple[list[dict[str, Any]], list[dict[str, str]] | None]:
    if not version_at_least(req, "2.40"):
        return rows, None
    wanted = page_params(req)
    return paginate(req, rows, wanted, lambda u: u["instance_id"],
                    f"Marker {wanted.marker} could not be found.")


def list_usage(req: ApiRequest) -> Response:
    enforce(req, "os_compute_api:os-simple-tenant-usage:list")
    start, end = _window(req)
    detailed = bool(query_bool(req.query.get("detailed"), False))
    rows = svc(req).db.read(usage.server_usages, start, end)
    rows, links = _paged(req, rows)
    by_project: dict[str, list[dict[str, Any]]] = {}
    for u in rows:
        by_project.setdefault(u["tenant_id"], []).append(u)
    out: dict[str, Any] = {"tenant_usages": [
        usage.summarise(p, start, end, us, detailed) for p, us in by_project.items()]}
    if links:
        out["tenant_usages_links"] = links
    return json_response(out)


def show_usage(req: ApiRequest) -> Response:
    project_id = req.path_params["tenant_id"]
    enforce(req, "os_compute_api:os-simple-tenant-usage:show", {"project_id": project_id})
    start, end = _window(req)
    rows = svc(req).db.read(usage.server_usages, start, end, project_id)
    rows, links = _paged(req, rows)
    out: dict[str, Any] = {"tenant_usage": usage.summarise(project_id, start, end, rows, True)
                           if rows else {}}
    if links:
        out["tenant_usage_links"] = links
    return json_response(out)
