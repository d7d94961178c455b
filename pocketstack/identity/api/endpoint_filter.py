"""``/v3/OS-EP-FILTER``: endpoint groups and project ↔ endpoint (group) associations."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from pocketstack.common import exceptions
from pocketstack.common.api.app import ApiRequest, empty_response
from pocketstack.identity import schemas
from pocketstack.identity.api.common import (
    body,
    collection,
    enforce,
    link,
    one,
    require_same,
    string_filters,
    svc,
)
from pocketstack.identity.api.serializers import endpoint_view, project_view
from pocketstack.identity.domain import catalog, endpoint_groups, projects

PREFIX = "/v3/OS-EP-FILTER"


def _view(req: ApiRequest, row: dict[str, Any]) -> dict[str, Any]:
    return {"id": row["id"], "name": row["name"], "description": row["description"],
            "filters": row["filters"],
            "links": link(req, f"{PREFIX}/endpoint_groups/{row['id']}")}


# -- endpoint groups --------------------------------------------------------------------------
def list_groups(req: ApiRequest) -> Response:
    enforce(req, "identity:list_endpoint_groups")
    rows = svc(req).db.read(endpoint_groups.list_, req.query.get("name"))
    items = string_filters(req, [_view(req, r) for r in rows], ("name",))
    return collection(req, "endpoint_groups", items)


def get_group(req: ApiRequest) -> Response:
    enforce(req, "identity:get_endpoint_group")
    row = svc(req).db.read(endpoint_groups.get, req.path_params["endpoint_group_id"])
    return one("endpoint_group", _view(req, row))


def create_group(req: ApiRequest) -> Response:
    enforce(req, "identity:create_endpoint_group")
    values = body(req, schemas.ENDPOINT_GROUP_CREATE, "endpoint_group")
    return one("endpoint_group", _view(req, svc(req).db.write(endpoint_groups.create, values)),
               201)


def update_group(req: ApiRequest) -> Response:
    group_id = req.path_params["endpoint_group_id"]
    enforce(req, "identity:update_endpoint_group")
    values = body(req, schemas.ENDPOINT_GROUP_UPDATE, "endpoint_group")
    require_same(group_id, values.pop("id", None), "endpoint group")
    row = svc(req).db.write(endpoint_groups.update, group_id, values)
    return one("endpoint_group", _view(req, row))


def delete_group(req: ApiRequest) -> Response:
    enforce(req, "identity:delete_endpoint_group")
    svc(req).db.write(endpoint_groups.delete, req.path_params["endpoint_group_id"])
    return empty_response()


def list_group_endpoints(req: ApiRequest) -> Response:
    enforce(req, "identity:list_endpoints_associated_with_endpoint_group")

    def read(conn):  # type: ignore[no-untyped-def]
        group = endpoint_groups.get(conn, req.path_params["endpoint_group_id"])
        return endpoint_groups.endpoints_of(conn, group)

    return collection(req, "endpoints", (endpoint_view(req, r) for r in svc(req).db.read(read)))


def list_group_projects(req: ApiRequest) -> Response:
    enforce(req, "identity:list_projects_associated_with_endpoint_group")

    def read(conn):  # type: ignore[no-untyped-def]
        group_id = req.path_params["endpoint_group_id"]
        endpoint_groups.get(conn, group_id)
        ids = set(endpoint_groups.project_ids_of_group(conn, group_id))
        return projects.list_(conn, ids=ids)

    return collection(req, "projects", (project_view(req, r) for r in svc(req).db.read(read)))


# -- endpoint group ↔ project ---------------------------------------------------------------
def _group_and_project(conn: Any, req: ApiRequest) -> tuple[str, str]:
    group_id = req.path_params["endpoint_group_id"]
    project_id = req.path_params["project_id"]
    projects.get(conn, project_id)
    endpoint_groups.get(conn, group_id)
    return group_id, project_id


def get_group_in_project(req: ApiRequest) -> Response:
    enforce(req, "identity:get_endpoint_group_in_project")

    def read(conn):  # type: ignore[no-untyped-def]
        group_id, project_id = _group_and_project(conn, req)
        return endpoint_groups.group_in_project(conn, group_id, project_id)

    if not svc(req).db.read(read):
        raise exceptions.NotFound("Could not find Endpoint Group Project Association.")
    group_id, project_id = req.path_params["endpoint_group_id"], req.path_params["project_id"]
    return one("project_endpoint_group", {
        "endpoint_group_id": group_id, "project_id": project_id,
        "links": link(req, f"{PREFIX}/endpoint_groups/{group_id}/projects/{project_id}")})


def add_group_to_project(req: ApiRequest) -> Response:
    enforce(req, "identity:add_endpoint_group_to_project")

    def write(conn):  # type: ignore[no-untyped-def]
        endpoint_groups.add_group_to_project(conn, *_group_and_project(conn, req))

    svc(req).db.write(write)
    return empty_response()


def remove_group_from_project(req: ApiRequest) -> Response:
    enforce(req, "identity:remove_endpoint_group_from_project")

    def write(conn):  # type: ignore[no-untyped-def]
        endpoint_groups.remove_group_from_project(conn, *_group_and_project(conn, req))

    svc(req).db.write(write)
    return empty_response()


def list_project_groups(req: ApiRequest) -> Response:
    enforce(req, "identity:list_endpoint_groups_for_project")

    def read(conn):  # type: ignore[no-untyped-def]
        project_id = req.path_params["project_id"]
        projects.get(conn, project_id)
        return endpoint_groups.list_(conn, ids=endpoint_groups.group_ids_of_project(
            conn, project_id))

    return collection(req, "endpoint_groups", (_view(req, r) for r in svc(req).db.read(read)))


# -- endpoint ↔ project -----------------------------------------------------------------------
def _endpoint_and_project(conn: Any, req: ApiRequest) -> tuple[str, str]:
    endpoint_id, project_id = req.path_params["endpoint_id"], req.path_params["project_id"]
    catalog.get_endpoint(conn, endpoint_id)
    projects.get(conn, project_id)
    return endpoint_id, project_id


def check_endpoint_in_project(req: ApiRequest) -> Response:
    enforce(req, "identity:check_endpoint_in_project")

    def read(conn):  # type: ignore[no-untyped-def]
        return endpoint_groups.endpoint_in_project(conn, *_endpoint_and_project(conn, req))

    if not svc(req).db.read(read):
        raise exceptions.NotFound("Could not find project endpoint association.")
    return empty_response()


def add_endpoint_to_project(req: ApiRequest) -> Response:
    enforce(req, "identity:add_endpoint_to_project")

    def write(conn):  # type: ignore[no-untyped-def]
        endpoint_groups.add_endpoint_to_project(conn, *_endpoint_and_project(conn, req))

    svc(req).db.write(write)
    return empty_response()


def remove_endpoint_from_project(req: ApiRequest) -> Response:
    enforce(req, "identity:remove_endpoint_from_project")
    svc(req).db.write(endpoint_groups.remove_endpoint_from_project,
                      req.path_params["endpoint_id"], req.path_params["project_id"])
    return empty_response()


def list_project_endpoints(req: ApiRequest) -> Response:
    enforce(req, "identity:list_endpoints_for_project")

    def read(conn):  # type: ignore[no-untyped-def]
        projects.get(conn, req.path_params["project_id"])
        return endpoint_groups.endpoints_for_project(conn, req.path_params["project_id"])

    return collection(req, "endpoints", (endpoint_view(req, r) for r in svc(req).db.read(read)))


def list_endpoint_projects(req: ApiRequest) -> Response:
    enforce(req, "identity:list_projects_for_endpoint")

    def read(conn):  # type: ignore[no-untyped-def]
        endpoint_id = req.path_params["endpoint_id"]
        catalog.get_endpoint(conn, endpoint_id)
        ids = set(endpoint_groups.project_ids_of_endpoint(conn, endpoint_id))
        return projects.list_(conn, ids=ids)

    return collection(req, "projects", (project_view(req, r) for r in svc(req).db.read(read)))
