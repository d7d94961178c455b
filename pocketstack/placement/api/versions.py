"""``GET /placement/``: the version document (public)."""

from __future__ import annotations

from starlette.responses import Response

from pocketstack.common.api.app import ApiRequest, json_response
from pocketstack.placement.service import MAX_VERSION, MIN_VERSION


def root(req: ApiRequest) -> Response:
    return json_response({"versions": [{
        "id": "v1.0", "min_version": MIN_VERSION, "max_version": MAX_VERSION,
        "status": "CURRENT", "links": [],
    }]})
