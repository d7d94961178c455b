"""``/v2/metadefs/namespaces/{namespace}/{objects,properties,tags}``: the definitions a
namespace holds."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from pocketstack.common import exceptions
from pocketstack.common.api.app import ApiRequest, empty_response, json_response
from pocketstack.common.api.validation import query_bool, validate
from pocketstack.image.api.common import enforce, svc
from pocketstack.image.api.metadefs import (
    body,
    load_namespace,
    object_view,
    properties_map,
    property_view,
    tag_view,
)
from pocketstack.image.domain import metadefs
from pocketstack.image.metadef_schemas import OBJECT, PROPERTY, TAG, TAGS


# -- objects ------------------------------------------------------------------------------------
def list_objects(req: ApiRequest) -> Response:
    enforce(req, "get_metadef_objects")
    name = req.path_params["namespace"]

    def read(conn: Any) -> list[dict[str, Any]]:
        return metadefs.list_members(conn, load_namespace(req, conn), "objects")

    rows = svc(req).db.read(read)
    return json_response({"objects": [object_view(name, r) for r in rows],
                          "schema": "v2/schemas/metadefs/objects"})


def create_object(req: ApiRequest) -> Response:
    enforce(req, "add_metadef_object")
    values = body(req, OBJECT)
    name = req.path_params["namespace"]
    row = svc(req).db.write(lambda conn: metadefs.add_member(
        conn, load_namespace(req, conn), "objects", metadefs.object_row(values)))
    return json_response(object_view(name, row), status=201)


def show_object(req: ApiRequest) -> Response:
    enforce(req, "get_metadef_object")
    name = req.path_params["namespace"]
    row = svc(req).db.read(lambda conn: metadefs.get_member(
        conn, load_namespace(req, conn), "objects", req.path_params["object_name"]))
    return json_response(object_view(name, row))


def update_object(req: ApiRequest) -> Response:
    enforce(req, "modify_metadef_object")
    values = body(req, OBJECT)
    name = req.path_params["namespace"]
    row = svc(req).db.write(lambda conn: metadefs.update_member(
        conn, load_namespace(req, conn), "objects", req.path_params["object_name"],
        metadefs.object_row(values)))
    return json_response(object_view(name, row))


def delete_object(req: ApiRequest) -> Response:
    enforce(req, "delete_metadef_object")
    svc(req).db.write(lambda conn: metadefs.delete_member(
        conn, load_namespace(req, conn), "objects", req.path_params["object_name"]))
    return empty_response()


# -- properties ---------------------------------------------------------------------------------
def _property_values(body: dict[str, Any]) -> dict[str, Any]:
    if "name" not in body:
        raise exceptions.BadRequest("'name' is a required property")
    schema = {k: v for k, v in body.items() if k != "name"}
    return {"name": body["name"], "schema": schema}


def list_properties(req: ApiRequest) -> Response:
    enforce(req, "get_metadef_properties")
    rows = svc(req).db.read(lambda conn: metadefs.list_members(
        conn, load_namespace(req, conn), "properties"))
    return json_response({"properties": properties_map(rows)})


def create_property(req: ApiRequest) -> Response:
    enforce(req, "add_metadef_property")
    values = _property_values(body(req, PROPERTY))
    row = svc(req).db.write(lambda conn: metadefs.add_member(
        conn, load_namespace(req, conn), "properties", values))
    return json_response(property_view(row), status=201)


def show_property(req: ApiRequest) -> Response:
    """A property by name; with ``resource_type``, the name carries that type's prefix."""
    enforce(req, "get_metadef_property")
    name = req.path_params["property_name"]
    wanted_type = req.query.get("resource_type")

    def read(conn: Any) -> dict[str, Any]:
        ns = load_namespace(req, conn)
        prefix = ""
        if wanted_type:
            found = [a for a in metadefs.list_associations(conn, ns)
                     if a["name"] == wanted_type]
            if not found:
                raise exceptions.NotFound(f"Resource type {wanted_type} is not associated "
                                          f"with namespace {ns['namespace']}")
            prefix = found[0]["prefix"] or ""
            if prefix and not name.startswith(prefix):
                raise exceptions.NotFound(f"Property {name} does not start with the expected "
                                          f"resource type association prefix of '{prefix}'.")
        row = metadefs.get_member(conn, ns, "properties", name[len(prefix):])
        return property_view(row, prefix)

    return json_response(svc(req).db.read(read))


def update_property(req: ApiRequest) -> Response:
    enforce(req, "modify_metadef_property")
    values = _property_values(body(req, PROPERTY))
    row = svc(req).db.write(lambda conn: metadefs.update_member(
        conn, load_namespace(req, conn), "properties", req.path_params["property_name"], values))
    return json_response(property_view(row))


def delete_property(req: ApiRequest) -> Response:
    enforce(req, "remove_metadef_property")
    svc(req).db.write(lambda conn: metadefs.delete_member(
        conn, load_namespace(req, conn), "properties", req.path_params["property_name"]))
    return empty_response()


# -- tags ---------------------------------------------------------------------------------------
def list_tags(req: ApiRequest) -> Response:
    enforce(req, "get_metadef_tags")
    rows = svc(req).db.read(lambda conn: metadefs.list_members(
        conn, load_namespace(req, conn), "tags"))
    return json_response({"tags": [tag_view(r) for r in rows]})


def create_tags(req: ApiRequest) -> Response:
    enforce(req, "add_metadef_tags")
    names = [x["name"] for x in body(req, TAGS)["tags"]]
    append = bool(query_bool(req.headers.get("x-openstack-append"), False))
    svc(req).db.write(lambda conn: metadefs.replace_tags(
        conn, load_namespace(req, conn), names, append))
    return json_response({"tags": [{"name": n} for n in names]}, status=201)


def create_tag(req: ApiRequest) -> Response:
    enforce(req, "add_metadef_tag")
    tag = req.path_params["tag_name"]
    validate(TAG, {"name": tag})
    row = svc(req).db.write(lambda conn: metadefs.add_member(
        conn, load_namespace(req, conn), "tags", {"name": tag}))
    return json_response(tag_view(row), status=201)


def show_tag(req: ApiRequest) -> Response:
    enforce(req, "get_metadef_tag")
    row = svc(req).db.read(lambda conn: metadefs.get_member(
        conn, load_namespace(req, conn), "tags", req.path_params["tag_name"]))
    return json_response(tag_view(row))


def update_tag(req: ApiRequest) -> Response:
    enforce(req, "modify_metadef_tag")
    values = body(req, TAG)
    row = svc(req).db.write(lambda conn: metadefs.update_member(
        conn, load_namespace(req, conn), "tags", req.path_params["tag_name"],
        {"name": values["name"]}))
    return json_response(tag_view(row))


def delete_tag(req: ApiRequest) -> Response:
    enforce(req, "delete_metadef_tag")
    svc(req).db.write(lambda conn: metadefs.delete_member(
        conn, load_namespace(req, conn), "tags", req.path_params["tag_name"]))
    return empty_response()
