"""JSON request parsing and JSON-schema validation with clear 400 messages.

Every request body any service parses goes through :func:`parse_json`, so the limits every
service shares live here: a body nested deeper than :data:`MAX_JSON_DEPTH` and any string (or
key) holding a NUL character are refused with a 400 before a handler sees them. NUL cannot be
stored by PostgreSQL, so refusing it everywhere keeps every backend's answer the same.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from typing import Any, NoReturn

import jsonschema
from jsonschema import Draft4Validator

from pocketstack.common import exceptions

MAX_JSON_DEPTH = 32  # arrays/objects inside one another; OpenStack bodies need fewer than 8

NUL_MESSAGE = "Invalid input: the NUL character (\\x00) is not allowed"


def parse_json(body: bytes) -> Any:
    if not body:
        raise exceptions.BadRequest("Malformed request body: the body is empty.")
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise exceptions.BadRequest(f"Malformed request body: {exc}") from None
    except RecursionError:
        _too_deep()  # far deeper than MAX_JSON_DEPTH
    check_json(data)
    return data


def _too_deep() -> NoReturn:
    raise exceptions.BadRequest(
        f"Malformed request body: nested deeper than {MAX_JSON_DEPTH} levels.")


_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")  # NUL; halves of a surrogate pair


def _check_string(value: str) -> None:
    found = _UNSTORABLE.search(value)
    if found is None:
        return
    if found.group() == "\x00":
        raise exceptions.ValidationError(NUL_MESSAGE + " in the request body.")
    raise exceptions.ValidationError(
        "Invalid input: a lone UTF-16 surrogate (\\u" + f"{ord(found.group()):04x}) is not "
        "a character.")


def check_json(data: Any) -> None:
    """Refuse a parsed body nested deeper than MAX_JSON_DEPTH, or holding a NUL character or
    a lone surrogate (``"\\ud800"`` parses, but no database can store it)."""
    stack: list[tuple[Any, int]] = [(data, 0)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, str):
            _check_string(value)
        elif isinstance(value, dict | list):
            if depth >= MAX_JSON_DEPTH:
                _too_deep()
            if isinstance(value, dict):
                for key, item in value.items():
                    _check_string(key)
                    stack.append((item, depth + 1))
            else:
                stack.extend((item, depth + 1) for item in value)


def check_text(where: str, *values: str) -> None:
    """Refuse a NUL character in a path or query string (``where`` names which)."""
    for value in values:
        if "\x00" in value:
            raise exceptions.ValidationError(f"{NUL_MESSAGE} in the {where}.")


@lru_cache(maxsize=512)
def _validator(schema_json: str) -> Draft4Validator:
    schema = json.loads(schema_json)
    return Draft4Validator(schema, format_checker=jsonschema.FormatChecker())


def validate(schema: dict[str, Any], data: Any) -> Any:
    """Validate ``data`` against ``schema``; raise ValidationError naming the bad field."""
    validator = _validator(json.dumps(schema, sort_keys=True))
    error = jsonschema.exceptions.best_match(validator.iter_errors(data))
    if error is not None:
        path = ".".join(str(p) for p in error.absolute_path)
        where = f" for field '{path}'" if path else ""
        message = error.message
        if error.validator == "pattern" and isinstance(error.schema, dict):
            # a schema may say in words what its pattern means (``x-pattern-message``)
            message = error.schema.get("x-pattern-message", message)
        raise exceptions.ValidationError(f"Invalid input{where}: {message}")
    return data


def query_bool(value: str | None, default: bool | None = None) -> bool | None:
    if value is None:
        return default
    low = value.strip().lower()
    if low in ("", "1", "true", "yes", "on"):
        return True
    if low in ("0", "false", "no", "off"):
        return False
    raise exceptions.BadRequest(f"Invalid boolean value: {value!r}")
