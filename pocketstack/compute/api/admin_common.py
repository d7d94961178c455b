"""Helpers shared by the flavor/keypair/admin/quota handlers: time parsing, pagination links,
caller identity."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable
from typing import Any

from starlette.responses import Response

from pocketstack.common import exceptions
from pocketstack.common.api.app import ApiRequest, json_response
from pocketstack.common.api.pagination import PageRequest, after_marker, page
from pocketstack.common.timeutils import parse_isotime


def is_admin(req: ApiRequest) -> bool:
    return req.ctx.is_admin


def parse_time(value: str, name: str) -> dt.datetime:
    """An ISO 8601 timestamp from a query parameter (naive UTC); 400 when unparsable."""
    # a "+" in an offset arrives as a space when the client did not escape it
    return parse_isotime(value.strip().replace(" ", "+"),
                         f"Invalid input for query parameters {name}. Value: {value}. "
                         f"{value} is not a valid date-time")


def int_param(req: ApiRequest, name: str, minimum: int = 0) -> int | None:
    raw = req.query.get(name)
    if raw is None:
        return None
    try:
        value = int(raw)
    except ValueError:
        raise exceptions.BadRequest(f"Invalid input for query parameters {name}. Value: "
                                    f"{raw}. '{raw}' is not a 'integer'") from None
    if value < minimum:
        raise exceptions.BadRequest(f"Invalid input for query parameters {name}. Value: "
                                    f"{raw}. {raw} is less than the minimum of {minimum}")
    return value


def page_params(req: ApiRequest) -> PageRequest:
    return PageRequest(limit=int_param(req, "limit"), marker=req.query.get("marker") or None)


def paginate(req: ApiRequest, items: list[Any], wanted: PageRequest,
             id_of: Callable[[Any], str], marker_missing: str | None = None
             ) -> tuple[list[Any], list[dict[str, str]] | None]:
    """Apply marker (400 when unknown, as Nova) and limit to a sorted list; return the page
    and Nova's ``*_links`` list when more remain."""
    missing = exceptions.BadRequest(marker_missing
                                    or f"Marker {wanted.marker} could not be found.")
    items = after_marker(items, wanted.marker, id_of, missing)
    kept, next_url = page(req, items, wanted, id_of)
    return kept, None if next_url is None else [{"rel": "next", "href": next_url}]


def host_id(project_id: str | None, host: str | None) -> str:
    """Nova's opaque per-project host id."""
    if not host:
        return ""
    return hashlib.sha224(((project_id or "") + host).encode()).hexdigest()


def reply(key: str, value: Any, status: int = 200) -> Response:
    return json_response({key: value}, status=status)
