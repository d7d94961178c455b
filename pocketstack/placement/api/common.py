"""Helpers shared by placement handlers: service, policy, versions, bodies, query strings."""

from __future__ import annotations

import datetime as dt
import functools
import re
import uuid as uuidlib
from email.utils import format_datetime
from typing import TYPE_CHECKING, Any

from starlette.responses import Response

from pocketstack.common import exceptions
from pocketstack.common.api.app import ApiRequest, json_response
from pocketstack.common.api.microversion import Version
from pocketstack.common.api.validation import validate
from pocketstack.placement import errors
from pocketstack.placement.api import fastschema

if TYPE_CHECKING:
    from pocketstack.placement.service import PlacementService


def svc(req: ApiRequest) -> PlacementService:
    return req.state["placement"]  # type: ignore[no-any-return]


def enforce(req: ApiRequest, rule: str) -> None:
    svc(req).policy.enforce(req.ctx, f"placement:{rule}")


@functools.lru_cache(maxsize=64)
def _version(text: str) -> Version:
    return Version.parse(text)


def at_least(req: ApiRequest, version: str) -> bool:
    assert req.microversion is not None
    return req.microversion >= _version(version)  # parsed once per literal, not per call


def require(req: ApiRequest, version: str) -> None:
    """Routes that appear at ``version``: 404 below it, as Placement does."""
    if not at_least(req, version):
        raise exceptions.NotFound("The resource could not be found.")


def body(req: ApiRequest, schema: dict[str, Any]) -> Any:
    ctype = req.headers.get("content-type", "")
    if not ctype.split(";")[0].strip().lower() == "application/json":
        raise exceptions.UnsupportedMediaType(
            f"The media type {ctype or None} is not supported, use application/json")
    data = req.json()
    if fastschema.check(schema, data):  # plainly valid: skip the (slow) full validator
        return data
    try:
        return validate(schema, data)
    except exceptions.ValidationError as exc:
        raise exceptions.BadRequest(f"JSON does not validate: {exc.message}") from None


def http_date(when: dt.datetime | None) -> str:
    when = when or dt.datetime.now(dt.UTC)
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return format_datetime(when, usegmt=True)


def respond(req: ApiRequest, data: Any, status: int = 200,
            last_modified: dt.datetime | None = None,
            headers: dict[str, str] | None = None) -> Response:
    """JSON response with 1.15's cache headers on GETs."""
    headers = dict(headers or {})
    if req.method in ("GET", "HEAD") and at_least(req, "1.15"):
        headers["Last-Modified"] = http_date(last_modified)
        headers["Cache-Control"] = "no-cache"
    return json_response(data, status=status, headers=headers)


def link(req: ApiRequest, rel: str, path: str) -> dict[str, str]:
    return {"rel": rel, "href": f"/placement{path}" if not req.base_url else
            _relative(req, path)}


def _relative(req: ApiRequest, path: str) -> str:
    # Placement links are paths relative to the host (e.g. /placement/resource_providers/x).
    base = req.base_url
    m = re.match(r"^[a-z]+://[^/]+(.*)$", base)
    return (m.group(1) if m else base) + path


def check_uuid(value: str, what: str) -> str:
    try:
        uuidlib.UUID(value)
    except (ValueError, AttributeError, TypeError):
        raise exceptions.BadRequest(f"Invalid {what}: {value!r} is not a UUID.") from None
    return value


# -- query strings ------------------------------------------------------------------------------
def check_params(req: ApiRequest, allowed: set[str],
                 patterns: tuple[re.Pattern[str], ...] = ()) -> None:
    for key in req.query.keys():
        if key not in allowed and not any(p.match(key) for p in patterns):
            raise exceptions.BadRequest(
                f"Invalid query string parameters: Additional properties are not allowed "
                f"('{key}' was unexpected)", code=errors.QUERYPARAM_BAD_VALUE)


def single(req: ApiRequest, name: str) -> str | None:
    values = req.query.getlist(name)
    if len(values) > 1:
        raise exceptions.BadRequest(f"Query parameter {name!r} may only be given once.",
                                    code=errors.ILLEGAL_DUPLICATE_QUERYPARAM)
    return values[0] if values else None


def parse_resources(text: str, known: set[str] | None = None) -> dict[str, int]:
    out: dict[str, int] = {}
    bad = exceptions.BadRequest(
        "Badly formed resources parameter. Expected resources query string parameter in "
        f"form: ?resources=VCPU:2,MEMORY_MB:1024. Got: {text}.",
        code=errors.QUERYPARAM_BAD_VALUE)
    if not text:
        raise bad
    for part in text.split(","):
        name, sep, amount = part.partition(":")
        name = name.strip()
        if not sep or not name:
            raise bad
        try:
            value = int(amount)
        except ValueError:
            raise bad from None
        if value < 1:
            raise exceptions.BadRequest(
                f"Requested resource {name} expected positive integer amount. Got: {amount}.",
                code=errors.QUERYPARAM_BAD_VALUE)
        if name in out:
            raise exceptions.BadRequest(
                f"Resource class {name} appears more than once in resources parameter.",
                code=errors.QUERYPARAM_BAD_VALUE)
        out[name] = value
    return out


def parse_required(req: ApiRequest, values: list[str], allow_forbidden: bool,
                   allow_any: bool) -> tuple[list[frozenset[str]], set[str]]:
    """``required`` values → (list of any-of sets, forbidden set)."""
    required: list[frozenset[str]] = []
    forbidden: set[str] = set()
    for value in values:
        if value.startswith("in:"):
            if not allow_any:
                raise errors.bad_query(
                    f"Invalid query string parameters: Expected 'required' parameter value "
                    f"of the form: HW_CPU_X86_VMX,CUSTOM_MAGIC. Got: {value}")
            names = [n.strip() for n in value[3:].split(",")]
            if not all(names):
                raise errors.bad_query(f"Invalid trait list in required: {value}")
            required.append(frozenset(names))
            continue
        for raw in value.split(","):
            name = raw.strip()
            if name.startswith("!"):
                if not allow_forbidden:
                    raise errors.bad_query(
                        "Invalid query string parameters: Expected 'required' parameter value "
                        f"of the form: HW_CPU_X86_VMX,CUSTOM_MAGIC. Got: {value}")
                name = name[1:]
                if not name:
                    raise errors.bad_query(f"Invalid trait name in required: {value!r}")
                forbidden.add(name)
            else:
                if not name:
                    raise errors.bad_query(f"Invalid trait name in required: {value!r}")
                required.append(frozenset([name]))
    conflict = {n for s in required if len(s) == 1 for n in s} & forbidden
    if conflict:
        raise errors.bad_query(
            f"Conflicting required and forbidden traits found: {', '.join(sorted(conflict))}")
    return required, forbidden


def parse_member_of(values: list[str], allow_forbidden: bool
                    ) -> tuple[list[frozenset[str]], set[str]]:
    member_of: list[frozenset[str]] = []
    forbidden: set[str] = set()
    for value in values:
        negate = value.startswith("!")
        if negate:
            if not allow_forbidden:
                raise errors.bad_query(
                    "Invalid query string parameters: Expected 'member_of' parameter to "
                    f"contain valid UUID(s). Got: {value}")
            value = value[1:]
        text = value[3:] if value.startswith("in:") else value
        uuids = [u.strip() for u in text.split(",")]
        for u in uuids:
            try:
                uuidlib.UUID(u)
            except ValueError:
                raise errors.bad_query(
                    "Invalid query string parameters: Expected 'member_of' parameter to "
                    f"contain valid UUID(s). Got: {value}") from None
        if negate:
            forbidden.update(uuids)
        else:
            member_of.append(frozenset(uuids))
    return member_of, forbidden
