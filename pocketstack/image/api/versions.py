"""Version documents: ``GET /image`` (300 with the ``versions`` list, as Glance answers)."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from pocketstack.common.api.app import ApiRequest, json_response

CURRENT = "2.16"
# What Glance lists without multi-store and cache (2.8 and 2.14 are for those).
SUPPORTED = ("2.15", "2.13", "2.12", "2.11", "2.10", "2.9", "2.7", "2.6", "2.5", "2.4", "2.3",
             "2.2", "2.1", "2.0")


def _version(req: ApiRequest, number: str, status: str) -> dict[str, Any]:
    return {"id": f"v{number}", "status": status,
            "links": [{"rel": "self", "href": req.url_for("/v2/")}]}


def versions_doc(req: ApiRequest) -> dict[str, Any]:
    return {"versions": [_version(req, CURRENT, "CURRENT"),
                         *(_version(req, n, "SUPPORTED") for n in SUPPORTED)]}


def list_versions(req: ApiRequest) -> Response:
    return json_response(versions_doc(req), status=300)
