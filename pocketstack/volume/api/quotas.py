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
    s = svc(req)
    if s.unified_limits:  # keystone's registered defaults
        out: dict[str, Any] = {"id": req.path_params["project_id"],
                               **s.quota_limits(None, defaults=True)}
        return json_response({"quota_set": out})
    limits_ = s.db.read(quotas.class_limits, quotas.DEFAULT_CLASS, s.quota_defaults)
    return json_response({"quota_set": {"id": req.path_params["project_id"], **limits_}})


def _values(data: dict[str, Any], known: list[str]) -> dict[str, int]:
    values: dict[str, int] = {}
    for key, value in data.items():
        if key in ("tenant_id", "id", "class_name"):
            continue
        if key not in known:
            raise errors.bad(f"Bad key(s) in quota set: {key}")
        values[key] = to_int(value, key, -1)
    return values


def show_class(req: ApiRequest) -> Response:
    c = ctx(req)
    s = svc(req)
    s.enforce(c, "volume_extension:quota_classes", {})
    name = req.path_params["class_name"]
    limits_ = s.db.read(quotas.class_limits, name, s.quota_defaults)
    return json_response({"quota_class_set": {"id": name, **limits_}})


def update_class(req: ApiRequest) -> Response:
    c = ctx(req)
    s = svc(req)
    s.enforce(c, "volume_extension:quota_classes", {})
    name = req.path_params["class_name"]
    if len(name) > 255:
        raise errors.bad("The quota class name is longer than 255 characters.")
    data = body(req, "quota_class_set")

    def write(conn: Any) -> dict[str, int]:
        quotas.update_class(conn, name, _values(data, quotas.resources(conn)))
        return quotas.class_limits(conn, name, s.quota_defaults)

    return json_response({"quota_class_set": s.db.write(write)})


def update(req: ApiRequest) -> Response:
    c = ctx(req)
    s = svc(req)
    project = req.path_params["project_id"]
    s.enforce(c, "volume_extension:quotas:update", {"project_id": project})
    data = body(req, "quota_set")
    if s.unified_limits:  # keystone holds the limits: nothing is written (keys still checked)
        s.db.read(lambda conn: _values(data, quotas.resources(conn)))
        details = s.db.read(quotas.details, project, s.quota_limits(project))
    else:
        def write(conn: Any) -> dict[str, Any]:
            quotas.update(conn, project, _values(data, quotas.resources(conn)))
            return quotas.details(conn, project, s.quota_defaults)  # type: ignore[no-any-return]

        details = s.db.write(write)
    return json_response({"quota_set": {k: v["limit"] for k, v in details.items()}})


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
