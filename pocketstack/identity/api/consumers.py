"""``/v3/OS-OAUTH1/consumers``."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from pocketstack.common.api.app import ApiRequest, empty_response
from pocketstack.identity import schemas
from pocketstack.identity.api.common import body, collection, enforce, link, one, require_same, svc
from pocketstack.identity.domain import consumers


def _view(req: ApiRequest, row: dict[str, Any]) -> dict[str, Any]:
    out = dict(row["extra"])
    out.update({"id": row["id"], "description": row["description"],
                "links": link(req, f"/v3/OS-OAUTH1/consumers/{row['id']}")})
    return out


def list_consumers(req: ApiRequest) -> Response:
    enforce(req, "identity:list_consumers")
    rows = svc(req).db.read(consumers.list_)
    return collection(req, "consumers", (_view(req, r) for r in rows))


def get_consumer(req: ApiRequest) -> Response:
    enforce(req, "identity:get_consumer")
    row = svc(req).db.read(consumers.get, req.path_params["consumer_id"])
    return one("consumer", _view(req, row))


def create_consumer(req: ApiRequest) -> Response:
    enforce(req, "identity:create_consumer")
    values = body(req, schemas.CONSUMER_CREATE, "consumer")
    row = svc(req).db.write(consumers.create, values)
    view = _view(req, row)
    view["secret"] = row["secret"]  # shown once
    return one("consumer", view, 201)


def update_consumer(req: ApiRequest) -> Response:
    consumer_id = req.path_params["consumer_id"]
    enforce(req, "identity:update_consumer")
    values = body(req, schemas.CONSUMER_UPDATE, "consumer")
    require_same(consumer_id, values.pop("id", None), "consumer")
    return one("consumer", _view(req, svc(req).db.write(consumers.update, consumer_id, values)))


def delete_consumer(req: ApiRequest) -> Response:
    enforce(req, "identity:delete_consumer")
    svc(req).db.write(consumers.delete, req.path_params["consumer_id"])
    return empty_response()
