"""Neutron's typed errors: each becomes ``{"NeutronError": {"type": <class name>, ...}}``.

The ``type`` is the class name, as Neutron writes its exception class names; the HTTP status
comes from the common exception it derives from.
"""

from __future__ import annotations

from typing import Any

from pocketstack.common import exceptions


class _Typed(exceptions.PocketstackError):
    def __init__(self, message: str = "", **extra: Any) -> None:
        extra.setdefault("type", type(self).__name__)
        super().__init__(message, **extra)


class BadRequest(_Typed, exceptions.BadRequest):
    pass


class HTTPBadRequest(_Typed, exceptions.BadRequest):
    """A request that fails attribute validation (Neutron's API layer answers this type)."""


class InvalidInput(_Typed, exceptions.BadRequest):
    def __init__(self, message: str) -> None:
        super().__init__(f"Invalid input for operation: {message}")


class InvalidAllocationPool(_Typed, exceptions.BadRequest):
    pass


class OverlappingAllocationPools(_Typed, exceptions.Conflict):
    pass


class GatewayConflictWithAllocationPools(_Typed, exceptions.Conflict):
    pass


class InvalidCIDR(_Typed, exceptions.BadRequest):
    pass


class InvalidRoutes(_Typed, exceptions.BadRequest):
    pass


class HTTPNotFound(_Typed, exceptions.NotFound):
    pass


class PolicyNotAuthorized(_Typed, exceptions.Forbidden):
    pass


class RevisionNumberConstraintFailed(_Typed):
    status = 412
    title = "Precondition Failed"


class OverQuota(_Typed, exceptions.Conflict):
    def __init__(self, resource: str) -> None:
        super().__init__(f"Quota exceeded for resources: ['{resource}'].")


def not_found(kind: str, object_id: str, text: str | None = None) -> exceptions.NotFound:
    """``<Kind>NotFound`` as Neutron words it."""
    message = text or f"{_LABELS.get(kind, kind)} {object_id} could not be found."
    return _NotFoundError(message, type=f"{kind}NotFound")


def conflict(type_name: str, message: str) -> exceptions.Conflict:
    return _ConflictError(message, type=type_name)


def bad_request(type_name: str, message: str) -> exceptions.BadRequest:
    return _BadRequestError(message, type=type_name)


class _NotFoundError(exceptions.NotFound):
    pass


class _ConflictError(exceptions.Conflict):
    pass


class _BadRequestError(exceptions.BadRequest):
    pass


_LABELS = {
    "Network": "Network", "Subnet": "Subnet", "Port": "Port", "Router": "Router",
    "FloatingIP": "Floating IP", "SecurityGroupRule": "Security group rule",
    "Subnetpool": "Subnet pool", "Agent": "Agent", "RbacPolicy": "RBAC policy",
    "Segment": "Segment",
}
