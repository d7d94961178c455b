"""Shared by every handler: the service, the caller (checked against the URL's project), body
and query parsing with Cinder's 400s, list queries (filters, ``sort``, pages) and links."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from pocketstack.common.api.app import ApiRequest
from pocketstack.common.context import RequestContext
from pocketstack.volume import errors
from pocketstack.volume.domain import volumes

if TYPE_CHECKING:
    from pocketstack.volume.service import VolumeService

TRUE = {"true", "1", "yes", "on", "t", "y"}
FALSE = {"false", "0", "no", "off", "f", "n"}
MAX_LIMIT = 1000


def svc(req: ApiRequest) -> VolumeService:
    return req.state["volume"]  # type: ignore[no-any-return]


def ctx(req: ApiRequest) -> RequestContext:
    """The caller; a project id in the URL must be theirs (admins may name any)."""
    c = req.ctx
    url_project = req.headers.get("x-pocketstack-url-project")
    if url_project and url_project != c.project_id and not c.is_admin:
        raise errors.InvalidInput("Malformed request url")
    return c


def version_at_least(req: ApiRequest, text: str) -> bool:
    return req.microversion is not None and req.microversion.at_least(text)


def body(req: ApiRequest, key: str) -> dict[str, Any]:
    data = req.json()
    if not isinstance(data, dict) or not isinstance(data.get(key), dict):
        raise errors.bad(f"The server could not comply with the request since it is either "
                         f"malformed or otherwise incorrect: '{key}' is a required object.")
    return data[key]  # type: ignore[no-any-return]


def to_bool(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        low = value.strip().lower()
        if low in TRUE:
            return True
        if low in FALSE:
            return False
    raise errors.bad(f"{name} must be a boolean, not {value!r}.")


def uuid_text(value: Any, name: str) -> str:
    """A UUID (Cinder's ``parameter_types.uuid``: any form ``uuid.UUID`` reads), as given."""
    if isinstance(value, str) and len(value) <= 64:
        try:
            uuid.UUID(value)
            return value
        except ValueError:
            pass
    raise errors.bad(f"Invalid input for field/attribute {name}. Value: {value!r}. "
                     f"{value!r} is not a 'uuid'")


def to_int(value: Any, name: str, minimum: int | None = None,
           maximum: int = 2**31 - 1) -> int:
    if isinstance(value, bool):
        raise errors.bad(f"{name} must be an integer.")
    if isinstance(value, str):
        try:
            value = int(value.strip())
        except ValueError:
            raise errors.bad(f"{name} must be an integer, not {value!r}.") from None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int):
        raise errors.bad(f"{name} must be an integer.")
    if minimum is not None and value < minimum:
        raise errors.bad(f"{name} must be >= {minimum}.")
    if value > maximum:
        raise errors.bad(f"{name} must be <= {maximum}.")
    return value


def text(value: Any, name: str, max_len: int = 255, allow_none: bool = True) -> str | None:
    if value is None and allow_none:
        return None
    if not isinstance(value, str):
        raise errors.bad(f"{name} must be a string.")
    if len(value) > max_len:
        raise errors.bad(f"{name} has more than {max_len} characters.")
    return value


def metadata(value: Any, name: str = "metadata") -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise errors.bad(f"{name} must be an object of strings.")
    out: dict[str, str] = {}
    for k, v in value.items():
        if not isinstance(k, str) or not k or len(k) > 255:
            raise errors.bad(f"{name} keys must be strings of 1 to 255 characters.")
        if not isinstance(v, str) or len(v) > 255:
            raise errors.bad(f"{name} values must be strings of at most 255 characters.")
        out[k] = v
    return out


def sort_spec(req: ApiRequest, allowed: set[str]) -> list[tuple[str, str]]:
    """``sort=key:dir,key2`` or the legacy ``sort_key``/``sort_dir``."""
    pairs: list[tuple[str, str]] = []
    q = req.query
    if q.get("sort"):
        if q.get("sort_key") or q.get("sort_dir"):
            raise errors.bad("The 'sort_key' and 'sort_dir' parameters are deprecated and "
                             "cannot be used with the 'sort' parameter.")
        for part in q["sort"].split(","):
            key, _, direction = part.strip().partition(":")
            pairs.append((key.strip(), (direction or "desc").strip().lower()))
    elif q.get("sort_key"):
        pairs.append((q["sort_key"], (q.get("sort_dir") or "desc").lower()))
    for key, direction in pairs:
        if key not in allowed:
            raise errors.bad(f"Invalid sort key: {key}")
        if direction not in ("asc", "desc"):
            raise errors.bad(f"Invalid sort direction: {direction}")
    return pairs or [("created_at", "desc")]


def paging(req: ApiRequest) -> tuple[int | None, str | None, int]:
    q = req.query
    limit = None if q.get("limit") is None else to_int(q["limit"], "limit", 0)
    if limit is not None:
        limit = min(limit, MAX_LIMIT)
    offset = 0 if q.get("offset") is None else to_int(q["offset"], "offset", 0)
    return limit, q.get("marker") or None, offset


def next_link(req: ApiRequest, collection: str, rows: list[dict[str, Any]],
              more: bool, key: str) -> list[dict[str, str]]:
    if not more or not rows:
        return []
    params = [(k, v) for k, v in req.query.multi_items() if k not in ("marker", "offset")]
    params.append(("marker", rows[-1]["id"]))
    return [{"rel": "next", "href": req.url_for(req.path) + "?" + urlencode(params)}]


def listing(req: ApiRequest, collection: str, items: list[dict[str, Any]],
            rows: list[dict[str, Any]], more: bool) -> dict[str, Any]:
    """A list answer: ``{collection: items}``, with ``<collection>_links`` (the next page,
    after the last of ``rows``) when there is more."""
    out: dict[str, Any] = {collection: items}
    link = next_link(req, collection, rows, more, collection)
    if link:
        out[f"{collection}_links"] = link
    return out


def type_name(value: Any, kind: str) -> str:
    """A volume or group type's name (``kind``: "Volume type"), stripped; never blank."""
    name = text(value, "name")
    if not name or not name.strip():
        raise errors.bad(f"{kind} name can not be empty.")
    return name.strip()


def type_changes(data: dict[str, Any], kind: str) -> dict[str, Any]:
    """The name, description and is_public a volume or group type's update gives."""
    values: dict[str, Any] = {}
    if "name" in data:
        values["name"] = type_name(data["name"], kind)
    if "description" in data:
        values["description"] = text(data["description"], "description")
    if "is_public" in data:
        values["is_public"] = to_bool(data["is_public"], "is_public")
    return values


def name_changes(data: dict[str, Any]) -> dict[str, Any]:
    """The name and description an update gives, under their current or legacy
    (``display_``) keys."""
    values: dict[str, Any] = {}
    for key, column in (("name", "name"), ("display_name", "name"),
                        ("description", "description"),
                        ("display_description", "description")):
        if key in data:
            values[column] = text(data[key], key)
    return values


def volume_write(req: ApiRequest, rule: str, fn: Callable[[Any, dict[str, Any]], Any]) -> Any:
    """``fn(conn, volume)`` in one write, on the volume of the path the caller may see, once
    ``rule`` allows it on the volume's project."""
    c = ctx(req)
    s = svc(req)

    def write(conn: Any) -> Any:
        row = volumes.get(conn, req.path_params["volume_id"], c.project_id, c.is_admin)
        s.enforce(c, rule, {"project_id": row["project_id"]})
        return fn(conn, row)

    return s.db.write(write)
