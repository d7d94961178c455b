"""``limit``/``marker`` pagination with ``next`` links, as Nova, Glance, Neutron and Cinder do.

The caller orders its query by a unique key (ids break ties) and asks for ``limit + 1`` rows
after the marker; :func:`page` trims the extra row and builds the ``next`` link from the last
item kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from pocketstack.common import exceptions
from pocketstack.common.api.app import ApiRequest


@dataclass(frozen=True)
class PageRequest:
    limit: int | None
    marker: str | None


def page_request(req: ApiRequest, max_limit: int = 1000) -> PageRequest:
    """Parse ``limit`` and ``marker``; a bad limit is a 400."""
    raw = req.query.get("limit")
    limit: int | None = None
    if raw is not None:
        try:
            limit = int(raw)
        except ValueError:
            raise exceptions.BadRequest(f"limit must be an integer, not {raw!r}.") from None
        if limit < 0:
            raise exceptions.BadRequest("limit must be zero or positive.")
        limit = min(limit, max_limit)
    else:
        limit = max_limit
    return PageRequest(limit=limit, marker=req.query.get("marker") or None)


def page(req: ApiRequest, items: list[Any], wanted: PageRequest,
         id_of: Any = lambda item: item["id"]) -> tuple[list[Any], str | None]:
    """Keep ``wanted.limit`` items; return them and the ``next`` URL when more remain."""
    if wanted.limit is None or len(items) <= wanted.limit:
        return items, None
    kept = items[: wanted.limit]
    if not kept:
        return kept, None
    params = [(k, v) for k, v in req.query.multi_items() if k != "marker"]
    params.append(("marker", id_of(kept[-1])))
    return kept, f"{req.url_for(req.path)}?{urlencode(params)}"


def after_marker(items: list[Any], marker: str | None,
                 id_of: Any = lambda item: item["id"],
                 missing: exceptions.PocketstackError | None = None) -> list[Any]:
    """For already-sorted in-memory lists: the items after the marker (``missing``, by
    default a 404, if unknown — Nova answers 400)."""
    if marker is None:
        return items
    for index, item in enumerate(items):
        if id_of(item) == marker:
            return items[index + 1:]
    raise missing or exceptions.NotFound(f"Marker {marker} could not be found.")
