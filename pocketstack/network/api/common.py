"""Shared by every handler: the service, list-query parsing (filters, ``fields``, sorting,
pages), ``If-Match`` and collection responses with Neutron's ``<collection>_links``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from pocketstack.common import exceptions
from pocketstack.common.api.app import ApiRequest
from pocketstack.common.timeutils import parse_isotime
from pocketstack.network import errors
from pocketstack.network.domain.common import ListQuery, column_kinds

if TYPE_CHECKING:
    from pocketstack.network.service import NetworkService

CONTROL = {"fields", "sort_key", "sort_dir", "limit", "marker", "page_reverse", "tags",
           "tags-any", "not-tags", "not-tags-any"}
_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


def svc(req: ApiRequest) -> NetworkService:
    return req.state["network"]  # type: ignore[no-any-return]


def _convert(kinds: dict[str, str], column: str, name: str, value: str) -> Any:
    kind = kinds.get(column, "str")
    if kind == "bool":
        low = value.lower()
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
        raise errors.HTTPBadRequest(f"Invalid input for {name}. Reason: '{value}' cannot be "
                                    "converted to boolean.")
    if kind == "int":
        try:
            return int(value)
        except ValueError:
            raise errors.HTTPBadRequest(f"Invalid input for {name}. Reason: '{value}' is not "
                                        "an integer.") from None
    if kind == "datetime":
        try:
            return parse_isotime(value)
        except exceptions.ValidationError:
            raise errors.HTTPBadRequest(f"Invalid input for {name}. Reason: '{value}' is not "
                                        "a valid timestamp.") from None
    return value


def _split_tags(req: ApiRequest, key: str) -> list[str]:
    out: list[str] = []
    for value in req.query.getlist(key):
        out.extend(v for v in value.split(",") if v)
    return out


def list_query(req: ApiRequest, resource: str, filters: dict[str, str],
               sort_keys: set[str] | None = None) -> ListQuery:
    """Parse a collection GET. ``filters`` maps API attribute names to columns; other
    attributes are the caller's to handle (unknown ones are ignored, as Neutron does without
    filter validation)."""
    q = ListQuery()
    kinds = column_kinds(resource)
    for key in set(req.query.keys()):
        if key in CONTROL or key not in filters:
            continue
        column = filters[key]
        q.filters[column] = [_convert(kinds, column, key, v) for v in req.query.getlist(key)]
    q.tags = _split_tags(req, "tags")
    q.tags_any = _split_tags(req, "tags-any")
    q.not_tags = _split_tags(req, "not-tags")
    q.not_tags_any = _split_tags(req, "not-tags-any")
    keys = req.query.getlist("sort_key")
    dirs = req.query.getlist("sort_dir")
    if dirs and len(dirs) != len(keys):
        raise errors.HTTPBadRequest("The number of sort_keys and sort_dirs must be same")
    allowed = sort_keys if sort_keys is not None else set(filters)
    for index, key in enumerate(keys):
        direction = dirs[index] if dirs else "asc"
        if direction not in ("asc", "desc"):
            raise errors.HTTPBadRequest(f"{direction} is an invalid value for sort_dirs, valid "
                                        "values are: asc, desc")
        if key not in allowed:
            raise errors.HTTPBadRequest(f"{key} is an invalid attribute for sort_keys")
        q.sort.append((filters.get(key, key), direction))
    raw = req.query.get("limit")
    if raw is not None:
        try:
            limit = int(raw)
        except ValueError:
            raise errors.HTTPBadRequest(f"Invalid input for limit. Reason: '{raw}' is not an "
                                        "integer.") from None
        if limit < 0:
            raise errors.HTTPBadRequest(f"Limit must be an integer 0 or greater and not '{raw}'")
        q.limit = limit or None
    q.marker = req.query.get("marker") or None
    q.page_reverse = (req.query.get("page_reverse") or "").lower() in _TRUE
    return q


def pick_fields(req: ApiRequest, item: dict[str, Any]) -> dict[str, Any]:
    wanted = [f for f in req.query.getlist("fields") if f]
    if not wanted:
        return item
    return {k: v for k, v in item.items() if k in wanted}


def _link(req: ApiRequest, rel: str, marker: str, reverse: bool) -> dict[str, str]:
    params = [(k, v) for k, v in req.query.multi_items()
              if k not in ("marker", "page_reverse")]
    params.append(("marker", marker))
    if reverse:
        params.append(("page_reverse", "True"))
    return {"rel": rel, "href": f"{req.url_for(req.path)}?{urlencode(params)}"}


def collection(req: ApiRequest, name: str, items: list[dict[str, Any]], q: ListQuery,
               more: bool) -> dict[str, Any]:
    body: dict[str, Any] = {name: [pick_fields(req, item) for item in items]}
    if items:
        found = page_links(req, q, more, items[0]["id"], items[-1]["id"])
        if found:
            body[f"{name}_links"] = found
    return body


def page_links(req: ApiRequest, q: ListQuery, more: bool, first: str,
               last: str) -> list[dict[str, str]]:
    """Neutron's ``next``/``previous`` links of a page (none without ``limit``)."""
    if q.limit is None:
        return []
    links = []
    if q.page_reverse:
        if q.marker:
            links.append(_link(req, "next", last, False))
        if more:
            links.append(_link(req, "previous", first, True))
    else:
        if more:
            links.append(_link(req, "next", last, False))
        if q.marker:
            links.append(_link(req, "previous", first, True))
    return links


def if_match(req: ApiRequest) -> int | None:
    """``If-Match: revision_number=N`` (several may be given; all must agree)."""
    header = req.headers.get("if-match")
    if not header:
        return None
    wanted: int | None = None
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key != "revision_number" or not value.isdigit():
            raise errors.HTTPBadRequest("Invalid If-Match header: expected "
                                        "revision_number=<integer>")
        wanted = int(value)
    return wanted
