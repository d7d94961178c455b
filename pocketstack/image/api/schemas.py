"""``GET /v2/schemas/{name}`` and the discovery ``/v2/info/*`` documents."""

from __future__ import annotations

import sqlalchemy as sa
from starlette.responses import Response

from pocketstack.common import exceptions
from pocketstack.common.api.app import ApiRequest, json_response
from pocketstack.image import metadef_schemas, schemas
from pocketstack.image import tables as t
from pocketstack.image.api.common import svc
from pocketstack.image.domain import images

IMPORT_METHODS = ["glance-direct"]


def show_schema(req: ApiRequest) -> Response:
    build = schemas.SCHEMAS.get(req.path_params["name"])
    if build is None:
        raise exceptions.NotFound(f"No schema named {req.path_params['name']}.")
    return json_response(build())


def show_metadef_schema(req: ApiRequest) -> Response:
    build = metadef_schemas.SCHEMAS.get(req.path_params["name"])
    if build is None:
        raise exceptions.NotFound(f"No schema named metadefs/{req.path_params['name']}.")
    return json_response(build())


def info_import(req: ApiRequest) -> Response:
    return json_response({"import-methods": {"description": "Import methods available.",
                                             "type": "array", "value": IMPORT_METHODS}})


def info_stores(req: ApiRequest) -> Response:
    raise exceptions.NotFound("Multi backend is not supported at this site.")


def info_usage(req: ApiRequest) -> Response:
    project = req.ctx.project_id or ""
    quotas = svc(req).quotas

    def read(conn):  # type: ignore[no-untyped-def]
        img = t.images.c
        count = conn.execute(sa.select(sa.func.count()).select_from(t.images)
                             .where(img.owner == project)).scalar() or 0
        size = conn.execute(sa.select(sa.func.coalesce(sa.func.sum(img.size), 0))
                            .where(img.owner == project)).scalar() or 0
        uploading = conn.execute(sa.select(sa.func.count()).select_from(t.images).where(
            img.owner == project, img.status.in_(images.IN_PROGRESS))).scalar() or 0
        staged = images._staged_bytes(conn, project, "")
        return int(count), int(size), int(uploading), int(staged)

    count, size, uploading, staged = svc(req).db.read(read)
    return json_response({"usage": {
        "image_size_total": {"limit": quotas.image_size_total, "usage": size},
        "image_stage_total": {"limit": quotas.image_stage_total, "usage": staged},
        "image_count_total": {"limit": quotas.image_count_total, "usage": count},
        "image_count_uploading": {"limit": quotas.image_count_uploading, "usage": uploading},
    }})
