"""``/v2/images``: create, list, show, JSON-patch update, delete, (de)activate, tags."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from starlette.responses import Response

from pocketstack.common import exceptions
from pocketstack.common.api.app import ApiRequest, empty_response, json_response
from pocketstack.common.api.validation import validate
from pocketstack.image import schemas
from pocketstack.image.api.common import enforce, image_view, svc
from pocketstack.image.domain import images
from pocketstack.image.domain.common import parse_isotime

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

PATCH_TYPES = ("application/openstack-images-v2.1-json-patch",
               "application/openstack-images-v2.0-json-patch")
MAX_LIMIT = 1000
DEFAULT_LIMIT = 25
IMPORT_HEADER = {"OpenStack-image-import-methods": "glance-direct"}


def _check_writable(key: str) -> None:
    if key in schemas.READ_ONLY:
        raise exceptions.Forbidden(f"Attribute '{key}' is read-only.")
    if key in schemas.RESERVED or key.startswith(schemas.RESERVED_PREFIX):
        raise exceptions.Forbidden(f"Attribute '{key}' is reserved.")


def _enforce_visibility_and_owner(req: ApiRequest, visibility: str | None,
                                  owner: str | None, target: dict[str, Any]) -> None:
    if visibility == "public":
        enforce(req, "publicize_image", target)
    elif visibility == "community":
        enforce(req, "communitize_image", target)
    if owner is not None and owner != req.ctx.project_id:
        enforce(req, "set_image_owner", target)


def _split(doc: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    base = {k: v for k, v in doc.items() if k in schemas.WRITABLE_BASE}
    props = {k: v for k, v in doc.items() if k not in schemas.WRITABLE_BASE}
    return base, props


# -- create / show / delete --------------------------------------------------------------------
def new_image_values(req: ApiRequest, data: Any
                     ) -> tuple[dict[str, Any], dict[str, str], list[str]]:
    """Base attributes, custom properties and tags of an image the caller may create from
    ``data`` (400/403 otherwise); also used by the ``import`` task."""
    if not isinstance(data, dict):
        raise exceptions.BadRequest("Image body must be a JSON object.")
    for key in data:
        _check_writable(key)
    validate(schemas.IMAGE_VALUES, data)
    base, props = _split(data)
    owner = base.get("owner") or req.ctx.project_id
    base["owner"] = owner
    target = {"project_id": owner or "", "member_id": "",
              "visibility": base.get("visibility") or "shared"}
    enforce(req, "add_image", {"project_id": req.ctx.project_id or ""})
    _enforce_visibility_and_owner(req, base.get("visibility"), owner, target)
    tags = base.pop("tags", [])
    return base, props, tags


def create_image(req: ApiRequest) -> Response:
    base, props, tags = new_image_values(req, req.json())
    image = svc(req).db.write(images.create, base, props, tags,
                              svc(req).quotas_for(base.get("owner")))
    headers = {"Location": req.url_for(f"/v2/images/{image['id']}"), **IMPORT_HEADER}
    return json_response(image_view(image), status=201, headers=headers)


def _visible(req: ApiRequest, conn: Connection, image_id: str, rule: str) -> dict[str, Any]:
    image = images.get_visible(conn, req.ctx, image_id)
    enforce(req, rule, images.policy_target(image, req.ctx))
    return image


def show_image(req: ApiRequest) -> Response:
    image_id = req.path_params["image_id"]
    image = svc(req).db.read(lambda conn: _visible(req, conn, image_id, "get_image"))
    return json_response(image_view(image))


def delete_image(req: ApiRequest) -> Response:
    image_id = req.path_params["image_id"]

    def write(conn: Connection) -> list[str]:
        _visible(req, conn, image_id, "delete_image")
        return images.delete(conn, image_id)

    for location in svc(req).db.write(write):
        svc(req).store.delete(location)
    cache = svc(req).cache
    if cache is not None:  # a deleted image leaves the node's cache and queue
        cache.delete(image_id)
    return empty_response()


# -- list --------------------------------------------------------------------------------------
_CONTROL = {"limit", "marker", "sort", "sort_key", "sort_dir", "member_status", "visibility",
            "tag", "changes-since", "created_at", "updated_at", "size_min", "size_max",
            "os_hidden"}
_COLUMN_FILTERS = {"id", "name", "status", "owner", "container_format", "disk_format",
                   "size", "virtual_size", "min_disk", "min_ram", "protected", "checksum",
                   "os_hash_algo", "os_hash_value"}


def _int_param(req: ApiRequest, name: str) -> int | None:
    value = req.query.get(name)
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        raise exceptions.BadRequest(f"Invalid value for {name}: {value!r}") from None


def _in_values(value: str) -> list[str]:
    if value.startswith("in:"):
        items = [v.strip().strip('"') for v in value[3:].split(",")]
        return [v for v in items if v] or [""]
    return [value]


def _parse_sort(req: ApiRequest) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    sort = req.query.get("sort")
    keys = req.query.getlist("sort_key")
    dirs = req.query.getlist("sort_dir")
    if sort is not None and (keys or dirs):
        raise exceptions.BadRequest("The 'sort' parameter cannot be combined with 'sort_key' "
                                    "or 'sort_dir'.")
    if sort is not None:
        for part in sort.split(","):
            key, _, direction = part.strip().partition(":")
            out.append((key, direction or "desc"))
    elif keys:
        if len(dirs) > 1 and len(dirs) != len(keys):
            raise exceptions.BadRequest("Number of sort dirs does not match the number of "
                                        "sort keys")
        for i, key in enumerate(keys):
            direction = dirs[i] if len(dirs) > 1 else (dirs[0] if dirs else "desc")
            out.append((key, direction))
    elif dirs:
        out.append(("created_at", dirs[0]))
    for key, direction in out:
        if key not in images.SORT_KEYS:
            raise exceptions.BadRequest(f"Invalid sort key: {key}. It must be one of the "
                                        f"following: {', '.join(images.SORT_KEYS)}.")
        if direction not in ("asc", "desc"):
            raise exceptions.BadRequest(f"Invalid sort direction: {direction}")
    return out


def parse_list_query(req: ApiRequest) -> images.ListQuery:
    q = req.query
    limit = _int_param(req, "limit")
    if limit is None:
        limit = DEFAULT_LIMIT
    if limit < 0:
        raise exceptions.BadRequest("limit param must be positive")
    limit = min(limit, MAX_LIMIT)
    visibility = q.get("visibility")
    if visibility is not None and visibility not in (*schemas.VISIBILITIES, "all"):
        raise exceptions.BadRequest(f"Invalid visibility value: {visibility}")
    member_status = q.get("member_status", "accepted")
    if member_status not in (*schemas.MEMBER_STATUSES, "all"):
        raise exceptions.BadRequest(f"Invalid status value: {member_status}")
    os_hidden: bool | None = False
    if "os_hidden" in q:
        os_hidden = images.coerce_filter("os_hidden", q["os_hidden"])
    filters: dict[str, list[str]] = {}
    properties: dict[str, str] = {}
    for key, value in q.multi_items():
        if key in _CONTROL:
            continue
        if key in _COLUMN_FILTERS:
            filters[key] = _in_values(value)
        else:
            properties[key] = value
    times: list[tuple[str, str, Any]] = []
    if "changes-since" in q:
        times.append(("updated_at", "gte", parse_isotime(q["changes-since"])))
    for column in ("created_at", "updated_at"):
        for value in q.getlist(column):
            op, sep, when = value.partition(":")
            if not sep or op not in images.DATE_OPS:
                op, when = "eq", value
            times.append((column, op, parse_isotime(when)))
    return images.ListQuery(
        filters=filters, properties=properties, tags=q.getlist("tag"),
        visibility=visibility, member_status=member_status, os_hidden=os_hidden,
        size_min=_int_param(req, "size_min"), size_max=_int_param(req, "size_max"),
        time_filters=times, sort=_parse_sort(req), limit=limit, marker=q.get("marker"),
    )


def list_images(req: ApiRequest) -> Response:
    enforce(req, "get_images", {"project_id": req.ctx.project_id or ""})
    query = parse_list_query(req)
    found, more = svc(req).db.read(images.list_images, req.ctx, query)
    body: dict[str, Any] = {
        "images": [image_view(i) for i in found],
        "first": "/v2/images",
        "schema": "/v2/schemas/images",
    }
    if more and found:
        params = [(k, v) for k, v in req.query.multi_items() if k != "marker"]
        params.append(("marker", found[-1]["id"]))
        body["next"] = "/v2/images?" + urlencode(params)
    return json_response(body)


# -- update (JSON patch) -----------------------------------------------------------------------
def _pointer(path: Any) -> str:
    if not isinstance(path, str) or not path.startswith("/"):
        raise exceptions.BadRequest(f"Pointer `{path}` does not start with \"/\".")
    parts = path[1:].split("/")
    root = parts[0].replace("~1", "/").replace("~0", "~")
    if not root:
        raise exceptions.BadRequest(f"Pointer `{path}` contains adjacent \"/\".")
    if len(parts) > 1:
        if root == "locations":
            raise exceptions.Forbidden("It's not allowed to update locations if locations "
                                       "are invisible.")
        raise exceptions.BadRequest(f"Nested paths are not allowed: {path}")
    return root


def _parse_patch(req: ApiRequest) -> list[tuple[str, str, Any]]:
    content_type = req.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in PATCH_TYPES:
        exc = exceptions.UnsupportedMediaType(
            f"Unsupported Content-Type {content_type or '(none)'!r}; use one of "
            f"{', '.join(PATCH_TYPES)}.")
        exc.headers["Accept-Patch"] = ", ".join(PATCH_TYPES)
        raise exc
    data = req.json()
    if not isinstance(data, list):
        raise exceptions.BadRequest("Request body must be a JSON array of operation objects.")
    ops: list[tuple[str, str, Any]] = []
    for item in data:
        if not isinstance(item, dict):
            raise exceptions.BadRequest("Operations must be JSON objects.")
        if content_type == PATCH_TYPES[0]:
            op = item.get("op")
            if op not in ("add", "remove", "replace"):
                raise exceptions.BadRequest(f"Invalid operation: `{op}`.")
            path = item.get("path")
        else:
            names = [k for k in ("add", "remove", "replace") if k in item]
            if len(names) != 1:
                raise exceptions.BadRequest("Operation objects must contain exactly one "
                                            "member named \"add\", \"remove\", or "
                                            "\"replace\".")
            op = names[0]
            path = item[op]
        root = _pointer(path)
        if op != "remove" and "value" not in item:
            raise exceptions.BadRequest(f"Operation \"{op}\" requires a member named "
                                        "\"value\".")
        ops.append((op, root, item.get("value")))
    return ops


def _apply_patch(image: dict[str, Any], ops: list[tuple[str, str, Any]]) -> dict[str, Any]:
    view = image_view(image)
    doc: dict[str, Any] = {k: copy.deepcopy(v) for k, v in view.items()
                           if k in schemas.WRITABLE_BASE or k in image["properties"]}
    for op, root, value in ops:
        if root == "locations":
            raise exceptions.Forbidden("It's not allowed to update locations if locations are "
                                       "invisible.")
        _check_writable(root)
        if root == "id":
            raise exceptions.Forbidden("Attribute 'id' is read-only.")
        if root in ("disk_format", "container_format") and image["status"] != "queued" \
                and value != doc.get(root):
            raise exceptions.Forbidden(f"Attribute {root} can be only replaced for a queued "
                                       "image.")
        base = root in schemas.WRITABLE_BASE
        if op == "add":
            doc[root] = value
        elif op == "replace":
            if not base and root not in doc:
                raise exceptions.Conflict(f"Property {root} does not exist.")
            doc[root] = value
        else:  # remove
            if base:
                raise exceptions.Forbidden(f"Property {root} may not be removed.")
            if root not in doc:
                raise exceptions.Conflict(f"Property {root} does not exist.")
            del doc[root]
    validate(schemas.IMAGE_VALUES, doc)
    return doc


def update_image(req: ApiRequest) -> Response:
    image_id = req.path_params["image_id"]
    ops = _parse_patch(req)
    service = svc(req)

    def write(conn: Connection) -> dict[str, Any]:
        image = _visible(req, conn, image_id, "modify_image")
        doc = _apply_patch(image, ops)
        base, props = _split(doc)
        target = images.policy_target(image, req.ctx)
        columns = {k: v for k, v in base.items()
                   if k not in ("tags", "id") and v != image[k]}
        _enforce_visibility_and_owner(
            req, columns.get("visibility"),
            columns["owner"] if "owner" in columns else None, target)
        if "owner" in columns and columns["owner"] is None:
            raise exceptions.BadRequest("owner may not be null.")
        set_props = {k: v for k, v in props.items() if image["properties"].get(k) != v}
        removed = [k for k in image["properties"] if k not in props]
        tags = base["tags"] if base.get("tags") != image["tags"] else None
        if not (columns or set_props or removed or tags is not None):
            return image
        return images.update(conn, image_id, image["generation"], columns, set_props, removed,
                             tags, service.quotas)

    return json_response(image_view(service.db.write(write)))


# -- actions and tags --------------------------------------------------------------------------
def deactivate(req: ApiRequest) -> Response:
    image_id = req.path_params["image_id"]

    def write(conn: Connection) -> None:
        _visible(req, conn, image_id, "deactivate")
        images.set_status(conn, image_id, ("active",), "deactivated", "deactivate")

    svc(req).db.write(write)
    return empty_response()


def reactivate(req: ApiRequest) -> Response:
    image_id = req.path_params["image_id"]

    def write(conn: Connection) -> None:
        _visible(req, conn, image_id, "reactivate")
        images.set_status(conn, image_id, ("deactivated",), "active", "reactivate")

    svc(req).db.write(write)
    return empty_response()


def add_tag(req: ApiRequest) -> Response:
    image_id = req.path_params["image_id"]
    tag = req.path_params["tag"]
    if len(tag) > 255:
        raise exceptions.BadRequest("Tags may be at most 255 characters long.")

    def write(conn: Connection) -> None:
        _visible(req, conn, image_id, "modify_image")
        images.add_tag(conn, image_id, tag, svc(req).quotas)

    svc(req).db.write(write)
    return empty_response()


def delete_tag(req: ApiRequest) -> Response:
    image_id = req.path_params["image_id"]

    def write(conn: Connection) -> None:
        _visible(req, conn, image_id, "modify_image")
        images.delete_tag(conn, image_id, req.path_params["tag"])

    svc(req).db.write(write)
    return empty_response()
