"""Times as every service stores them: naive UTC datetimes, parsed from ISO 8601."""

from __future__ import annotations

import datetime as dt

from pocketstack.common import exceptions


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def parse_isotime(value: str, message: str | None = None) -> dt.datetime:
    """An ISO 8601 timestamp (``Z`` or an offset allowed) as naive UTC; a 400 naming the bad
    value (or ``message``) when it does not parse."""
    text = value.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        raise exceptions.ValidationError(message or f"Invalid timestamp: {value!r}") from None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(dt.UTC).replace(tzinfo=None)
    return parsed
