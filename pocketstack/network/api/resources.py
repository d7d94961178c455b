"""The generic CRUD handlers every Neutron collection shares (list with filters/fields/sort/
pages, show, create single or bulk, update with If-Match, delete) and the tags sub-API; each
collection plugs in its domain functions and view through a :class:`Resource`."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from starlette.responses import Response

from pocketstack.common import exceptions
from pocketstack.common.api.app import ApiRequest, Route, empty_response, json_response
from pocketstack.common.context import RequestContext
from pocketstack.network import errors, schemas
from pocketstack.network.api.common import (
    collection,
    if_match,
    list_query,
    page_links,
    pick_fields,
    svc,
)
from pocketstack.network.domain import common
from pocketstack.network.domain.common import ListQuery

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from pocketstack.network.service import NetworkService

Rows = tuple[list[dict[str, Any]], bool]


@dataclass(frozen=True)
class Resource:
    path: str  # URL segment: "security-groups"
    key: str  # JSON collection key: "security_groups"
    member: str  # "security_group"
    attrs: dict[str, schemas.Attr]
    filters: dict[str, str]
    view: Callable[[dict[str, Any], RequestContext], dict[str, Any]]
    get: Callable[[Connection, RequestContext, str], dict[str, Any]]
    list_rows: Callable[[ApiRequest, Connection, RequestContext, ListQuery], Rows]
    create: Callable[[NetworkService, Connection, RequestContext, dict[str, Any],
                      list[str] | None], dict[str, Any]]
    update: Callable[[NetworkService, Connection, RequestContext, str, dict[str, Any],
                      int | None], dict[str, Any]] | None
    delete: Callable[[NetworkService, Connection, RequestContext, str], None]
    tags: bool = True
    before: Callable[[NetworkService, RequestContext], None] | None = None
    #: lists through the view cache: (req, conn, ctx, q, known) with ``known`` telling which
    #: rows need no decoration (their serialised view is cached at their revision)
    list_cached: Callable[[ApiRequest, Connection, RequestContext, ListQuery,
                           Callable[[dict[str, Any]], bool]], Rows] | None = None
    decorate_rows: Callable[[Connection, list[dict[str, Any]]],
                            list[dict[str, Any]]] | None = None

    def enforce(self, req: ApiRequest, action: str, project_id: str | None) -> None:
        svc(req).enforce(req.ctx, f"{action}_{self.member}",
                                {"project_id": project_id or "", "tenant_id": project_id or ""})


def _project_for(req: ApiRequest, values: dict[str, Any]) -> str:
    ctx = req.ctx
    project = values.pop("project_id", None) or values.pop("tenant_id", None)
    values.pop("tenant_id", None)
    if project is None:
        if ctx.project_id is None:
            raise errors.HTTPBadRequest("'project_id' is required for system-scoped requests")
        return ctx.project_id
    if project != ctx.project_id and not ctx.is_admin:
        raise errors.PolicyNotAuthorized("(rule:create_for_other_project) is disallowed by "
                                         "policy: only an administrator may create a "
                                         "resource for another project")
    return str(project)


def handlers(res: Resource) -> list[Route]:
    base = f"/v2.0/{res.path}"
    item = base + "/{id}"

    def list_(req: ApiRequest) -> Response:
        res.enforce(req, "get", req.ctx.project_id)
        if res.before is not None:
            res.before(svc(req), req.ctx)
        q = list_query(req, res.path, res.filters)
        if res.list_cached is not None and not req.query.getlist("fields"):
            return _cached_list(req, res, q)
        rows, more = svc(req).db.read(lambda conn: res.list_rows(req, conn, req.ctx, q))
        return json_response(collection(req, res.key, [res.view(r, req.ctx) for r in rows],
                                        q, more))

    def show(req: ApiRequest) -> Response:
        if res.before is not None:
            res.before(svc(req), req.ctx)
        row = svc(req).db.read(res.get, req.ctx, req.path_params["id"])
        res.enforce(req, "get", row.get("project_id"))
        return json_response({res.member: pick_fields(req, res.view(row, req.ctx))})

    def create(req: ApiRequest) -> Response:
        body = req.json()
        bulk = isinstance(body, dict) and res.key in body and res.member not in body
        if bulk:
            if not isinstance(body[res.key], list) or not body[res.key]:
                raise errors.HTTPBadRequest("Resources required")
            items = [schemas.check_body(res.attrs, {res.member: b}, res.member, True,
                                        req.ctx.is_admin) for b in body[res.key]]
        else:
            items = [schemas.check_body(res.attrs, body, res.member, True, req.ctx.is_admin)]
        prepared: list[tuple[dict[str, Any], list[str] | None]] = []
        for values in items:
            values["project_id"] = _project_for(req, values)
            res.enforce(req, "create", values["project_id"])
            tags = values.pop("tags", None)
            prepared.append((values, None if tags is None else _check_tags(tags)))
        service = svc(req)

        def write(conn: Connection) -> list[dict[str, Any]]:
            return [res.create(service, conn, req.ctx, dict(v), tags) for v, tags in prepared]

        made = service.db.write(write)
        service.changed(res.member, [m["id"] for m in made])
        views = [res.view(m, req.ctx) for m in made]
        if bulk:
            return json_response({res.key: views}, status=201)
        return json_response({res.member: views[0]}, status=201)

    def update(req: ApiRequest) -> Response:
        assert res.update is not None
        values = schemas.check_body(res.attrs, req.json(), res.member, False, req.ctx.is_admin)
        object_id = req.path_params["id"]
        service = svc(req)
        revision = if_match(req)

        def write(conn: Connection) -> dict[str, Any]:
            current = res.get(conn, req.ctx, object_id)
            res.enforce(req, "update", current.get("project_id"))
            assert res.update is not None
            return res.update(service, conn, req.ctx, object_id, values, revision)

        for attempt in range(3):
            try:
                row = service.db.write(write)
                break
            except exceptions.ConcurrentUpdate:
                # another writer moved the revision between our read and our write; without
                # If-Match the caller asked for "apply to whatever is current": do it again
                if revision is not None or attempt == 2:
                    raise
        service.changed(res.member, [object_id])
        return json_response({res.member: res.view(row, req.ctx)})

    def delete(req: ApiRequest) -> Response:
        object_id = req.path_params["id"]
        service = svc(req)
        revision = if_match(req)

        def write(conn: Connection) -> None:
            current = res.get(conn, req.ctx, object_id)
            res.enforce(req, "delete", current.get("project_id"))
            if revision is not None and revision != current.get("revision_number"):
                raise errors.RevisionNumberConstraintFailed(
                    f"Constrained to {revision}, but current revision is "
                    f"{current.get('revision_number')}")
            res.delete(service, conn, req.ctx, object_id)

        service.db.write(write)
        service.changed(res.member, [object_id])
        return empty_response()

    routes = [Route("GET", base, list_), Route("POST", base, create),
              Route("GET", item, show), Route("DELETE", item, delete)]
    if res.update is not None:
        routes.append(Route("PUT", item, update))
    if res.tags:
        routes += tag_routes(res)
    return routes


def _cached_list(req: ApiRequest, res: Resource, q: ListQuery) -> Response:
    """A collection assembled from cached serialised views; only rows whose revision moved
    since they were last shown are decorated and serialised."""
    assert res.list_cached is not None
    cache = svc(req).view_cache
    ctx = req.ctx
    admin = ctx.is_admin

    def known(row: dict[str, Any]) -> bool:
        return cache.get(row["id"], admin, row["revision_number"]) is not None

    rows, more = svc(req).db.read(lambda conn: res.list_cached(req, conn, ctx, q, known))
    parts: list[bytes] = []
    evicted: list[int] = []  # cached when read, gone since: decorate now, do not cache
    for index, row in enumerate(rows):
        body = cache.get(row["id"], admin, row["revision_number"])
        if body is None:
            if "fixed_ips" not in row:
                evicted.append(index)
                parts.append(b"")
                continue
            body = json.dumps(res.view(row, ctx), separators=(",", ":")).encode()
            cache.put(row["id"], admin, row["revision_number"], body)
        parts.append(body)
    if evicted:
        assert res.decorate_rows is not None
        late = {row["id"]: row for row in svc(req).db.read(res.decorate_rows,
                                                            [rows[i] for i in evicted])}
        for index in evicted:
            row = late.get(rows[index]["id"])
            if row is not None:  # gone meanwhile: left out, as a later list would
                parts[index] = json.dumps(res.view(row, ctx), separators=(",", ":")).encode()
        parts = [p for p in parts if p]
    out = b'{"' + res.key.encode() + b'":[' + b",".join(parts) + b"]"
    if rows:
        links = page_links(req, q, more, rows[0]["id"], rows[-1]["id"])
        if links:
            out += b',"' + res.key.encode() + b'_links":' + json.dumps(links).encode()
    return Response(out + b"}", media_type="application/json")


# -- tags --------------------------------------------------------------------------------------
def _check_tags(tags: Any) -> list[str]:
    if not isinstance(tags, list):
        raise errors.HTTPBadRequest("Invalid input for tags. Reason: not a list.")
    for tag in tags:
        _check_tag(tag)
    return [str(tag) for tag in tags]


def _check_tag(tag: Any) -> str:
    if not isinstance(tag, str) or not tag or len(tag) > 255:
        raise errors.HTTPBadRequest(f"Invalid input for tags. Reason: '{tag}' is not a valid "
                                    "tag (a string of 1 to 255 characters).")
    return tag


def tag_routes(res: Resource) -> list[Route]:
    base = f"/v2.0/{res.path}/{{id}}/tags"

    def _owned(req: ApiRequest, conn: Connection) -> str:
        row = res.get(conn, req.ctx, req.path_params["id"])
        res.enforce(req, "update", row.get("project_id"))
        return str(row["id"])

    def get_all(req: ApiRequest) -> Response:
        def read(conn: Connection) -> list[str]:
            res.get(conn, req.ctx, req.path_params["id"])
            return common.tags_of(conn, res.path, [req.path_params["id"]])[
                req.path_params["id"]]
        return json_response({"tags": svc(req).db.read(read)})

    def get_one(req: ApiRequest) -> Response:
        tag = req.path_params["tag"]

        def read(conn: Connection) -> bool:
            res.get(conn, req.ctx, req.path_params["id"])
            return tag in common.tags_of(conn, res.path, [req.path_params["id"]])[
                req.path_params["id"]]
        if not svc(req).db.read(read):
            raise errors.not_found("Tag", tag, f"Tag {tag} could not be found.")
        return empty_response()

    def put_all(req: ApiRequest) -> Response:
        body = req.json()
        if not isinstance(body, dict) or "tags" not in body:
            raise errors.HTTPBadRequest("Invalid input for tags: the body needs 'tags'.")
        tags = _check_tags(body["tags"])

        def write(conn: Connection) -> list[str]:
            object_id = _owned(req, conn)
            out = common.replace_tags(conn, res.path, object_id, tags)
            common.bump_resource(conn, res.path, object_id)
            return out
        return json_response({"tags": svc(req).db.write(write)})

    def put_one(req: ApiRequest) -> Response:
        tag = _check_tag(req.path_params["tag"])

        def write(conn: Connection) -> None:
            object_id = _owned(req, conn)
            common.add_tag(conn, res.path, object_id, tag)
            common.bump_resource(conn, res.path, object_id)
        svc(req).db.write(write)
        return empty_response(201)

    def delete_all(req: ApiRequest) -> Response:
        def write(conn: Connection) -> None:
            object_id = _owned(req, conn)
            common.drop_tags(conn, res.path, object_id)
            common.bump_resource(conn, res.path, object_id)
        svc(req).db.write(write)
        return empty_response()

    def delete_one(req: ApiRequest) -> Response:
        tag = req.path_params["tag"]

        def write(conn: Connection) -> None:
            object_id = _owned(req, conn)
            if not common.remove_tag(conn, res.path, object_id, tag):
                raise errors.not_found("Tag", tag, f"Tag {tag} could not be found.")
            common.bump_resource(conn, res.path, object_id)
        svc(req).db.write(write)
        return empty_response()

    return [Route("GET", base, get_all), Route("PUT", base, put_all),
            Route("DELETE", base, delete_all), Route("GET", base + "/{tag}", get_one),
            Route("PUT", base + "/{tag}", put_one), Route("DELETE", base + "/{tag}", delete_one)]
