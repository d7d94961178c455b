"""Version documents: ``GET /volume`` (300, the versions list) and ``GET /volume/v3/``."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from pocketstack.common.api.app import ApiRequest, json_response
from pocketstack.volume.microversions import MAX, MIN

UPDATED = "2022-08-31T00:00:00Z"


def _v3(req: ApiRequest) -> dict[str, Any]:
    return {"id": "v3.0", "status": "CURRENT", "version": MAX, "min_version": MIN,
            "updated": UPDATED,
            "links": [{"rel": "describedby", "type": "text/html",
                       "href": "https://docs.openstack.org/"},
                      {"rel": "self", "href": req.base_url + "/v3/"}],
            "media-types": [{"base": "application/json",
                             "type": "application/vnd.openstack.volume+json;version=3"}]}


def versions(req: ApiRequest) -> Response:
    return json_response({"versions": [_v3(req)]}, 300)


def version_v3(req: ApiRequest) -> Response:
    return json_response({"versions": [_v3(req)]})
