"""``/v2/tasks``: the legacy ``import`` task (download an image from a URL) and task lookup."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from starlette.responses import Response

from pocketstack.common import exceptions
from pocketstack.common.api.app import ApiRequest, json_response
from pocketstack.image import task_import
from pocketstack.image.api.common import enforce, svc, task_view
from pocketstack.image.api.images import new_image_values
from pocketstack.image.domain import images, tasks
from pocketstack.image.domain.common import isotime

STATUSES = ("pending", "processing", "success", "failure")
DEFAULT_LIMIT, MAX_LIMIT = 25, 1000


def _access(req: ApiRequest, rule: str) -> None:
    enforce(req, "tasks_api_access")
    enforce(req, rule)


def _view(task: dict[str, Any]) -> dict[str, Any]:
    """A task as ``GET /v2/tasks/{id}`` shows it (absent optional fields are left out)."""
    return {k: v for k, v in task_view(task).items()
            if v is not None or k in ("result", "message", "input")}


def _stub(task: dict[str, Any]) -> dict[str, Any]:
    view = {"id": task["id"], "type": task["type"], "status": task["status"],
            "owner": task["owner"], "created_at": isotime(task["created_at"]),
            "updated_at": isotime(task["updated_at"]), "self": f"/v2/tasks/{task['id']}",
            "schema": "/v2/schemas/task"}
    if task["expires_at"]:
        view["expires_at"] = isotime(task["expires_at"])
    return view


def create_task(req: ApiRequest) -> Response:
    _access(req, "add_task")
    body = req.json()
    if not isinstance(body, dict):
        raise exceptions.BadRequest("Body expected in request.")
    for key in ("type", "input"):
        if key not in body:
            raise exceptions.BadRequest(f"Task '{key}' is required")
    extra = set(body) - {"type", "input"}
    if extra:
        raise exceptions.BadRequest(f"Additional properties are not allowed ({sorted(extra)})")
    if body["type"] != "import":
        raise exceptions.BadRequest(f"Invalid type value: {body['type']}")
    task_input = body["input"]
    if not isinstance(task_input, dict):
        raise exceptions.BadRequest("Task 'input' must be an object")
    service = svc(req)
    task_import.check_source(task_input.get("import_from"),
                             service.settings.image_import_allowed_ports)
    if not isinstance(task_input.get("image_properties"), dict):
        raise exceptions.BadRequest("Input does not contain 'image_properties' field")
    base, props, tags = new_image_values(req, task_input["image_properties"])
    if not base.get("disk_format") or not base.get("container_format"):
        raise exceptions.BadRequest("Properties disk_format, container_format must be set "
                                    "prior to importing data.")
    ctx = req.ctx
    quotas = service.quotas_for(base.get("owner"))

    def write(conn: Any) -> dict[str, Any]:
        image = images.create(conn, base, props, tags, quotas)
        return tasks.create_import(conn, image["id"], ctx.project_id, ctx.user_id,
                                   req.request_id, task_input)

    task = service.db.write(write)
    task_import.start(service, task["id"])
    return json_response(_view(task), status=201,
                         headers={"Location": req.url_for(f"/v2/tasks/{task['id']}")})


def show_task(req: ApiRequest) -> Response:
    _access(req, "get_task")
    task = svc(req).db.read(tasks.get, req.path_params["task_id"], req.ctx.project_id,
                            req.ctx.is_admin)
    return json_response(_view(task))


def list_tasks(req: ApiRequest) -> Response:
    _access(req, "get_tasks")
    q = req.query
    status, type_ = q.get("status"), q.get("type")
    if status and status not in STATUSES:
        raise exceptions.BadRequest(f"Invalid status value: {status}")
    if type_ and type_ != "import":
        raise exceptions.BadRequest(f"Invalid type value: {type_}")
    sort_dir = q.get("sort_dir", "desc")
    if sort_dir not in ("asc", "desc"):
        raise exceptions.BadRequest(f"Invalid sort direction: {sort_dir}")
    try:
        limit = min(int(q.get("limit", DEFAULT_LIMIT)), MAX_LIMIT)
    except ValueError:
        raise exceptions.BadRequest("limit param must be an integer") from None
    if limit < 0:
        raise exceptions.BadRequest("limit param must be positive")
    rows = svc(req).db.read(tasks.list_, req.ctx.project_id, req.ctx.is_admin, type_=type_,
                            status=status, sort_key=q.get("sort_key", "created_at"),
                            sort_dir=sort_dir)
    marker = q.get("marker")
    if marker:
        ids = [r["id"] for r in rows]
        if marker not in ids:
            raise exceptions.BadRequest(f"Invalid marker. Task {marker} could not be found.")
        rows = rows[ids.index(marker) + 1:]
    rows = rows[:limit]
    params = [(k, v) for k, v in q.multi_items() if k != "marker"]
    body: dict[str, Any] = {
        "tasks": [_stub(r) for r in rows], "schema": "/v2/schemas/tasks",
        "first": "/v2/tasks" + (f"?{urlencode(params)}" if params else "")}
    if rows and len(rows) == limit:
        body["next"] = "/v2/tasks?" + urlencode([*params, ("marker", rows[-1]["id"])])
    return json_response(body)
