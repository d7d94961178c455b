"""``/v2/images/{image_id}/members``: share a shared image; members accept or reject it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.responses import Response

from pocketstack.common import exceptions
from pocketstack.common.api.app import ApiRequest, empty_response, json_response
from pocketstack.common.api.validation import validate
from pocketstack.image import schemas
from pocketstack.image.api.common import enforce, member_view, svc
from pocketstack.image.domain import images, members

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection


def _image(req: ApiRequest, conn: Connection, rule: str,
           member_id: str | None = None) -> dict[str, Any]:
    image = images.get_visible(conn, req.ctx, req.path_params["image_id"])
    target = images.policy_target(image, req.ctx)
    if member_id is not None:
        target["member_id"] = member_id
    enforce(req, rule, target)
    return image


def list_members(req: ApiRequest) -> Response:
    def read(conn: Connection) -> list[dict[str, Any]]:
        image = _image(req, conn, "get_members")
        if image["visibility"] != "shared":
            raise exceptions.Forbidden("Only shared images have members.")
        return members.list_(conn, req.ctx, image)

    found = svc(req).db.read(read)
    return json_response({"members": [member_view(m) for m in found],
                          "schema": "/v2/schemas/members"})


def create_member(req: ApiRequest) -> Response:
    data = validate(schemas.MEMBER_CREATE, req.json())

    def write(conn: Connection) -> dict[str, Any]:
        image = _image(req, conn, "add_member")
        return members.create(conn, image, data["member"], svc(req).quotas)

    return json_response(member_view(svc(req).db.write(write)))


def show_member(req: ApiRequest) -> Response:
    member_id = req.path_params["member_id"]

    def read(conn: Connection) -> dict[str, Any]:
        image = _image(req, conn, "get_member")
        return members.get(conn, req.ctx, image, member_id)

    return json_response(member_view(svc(req).db.read(read)))


def update_member(req: ApiRequest) -> Response:
    member_id = req.path_params["member_id"]

    def write(conn: Connection) -> dict[str, Any]:
        image = _image(req, conn, "modify_member", member_id=member_id)
        data = validate(schemas.MEMBER_UPDATE, req.json())
        return members.update(conn, image, member_id, data["status"])

    return json_response(member_view(svc(req).db.write(write)))


def delete_member(req: ApiRequest) -> Response:
    member_id = req.path_params["member_id"]

    def write(conn: Connection) -> None:
        image = _image(req, conn, "delete_member")
        members.delete(conn, image, member_id)

    svc(req).db.write(write)
    return empty_response()
