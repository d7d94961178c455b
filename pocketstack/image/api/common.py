"""Helpers shared by the image handlers: the service, policy, views."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pocketstack.common.api.app import ApiRequest
from pocketstack.image.domain.common import isotime

if TYPE_CHECKING:
    from pocketstack.image.service import ImageService


def svc(req: ApiRequest) -> ImageService:
    return req.state["image"]  # type: ignore[no-any-return]


def enforce(req: ApiRequest, rule: str, target: dict[str, Any] | None = None) -> None:
    svc(req).policy.enforce(req.ctx, rule, target)


def image_view(image: dict[str, Any]) -> dict[str, Any]:
    """An image as Glance writes it: flat, custom properties as top-level keys."""
    image_id = image["id"]
    view: dict[str, Any] = dict(image["properties"])
    view.update({
        "id": image_id,
        "name": image["name"],
        "status": image["status"],
        "visibility": image["visibility"],
        "protected": bool(image["protected"]),
        "os_hidden": bool(image["os_hidden"]),
        "tags": list(image["tags"]),
        "disk_format": image["disk_format"],
        "container_format": image["container_format"],
        "size": image["size"],
        "virtual_size": image["virtual_size"],
        "checksum": image["checksum"],
        "os_hash_algo": image["os_hash_algo"],
        "os_hash_value": image["os_hash_value"],
        "owner": image["owner"],
        "min_disk": image["min_disk"],
        "min_ram": image["min_ram"],
        "created_at": isotime(image["created_at"]),
        "updated_at": isotime(image["updated_at"]),
        "self": f"/v2/images/{image_id}",
        "file": f"/v2/images/{image_id}/file",
        "schema": "/v2/schemas/image",
    })
    return view


def member_view(member: dict[str, Any]) -> dict[str, Any]:
    return {
        "created_at": isotime(member["created_at"]),
        "updated_at": isotime(member["updated_at"]),
        "image_id": member["image_id"],
        "member_id": member["member"],
        "status": member["status"],
        "schema": "/v2/schemas/member",
    }


def task_view(task: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": task["id"],
        "type": task["type"],
        "status": task["status"],
        "owner": task["owner"],
        "user_id": task["user_id"],
        "request_id": task["request_id"],
        "image_id": task["image_id"],
        "input": task["input"],
        "result": task["result"],
        "message": task["message"],
        "created_at": isotime(task["created_at"]),
        "updated_at": isotime(task["updated_at"]),
        "expires_at": isotime(task["expires_at"]),
        "self": f"/v2/tasks/{task['id']}",
        "schema": "/v2/schemas/task",
    }
