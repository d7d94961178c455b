"""Helpers shared by Keystone handlers: the service, links, collections, list filters."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from starlette.responses import Response

from pocketstack.common import exceptions
from pocketstack.common.api.app import ApiRequest, json_response
from pocketstack.common.api.validation import query_bool, validate

if TYPE_CHECKING:
    from pocketstack.identity.service import IdentityService


def svc(req: ApiRequest) -> IdentityService:
    return req.state["identity"]  # type: ignore[no-any-return]


def enforce(req: ApiRequest, rule: str, target: dict[str, Any] | None = None) -> None:
    svc(req).policy.enforce(req.ctx, rule, target)


def body(req: ApiRequest, schema: dict[str, Any], key: str) -> dict[str, Any]:
    data = validate(schema, req.json())
    return dict(data[key])


def link(req: ApiRequest, path: str) -> dict[str, str]:
    return {"self": req.url_for(path)}


def collection(req: ApiRequest, key: str, items: Iterable[dict[str, Any]]) -> Response:
    return json_response({
        key: list(items),
        "links": {"self": req.url_for(req.path), "previous": None, "next": None},
    })


def one(key: str, item: dict[str, Any], status: int = 200) -> Response:
    return json_response({key: item}, status=status)


_OPERATORS = {
    "contains": lambda v, q: q in v,
    "icontains": lambda v, q: q.lower() in v.lower(),
    "startswith": lambda v, q: v.startswith(q),
    "istartswith": lambda v, q: v.lower().startswith(q.lower()),
    "endswith": lambda v, q: v.endswith(q),
    "iendswith": lambda v, q: v.lower().endswith(q.lower()),
    "equals": lambda v, q: v == q,
    "iexact": lambda v, q: v.lower() == q.lower(),
}


def string_filters(req: ApiRequest, items: list[dict[str, Any]],
                   attrs: tuple[str, ...]) -> list[dict[str, Any]]:
    """Keystone's ``attr__contains=...`` style filters, applied to serialised items."""
    out = items
    for key, value in req.query.multi_items():
        if "__" not in key:
            continue
        attr, _, op = key.partition("__")
        if attr not in attrs or op not in _OPERATORS:
            continue
        fn = _OPERATORS[op]
        out = [i for i in out if isinstance(i.get(attr), str) and fn(i[attr], value)]
    return out


def bool_param(req: ApiRequest, name: str) -> bool | None:
    return query_bool(req.query.get(name))


def flag(req: ApiRequest, name: str) -> bool:
    """A query flag that counts when present with no value (``?effective``)."""
    if name not in req.query:
        return False
    return bool(query_bool(req.query.get(name), True))


def require_same(path_id: str, body_id: str | None, what: str) -> None:
    if body_id is not None and body_id != path_id:
        raise exceptions.ValidationError(f"The {what} id in the body does not match the URL.")
