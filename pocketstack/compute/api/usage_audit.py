"""``/os-instance_usage_audit_log``: which compute hosts ran the usage audit of a period."""

from __future__ import annotations

import datetime as dt

from starlette.responses import Response

from pocketstack.common import exceptions
from pocketstack.common.api.app import ApiRequest, json_response
from pocketstack.compute.api.common import enforce, svc
from pocketstack.compute.domain import usage_audit


def index(req: ApiRequest) -> Response:
    enforce(req, "os_compute_api:os-instance-usage-audit-log:list")
    return json_response({"instance_usage_audit_logs": svc(req).db.read(usage_audit.task_logs)})


def show(req: ApiRequest) -> Response:
    """``/os-instance_usage_audit_log/{before}``: the period completed before a timestamp
    (``YYYY-MM-DD HH:MM:SS[.ffffff]``)."""
    enforce(req, "os_compute_api:os-instance-usage-audit-log:show")
    raw = req.path_params["before"]
    try:
        before = dt.datetime.strptime(
            raw, "%Y-%m-%d %H:%M:%S.%f" if "." in raw else "%Y-%m-%d %H:%M:%S")
    except ValueError:
        raise exceptions.BadRequest(f"Invalid timestamp for date {raw}") from None
    logs = svc(req).db.read(usage_audit.task_logs, before)
    return json_response({"instance_usage_audit_log": logs})
