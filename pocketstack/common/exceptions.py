"""Domain exceptions: carry a message and an HTTP-free kind; one place maps them to bodies.

Every service's API layer turns these into its own error format
(see :mod:`pocketstack.common.api.errors`). A handler never builds an error body itself.
"""

from __future__ import annotations

from typing import Any


class PocketstackError(Exception):
    """Base of every expected failure. ``status`` is the HTTP status it maps to."""

    status = 500
    title = "Internal Server Error"

    def __init__(self, message: str = "", **extra: Any) -> None:
        super().__init__(message)
        self.message = message or self.title
        self.extra = extra
        self.headers: dict[str, str] = {}


class BadRequest(PocketstackError):
    status = 400
    title = "Bad Request"


class ValidationError(BadRequest):
    """A request body or parameter failed validation."""


class Unauthorized(PocketstackError):
    status = 401
    title = "Unauthorized"


class Forbidden(PocketstackError):
    status = 403
    title = "Forbidden"


class PolicyForbidden(Forbidden):
    """Policy refused the caller."""


class NotFound(PocketstackError):
    status = 404
    title = "Not Found"


class MethodNotAllowed(PocketstackError):
    status = 405
    title = "Method Not Allowed"


class NotAcceptable(PocketstackError):
    status = 406
    title = "Not Acceptable"


class Conflict(PocketstackError):
    status = 409
    title = "Conflict"


class ConcurrentUpdate(Conflict):
    """A generation check failed: another writer changed the row first."""


class Gone(PocketstackError):
    status = 410
    title = "Gone"


class PayloadTooLarge(PocketstackError):
    status = 413
    title = "Request Entity Too Large"


class UnsupportedMediaType(PocketstackError):
    status = 415
    title = "Unsupported Media Type"


class RangeNotSatisfiable(PocketstackError):
    status = 416
    title = "Requested Range Not Satisfiable"


class NotImplementedYet(PocketstackError):
    status = 501
    title = "Not Implemented"


class ServiceUnavailable(PocketstackError):
    status = 503
    title = "Service Unavailable"
