"""Helpers shared by the image domain modules."""

from __future__ import annotations

import datetime as dt
import uuid

from pocketstack.common import exceptions

TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def new_id() -> str:
    return str(uuid.uuid4())


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)


def isotime(value: dt.datetime | None) -> str | None:
    return None if value is None else value.strftime(TIME_FORMAT)


def parse_isotime(value: str) -> dt.datetime:
    text = value.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        raise exceptions.BadRequest(f"Invalid timestamp: {value!r}") from None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(dt.UTC).replace(tzinfo=None)
    return parsed


class QuotaExceeded(exceptions.PayloadTooLarge):
    """A per-project image quota (count, total size, staging) would be exceeded."""


class ImageDataTooLarge(exceptions.PayloadTooLarge):
    """The uploaded data is larger than allowed."""
