"""Inventories: what a provider offers of each resource class, and how much of it is used.

usable capacity = int((total - reserved) * allocation_ratio); ``used`` is maintained by
:mod:`allocations` in the same transaction as the allocation rows.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from pocketstack.common import exceptions
from pocketstack.placement import errors
from pocketstack.placement import tables as t
from pocketstack.placement.domain import providers, resource_classes

I = t.inventories  # noqa: E741
MAX_INT = 2147483647
FIELDS = ("total", "reserved", "min_unit", "max_unit", "step_size", "allocation_ratio")
DEFAULTS: dict[str, Any] = {"reserved": 0, "min_unit": 1, "max_unit": MAX_INT, "step_size": 1,
                            "allocation_ratio": 1.0}


def summaries(conn: Connection, uuids: list[str] | None = None
              ) -> dict[str, dict[str, dict[str, int]]]:
    """{provider uuid: {rc: {"capacity", "used"}}} for every provider (or these)."""
    q = (sa.select(t.providers.c.uuid, t.inventories)
         .select_from(t.providers.outerjoin(
             t.inventories, t.inventories.c.provider_id == t.providers.c.id)))
    if uuids is not None:
        q = q.where(t.providers.c.uuid.in_(uuids))
    out: dict[str, dict[str, dict[str, int]]] = {}
    for r in conn.execute(q).mappings():
        entry = out.setdefault(r["uuid"], {})
        if r["resource_class"] is not None:
            entry[r["resource_class"]] = {"capacity": capacity(dict(r)), "used": int(r["used"])}
    return out


def capacity(inv: dict[str, Any]) -> int:
    return int((inv["total"] - inv["reserved"]) * inv["allocation_ratio"])


def view(inv: dict[str, Any]) -> dict[str, Any]:
    return {k: inv[k] for k in FIELDS}


def of_provider(conn: Connection, provider_id: int) -> dict[str, dict[str, Any]]:
    rows = conn.execute(sa.select(I).where(I.c.provider_id == provider_id)
                        .order_by(I.c.resource_class)).mappings()
    return {r["resource_class"]: dict(r) for r in rows}


def normalise(rc: str, data: dict[str, Any], reserved_can_be_total: bool = True
              ) -> dict[str, Any]:
    """Defaults plus the cross-field checks (the JSON schema checks types and ranges)."""
    inv = dict(DEFAULTS)
    inv.update({k: v for k, v in data.items() if k in FIELDS and v is not None})
    if "total" not in data:
        raise exceptions.BadRequest(f"Inventory of {rc} needs a 'total'.")
    for key in ("total", "reserved", "min_unit", "max_unit", "step_size"):
        value = inv[key]
        low = 0 if key == "reserved" else 1
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= MAX_INT:
            raise exceptions.BadRequest(
                f"Invalid inventory of {rc}: {key} must be an integer from {low} to {MAX_INT}.")
    ratio = inv["allocation_ratio"]
    if isinstance(ratio, bool) or not isinstance(ratio, int | float) or not 0 < ratio < 3.4e38:
        raise exceptions.BadRequest(
            f"Invalid inventory of {rc}: allocation_ratio must be a number above 0.")
    inv["allocation_ratio"] = float(ratio)
    if inv["reserved"] > inv["total"] or (inv["reserved"] == inv["total"]
                                          and not reserved_can_be_total):
        raise exceptions.BadRequest(
            f"Unable to update inventory for resource provider: the reserved value of {rc} "
            "is greater than total." if inv["reserved"] > inv["total"] else
            f"Unable to update inventory: reserved must be less than total for {rc}.")
    if inv["min_unit"] > inv["max_unit"]:
        raise exceptions.BadRequest(
            f"Invalid inventory of {rc}: min_unit ({inv['min_unit']}) is greater than "
            f"max_unit ({inv['max_unit']}).")
    return inv


def _row(provider_id: int, rc: str, inv: dict[str, Any], used: int) -> dict[str, Any]:
    return {"provider_id": provider_id, "resource_class": rc, "used": used,
            **{k: inv[k] for k in FIELDS}}


def replace_all(conn: Connection, uuid: str, inventories: dict[str, dict[str, Any]],
                generation: int | None, reserved_can_be_total: bool = True
                ) -> tuple[dict[str, dict[str, Any]], int]:
    """Set a provider's whole inventory; returns (inventories, new generation)."""
    provider = providers.lock_one(conn, uuid)
    providers.check_generation(provider, generation)
    wanted = {rc: normalise(rc, data, reserved_can_be_total) for rc, data in inventories.items()}
    resource_classes.check_known(conn, set(wanted))
    current = of_provider(conn, provider["id"])
    in_use = sorted(rc for rc, inv in current.items() if rc not in wanted and inv["used"] > 0)
    if in_use:
        raise errors.InventoryInUse(
            f"Inventory for '{', '.join(in_use)}' on resource provider '{uuid}' in use.")
    gone = [rc for rc in current if rc not in wanted]
    if gone:
        conn.execute(sa.delete(I).where(I.c.provider_id == provider["id"],
                                        I.c.resource_class.in_(gone)))
    for rc, inv in wanted.items():
        if rc in current:
            if any(current[rc][k] != inv[k] for k in FIELDS):
                conn.execute(sa.update(I).where(I.c.provider_id == provider["id"],
                                                I.c.resource_class == rc)
                             .values(**{k: inv[k] for k in FIELDS}))
        else:
            conn.execute(sa.insert(I).values(_row(provider["id"], rc, inv, 0)))
    gen = providers.bump(conn, provider["id"], provider["generation"])
    return of_provider(conn, provider["id"]), gen


def set_one(conn: Connection, uuid: str, rc: str, data: dict[str, Any], generation: int | None,
            create: bool, reserved_can_be_total: bool = True) -> tuple[dict[str, Any], int]:
    """Create (``create``: 409 if present) or update (404 if absent) one inventory."""
    provider = providers.lock_one(conn, uuid)
    providers.check_generation(provider, generation)
    inv = normalise(rc, data, reserved_can_be_total)
    resource_classes.check_known(conn, {rc})
    current = of_provider(conn, provider["id"])
    if create:
        if rc in current:
            raise exceptions.Conflict(
                f"Update conflict: Inventory for {rc} on resource provider {uuid} already "
                "exists.")
        conn.execute(sa.insert(I).values(_row(provider["id"], rc, inv, 0)))
    else:
        if rc not in current:
            raise exceptions.BadRequest(
                f"No inventory record with resource class for resource provider {uuid}")
        conn.execute(sa.update(I).where(I.c.provider_id == provider["id"],
                                        I.c.resource_class == rc)
                     .values(**{k: inv[k] for k in FIELDS}))
    gen = providers.bump(conn, provider["id"], provider["generation"])
    return of_provider(conn, provider["id"])[rc], gen


def delete_one(conn: Connection, uuid: str, rc: str, generation: int | None = None) -> int:
    provider = providers.lock_one(conn, uuid)
    providers.check_generation(provider, generation)
    current = of_provider(conn, provider["id"])
    if rc not in current:
        raise exceptions.NotFound(
            f"No inventory of class {rc} found for delete")
    if current[rc]["used"] > 0:
        raise errors.InventoryInUse(
            f"Inventory for '{rc}' on resource provider '{uuid}' in use.")
    conn.execute(sa.delete(I).where(I.c.provider_id == provider["id"], I.c.resource_class == rc))
    return providers.bump(conn, provider["id"], provider["generation"])


def delete_all(conn: Connection, uuid: str) -> int:
    _, gen = replace_all(conn, uuid, {}, None)
    return gen
