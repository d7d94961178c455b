"""``/v3/snapshots``: create, list/detail (filters, sort, pages), show, update, delete,
metadata."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from pocketstack.common import exceptions
from pocketstack.common.api.app import ApiRequest, empty_response, json_response
from pocketstack.volume import errors
from pocketstack.volume.api import metadata_items, views
from pocketstack.volume.api.common import (
    body,
    ctx,
    listing,
    metadata,
    name_changes,
    paging,
    sort_spec,
    svc,
    text,
    to_bool,
    version_at_least,
)
from pocketstack.volume.domain import groups, snapshots, volumes
from pocketstack.volume.domain.common import deadline

_FILTERS = {"name", "status", "volume_id", "display_name"}


def _list(req: ApiRequest, detail: bool) -> Response:
    c = ctx(req)
    q = req.query
    project: str | None = c.project_id or ""
    if q.get("all_tenants") and to_bool(q["all_tenants"], "all_tenants"):
        svc(req).enforce(c, "volume:get_all_tenants", {"project_id": c.project_id or ""})
        project = q.get("project_id") or None
    filters = {("name" if k == "display_name" else k): v for k, v in q.items() if k in _FILTERS}
    meta: dict[str, str] = {}
    if q.get("metadata"):
        from pocketstack.volume.api.volumes import _parse_dict

        meta = _parse_dict(q["metadata"], "metadata")
    limit, marker, offset = paging(req)
    lq = volumes.ListQuery(project_id=project, filters=filters, metadata=meta,
                           sort=sort_spec(req, snapshots.SORT_KEYS), limit=limit,
                           marker=marker, offset=offset)
    def read(conn: Any) -> tuple[list[dict[str, Any]], bool]:
        rows, more = snapshots.list_snapshots(conn, lq)
        return (groups.with_group_snapshot_ids(conn, rows) if detail else rows), more

    rows, more = svc(req).db.read(read)
    items = [views.snapshot(req, r, c.is_admin) if detail else
             {"id": r["id"], "name": r["name"], "volume_id": r["volume_id"],
              "status": r["status"], "size": r["size"], "description": r["description"],
              "created_at": views.when(r["created_at"]),
              "updated_at": views.when(r["updated_at"]), "metadata": r["metadata"]}
             for r in rows]
    return json_response(listing(req, "snapshots", items, rows, more))


def list_snapshots(req: ApiRequest) -> Response:
    return _list(req, False)


def list_detail(req: ApiRequest) -> Response:
    return _list(req, True)


def _load(req: ApiRequest) -> dict[str, Any]:
    c = ctx(req)
    row: dict[str, Any] = svc(req).db.read(snapshots.get, req.path_params["snapshot_id"],
                                           c.project_id, c.is_admin)
    return row


def show(req: ApiRequest) -> Response:
    row = _load(req)
    svc(req).db.read(groups.with_group_snapshot_ids, [row])
    return json_response({"snapshot": views.snapshot(req, row, ctx(req).is_admin)})


def create(req: ApiRequest) -> Response:
    c = ctx(req)
    s = svc(req)
    data = body(req, "snapshot")
    volume_id = text(data.get("volume_id"), "volume_id", 36)
    if not volume_id:  # Cinder looks the volume up anyway: a 404
        raise errors.VolumeNotFound(str(volume_id))
    name = text(data.get("name", data.get("display_name")), "name")
    description = text(data.get("description", data.get("display_description")),
                       "description")
    force = to_bool(data.get("force", False), "force") or version_at_least(req, "3.66")
    meta = metadata(data.get("metadata"))
    if c.project_id is None:
        raise errors.bad("a project-scoped token is needed to create snapshots.")
    project = c.project_id
    limits = s.quota_limits(project)

    def write(conn: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        try:
            volume = volumes.get(conn, volume_id, c.project_id, c.is_admin)
        except exceptions.NotFound:
            raise errors.VolumeNotFound(volume_id) from None
        s.enforce(c, "volume:create_snapshot", {"project_id": volume["project_id"]})
        return snapshots.create(conn, volume, project_id=project, user_id=c.user_id,
                                name=name, description=description, metadata=meta,
                                force=force, quota_defaults=limits,
                                task_deadline=deadline(s.options.volume_task_timeout))

    row, msg = s.db.write(write)
    s.send(msg, req.request_id)
    return json_response({"snapshot": views.created(views.snapshot(req, row, c.is_admin))},
                         202)


def update(req: ApiRequest) -> Response:
    c = ctx(req)
    s = svc(req)
    data = body(req, "snapshot")
    values = name_changes(data)
    if not values:
        raise errors.bad("No snapshot attributes to update.")

    def write(conn: Any) -> dict[str, Any]:
        row = snapshots.get(conn, req.path_params["snapshot_id"], c.project_id, c.is_admin)
        s.enforce(c, "volume:update_snapshot", {"project_id": row["project_id"]})
        return snapshots.update(conn, row, values)

    return json_response({"snapshot": views.created(views.snapshot(req, s.db.write(write),
                                                                   c.is_admin))})


def delete(req: ApiRequest) -> Response:
    c = ctx(req)
    s = svc(req)

    def write(conn: Any) -> dict[str, Any] | None:
        row = snapshots.get(conn, req.path_params["snapshot_id"], c.project_id, c.is_admin)
        s.enforce(c, "volume:delete_snapshot", {"project_id": row["project_id"]})
        host = volumes.get(conn, row["volume_id"], None, True)["host"]
        return snapshots.begin_delete(conn, row, host, False,
                                      deadline(s.options.volume_task_timeout))

    s.send(s.db.write(write), req.request_id)
    return empty_response(202)


def action(req: ApiRequest) -> Response:
    """``os-reset_status`` and ``os-force_delete`` (admin), ``os-update_snapshot_status``."""
    c = ctx(req)
    s = svc(req)
    data = req.json()
    if not isinstance(data, dict) or len(data) != 1:
        raise errors.bad("There is no such action.")
    (name, arg), = data.items()
    if name in ("os-reset_status", "os-update_snapshot_status"):
        status = arg.get("status") if isinstance(arg, dict) else None
        if status not in ("available", "error", "creating", "deleting", "error_deleting"):
            raise errors.bad(f"Invalid status: {status}")
        values: dict[str, Any] = {"status": status, "task": None, "task_deadline": None}
        if name == "os-reset_status":
            s.enforce(c, "volume_extension:volume_admin_actions:reset_status", {})
        else:  # the owner's driver reports progress: creating → available/error
            progress = arg.get("progress")
            if progress is not None:
                values["progress"] = text(progress, "progress", 8)

        def write(conn: Any) -> None:
            row = snapshots.get(conn, req.path_params["snapshot_id"], c.project_id, c.is_admin)
            if name == "os-update_snapshot_status":
                s.enforce(c, "snapshot_extension:snapshot_actions:update_snapshot_status",
                          {"project_id": row["project_id"]})
            snapshots.update(conn, row, values)

        s.db.write(write)
        return empty_response(202)
    if name == "os-force_delete":
        s.enforce(c, "volume_extension:volume_admin_actions:force_delete", {})

        def force(conn: Any) -> dict[str, Any] | None:
            row = snapshots.get(conn, req.path_params["snapshot_id"], c.project_id, True)
            host = volumes.get(conn, row["volume_id"], None, True)["host"]
            return snapshots.begin_delete(conn, row, host, True,
                                          deadline(s.options.volume_task_timeout))

        s.send(s.db.write(force), req.request_id)
        return empty_response(202)
    raise errors.bad(f"There is no such action: {name}")


# -- metadata -----------------------------------------------------------------------------------
METADATA = metadata_items.Owner(
    "Snapshot", "snapshot_id", snapshots.get, snapshots.set_metadata,
    snapshots.delete_metadata, write_rule="volume:update_snapshot")
show_metadata = METADATA.show
show_metadata_item = METADATA.show_item
update_metadata_item = METADATA.update_item
delete_metadata_item = METADATA.delete_item


def create_metadata(req: ApiRequest) -> Response:
    return METADATA.write(req, False)


def replace_metadata(req: ApiRequest) -> Response:
    return METADATA.write(req, True)
