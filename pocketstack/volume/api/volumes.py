"""``/v3/volumes``: create (blank, from an image, a snapshot or a volume), list/detail with
Cinder's filters, sorting and pages, show, update, delete, and the metadata subresource."""

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
    to_int,
    version_at_least,
)
from pocketstack.volume.domain import groups, messages, volumes
from pocketstack.volume.domain import services as dservices
from pocketstack.volume.domain import types as vtypes
from pocketstack.volume.domain.common import deadline

_FILTERS = {"name", "status", "bootable", "availability_zone", "volume_type_id",
            "display_name"}
_IGNORED = {"sort", "sort_key", "sort_dir", "limit", "marker", "offset", "all_tenants",
            "with_count", "metadata", "project_id", "volume_type", "glance_metadata"}


def _target(row: dict[str, Any]) -> dict[str, Any]:
    return {"project_id": row["project_id"]}


def load(req: ApiRequest, ident: str | None = None) -> dict[str, Any]:
    c = ctx(req)
    vid = ident or req.path_params["volume_id"]
    row: dict[str, Any] = svc(req).db.read(volumes.get, vid, c.project_id, c.is_admin)
    return row


def _list_query(req: ApiRequest) -> volumes.ListQuery:
    c = ctx(req)
    q = req.query
    project: str | None = c.project_id or ""
    if q.get("all_tenants") and to_bool(q["all_tenants"], "all_tenants"):
        svc(req).enforce(c, "volume:get_all_tenants", {"project_id": c.project_id or ""})
        project = q.get("project_id") or None
    filters: dict[str, Any] = {}
    for key, value in q.items():
        if key in _FILTERS:
            column = "name" if key == "display_name" else key
            filters[column] = to_bool(value, key) if key == "bootable" else value
    meta: dict[str, str] = {}
    if q.get("metadata"):
        meta = _parse_dict(q["metadata"], "metadata")
    if q.get("volume_type"):
        from pocketstack.volume.domain import types

        filters["volume_type_id"] = svc(req).db.read(types.get, q["volume_type"],
                                                     c.project_id, c.is_admin)["id"]
    limit, marker, offset = paging(req)
    return volumes.ListQuery(project_id=project, filters=filters, metadata=meta,
                             sort=sort_spec(req, volumes.SORT_KEYS), limit=limit,
                             marker=marker, offset=offset)


def _parse_dict(value: str, name: str) -> dict[str, str]:
    import ast
    import json

    try:
        parsed = json.loads(value)
    except ValueError:
        try:
            parsed = ast.literal_eval(value)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            raise errors.bad(f"{name} filter must be a dictionary.") from None
    if not isinstance(parsed, dict):
        raise errors.bad(f"{name} filter must be a dictionary.")
    return {str(k): str(v) for k, v in parsed.items()}


def _list(req: ApiRequest, detail: bool) -> Response:
    c = ctx(req)
    q = _list_query(req)
    s = svc(req)

    def read(conn: Any) -> tuple[list[dict[str, Any]], bool, dict[str, str]]:
        rows, more = volumes.list_volumes(conn, q)
        if detail:
            groups.with_group_ids(conn, rows)
        return rows, more, volumes.type_names(conn)

    rows, more, names = s.db.read(read)
    items = [views.volume(req, r, names, c.is_admin) if detail else
             views.volume_summary(req, r) for r in rows]
    out = listing(req, "volumes", items, rows, more)
    if version_at_least(req, "3.45") and req.query.get("with_count") and \
            to_bool(req.query["with_count"], "with_count"):
        total = s.db.read(volumes.list_volumes, volumes.ListQuery(
            project_id=q.project_id, filters=q.filters, metadata=q.metadata, sort=q.sort))
        out["count"] = len(total[0])
    return json_response(out)


def list_volumes(req: ApiRequest) -> Response:
    return _list(req, False)


def list_detail(req: ApiRequest) -> Response:
    return _list(req, True)


def summary(req: ApiRequest) -> Response:
    """3.12 ``/volumes/summary``: count and total size of the caller's volumes (3.36: the
    union of their metadata values)."""
    c = ctx(req)
    if not version_at_least(req, "3.12"):
        raise exceptions.NotFound("Volume summary could not be found.")
    project: str | None = c.project_id or ""
    if req.query.get("all_tenants") and to_bool(req.query["all_tenants"], "all_tenants"):
        svc(req).enforce(c, "volume:get_all_tenants", {"project_id": c.project_id or ""})
        project = None
    rows, _ = svc(req).db.read(volumes.list_volumes, volumes.ListQuery(project_id=project))
    out: dict[str, Any] = {"total_size": sum(int(r["size"]) for r in rows),
                           "total_count": len(rows)}
    if version_at_least(req, "3.36"):
        meta: dict[str, list[str]] = {}
        for r in rows:
            for k, v in r["metadata"].items():
                if v not in meta.setdefault(k, []):
                    meta[k].append(v)
        out["metadata"] = meta
    return json_response({"volume-summary": out})


def show(req: ApiRequest) -> Response:
    c = ctx(req)
    vid = req.path_params["volume_id"]

    row, names = svc(req).db.read(volumes.get_shown, vid, c.project_id, c.is_admin)
    svc(req).enforce(c, "volume:get", _target(row))
    return json_response({"volume": views.volume(req, row, names, c.is_admin)})


def _image_source(req: ApiRequest, image_ref: Any) -> volumes.Source:
    if not isinstance(image_ref, str) or not image_ref:
        raise errors.bad("imageRef must be an image id.")
    images = svc(req).image_api()
    if images is None:
        raise errors.bad("No image service to create a volume from an image.")
    image = images.get_image_for_boot(ctx(req), image_ref)
    return volumes.Source("image", image.id, image.path, image.disk_format,
                          volumes.image_metadata_of(image), image.min_root_gb)


def create(req: ApiRequest) -> Response:
    c = ctx(req)
    s = svc(req)
    data = body(req, "volume")
    project = c.project_id
    if project is None:
        raise errors.bad("a project-scoped token is needed to create volumes.")
    s.enforce(c, "volume:create", {"project_id": project})
    size = None if data.get("size") is None else to_int(data["size"], "size", 1)
    name = text(data.get("name", data.get("display_name")), "name")
    description = text(data.get("description", data.get("display_description")),
                       "description")
    az = text(data.get("availability_zone"), "availability_zone")
    vtype = data.get("volume_type")
    if vtype is not None and not isinstance(vtype, str):
        raise errors.bad("volume_type must be a string.")
    meta = metadata(data.get("metadata"))
    multiattach = to_bool(data.get("multiattach", False), "multiattach")
    group_id = text(data.get("group_id"), "group_id", 36) if version_at_least(req, "3.13") \
        else None
    sources = [k for k in ("imageRef", "snapshot_id", "source_volid", "backup_id")
               if data.get(k) is not None]
    if len(sources) > 1:
        raise errors.bad("Only one of imageRef, snapshot_id or source_volid may be given.")
    if "backup_id" in sources:
        raise errors.bad("Creating a volume from a backup is not supported here.")
    source = volumes.Source()
    if "imageRef" in sources:
        source = _image_source(req, data["imageRef"])
    elif "snapshot_id" in sources:
        source = volumes.Source("snapshot", text(data["snapshot_id"], "snapshot_id", 36))
    elif "source_volid" in sources:
        source = volumes.Source("volume", text(data["source_volid"], "source_volid", 36))
    if size is None and source.kind not in ("snapshot", "volume"):
        raise errors.bad("'size' is a required property")
    o = s.options

    limits = s.quota_limits(project)

    def choose(conn: Any) -> tuple[str | None, dict[str, str]]:
        """The scheduler's pick (outside the write: only the quota check and the insert hold
        the writer)."""
        host = None
        if source.kind not in ("snapshot", "volume"):
            host = dservices.pick_host(conn, o.volume_service_down_time, None)
        if host and vtype is not None:  # a type pinned to another backend: no valid host
            specs = vtypes.get(conn, vtype, project, c.is_admin)["extra_specs"]
            caps = dservices.capabilities(conn, host)
            for key in ("volume_backend_name", "storage_protocol", "vendor_name"):
                if key in specs and str(caps.get(key)) != str(specs[key]):
                    host = None  # Cinder's capabilities filter: no valid backend
                    break
        return host, volumes.type_names(conn)

    host, names = s.db.read(choose)
    default_type = next((i for i, n in names.items() if n == vtypes.DEFAULT_NAME), None)

    def write(conn: Any) -> tuple[dict[str, Any], dict[str, Any] | None]:
        row, msg = volumes.create(
            conn, project_id=project, user_id=c.user_id, name=name, description=description,
            size=size, availability_zone=az, volume_type=vtype, metadata=meta, source=source,
            host=host, default_az=o.volume_availability_zone, quota_defaults=limits,
            admin=c.is_admin, task_deadline=deadline(o.volume_task_timeout),
            multiattach=multiattach, default_type_id=default_type)
        if group_id:  # 3.13: the new volume joins a group of its project
            group = groups.get(conn, group_id, project, c.is_admin)
            groups.check_member(conn, group, row)
            groups.add_member(conn, group["id"], row["id"])
            row["group_id"] = group["id"]
        if msg is None:  # no backend can take it: the volume is in error, the user told why
            messages.record(conn, project_id=project, resource_type=messages.VOLUME,
                            resource_uuid=row["id"], action=messages.SCHEDULE_ALLOCATE_VOLUME,
                            detail=messages.NO_BACKEND_AVAILABLE, request_id=req.request_id)
        return row, msg

    row, msg = s.db.write(write)
    if row["volume_type_id"] not in names:  # a type made since the read
        names = s.db.read(volumes.type_names)
    s.send(msg, req.request_id)
    return json_response({"volume": views.created(views.volume(req, row, names, c.is_admin))},
                         202)


def update(req: ApiRequest) -> Response:
    c = ctx(req)
    s = svc(req)
    data = body(req, "volume")
    values = name_changes(data)
    if "metadata" in data:
        values["metadata"] = metadata(data["metadata"])
    unknown = set(data) - {"name", "display_name", "description", "display_description",
                           "metadata"}
    if unknown:
        raise errors.bad(f"Additional properties are not allowed ({', '.join(sorted(unknown))} "
                         "were unexpected)")
    if not values:
        raise errors.bad("No volume attributes to update.")

    def write(conn: Any) -> tuple[dict[str, Any], dict[str, str]]:
        row = volumes.get(conn, req.path_params["volume_id"], c.project_id, c.is_admin)
        s.enforce(c, "volume:update", _target(row))
        updated = volumes.update(conn, row, values)
        groups.with_group_ids(conn, [updated])
        return updated, volumes.type_names(conn)

    row, names = s.db.write(write)
    return json_response({"volume": views.created(views.volume(req, row, names, c.is_admin))})


def delete(req: ApiRequest) -> Response:
    c = ctx(req)
    s = svc(req)
    cascade = to_bool(req.query.get("cascade", "false"), "cascade")
    force = to_bool(req.query.get("force", "false"), "force")
    if force:
        s.enforce(c, "volume:force_delete", {"project_id": c.project_id or ""})

    def write(conn: Any) -> list[dict[str, Any]]:
        row = volumes.get(conn, req.path_params["volume_id"], c.project_id, c.is_admin)
        s.enforce(c, "volume:delete", _target(row))
        return volumes.begin_delete(conn, row, cascade=cascade, force=force,
                                    task_deadline=deadline(s.options.volume_task_timeout))

    s.send(s.db.write(write), req.request_id)
    return empty_response(202)


# -- metadata -----------------------------------------------------------------------------------
METADATA = metadata_items.Owner(
    "Volume", "volume_id", volumes.get, volumes.set_metadata, volumes.delete_metadata,
    write_rule="volume:update", read_rule="volume:get", too_many_apart=True)
show_metadata = METADATA.show
show_metadata_item = METADATA.show_item
update_metadata_item = METADATA.update_item
delete_metadata_item = METADATA.delete_item


def create_metadata(req: ApiRequest) -> Response:
    return METADATA.write(req, False)


def replace_metadata(req: ApiRequest) -> Response:
    return METADATA.write(req, True)
