"""``/v3/messages`` (3.3+): list (filters, ``sort``, pages), show and delete the user
messages of the caller's project (admins: every project's)."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from pocketstack.common import exceptions
from pocketstack.common.api.app import ApiRequest, empty_response, json_response
from pocketstack.volume.api.common import (
    ctx,
    listing,
    paging,
    sort_spec,
    svc,
    version_at_least,
)
from pocketstack.volume.api.views import links, when
from pocketstack.volume.domain import common as dcommon
from pocketstack.volume.domain import messages


def _check(req: ApiRequest, rule: str) -> None:
    if not version_at_least(req, "3.3"):  # the API appeared in 3.3
        raise exceptions.NotFound("The resource could not be found.")
    c = ctx(req)
    svc(req).enforce(c, rule, {"project_id": c.project_id or ""})


def _view(req: ApiRequest, row: dict[str, Any]) -> dict[str, Any]:
    return {"id": row["id"], "event_id": messages.event_id(row),
            "user_message": messages.user_message(row), "message_level": row["message_level"],
            "resource_type": row["resource_type"], "resource_uuid": row["resource_uuid"],
            "request_id": row["request_id"], "created_at": when(row["created_at"]),
            "guaranteed_until": when(row["expires_at"]),
            "links": links(req, "messages", row["id"])}


def list_messages(req: ApiRequest) -> Response:
    _check(req, "message:get_all")
    c = ctx(req)
    limit, marker, offset = paging(req)
    filters = {k: v for k, v in req.query.items() if k in messages.FILTERS}
    rows = svc(req).db.read(messages.list_messages, c.project_id, c.is_admin, filters,
                            sort_spec(req, messages.SORT_KEYS))
    page, more = dcommon.page(rows, marker, offset, limit)
    return json_response(listing(req, "messages", [_view(req, r) for r in page], page, more))


def show(req: ApiRequest) -> Response:
    _check(req, "message:get")
    c = ctx(req)
    row = svc(req).db.read(messages.get, req.path_params["message_id"], c.project_id,
                           c.is_admin)
    return json_response({"message": _view(req, row)})


def delete(req: ApiRequest) -> Response:
    _check(req, "message:delete")
    c = ctx(req)
    svc(req).db.write(messages.delete, req.path_params["message_id"], c.project_id,
                      c.is_admin)
    return empty_response(204)
