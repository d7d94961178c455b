"""Placement's domain exceptions and their stable error codes (never change a code string)."""

from __future__ import annotations

from typing import Any

from pocketstack.common import exceptions

DEFAULT = "placement.undefined_code"
CONCURRENT_UPDATE = "placement.concurrent_update"
DUPLICATE_NAME = "placement.duplicate_name"
INVENTORY_INUSE = "placement.inventory.inuse"
PROVIDER_IN_USE = "placement.resource_provider.inuse"
PROVIDER_CANNOT_DELETE_PARENT = "placement.resource_provider.cannot_delete_parent"
RESOURCE_PROVIDER_NOT_FOUND = "placement.resource_provider.not_found"
QUERYPARAM_BAD_VALUE = "placement.query.bad_value"
QUERYPARAM_MISSING_VALUE = "placement.query.missing_value"
ILLEGAL_DUPLICATE_QUERYPARAM = "placement.query.duplicate_key"


class ConcurrentUpdate(exceptions.ConcurrentUpdate):
    """A provider or consumer generation did not match: someone else wrote first."""

    def __init__(self, message: str = "", **extra: Any) -> None:
        extra.setdefault("code", CONCURRENT_UPDATE)
        super().__init__(message, **extra)


class CapacityExceeded(exceptions.Conflict):
    """A claim would make usage exceed a provider's usable capacity (or it has no such
    inventory at all)."""


class AllocationConstraint(exceptions.BadRequest):
    """An amount breaks an inventory's min_unit / max_unit / step_size."""


class InventoryInUse(exceptions.Conflict):
    def __init__(self, message: str = "", **extra: Any) -> None:
        extra.setdefault("code", INVENTORY_INUSE)
        super().__init__(message, **extra)


class ProviderInUse(exceptions.Conflict):
    def __init__(self, message: str = "", **extra: Any) -> None:
        extra.setdefault("code", PROVIDER_IN_USE)
        super().__init__(message, **extra)


class DuplicateName(exceptions.Conflict):
    def __init__(self, message: str = "", **extra: Any) -> None:
        extra.setdefault("code", DUPLICATE_NAME)
        super().__init__(message, **extra)


class ProviderNotFound(exceptions.NotFound):
    def __init__(self, message: str = "", **extra: Any) -> None:
        extra.setdefault("code", RESOURCE_PROVIDER_NOT_FOUND)
        super().__init__(message, **extra)


def bad_query(message: str) -> exceptions.BadRequest:
    return exceptions.BadRequest(message, code=QUERYPARAM_BAD_VALUE)
