"""Version documents: ``GET /compute`` (list), ``GET /compute/v2.1`` and the legacy
``GET /compute/v2`` (v2.0, listed first as in Nova; only its version document is served)."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from pocketstack.common.api.app import ApiRequest, json_response
from pocketstack.compute.microversions import MAX_VERSION, MIN_VERSION

UPDATED = "2013-07-23T11:33:21Z"
MEDIA_TYPES = [{"base": "application/json",
                "type": "application/vnd.openstack.compute+json;version=2.1"}]


def _v21(base: str) -> dict[str, Any]:
    return {
        "id": "v2.1",
        "status": "CURRENT",
        "version": MAX_VERSION,
        "min_version": MIN_VERSION,
        "updated": UPDATED,
        "links": [{"rel": "self", "href": base + "/v2.1/"}],
    }


def _v20(base: str) -> dict[str, Any]:
    return {
        "id": "v2.0",
        "status": "SUPPORTED",
        "version": "",
        "min_version": "",
        "updated": "2011-01-21T11:33:21Z",
        "links": [{"rel": "self", "href": base + "/v2/"}],
    }


def _root(req: ApiRequest) -> str:
    """The unversioned root (http://h/compute), whichever mount the request came through."""
    base = req.base_url
    return base[: -len("/v2.1")] if base.endswith("/v2.1") else base


def list_versions(req: ApiRequest) -> Response:
    root = _root(req)
    return json_response({"versions": [_v20(root), _v21(root)]})


def show_version(req: ApiRequest) -> Response:
    doc = _v21(_root(req))
    doc["links"].append({"rel": "describedby", "type": "text/html",
                         "href": "http://docs.openstack.org/"})
    doc["media-types"] = MEDIA_TYPES
    return json_response({"version": doc})


def show_v20(req: ApiRequest) -> Response:
    doc = _v20(_root(req))
    doc["links"].append({"rel": "describedby", "type": "text/html",
                         "href": "http://docs.openstack.org/"})
    doc["media-types"] = [{"base": "application/json",
                           "type": "application/vnd.openstack.compute+json;version=2"}]
    return json_response({"version": doc})
