"""``/v3/groups`` (3.13+: create, list/detail, show, update with add/remove volumes, delete,
reset status 3.20; ``create-from-src`` 3.14) and ``/v3/group_snapshots`` (3.14+: create,
list/detail, show, delete, reset status 3.19). See :mod:`pocketstack.volume.domain.groups`."""

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
    paging,
    sort_spec,
    svc,
    text,
    to_bool,
    version_at_least,
)
from pocketstack.volume.api.group_types import since
from pocketstack.volume.domain import common as dcommon
from pocketstack.volume.domain import groups
from pocketstack.volume.domain.common import deadline


def _project(req: ApiRequest) -> str | None:
    c = ctx(req)
    q = req.query
    if q.get("all_tenants") and to_bool(q["all_tenants"], "all_tenants"):
        svc(req).enforce(c, "volume:get_all_tenants", {"project_id": c.project_id or ""})
        return q.get("project_id") or None
    return c.project_id or ""


def _ids(value: Any, name: str) -> list[str]:
    if value is None or value == "":
        return []
    if not isinstance(value, str):
        raise errors.bad(f"{name} must be a comma-separated string of volume ids.")
    return [v.strip() for v in value.split(",") if v.strip()]


def view(req: ApiRequest, row: dict[str, Any], members: list[str] | None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": row["id"], "name": row["name"], "description": row["description"],
        "status": row["status"], "availability_zone": row["availability_zone"],
        "created_at": views.when(row["created_at"]), "group_type": row["group_type_id"],
        "volume_types": list(row["volume_type_ids"])}
    if version_at_least(req, "3.14"):
        out["group_snapshot_id"] = row["group_snapshot_id"]
        out["source_group_id"] = row["source_group_id"]
    if members is not None:
        out["volumes"] = members
    if version_at_least(req, "3.38"):
        out["replication_status"] = "disabled"
    return out


def _list(req: ApiRequest, detail: bool) -> Response:
    since(req, "3.13")
    c = ctx(req)
    svc(req).enforce(c, "group:get_all", {"project_id": c.project_id or ""})
    limit, marker, offset = paging(req)
    project = _project(req)
    with_volumes = version_at_least(req, "3.25") and to_bool(
        req.query.get("list_volume", "false"), "list_volume")

    def read(conn: Any) -> tuple[list[dict[str, Any]], bool, dict[str, list[str]]]:
        rows = groups.list_groups(conn, project, sort_spec(req, groups.SORT_KEYS))
        page, more = dcommon.page(rows, marker, offset, limit)
        members = {r["id"]: groups.member_ids(conn, r["id"]) for r in page} \
            if with_volumes else {}
        return page, more, members

    rows, more, members = svc(req).db.read(read)
    items = [view(req, r, members.get(r["id"]) if with_volumes else None) if detail else
             {"id": r["id"], "name": r["name"]} for r in rows]
    return json_response(listing(req, "groups", items, rows, more))


def list_groups(req: ApiRequest) -> Response:
    return _list(req, False)


def list_detail(req: ApiRequest) -> Response:
    return _list(req, True)


def show(req: ApiRequest) -> Response:
    since(req, "3.13")
    c = ctx(req)
    with_volumes = version_at_least(req, "3.25") and to_bool(
        req.query.get("list_volume", "false"), "list_volume")

    def read(conn: Any) -> tuple[dict[str, Any], list[str]]:
        row = groups.get(conn, req.path_params["group_id"], c.project_id, c.is_admin)
        return row, groups.member_ids(conn, row["id"]) if with_volumes else []

    row, members = svc(req).db.read(read)
    svc(req).enforce(c, "group:get", {"project_id": row["project_id"]})
    return json_response({"group": view(req, row, members if with_volumes else None)})


def create(req: ApiRequest) -> Response:
    since(req, "3.13")
    c = ctx(req)
    s = svc(req)
    if c.project_id is None:
        raise errors.bad("a project-scoped token is needed to create groups.")
    s.enforce(c, "group:create", {"project_id": c.project_id})
    data = body(req, "group")
    group_type = data.get("group_type")
    if not isinstance(group_type, str) or not group_type:
        raise errors.bad("group_type must be provided to create group.")
    row = s.db.write(
        lambda conn: groups.create(
            conn, project_id=str(c.project_id), user_id=c.user_id,
            name=text(data.get("name"), "name"),
            description=text(data.get("description"), "description"), group_type=group_type,
            volume_types=data.get("volume_types"),
            availability_zone=text(data.get("availability_zone"), "availability_zone"),
            default_az=s.options.volume_availability_zone, admin=c.is_admin))
    return json_response({"group": {"id": row["id"], "name": row["name"]}}, 202)


def update(req: ApiRequest) -> Response:
    since(req, "3.13")
    c = ctx(req)
    s = svc(req)
    data = body(req, "group")
    values: dict[str, Any] = {}
    for key in ("name", "description"):
        if key in data:
            values[key] = text(data[key], key)
    add = _ids(data.get("add_volumes"), "add_volumes")
    remove = _ids(data.get("remove_volumes"), "remove_volumes")
    if not values and not add and not remove:
        raise errors.bad("Name, description, add_volumes, and remove_volumes can not be all "
                         "empty in the request body.")
    if set(add) & set(remove):
        raise errors.bad("A volume cannot be both added to and removed from a group.")

    def write(conn: Any) -> None:
        row = groups.get(conn, req.path_params["group_id"], c.project_id, c.is_admin)
        s.enforce(c, "group:update", {"project_id": row["project_id"]})
        groups.update(conn, row, values, add, remove, c.project_id, c.is_admin)

    s.db.write(write)
    return empty_response(202)


def action(req: ApiRequest) -> Response:
    """``delete`` (``delete-volumes``) and ``reset_status`` (3.20, admin)."""
    since(req, "3.13")
    c = ctx(req)
    s = svc(req)
    data = req.json()
    if not isinstance(data, dict) or len(data) != 1:
        raise errors.bad("There is no such action.")
    (name, arg), = data.items()
    if name == "delete":
        delete_volumes = to_bool((arg or {}).get("delete-volumes", False)
                                 if isinstance(arg, dict) else False, "delete-volumes")

        def delete(conn: Any) -> list[dict[str, Any]]:
            row = groups.get(conn, req.path_params["group_id"], c.project_id, c.is_admin)
            s.enforce(c, "group:delete", {"project_id": row["project_id"]})
            return groups.begin_delete(conn, row, delete_volumes,
                                       deadline(s.options.volume_task_timeout))

        s.send(s.db.write(delete), req.request_id)
        return empty_response(202)
    if name == "reset_status" and version_at_least(req, "3.20"):
        status = arg.get("status") if isinstance(arg, dict) else None
        if status not in groups.STATUSES:
            raise errors.bad(f"Invalid group status: {status}")
        s.enforce(c, "group:reset_status", {})

        def reset(conn: Any) -> None:
            row = groups.get(conn, req.path_params["group_id"], c.project_id, True)
            groups.reset_status(conn, row, str(status))

        s.db.write(reset)
        return empty_response(202)
    raise errors.bad(f"There is no such action: {name}")


def create_from_source(req: ApiRequest) -> Response:
    """``POST /groups/action {"create-from-src": …}`` (3.14)."""
    since(req, "3.14")
    c = ctx(req)
    s = svc(req)
    data = req.json()
    arg = data.get("create-from-src") if isinstance(data, dict) else None
    if not isinstance(arg, dict):
        raise errors.bad("There is no such action.")
    if c.project_id is None:
        raise errors.bad("a project-scoped token is needed to create groups.")
    s.enforce(c, "group:create", {"project_id": c.project_id})
    gsnap = text(arg.get("group_snapshot_id"), "group_snapshot_id", 36)
    source = text(arg.get("source_group_id"), "source_group_id", 36)
    if bool(gsnap) == bool(source):
        raise errors.bad("Either 'group_snapshot_id' or 'source_group_id' must be provided "
                         "to create group from source.")
    o = s.options

    def write(conn: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        return groups.create_from_source(
            conn, project_id=str(c.project_id), user_id=c.user_id,
            name=text(arg.get("name"), "name"),
            description=text(arg.get("description"), "description"),
            source_group_id=source, group_snapshot_id=gsnap, admin=c.is_admin,
            quota_defaults=s.quota_defaults, default_az=o.volume_availability_zone,
            task_deadline=deadline(o.volume_task_timeout))

    row, msgs = s.db.write(write)
    s.send(msgs, req.request_id)
    return json_response({"group": {"id": row["id"], "name": row["name"]}}, 202)


# -- group snapshots -----------------------------------------------------------------------------
def snapshot_view(row: dict[str, Any]) -> dict[str, Any]:
    return {"id": row["id"], "name": row["name"], "description": row["description"],
            "status": row["status"], "group_id": row["group_id"],
            "group_type_id": row["group_type_id"],
            "created_at": views.when(row["created_at"])}


def _list_snapshots(req: ApiRequest, detail: bool) -> Response:
    since(req, "3.14")
    c = ctx(req)
    svc(req).enforce(c, "group:get_all_group_snapshots", {"project_id": c.project_id or ""})
    limit, marker, offset = paging(req)
    project = _project(req)
    rows = svc(req).db.read(groups.list_snapshots, project,
                            sort_spec(req, {"id", "name", "status", "created_at"}))
    page, more = dcommon.page(rows, marker, offset, limit)
    items = [snapshot_view(r) if detail else {"id": r["id"], "name": r["name"]} for r in page]
    return json_response(listing(req, "group_snapshots", items, page, more))


def list_snapshots(req: ApiRequest) -> Response:
    return _list_snapshots(req, False)


def list_snapshots_detail(req: ApiRequest) -> Response:
    return _list_snapshots(req, True)


def show_snapshot(req: ApiRequest) -> Response:
    since(req, "3.14")
    c = ctx(req)
    row = svc(req).db.read(groups.get_snapshot, req.path_params["group_snapshot_id"],
                           c.project_id, c.is_admin)
    svc(req).enforce(c, "group:get_group_snapshot", {"project_id": row["project_id"]})
    return json_response({"group_snapshot": snapshot_view(row)})


def create_snapshot(req: ApiRequest) -> Response:
    since(req, "3.14")
    c = ctx(req)
    s = svc(req)
    data = body(req, "group_snapshot")
    group_id = data.get("group_id")
    if not isinstance(group_id, str) or not group_id:
        raise errors.bad("group_id must be provided to create group snapshot.")
    name = text(data.get("name"), "name")
    description = text(data.get("description"), "description")

    def write(conn: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        group = groups.get(conn, group_id, c.project_id, c.is_admin)
        s.enforce(c, "group:create_group_snapshot", {"project_id": group["project_id"]})
        return groups.create_snapshot(
            conn, group=group, user_id=c.user_id, name=name, description=description,
            quota_defaults=s.quota_defaults,
            task_deadline=deadline(s.options.volume_task_timeout))

    row, msgs = s.db.write(write)
    s.send(msgs, req.request_id)
    return json_response({"group_snapshot": {"id": row["id"], "name": row["name"],
                                             "group_type_id": row["group_type_id"]}}, 202)


def delete_snapshot(req: ApiRequest) -> Response:
    since(req, "3.14")
    c = ctx(req)
    s = svc(req)

    def write(conn: Any) -> list[dict[str, Any]]:
        row = groups.get_snapshot(conn, req.path_params["group_snapshot_id"], c.project_id,
                                  c.is_admin)
        s.enforce(c, "group:delete_group_snapshot", {"project_id": row["project_id"]})
        return groups.delete_snapshot(conn, row, deadline(s.options.volume_task_timeout))

    s.send(s.db.write(write), req.request_id)
    return empty_response(202)


def snapshot_action(req: ApiRequest) -> Response:
    """``reset_status`` (3.19, admin)."""
    since(req, "3.19")
    c = ctx(req)
    s = svc(req)
    data = req.json()
    arg = data.get("reset_status") if isinstance(data, dict) and len(data) == 1 else None
    if not isinstance(arg, dict):
        raise errors.bad("There is no such action.")
    status = arg.get("status")
    if status not in ("available", "creating", "error", "deleting", "error_deleting"):
        raise errors.bad(f"Invalid group snapshot status: {status}")
    s.enforce(c, "group:reset_group_snapshot_status", {})

    def write(conn: Any) -> None:
        row = groups.get_snapshot(conn, req.path_params["group_snapshot_id"], c.project_id,
                                  True)
        groups.reset_snapshot_status(conn, row, str(status))

    s.db.write(write)
    return empty_response(202)
