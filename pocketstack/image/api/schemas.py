"""``GET /v2/schemas/{name}`` and the discovery ``/v2/info/*`` documents."""

from __future__ import annotations

from starlette.responses import Response

from pocketstack.common import exceptions
from pocketstack.common.api.app import ApiRequest, json_response
from pocketstack.image import metadef_schemas, schemas
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
    quotas = svc(req).quotas_for(project)
    used = svc(req).db.read(images.project_usage, project)
    size, stage = used.size_bytes, used.staged_bytes
    size_limit, stage_limit = quotas.image_size_total, quotas.image_stage_total
    if quotas.keystone_project is not None:  # Glance reports keystone's unit, MiB
        mib = 1024 * 1024
        size, stage = size // mib, stage // mib
        size_limit = size_limit // mib if size_limit >= 0 else -1
        stage_limit = stage_limit // mib if stage_limit >= 0 else -1
    return json_response({"usage": {
        "image_size_total": {"limit": size_limit, "usage": size},
        "image_stage_total": {"limit": stage_limit, "usage": stage},
        "image_count_total": {"limit": quotas.image_count_total, "usage": used.image_count},
        "image_count_uploading": {"limit": quotas.image_count_uploading, "usage": used.uploading},
    }})
