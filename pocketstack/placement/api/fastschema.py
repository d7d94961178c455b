"""A quick yes for request bodies that are plainly valid, before the full JSON-schema check.

``jsonschema`` costs about 100 µs for a ``PUT /allocations`` body -- as much as the claim's
database work. :func:`check` compiles a schema once into nested closures that answer only
"certainly valid" (True) or "not sure" (False), for the Draft 4 keywords placement's schemas
use; anything else compiles to "not sure". On True the body is valid under the real validator
too (each rule here is at least as strict: integers must be ``int``, not ``1.0``; ``format``
and list-form ``items`` are never vouched for); on False the caller runs the real validator,
which accepts or answers 400 with its usual message. So behaviour is unchanged; only the
common case is faster.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

Check = Callable[[Any], bool]

_TYPES: dict[str, Check] = {
    "object": lambda v: type(v) is dict,
    "array": lambda v: type(v) is list,
    "string": lambda v: type(v) is str,
    "integer": lambda v: type(v) is int,
    "number": lambda v: type(v) is int or type(v) is float,
    "boolean": lambda v: type(v) is bool,
    "null": lambda v: v is None,
}
_KNOWN = {"type", "properties", "patternProperties", "additionalProperties", "required",
          "minProperties", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum",
          "minLength", "maxLength", "pattern", "anyOf", "items", "minItems", "uniqueItems"}


def _never(_value: Any) -> bool:
    return False


def _always(_value: Any) -> bool:
    return True


def compile_schema(schema: Any) -> Check:
    if not isinstance(schema, dict) or set(schema) - _KNOWN:
        return _never  # a keyword this module does not vouch for (format, enum, ...)
    checks: list[Check] = []
    kind = schema.get("type")
    if kind is not None:
        if not isinstance(kind, str) or kind not in _TYPES:
            return _never
        checks.append(_TYPES[kind])
    if "anyOf" in schema:
        options = [compile_schema(s) for s in schema["anyOf"]]
        checks.append(lambda v: any(o(v) for o in options))
    numeric = [k for k in ("minimum", "maximum") if k in schema]
    if numeric:
        checks.append(_numbers(schema))
    if "minLength" in schema or "maxLength" in schema or "pattern" in schema:
        checks.append(_strings(schema))
    if any(k in schema for k in ("properties", "patternProperties", "additionalProperties",
                                 "required", "minProperties")):
        checks.append(_objects(schema))
    if any(k in schema for k in ("items", "minItems", "uniqueItems")):
        array = _arrays(schema)
        if array is _never:
            return _never
        checks.append(array)
    if not checks:
        return _always
    if len(checks) == 1:
        return checks[0]
    return lambda v: all(c(v) for c in checks)


def _is_number(v: Any) -> bool:
    return (type(v) is int or type(v) is float)


def _numbers(schema: dict[str, Any]) -> Check:
    low, high = schema.get("minimum"), schema.get("maximum")
    low_open, high_open = bool(schema.get("exclusiveMinimum")), bool(
        schema.get("exclusiveMaximum"))

    def check(v: Any) -> bool:
        if not _is_number(v):
            return True  # the keyword applies to numbers only
        if low is not None and (v <= low if low_open else v < low):
            return False
        return not (high is not None and (v >= high if high_open else v > high))
    return check


def _strings(schema: dict[str, Any]) -> Check:
    low, high = schema.get("minLength"), schema.get("maxLength")
    pattern = re.compile(schema["pattern"]) if "pattern" in schema else None

    def check(v: Any) -> bool:
        if type(v) is not str:
            return True
        if low is not None and len(v) < low:
            return False
        if high is not None and len(v) > high:
            return False
        return pattern is None or pattern.search(v) is not None
    return check


def _objects(schema: dict[str, Any]) -> Check:
    props = {k: compile_schema(s) for k, s in schema.get("properties", {}).items()}
    patterns = [(re.compile(p), compile_schema(s))
                for p, s in schema.get("patternProperties", {}).items()]
    extra = schema.get("additionalProperties", True)
    extra_check: Check | None = None
    if extra is False:
        extra_check = _never
    elif isinstance(extra, dict):
        extra_check = compile_schema(extra)
    elif extra is not True:
        return _never
    required = list(schema.get("required", ()))
    least = schema.get("minProperties")

    def check(v: Any) -> bool:
        if type(v) is not dict:
            return True
        if least is not None and len(v) < least:
            return False
        for key in required:
            if key not in v:
                return False
        for key, value in v.items():
            if type(key) is not str:
                return False
            matched = False
            prop = props.get(key)
            if prop is not None:
                matched = True
                if not prop(value):
                    return False
            for regex, sub in patterns:
                if regex.search(key) is not None:
                    matched = True
                    if not sub(value):
                        return False
            if not matched and extra_check is not None and not extra_check(value):
                return False
        return True
    return check


def _arrays(schema: dict[str, Any]) -> Check:
    items = schema.get("items")
    if items is not None and not isinstance(items, dict):
        return _never
    item = compile_schema(items) if items is not None else _always
    least = schema.get("minItems")
    unique = bool(schema.get("uniqueItems"))

    def check(v: Any) -> bool:
        if type(v) is not list:
            return True
        if least is not None and len(v) < least:
            return False
        if unique and not (all(type(x) is str for x in v) and len(set(v)) == len(v)):
            return False  # only plain strings are vouched unique here
        return all(item(x) for x in v)
    return check


_compiled: dict[int, tuple[Any, Check]] = {}


def check(schema: dict[str, Any], data: Any) -> bool:
    """True only when ``data`` is certainly valid under ``schema`` (compiled once)."""
    found = _compiled.get(id(schema))
    if found is None or found[0] is not schema:
        found = _compiled[id(schema)] = (schema, compile_schema(schema))
    return found[1](data)
