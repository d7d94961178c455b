"""JSON request parsing and JSON-schema validation with clear 400 messages."""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

import jsonschema
from jsonschema import Draft4Validator

from pocketstack.common import exceptions


def parse_json(body: bytes) -> Any:
    if not body:
        raise exceptions.BadRequest("Malformed request body: the body is empty.")
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise exceptions.BadRequest(f"Malformed request body: {exc}") from None


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
        raise exceptions.ValidationError(f"Invalid input{where}: {error.message}")
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
