"""Which resource providers match a ``GET /resource_providers`` query.

The handler parses the query string into a :class:`ProviderFilter`; :func:`matching` reads the
providers and keeps those that pass every filter: uuid/name, same tree, aggregate membership,
traits, and room for the requested resources on one provider.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from pocketstack.placement import errors
from pocketstack.placement import tables as t
from pocketstack.placement.domain import aggregates, providers, resource_classes, traits
from pocketstack.placement.domain.inventories import capacity


@dataclass(frozen=True)
class ProviderFilter:
    """The filters of one provider listing; empty ones do not filter."""

    uuid: str | None = None
    name: str | None = None
    in_tree: str | None = None
    member_of: list[frozenset[str]] = field(default_factory=list)  # each: any of these
    not_member_of: set[str] = field(default_factory=set)
    required: list[frozenset[str]] = field(default_factory=list)  # each: any of these traits
    forbidden: set[str] = field(default_factory=set)
    resources: dict[str, int] = field(default_factory=dict)  # rc -> amount, on one provider


def _inventories_by_provider(conn: Connection) -> dict[int, dict[str, dict[str, Any]]]:
    """Every inventory row: {provider id: {resource class: row}}."""
    out: dict[int, dict[str, dict[str, Any]]] = {}
    for inv in conn.execute(sa.select(t.inventories)).mappings():
        out.setdefault(inv["provider_id"], {})[inv["resource_class"]] = dict(inv)
    return out


def _fits(have: dict[str, dict[str, Any]], resources: dict[str, int]) -> bool:
    """Whether these inventories can take every requested amount (capacity and unit rules)."""
    for rc, amount in resources.items():
        inv = have.get(rc)
        if inv is None or inv["used"] + amount > capacity(inv) or \
                amount > inv["max_unit"] or amount < inv["min_unit"] or \
                amount % inv["step_size"]:
            return False
    return True


def matching(conn: Connection, f: ProviderFilter) -> list[dict[str, Any]]:
    """The providers passing every filter of ``f`` (400 for unknown resource classes/traits)."""
    if f.resources:
        unknown = [rc for rc in f.resources if not resource_classes.exists(conn, rc)]
        if unknown:
            raise errors.bad_query(
                f"Invalid resource class in resources parameter: {unknown[0]}")
    if f.required or f.forbidden:
        traits.check_known(conn, {n for s in f.required for n in s} | f.forbidden)
    rows = providers.list_all(conn, [f.uuid] if f.uuid else None, f.name)
    if f.in_tree is not None:
        tree = providers.find(conn, f.in_tree)
        if tree is None:
            return []
        rows = [r for r in rows if r["root_id"] == tree["root_id"]]
    if f.member_of or f.not_member_of:
        by = aggregates.by_provider(conn)
        rows = [r for r in rows if not by.get(r["id"], set()) & f.not_member_of
                and all(by.get(r["id"], set()) & s for s in f.member_of)]
    if f.required or f.forbidden:
        by_t = traits.by_provider(conn)
        rows = [r for r in rows if not by_t.get(r["id"], set()) & f.forbidden
                and all(by_t.get(r["id"], set()) & s for s in f.required)]
    if f.resources:
        invs = _inventories_by_provider(conn)
        rows = [r for r in rows if _fits(invs.get(r["id"], {}), f.resources)]
    return rows
