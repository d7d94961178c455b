"""``/v2/metadefs``: metadata definition namespaces and the resource types they apply to, and
the views and helpers the handlers of their contents (:mod:`.metadef_items`) share."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from starlette.responses import Response

from pocketstack.common import exceptions
from pocketstack.common.api.app import ApiRequest, empty_response, json_response
from pocketstack.common.api.validation import validate
from pocketstack.image.api.common import enforce, svc
from pocketstack.image.domain import metadefs
from pocketstack.image.domain.common import isotime
from pocketstack.image.metadef_schemas import (
    ASSOCIATION,
    NAMESPACE_SCHEMA,
    READ_ONLY,
)

DEFAULT_LIMIT, MAX_LIMIT = 25, 1000


# -- helpers ------------------------------------------------------------------------------------
def caller(req: ApiRequest) -> metadefs.Caller:
    return metadefs.Caller(req.ctx.project_id, req.ctx.is_admin)


def body(req: ApiRequest, schema: dict[str, Any]) -> dict[str, Any]:
    data = req.json()
    if not isinstance(data, dict):
        raise exceptions.BadRequest("Body expected in request.")
    for key in READ_ONLY:
        if key in data:
            raise exceptions.Forbidden(f"Attribute '{key}' is read-only.")
    return validate(schema, data)  # type: ignore[no-any-return]


def _compact(view: dict[str, Any]) -> dict[str, Any]:
    """Glance leaves unset fields out rather than writing nulls."""
    return {k: v for k, v in view.items() if v is not None}


def times(row: dict[str, Any]) -> dict[str, Any]:
    return {"created_at": isotime(row["created_at"]),
            "updated_at": isotime(row["updated_at"] or row["created_at"])}


def _ns_path(name: str) -> str:
    return f"/v2/metadefs/namespaces/{name}"


def _namespace_view(row: dict[str, Any], associations: list[dict[str, Any]]
                    ) -> dict[str, Any]:
    view = _compact({
        "namespace": row["namespace"], "display_name": row["display_name"],
        "description": row["description"], "visibility": row["visibility"],
        "protected": bool(row["protected"]), "owner": row["owner"], **times(row),
        "self": _ns_path(row["namespace"]), "schema": "/v2/schemas/metadefs/namespace"})
    if associations:
        view["resource_type_associations"] = [_association_view(a) for a in associations]
    return view


def _association_view(row: dict[str, Any]) -> dict[str, Any]:
    return _compact({"name": row["name"], "prefix": row["prefix"],
                     "properties_target": row["properties_target"], **times(row)})


def property_view(row: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    return {**row["schema"], "name": prefix + row["name"]}


def properties_map(rows: list[dict[str, Any]], prefix: str = "") -> dict[str, Any]:
    return {prefix + r["name"]: dict(r["schema"]) for r in rows}


def object_view(ns: str, row: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    props = {prefix + k: v for k, v in (row["properties"] or {}).items()}
    required = [prefix + n for n in row["required"] or []]
    return _compact({
        "name": row["name"], "description": row["description"],
        "required": required or None, "properties": props or None, **times(row),
        "self": f"{_ns_path(ns)}/objects/{row['name']}",
        "schema": "/v2/schemas/metadefs/object"})


def tag_view(row: dict[str, Any]) -> dict[str, Any]:
    return {"name": row["name"], **times(row)}


def load_namespace(req: ApiRequest, conn: Any) -> dict[str, Any]:
    return metadefs.get_namespace(conn, caller(req), req.path_params["namespace"])


# -- namespaces ---------------------------------------------------------------------------------
def _limit(req: ApiRequest) -> int:
    raw = req.query.get("limit")
    if raw is None:
        return DEFAULT_LIMIT
    try:
        limit = int(raw)
    except ValueError:
        raise exceptions.BadRequest("limit param must be an integer") from None
    if limit < 0:
        raise exceptions.BadRequest("limit param must be positive")
    return min(limit, MAX_LIMIT)


def list_namespaces(req: ApiRequest) -> Response:
    enforce(req, "get_metadef_namespaces")
    q = req.query
    sort_dir = q.get("sort_dir", "desc")
    if sort_dir not in ("asc", "desc"):
        raise exceptions.BadRequest(f"Invalid sort direction: {sort_dir}")
    visibility = q.get("visibility")
    if visibility and visibility not in ("public", "private"):
        raise exceptions.BadRequest(f"Invalid visibility value: {visibility}")
    types = [x.strip() for x in (q.get("resource_types") or "").split(",") if x.strip()]
    limit = _limit(req)

    def read(conn: Any) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
        rows = metadefs.list_namespaces(
            conn, caller(req), visibility=visibility, resource_types=types,
            sort_key=q.get("sort_key", "created_at"), sort_dir=sort_dir,
            marker=q.get("marker"), limit=limit)
        return [(r, metadefs.list_associations(conn, r)) for r in rows]

    rows = svc(req).db.read(read)
    params = [(k, v) for k, v in q.multi_items() if k != "marker"]
    first = "/v2/metadefs/namespaces" + (f"?{urlencode(params)}" if params else "")
    body: dict[str, Any] = {"namespaces": [_namespace_view(r, a) for r, a in rows],
                            "first": first, "schema": "/v2/schemas/metadefs/namespaces"}
    if rows and len(rows) == limit:
        body["next"] = "/v2/metadefs/namespaces?" + urlencode(
            [*params, ("marker", rows[-1][0]["namespace"])])
    return json_response(body)


def create_namespace(req: ApiRequest) -> Response:
    enforce(req, "add_metadef_namespace")
    values = body(req, NAMESPACE_SCHEMA)
    for key, rule in (("resource_type_associations", "add_metadef_resource_type_association"),
                      ("objects", "add_metadef_object"), ("properties", "add_metadef_property"),
                      ("tags", "add_metadef_tag")):
        if values.get(key):
            enforce(req, rule)
    svc(req).db.write(metadefs.create_namespace, caller(req), values)
    return show_namespace(req, values["namespace"], 201)


def show_namespace(req: ApiRequest, name: str | None = None, status: int = 200) -> Response:
    enforce(req, "get_metadef_namespace")
    name = name or req.path_params["namespace"]
    wanted_type = req.query.get("resource_type") if status == 200 else None

    def read(conn: Any) -> dict[str, Any]:
        ns = metadefs.get_namespace(conn, caller(req), name)
        associations = metadefs.list_associations(conn, ns)
        prefix = next((a["prefix"] or "" for a in associations
                       if wanted_type and a["name"] == wanted_type), "")
        view = _namespace_view(ns, associations)
        props = metadefs.list_members(conn, ns, "properties")
        objects = metadefs.list_members(conn, ns, "objects")
        tags = metadefs.list_members(conn, ns, "tags")
        if props:
            view["properties"] = properties_map(props, prefix)
        if objects:
            view["objects"] = [object_view(name, o, prefix) for o in objects]
        if tags:
            view["tags"] = [{"name": tg["name"]} for tg in tags]
        return view

    view = svc(req).db.read(read)
    headers = {"Location": _ns_path(name)} if status == 201 else None
    return json_response(view, status=status, headers=headers)


def update_namespace(req: ApiRequest) -> Response:
    enforce(req, "modify_metadef_namespace")
    values = body(req, NAMESPACE_SCHEMA)

    def write(conn: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        row = metadefs.update_namespace(conn, caller(req), req.path_params["namespace"],
                                        values)
        return row, metadefs.list_associations(conn, row)

    row, associations = svc(req).db.write(write)
    return json_response(_namespace_view(row, associations))


def delete_namespace(req: ApiRequest) -> Response:
    enforce(req, "delete_metadef_namespace")
    svc(req).db.write(metadefs.delete_namespace, caller(req), req.path_params["namespace"])
    return empty_response()


def _delete_all(kind: str, rule: str) -> Any:
    def handler(req: ApiRequest) -> Response:
        enforce(req, "delete_metadef_namespace")
        enforce(req, rule)
        svc(req).db.write(metadefs.delete_members, caller(req),
                          req.path_params["namespace"], kind)
        return empty_response()
    return handler


delete_objects = _delete_all("objects", "delete_metadef_object")
delete_properties = _delete_all("properties", "remove_metadef_property")
delete_tags = _delete_all("tags", "delete_metadef_tags")


# -- resource types -----------------------------------------------------------------------------
def list_resource_types(req: ApiRequest) -> Response:
    enforce(req, "list_metadef_resource_types")
    rows = svc(req).db.read(metadefs.list_resource_types)
    return json_response({"resource_types": [{"name": r["name"], **times(r)} for r in rows]})


def list_associations(req: ApiRequest) -> Response:
    enforce(req, "get_metadef_resource_type")
    rows = svc(req).db.read(lambda conn: metadefs.list_associations(
        conn, load_namespace(req, conn)))
    return json_response({"resource_type_associations": [_association_view(r) for r in rows]})


def create_association(req: ApiRequest) -> Response:
    enforce(req, "add_metadef_resource_type_association")
    values = body(req, ASSOCIATION)
    row = svc(req).db.write(lambda conn: metadefs.associate(conn, load_namespace(req, conn),
                                                            values))
    return json_response(_association_view(row), status=201)


def delete_association(req: ApiRequest) -> Response:
    enforce(req, "remove_metadef_resource_type_association")
    svc(req).db.write(lambda conn: metadefs.dissociate(
        conn, load_namespace(req, conn), req.path_params["resource_type"]))
    return empty_response()
