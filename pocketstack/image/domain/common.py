"""Helpers shared by the image domain modules."""

from __future__ import annotations

import datetime as dt
import uuid

from pocketstack.common import exceptions
from pocketstack.common.timeutils import parse_isotime as parse_isotime  # re-exported

TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def new_id() -> str:
    return str(uuid.uuid4())


def utcnow() -> dt.datetime:
    """Now, to the microsecond as Glance stores it (oslo's utcnow): the API shows times to the
    second (:data:`TIME_FORMAT`), but a list sorted by ``created_at`` (and Nova's backup
    rotation) must keep images made within one second in the order they were made."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def isotime(value: dt.datetime | None) -> str | None:
    return None if value is None else value.strftime(TIME_FORMAT)




class QuotaExceeded(exceptions.PayloadTooLarge):
    """A per-project image quota (count, total size, staging) would be exceeded."""


class ImageDataTooLarge(exceptions.PayloadTooLarge):
    """The uploaded data is larger than allowed."""
