"""``/os-migrations`` (every cold migration, resize and live migration; from 2.23 an
in-progress live migration links to its ``/servers/{id}/migrations/{id}``) and
``/servers/{id}/migrations`` (the in-progress live migrations of one server, 2.23+)."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from pocketstack.common import exceptions
from pocketstack.common.api.app import ApiRequest, json_response
from pocketstack.compute.api.admin_common import page_params, paginate, parse_time
from pocketstack.compute.api.common import allowed, enforce, link, svc, version_at_least
from pocketstack.compute.api.servers import load
from pocketstack.compute.domain import migrations
from pocketstack.compute.domain.common import isotime_us

_HOST_FIELDS = ("source_compute", "source_node", "dest_compute", "dest_node", "dest_host")
_FILTERS_259 = {"hidden", "host", "instance_uuid", "source_compute", "status",
                "migration_type", "limit", "marker", "changes-since"}


def _view(req: ApiRequest, row: dict[str, Any], show_hosts: bool) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": row["id"], "instance_uuid": row["instance_uuid"], "status": row["status"],
        "source_compute": row["source_compute"], "source_node": row["source_node"],
        "dest_compute": row["dest_compute"], "dest_node": row["dest_node"],
        "dest_host": row["dest_host"], "old_instance_type_id": row["old_instance_type_id"],
        "new_instance_type_id": row["new_instance_type_id"],
        "created_at": isotime_us(row["created_at"]), "updated_at": isotime_us(row["updated_at"]),
    }
    if not show_hosts:
        view.update(dict.fromkeys(_HOST_FIELDS))
    if version_at_least(req, "2.23"):
        view["migration_type"] = row["migration_type"]
        if _in_progress(row):
            view["links"] = link(req, f"servers/{row['instance_uuid']}/migrations", row["id"])
    if version_at_least(req, "2.59"):
        view["uuid"] = row["uuid"]
    if version_at_least(req, "2.80"):
        view["user_id"] = row["user_id"]
        view["project_id"] = row["project_id"]
    return view


def _in_progress(row: dict[str, Any]) -> bool:
    return bool(row["migration_type"] == "live-migration" and
                row["status"] in migrations.LIVE_IN_PROGRESS)


def _check_query(req: ApiRequest) -> None:
    """From 2.59 unknown query parameters are a 400 (before, they were ignored)."""
    if not version_at_least(req, "2.59"):
        return
    known = set(_FILTERS_259)
    if version_at_least(req, "2.66"):
        known.add("changes-before")
    if version_at_least(req, "2.80"):
        known |= {"user_id", "project_id"}
    for key in req.query:
        if key not in known:
            raise exceptions.BadRequest(
                "Invalid input for query parameters "
                f"{key}. Value: {req.query[key]}. Additional properties are not allowed "
                f"('{key}' was unexpected)")


def _matches(row: dict[str, Any], q: Any, include_user_project: bool) -> bool:
    if "host" in q and q["host"] not in (row["source_compute"], row["dest_compute"]):
        return False
    for key in ("instance_uuid", "source_compute", "migration_type"):
        if key in q and row[key] != q[key]:
            return False
    if "status" in q and row["status"] != q["status"]:
        return False
    if include_user_project:
        for key in ("user_id", "project_id"):
            if key in q and row[key] != q[key]:
                return False
    return True


def list_migrations(req: ApiRequest) -> Response:
    enforce(req, "os_compute_api:os-migrations:index", {"project_id": req.ctx.project_id})
    project_filter = req.query.get("project_id") if version_at_least(req, "2.80") else None
    if not project_filter or project_filter != req.ctx.project_id:
        enforce(req, "os_compute_api:os-migrations:index:all_projects")
    show_hosts = allowed(req, "os_compute_api:os-migrations:index:host")
    _check_query(req)
    if req.query.get("hidden", "").strip().lower() in ("1", "true", "yes", "on"):
        return json_response({"migrations": []})  # no migration is ever hidden
    since = before = None
    wanted = None
    if version_at_least(req, "2.59"):
        if "changes-since" in req.query:
            since = parse_time(req.query["changes-since"], "changes-since")
        if version_at_least(req, "2.66") and "changes-before" in req.query:
            before = parse_time(req.query["changes-before"], "changes-before")
            if since is not None and before < since:
                raise exceptions.BadRequest("The value of changes-since must be less than or "
                                            "equal to changes-before.")
        wanted = page_params(req)

    rows = svc(req).db.read(migrations.list_)
    include_user_project = version_at_least(req, "2.80")
    rows = [r for r in rows if _matches(r, req.query, include_user_project)]
    # as Nova, both compare updated_at: a migration not yet under way matches neither
    if since is not None:
        rows = [r for r in rows if r["updated_at"] is not None and r["updated_at"] >= since]
    if before is not None:
        rows = [r for r in rows if r["updated_at"] is not None and r["updated_at"] <= before]
    body: dict[str, Any] = {}
    if wanted is not None:
        rows, links = paginate(req, rows, wanted, lambda r: r["uuid"])
        if links:
            body["migrations_links"] = links
    body["migrations"] = [_view(req, r, show_hosts) for r in rows]
    return json_response(body)


def _server(req: ApiRequest, rule: str) -> dict[str, Any]:
    if not version_at_least(req, "2.23"):
        raise exceptions.NotFound("The resource could not be found.")
    row: dict[str, Any] = svc(req).db.read(lambda conn: load(req, conn))
    enforce(req, rule, {"project_id": row["project_id"]})
    return row


def _live_view(req: ApiRequest, row: dict[str, Any], show_hosts: bool) -> dict[str, Any]:
    """One in-progress live migration as ``/servers/{id}/migrations`` shows it (the byte
    counters are not measured: null, which Nova's schema allows)."""
    view: dict[str, Any] = {
        "id": row["id"], "server_uuid": row["instance_uuid"], "status": row["status"],
        "source_compute": row["source_compute"], "source_node": row["source_node"],
        "dest_compute": row["dest_compute"], "dest_node": row["dest_node"],
        "dest_host": row["dest_host"],
        **dict.fromkeys(("disk_processed_bytes", "disk_remaining_bytes", "disk_total_bytes",
                         "memory_processed_bytes", "memory_remaining_bytes",
                         "memory_total_bytes")),
        "created_at": isotime_us(row["created_at"]), "updated_at": isotime_us(row["updated_at"]),
    }
    if not show_hosts:
        view.update(dict.fromkeys(_HOST_FIELDS))
    if version_at_least(req, "2.59"):
        view["uuid"] = row["uuid"]
    if version_at_least(req, "2.80"):
        view["user_id"] = row["user_id"]
        view["project_id"] = row["project_id"]
    return view


def list_server_migrations(req: ApiRequest) -> Response:
    row = _server(req, "os_compute_api:servers:migrations:index")
    show_hosts = allowed(req, "os_compute_api:servers:migrations:index:host")
    found = [m for m in svc(req).db.read(migrations.list_, [row["uuid"]]) if _in_progress(m)]
    return json_response({"migrations": [_live_view(req, m, show_hosts) for m in found]})


def show_server_migration(req: ApiRequest) -> Response:
    row = _server(req, "os_compute_api:servers:migrations:show")
    migration_id = req.path_params["migration_id"]
    found = [m for m in svc(req).db.read(migrations.list_, [row["uuid"]])
             if str(m["id"]) == migration_id]
    if found and found[0]["migration_type"] != "live-migration":
        raise exceptions.NotFound(f"Migration {migration_id} for server {row['uuid']} is not "
                                  "live-migration.")
    if not found or not _in_progress(found[0]):
        raise exceptions.NotFound(f"In-progress live migration {migration_id} is not found "
                                  f"for server {row['uuid']}.")
    return json_response({"migration": _live_view(req, found[0], True)})
