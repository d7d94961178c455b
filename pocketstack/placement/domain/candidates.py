"""Allocation candidates: which providers (or provider trees) can satisfy a request now.

A request is one or more groups. The unsuffixed group may be spread over several providers of
one tree (one provider per resource class); each suffixed group (granular, 1.25+) is satisfied
by a single provider. Groups are then combined per tree, re-checking capacity where several
groups land on one provider, ``group_policy=isolate`` (suffixed groups on distinct providers),
``same_subtree`` and ``root_required``. The data comes from one read transaction: providers,
inventories (with their ``used``), and traits and aggregates only when the request needs them.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from pocketstack.placement import tables as t
from pocketstack.placement.domain import aggregates as aggs_domain
from pocketstack.placement.domain import traits as traits_domain

P = t.providers
I = t.inventories  # noqa: E741


@dataclass
class RequestGroup:
    suffix: str = ""
    resources: dict[str, int] = field(default_factory=dict)
    required: list[frozenset[str]] = field(default_factory=list)  # each: any-of
    forbidden: set[str] = field(default_factory=set)
    member_of: list[frozenset[str]] = field(default_factory=list)  # each: any-of
    forbidden_aggs: set[str] = field(default_factory=set)
    in_tree: str | None = None


@dataclass
class Query:
    groups: list[RequestGroup]
    group_policy: str | None = None  # "isolate" | "none"
    limit: int | None = None
    root_required: list[frozenset[str]] = field(default_factory=list)
    root_forbidden: set[str] = field(default_factory=set)
    same_subtree: list[list[str]] = field(default_factory=list)
    single_provider: bool = False  # every group on one provider (the in-process client)


@dataclass(slots=True)
class Inv:
    capacity: int
    used: int
    min_unit: int
    max_unit: int
    step_size: int

    def fits(self, amount: int, already: int = 0) -> bool:
        return (self.used + already + amount <= self.capacity and
                self.min_unit <= amount <= self.max_unit and amount % self.step_size == 0)


@dataclass
class Candidate:
    allocations: dict[int, dict[str, int]]  # provider id -> {rc: amount}
    mappings: dict[str, list[int]]  # group suffix -> provider ids


@dataclass
class Result:
    candidates: list[Candidate]
    providers: dict[int, dict[str, Any]]
    inventories: dict[int, dict[str, Inv]]
    traits: dict[int, set[str]]
    trees: dict[int, list[int]]

    def uuid(self, pid: int) -> str:
        return str(self.providers[pid]["uuid"])


class _Tree:
    def __init__(self, root: int, members: list[int], data: _Data) -> None:
        self.root = root
        self.members = members
        self.data = data


@dataclass
class _Data:
    providers: dict[int, dict[str, Any]]
    inventories: dict[int, dict[str, Inv]]
    traits: dict[int, set[str]]
    aggregates: dict[int, set[str]]


def _load(conn: Connection, query: Query, with_traits: bool) -> _Data:
    pq = sa.select(P.c.id, P.c.uuid, P.c.parent_id, P.c.root_id)
    trees = {g.in_tree for g in query.groups if g.in_tree}
    if trees:
        roots = sa.select(P.c.root_id).where(P.c.uuid.in_(trees))
        pq = pq.where(P.c.root_id.in_(roots))
    provs = {pid: {"id": pid, "uuid": uuid, "parent_id": parent, "root_id": root}
             for pid, uuid, parent, root in conn.execute(pq.order_by(P.c.id)).all()}
    iq = sa.select(I.c.provider_id, I.c.resource_class, I.c.total, I.c.reserved,
                   I.c.allocation_ratio, I.c.used, I.c.min_unit, I.c.max_unit, I.c.step_size)
    if trees:
        iq = iq.where(I.c.provider_id.in_(list(provs)))
    invs: dict[int, dict[str, Inv]] = {}
    for pid, rc, total, reserved, ratio, used, lo, hi, step in conn.execute(iq).all():
        per = invs.get(pid)
        if per is None:
            per = invs[pid] = {}
        per[rc] = Inv(int((total - reserved) * ratio), used, lo, hi, step)
    needs_traits = with_traits or query.root_required or query.root_forbidden or any(
        g.required or g.forbidden for g in query.groups)
    needs_aggs = any(g.member_of or g.forbidden_aggs for g in query.groups)
    return _Data(
        provs, invs,
        traits_domain.by_provider(conn) if needs_traits else {},
        aggs_domain.by_provider(conn) if needs_aggs else {},
    )


def search(conn: Connection, query: Query, with_traits: bool = False) -> Result:
    data = _load(conn, query, with_traits)
    trees: dict[int, list[int]] = {}
    for pid, row in data.providers.items():
        trees.setdefault(row["root_id"] or pid, []).append(pid)
    in_tree_roots: dict[str, int] = {}
    for g in query.groups:
        if g.in_tree:
            found = [r for r in data.providers.values() if r["uuid"] == g.in_tree]
            in_tree_roots[g.suffix] = found[0]["root_id"] if found else -1
    out: list[Candidate] = []
    limit = query.limit
    for root, members in trees.items():
        if root not in data.providers:
            continue
        if not _traits_ok(data.traits.get(root, set()), query.root_required,
                          query.root_forbidden):
            continue
        if any(r != root for s, r in in_tree_roots.items()):
            continue
        for cand in _tree_candidates(query, members, data):
            out.append(cand)
            if limit is not None and len(out) >= limit:
                break
        if limit is not None and len(out) >= limit:
            break
    return Result(out, data.providers, data.inventories, data.traits, trees)


def _traits_ok(have: set[str], required: list[frozenset[str]], forbidden: set[str]) -> bool:
    if forbidden and have & forbidden:
        return False
    return all(have & any_of for any_of in required)


def _aggs_ok(pid: int, group: RequestGroup, data: _Data) -> bool:
    if not group.member_of and not group.forbidden_aggs:
        return True
    have = data.aggregates.get(pid, set()) | data.aggregates.get(
        data.providers[pid]["root_id"], set())
    if group.forbidden_aggs and have & group.forbidden_aggs:
        return False
    return all(have & any_of for any_of in group.member_of)


Option = tuple[dict[int, dict[str, int]], list[int]]


def _group_options(group: RequestGroup, members: list[int], data: _Data,
                   single: bool) -> list[Option]:
    invs = data.inventories
    if single or group.suffix or len(members) == 1:
        options: list[Option] = []
        for pid in members:
            pinv = invs.get(pid)
            if group.resources:
                if pinv is None:
                    continue
                ok = True
                for rc, amount in group.resources.items():
                    inv = pinv.get(rc)
                    if inv is None or not inv.fits(amount):
                        ok = False
                        break
                if not ok:
                    continue
            if (group.required or group.forbidden) and not _traits_ok(
                    data.traits.get(pid, set()), group.required, group.forbidden):
                continue
            if not _aggs_ok(pid, group, data):
                continue
            options.append(({pid: dict(group.resources)} if group.resources else {}, [pid]))
        return options
    # unsuffixed: one provider per resource class, anywhere in the tree
    per_rc: list[list[int]] = []
    for rc, amount in group.resources.items():
        fits = [pid for pid in members
                if (inv := invs.get(pid, {}).get(rc)) is not None and inv.fits(amount)
                and not (group.forbidden and data.traits.get(pid, set()) & group.forbidden)
                and _aggs_ok(pid, group, data)]
        if not fits:
            return []
        per_rc.append(fits)
    rcs = list(group.resources)
    out: list[Option] = []
    seen: set[tuple[int, ...]] = set()
    for combo in itertools.product(*per_rc):
        if combo in seen:
            continue
        seen.add(combo)
        used = sorted(set(combo))
        if group.required:
            have: set[str] = set()
            for pid in (used or members):
                have |= data.traits.get(pid, set())
            if not _traits_ok(have, group.required, set()):
                continue
        alloc: dict[int, dict[str, int]] = {}
        for rc, pid in zip(rcs, combo, strict=True):
            alloc.setdefault(pid, {})[rc] = group.resources[rc]
        out.append((alloc, used))
    return out


def _ancestors(pid: int, data: _Data) -> set[int]:
    out = {pid}
    parent = data.providers[pid]["parent_id"]
    while parent is not None:
        out.add(parent)
        parent = data.providers[parent]["parent_id"]
    return out


def _tree_candidates(query: Query, members: list[int], data: _Data) -> Iterator[Candidate]:
    per_group = []
    for group in query.groups:
        options = _group_options(group, members, data, query.single_provider)
        if not options:
            return
        per_group.append(options)
    if len(per_group) == 1:
        for alloc, used in per_group[0]:
            yield Candidate(alloc, {query.groups[0].suffix: used})
        return
    seen: set[frozenset[tuple[int, str, int]]] = set()
    for combo in itertools.product(*per_group):
        merged: dict[int, dict[str, int]] = {}
        for alloc, _used in combo:
            for pid, res in alloc.items():
                target = merged.setdefault(pid, {})
                for rc, amount in res.items():
                    target[rc] = target.get(rc, 0) + amount
        ok = True
        for pid, res in merged.items():
            for rc, amount in res.items():
                inv = data.inventories[pid][rc]
                if inv.used + amount > inv.capacity:
                    ok = False
        if not ok:
            continue
        mappings = {g.suffix: used for g, (_a, used) in zip(query.groups, combo, strict=True)}
        if query.group_policy == "isolate":
            numbered = [set(used) for g, (_a, used) in zip(query.groups, combo, strict=True)
                        if g.suffix]
            if numbered and sum(len(s) for s in numbered) != len(set().union(*numbered)):
                continue
        if query.same_subtree and not all(
                _same_subtree([p for s in suffixes for p in mappings.get(s, [])], data)
                for suffixes in query.same_subtree):
            continue
        key = frozenset((pid, rc, n) for pid, res in merged.items() for rc, n in res.items())
        if key in seen:
            continue
        seen.add(key)
        yield Candidate(merged, mappings)


def _same_subtree(pids: list[int], data: _Data) -> bool:
    if not pids:
        return True
    chains = [_ancestors(p, data) for p in pids]
    return any(all(top in chain for chain in chains) for top in set(pids))
