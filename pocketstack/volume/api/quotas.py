"""``os-quota-sets`` (show with ``usage``, update, defaults, delete) and ``limits``.

With ``volume_quota_driver = unified_limits`` they show keystone's limits (the defaults are the
registered limits); updates and deletes are accepted and change nothing, as Nova's are in that
mode: the limits are managed in keystone."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from pocketstack.common.api.app import ApiRequest, empty_response, json_response
from pocketstack.volume import errors
from pocketstack.volume.api.common import body, ctx, svc, to_bool, to_int
from pocketstack.volume.domain import quotas


def show(req: ApiRequest) -> Response:
    c = ctx(req)
    s = svc(req)
    project = req.path_params["project_id"]
    s.enforce(c, "volume_extension:quotas:show", {"project_id": project})
    usage = to_bool(req.query.get("usage", "false"), "usage")
    details: dict[str, Any] = s.db.read(quotas.details, project, s.quota_limits(project))
    out: dict[str, Any] = {"id": project}
    for name, d in details.items():
        out[name] = {"limit": d["limit"], "in_use": d["in_use"], "reserved": 0,
                     "allocated": 0} if usage else d["limit"]
    return json_response({"quota_set": out})


def defaults(req: ApiRequest) -> Response:
    ctx(req)
    out: dict[str, Any] = {"id": req.path_params["project_id"],
                           **svc(req).quota_limits(None, defaults=True)}
    return json_response({"quota_set": out})


def update(req: ApiRequest) -> Response:
    c = ctx(req)
    s = svc(req)
    project = req.path_params["project_id"]
    s.enforce(c, "volume_extension:quotas:update", {"project_id": project})
    data = body(req, "quota_set")
    values: dict[str, int] = {}
    for key, value in data.items():
        if key in ("tenant_id", "id"):
            continue
        if key not in quotas.RESOURCES:
            raise errors.bad(f"Bad key(s) in quota set: {key}")
        values[key] = to_int(value, key, -1)
    if s.unified_limits:  # keystone holds the limits: nothing is written
        details = s.db.read(quotas.details, project, s.quota_limits(project))
    else:
        details = s.db.write(_update, project, values, s.quota_defaults)
    return json_response({"quota_set": {k: v["limit"] for k, v in details.items()}})


def _update(conn: Any, project: str, values: dict[str, int],
            defaults_: dict[str, int]) -> dict[str, Any]:
    quotas.update(conn, project, values)
    return quotas.details(conn, project, defaults_)


def delete(req: ApiRequest) -> Response:
    c = ctx(req)
    s = svc(req)
    project = req.path_params["project_id"]
    s.enforce(c, "volume_extension:quotas:delete", {"project_id": project})
    if not s.unified_limits:
        s.db.write(quotas.reset, project)
    return empty_response(200)


def limits(req: ApiRequest) -> Response:
    c = ctx(req)
    s = svc(req)
    project = req.query.get("project_id") if c.is_admin and req.query.get("project_id") \
        else c.project_id or ""
    d = s.db.read(quotas.details, project, s.quota_limits(project))
    absolute = {
        "maxTotalVolumes": d["volumes"]["limit"], "totalVolumesUsed": d["volumes"]["in_use"],
        "maxTotalSnapshots": d["snapshots"]["limit"],
        "totalSnapshotsUsed": d["snapshots"]["in_use"],
        "maxTotalVolumeGigabytes": d["gigabytes"]["limit"],
        "totalGigabytesUsed": d["gigabytes"]["in_use"],
        "maxTotalBackups": d["backups"]["limit"], "totalBackupsUsed": d["backups"]["in_use"],
        "maxTotalBackupGigabytes": d["backup_gigabytes"]["limit"],
        "totalBackupGigabytesUsed": d["backup_gigabytes"]["in_use"],
    }
    return json_response({"limits": {"rate": [], "absolute": absolute}})
