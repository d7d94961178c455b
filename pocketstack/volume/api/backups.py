"""``/v3/backups``: create (full or incremental, from a volume or one of its snapshots),
list/detail (filters, sort, pages), show, delete, restore, and the admin actions
``os-reset_status``/``os-force_delete``, and ``export_record``/``import_record``."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from pocketstack.common.api.app import ApiRequest, empty_response, json_response
from pocketstack.volume import errors
from pocketstack.volume.api import views
from pocketstack.volume.api.common import (
    body,
    ctx,
    listing,
    metadata,
    paging,
    sort_spec,
    svc,
    text,
    to_bool,
    version_at_least,
)
from pocketstack.volume.domain import backup_records, backups, volumes
from pocketstack.volume.domain import services as dservices
from pocketstack.volume.domain.common import deadline

STATUSES = ("available", "error")


def view(req: ApiRequest, row: dict[str, Any], admin: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": row["id"], "name": row["name"], "description": row["description"],
        "volume_id": row["volume_id"], "snapshot_id": row["snapshot_id"], "size": row["size"],
        "status": row["status"], "fail_reason": row["fail_reason"],
        "availability_zone": row["availability_zone"], "container": row["container"],
        "object_count": row["object_count"], "is_incremental": bool(row["is_incremental"]),
        "has_dependent_backups": bool(row.get("has_dependent_backups")),
        "created_at": views.when(row["created_at"]), "updated_at": views.when(row["updated_at"]),
        "data_timestamp": views.when(row["data_timestamp"]),
        "links": views.links(req, "backups", row["id"]),
    }
    if admin:
        out["os-backup-project-attr:project_id"] = row["project_id"]
    if version_at_least(req, "3.43"):
        out["metadata"] = dict(row["metadata"])
    if version_at_least(req, "3.56"):
        out["user_id"] = row["user_id"]
    if version_at_least(req, "3.51") and admin:
        out["encryption_key_id"] = None
    return out


def _list(req: ApiRequest, detail: bool) -> Response:
    c = ctx(req)
    q = req.query
    project: str | None = c.project_id or ""
    if q.get("all_tenants") and to_bool(q["all_tenants"], "all_tenants"):
        svc(req).enforce(c, "backup:get_all", {"project_id": c.project_id or ""})
        svc(req).enforce(c, "volume:get_all_tenants", {"project_id": c.project_id or ""})
        project = q.get("project_id") or None
    else:
        svc(req).enforce(c, "backup:get_all", {"project_id": c.project_id or ""})
    filters = {("name" if k == "display_name" else k): v for k, v in q.items()
               if k in backups.FILTERS | {"display_name"}}
    limit, marker, offset = paging(req)
    lq = volumes.ListQuery(project_id=project, filters=filters,
                           sort=sort_spec(req, backups.SORT_KEYS), limit=limit, marker=marker,
                           offset=offset)
    rows, more = svc(req).db.read(backups.list_backups, lq)
    items = [view(req, r, c.is_admin) if detail else
             {"id": r["id"], "name": r["name"], "links": views.links(req, "backups", r["id"])}
             for r in rows]
    return json_response(listing(req, "backups", items, rows, more))


def list_backups(req: ApiRequest) -> Response:
    return _list(req, False)


def list_detail(req: ApiRequest) -> Response:
    return _list(req, True)


def _load(req: ApiRequest) -> dict[str, Any]:
    c = ctx(req)
    row: dict[str, Any] = svc(req).db.read(backups.get, req.path_params["backup_id"],
                                           c.project_id, c.is_admin)
    svc(req).enforce(c, "backup:get", {"project_id": row["project_id"]})
    return row


def show(req: ApiRequest) -> Response:
    return json_response({"backup": view(req, _load(req), ctx(req).is_admin)})


def create(req: ApiRequest) -> Response:
    c = ctx(req)
    s = svc(req)
    data = body(req, "backup")
    volume_id = text(data.get("volume_id"), "volume_id", 36)
    if not volume_id:
        raise errors.bad("'volume_id' is a required property")
    snapshot_id = text(data.get("snapshot_id"), "snapshot_id", 36)
    name = text(data.get("name"), "name")
    description = text(data.get("description"), "description")
    container = text(data.get("container"), "container")
    incremental = to_bool(data.get("incremental", False), "incremental")
    force = to_bool(data.get("force", False), "force")
    meta = metadata(data.get("metadata")) if version_at_least(req, "3.43") else {}
    if "availability_zone" in data:
        zone = text(data["availability_zone"], "availability_zone")
        if zone not in (None, s.options.volume_availability_zone):
            raise errors.bad(f"Availability zone '{zone}' is invalid.")
    if c.project_id is None:
        raise errors.bad("a project-scoped token is needed to create backups.")
    s.enforce(c, "backup:create", {"project_id": c.project_id})
    project = c.project_id
    limits = s.quota_limits(project)

    def write(conn: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        return backups.create(conn, project_id=project, user_id=c.user_id,
                              volume_id=volume_id, snapshot_id=snapshot_id, name=name,
                              description=description, container=container,
                              incremental=incremental, force=force, metadata=meta,
                              admin=c.is_admin, quota_defaults=limits,
                              task_deadline=deadline(s.options.volume_task_timeout))

    row, msg = s.db.write(write)
    s.send(msg, req.request_id)
    return json_response({"backup": {"id": row["id"], "name": row["name"],
                                     "links": views.links(req, "backups", row["id"])}}, 202)


def update(req: ApiRequest) -> Response:
    """3.9: name, description (and 3.43 metadata)."""
    c = ctx(req)
    s = svc(req)
    if not version_at_least(req, "3.9"):
        raise errors.bad("Updating a backup needs microversion 3.9 or later.")
    data = body(req, "backup")
    values: dict[str, Any] = {}
    for key in ("name", "description"):
        if key in data:
            values[key] = text(data[key], key)
    if "metadata" in data and version_at_least(req, "3.43"):
        values["metadata"] = metadata(data["metadata"])
    if not values:
        raise errors.bad("No backup attributes to update.")

    def write(conn: Any) -> dict[str, Any]:
        row = backups.get(conn, req.path_params["backup_id"], c.project_id, c.is_admin)
        s.enforce(c, "backup:update", {"project_id": row["project_id"]})
        return backups.update(conn, row, values)

    row = s.db.write(write)
    return json_response({"backup": {"id": row["id"], "name": row["name"],
                                     "links": views.links(req, "backups", row["id"])}})


def delete(req: ApiRequest) -> Response:
    c = ctx(req)
    s = svc(req)

    def write(conn: Any) -> dict[str, Any] | None:
        row = backups.get(conn, req.path_params["backup_id"], c.project_id, c.is_admin)
        s.enforce(c, "backup:delete", {"project_id": row["project_id"]})
        return backups.begin_delete(conn, row, False, deadline(s.options.volume_task_timeout))

    s.send(s.db.write(write), req.request_id)
    return empty_response(202)


def restore(req: ApiRequest) -> Response:
    c = ctx(req)
    s = svc(req)
    data = body(req, "restore")
    volume_id = text(data.get("volume_id"), "volume_id", 36)
    name = text(data.get("name"), "name")
    if c.project_id is None:
        raise errors.bad("a project-scoped token is needed to restore backups.")
    project = c.project_id
    limits = s.quota_limits(project)

    def write(conn: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        row = backups.get(conn, req.path_params["backup_id"], c.project_id, c.is_admin)
        s.enforce(c, "backup:restore", {"project_id": row["project_id"]})
        return backups.begin_restore(
            conn, row, volume_id=volume_id, name=name, project_id=project, user_id=c.user_id,
            admin=c.is_admin, quota_defaults=limits,
            default_az=s.options.volume_availability_zone,
            task_deadline=deadline(s.options.volume_task_timeout))

    out, msg = s.db.write(write)
    s.send(msg, req.request_id)
    return json_response({"restore": out}, 202)


def action(req: ApiRequest) -> Response:
    """``os-reset_status`` and ``os-force_delete`` (admin)."""
    c = ctx(req)
    s = svc(req)
    data = req.json()
    if not isinstance(data, dict) or len(data) != 1:
        raise errors.bad("There is no such action.")
    (name, arg), = data.items()
    if name == "os-reset_status":
        status = arg.get("status") if isinstance(arg, dict) else None
        if status not in STATUSES:
            raise errors.bad(f"Invalid backup status: {status}")
        s.enforce(c, "volume_extension:backup_admin_actions:reset_status", {})

        def write(conn: Any) -> None:
            row = backups.get(conn, req.path_params["backup_id"], c.project_id, True)
            backups.reset_status(conn, row, str(status))

        s.db.write(write)
        return empty_response(202)
    if name == "os-force_delete":
        s.enforce(c, "volume_extension:backup_admin_actions:force_delete", {})

        def force(conn: Any) -> dict[str, Any] | None:
            row = backups.get(conn, req.path_params["backup_id"], c.project_id, True)
            return backups.begin_delete(conn, row, True,
                                        deadline(s.options.volume_task_timeout))

        s.send(s.db.write(force), req.request_id)
        return empty_response(202)
    raise errors.bad(f"There is no such action: {name}")


def export_record(req: ApiRequest) -> Response:
    """The backup's record, for ``import_record`` after a database loss (admin)."""
    c = ctx(req)
    s = svc(req)
    s.enforce(c, "backup:backup-export", {})

    def read(conn: Any) -> dict[str, str]:
        row = backups.get(conn, req.path_params["backup_id"], c.project_id, True)
        return backup_records.export(conn, row)

    return json_response({"backup-record": s.db.read(read)})


def import_record(req: ApiRequest) -> Response:
    """A backup from an exported record: ``creating`` until the storage agent has found its
    data, then ``available`` (``error`` if the data is not there)."""
    c = ctx(req)
    s = svc(req)
    s.enforce(c, "backup:backup-import", {})
    data = body(req, "backup-record")
    service = data.get("backup_service")
    if service != backup_records.SERVICE:
        raise errors.bad(f"Backup service {service!r} is not available here (the backup "
                         f"service is {backup_records.SERVICE}).")
    record = backup_records.decode(data.get("backup_url"))
    if c.project_id is None:
        raise errors.bad("a project-scoped token is needed to import backups.")
    project = c.project_id
    o = s.options

    def write(conn: Any) -> tuple[dict[str, Any], dict[str, Any] | None]:
        live = {r["host"] for r in dservices.volume_hosts(conn, o.volume_service_down_time)}
        host = record.get("host") if record.get("host") in live else \
            dservices.pick_host(conn, o.volume_service_down_time, None)
        return backup_records.begin_import(
            conn, record, project_id=project, user_id=c.user_id, host=host,
            default_az=o.volume_availability_zone, quota_defaults=s.quota_defaults,
            task_deadline=deadline(o.volume_task_timeout))

    row, msg = s.db.write(write)
    s.send(msg, req.request_id)
    return json_response({"backup": {"id": row["id"], "name": row["name"],
                                     "links": views.links(req, "backups", row["id"])}}, 201)
