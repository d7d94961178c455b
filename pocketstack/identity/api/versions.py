"""Version documents: ``GET /identity`` (300) and ``GET /identity/v3`` (200)."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from pocketstack.common.api.app import ApiRequest, json_response

VERSION = "v3.14"
UPDATED = "2020-04-07T00:00:00Z"
MEDIA_TYPES = [{"base": "application/json",
                "type": "application/vnd.openstack.identity-v3+json"}]


def _v3(req: ApiRequest) -> dict[str, Any]:
    return {
        "id": VERSION,
        "status": "stable",
        "updated": UPDATED,
        "links": [{"rel": "self", "href": req.url_for("/v3/")}],
        "media-types": MEDIA_TYPES,
    }


def list_versions(req: ApiRequest) -> Response:
    return json_response({"versions": {"values": [_v3(req)]}}, status=300)


def show_v3(req: ApiRequest) -> Response:
    return json_response({"version": _v3(req)})
