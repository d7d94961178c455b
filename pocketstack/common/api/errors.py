"""Per-service error bodies, as each OpenStack service writes them.

An :class:`ErrorFormat` turns (status, title, message) into the body that service's clients and
Tempest expect. Services pick theirs when they build their app.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

ErrorFormat = Callable[[int, str, str, str, dict[str, Any]], dict[str, Any]]

_NOVA_FAULT_NAMES = {
    400: "badRequest",
    401: "unauthorized",
    403: "forbidden",
    404: "itemNotFound",
    405: "badMethod",
    409: "conflictingRequest",
    413: "overLimit",
    415: "badMediaType",
    429: "overLimit",
    501: "notImplemented",
    503: "serviceUnavailable",
}


def keystone_error(
    status: int, title: str, message: str, request_id: str, extra: dict[str, Any]
) -> dict[str, Any]:
    return {"error": {"code": status, "title": title, "message": message}}


def nova_error(
    status: int, title: str, message: str, request_id: str, extra: dict[str, Any]
) -> dict[str, Any]:
    key = _NOVA_FAULT_NAMES.get(status, "computeFault")
    body: dict[str, Any] = {"code": status, "message": message}
    if "details" in extra:
        body["details"] = extra["details"]
    return {key: body}


def cinder_error(
    status: int, title: str, message: str, request_id: str, extra: dict[str, Any]
) -> dict[str, Any]:
    """Cinder's faults: the same names as Nova's (``badRequest``, ``itemNotFound``,
    ``overLimit`` …), ``{"message", "code"}`` inside."""
    return {_NOVA_FAULT_NAMES.get(status, "computeFault"): {"message": message, "code": status}}


def neutron_error(
    status: int, title: str, message: str, request_id: str, extra: dict[str, Any]
) -> dict[str, Any]:
    return {
        "NeutronError": {
            "type": extra.get("type", title.replace(" ", "")),
            "message": message,
            "detail": extra.get("detail", ""),
        }
    }


def glance_error(
    status: int, title: str, message: str, request_id: str, extra: dict[str, Any]
) -> dict[str, Any]:
    return {"message": message, "code": f"{status} {title}", "title": title}


def placement_error(
    status: int, title: str, message: str, request_id: str, extra: dict[str, Any]
) -> dict[str, Any]:
    return {
        "errors": [
            {
                "status": status,
                "title": title,
                "detail": message,
                "code": extra.get("code", "placement.undefined_code"),
                "request_id": request_id,
            }
        ]
    }


def render(fmt: ErrorFormat, status: int, title: str, message: str, request_id: str,
           extra: dict[str, Any] | None = None) -> bytes:
    return json.dumps(fmt(status, title, message, request_id, extra or {})).encode()
