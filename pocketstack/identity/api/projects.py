"""``/v3/projects`` and project tags."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from pocketstack.common import exceptions
from pocketstack.common.api.app import ApiRequest, empty_response, json_response
from pocketstack.common.api.validation import validate
from pocketstack.identity import schemas
from pocketstack.identity.api import domain_projects
from pocketstack.identity.api.common import (
    body,
    bool_param,
    collection,
    enforce,
    one,
    string_filters,
    svc,
)
from pocketstack.identity.api.serializers import project_view
from pocketstack.identity.domain import domains, projects


def _tag_filter(req: ApiRequest, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    def tags(name: str) -> list[set[str]]:
        return [set(v.split(",")) for v in req.query.getlist(name)]

    out = items
    for wanted in tags("tags"):
        out = [p for p in out if wanted <= set(p["tags"])]
    for wanted in tags("tags-any"):
        out = [p for p in out if wanted & set(p["tags"])]
    for unwanted in tags("not-tags"):
        out = [p for p in out if not unwanted <= set(p["tags"])]
    for unwanted in tags("not-tags-any"):
        out = [p for p in out if not unwanted & set(p["tags"])]
    return out


def list_projects(req: ApiRequest) -> Response:
    domain_id = req.query.get("domain_id")
    enforce(req, "identity:list_projects", {"target.domain_id": domain_id or req.ctx.domain_id})
    if bool_param(req, "is_domain"):
        items = domain_projects.list_(req)
        return collection(req, "projects", _tag_filter(req, string_filters(req, items, ("name",))))
    filters = {"name": req.query.get("name"), "domain_id": domain_id,
               "parent_id": req.query.get("parent_id"), "enabled": bool_param(req, "enabled")}
    rows = svc(req).db.read(projects.list_, filters)
    items = [project_view(req, r) for r in rows]
    items = _tag_filter(req, string_filters(req, items, ("name",)))
    return collection(req, "projects", items)


def _with_hierarchy(req: ApiRequest, conn: Any, row: dict[str, Any]) -> dict[str, Any]:
    view = project_view(req, row)
    q = req.query
    if "parents_as_ids" in q:
        chain = projects.parents(conn, row)
        nested: dict[str, Any] | None = None
        for parent in reversed(chain):
            nested = {parent["id"]: nested}
        view["parents"] = nested
    if "parents_as_list" in q:
        view["parents"] = [{"project": project_view(req, p)} for p in projects.parents(conn, row)]
    if "subtree_as_ids" in q:
        def tree(pid: str) -> dict[str, Any] | None:
            kids = projects.children(conn, pid)
            return {k["id"]: tree(k["id"]) for k in kids} or None
        view["subtree"] = tree(row["id"])
    if "subtree_as_list" in q:
        view["subtree"] = [{"project": project_view(req, p)}
                           for p in projects.subtree(conn, row["id"])]
    return view


def get_project(req: ApiRequest) -> Response:
    project_id = req.path_params["project_id"]
    as_domain = _as_domain(req, project_id)
    if as_domain is not None:
        return domain_projects.get(req, as_domain)

    def read(conn):  # type: ignore[no-untyped-def]
        row = projects.get(conn, project_id)
        enforce(req, "identity:get_project", {"target.project_id": project_id,
                                              "target.domain_id": row["domain_id"]})
        return _with_hierarchy(req, conn, row)

    return one("project", svc(req).db.read(read))


def create_project(req: ApiRequest) -> Response:
    values = body(req, schemas.PROJECT_CREATE, "project")
    if values.pop("is_domain", False):
        return domain_projects.create(req, values)
    if not values.get("domain_id"):
        values["domain_id"] = (req.ctx.domain_id or req.ctx.project_domain_id
                               or domains.DEFAULT_DOMAIN_ID)
    enforce(req, "identity:create_project", {"target.domain_id": values["domain_id"]})
    depth = svc(req).limit_model.max_project_depth or projects.MAX_DEPTH
    row = svc(req).db.write(projects.create, values, depth)
    return one("project", project_view(req, row), 201)


def _as_domain(req: ApiRequest, project_id: str) -> dict[str, Any] | None:
    """The domain a project id names, if it is not a project's (projects acting as domains)."""
    try:
        svc(req).db.read(projects.get, project_id)
        return None
    except exceptions.NotFound:
        return domain_projects.lookup(req, project_id)


def _target(req: ApiRequest, project_id: str) -> dict[str, Any]:
    row = svc(req).db.read(projects.get, project_id)
    return {"target.project_id": project_id, "target.domain_id": row["domain_id"]}


def update_project(req: ApiRequest) -> Response:
    project_id = req.path_params["project_id"]
    as_domain = _as_domain(req, project_id)
    if as_domain is not None:
        return domain_projects.update(req, as_domain,
                                      body(req, schemas.PROJECT_UPDATE, "project"))
    enforce(req, "identity:update_project", _target(req, project_id))
    values = body(req, schemas.PROJECT_UPDATE, "project")
    row = svc(req).db.write(projects.update, project_id, values)
    return one("project", project_view(req, row))


def delete_project(req: ApiRequest) -> Response:
    project_id = req.path_params["project_id"]
    as_domain = _as_domain(req, project_id)
    if as_domain is not None:
        return domain_projects.delete(req, as_domain)
    enforce(req, "identity:delete_project", _target(req, project_id))
    svc(req).db.write(projects.delete, project_id)
    return empty_response()


# -- tags ---------------------------------------------------------------------------------------
def list_tags(req: ApiRequest) -> Response:
    project_id = req.path_params["project_id"]
    enforce(req, "identity:list_project_tags", _target(req, project_id))
    row = svc(req).db.read(projects.get, project_id)
    return json_response({"tags": row["tags"]})


def check_tag(req: ApiRequest) -> Response:
    project_id = req.path_params["project_id"]
    enforce(req, "identity:list_project_tags", _target(req, project_id))
    row = svc(req).db.read(projects.get, project_id)
    if req.path_params["tag"] not in row["tags"]:
        raise exceptions.NotFound(f"Tag {req.path_params['tag']} not found.")
    return empty_response()


def _set_tags(req: ApiRequest, project_id: str, tags: list[str]) -> dict[str, Any]:
    validate(schemas.TAGS, tags)
    return svc(req).db.write(projects.update, project_id, {"tags": tags})  # type: ignore


def replace_tags(req: ApiRequest) -> Response:
    project_id = req.path_params["project_id"]
    enforce(req, "identity:update_project_tags", _target(req, project_id))
    data = req.json()
    if not isinstance(data, dict) or not isinstance(data.get("tags"), list):
        raise exceptions.ValidationError("Invalid input for field 'tags'.")
    row = _set_tags(req, project_id, data["tags"])
    return json_response({"tags": row["tags"]})


def add_tag(req: ApiRequest) -> Response:
    project_id = req.path_params["project_id"]
    enforce(req, "identity:update_project_tags", _target(req, project_id))
    tag = req.path_params["tag"]
    row = svc(req).db.read(projects.get, project_id)
    if tag not in row["tags"]:
        _set_tags(req, project_id, [*row["tags"], tag])
    return empty_response(201, headers={"Location": req.url_for(req.path)})


def delete_tag(req: ApiRequest) -> Response:
    project_id = req.path_params["project_id"]
    enforce(req, "identity:update_project_tags", _target(req, project_id))
    tag = req.path_params["tag"]
    row = svc(req).db.read(projects.get, project_id)
    if tag not in row["tags"]:
        raise exceptions.NotFound(f"Tag {tag} not found.")
    _set_tags(req, project_id, [t for t in row["tags"] if t != tag])
    return empty_response()


def delete_all_tags(req: ApiRequest) -> Response:
    project_id = req.path_params["project_id"]
    enforce(req, "identity:update_project_tags", _target(req, project_id))
    _set_tags(req, project_id, [])
    return empty_response()
