"""Allocation candidates: which providers (or provider trees) can satisfy a request now.

A request is one or more groups. The unsuffixed group may be spread over several providers of
one tree (one provider per resource class); each suffixed group (granular, 1.25+) is satisfied
by a single provider. Groups are then combined per tree, re-checking capacity where several
groups land on one provider, ``group_policy=isolate`` (suffixed groups on distinct providers),
``same_subtree`` and ``root_required``. The data is a :class:`~.snapshot.Snapshot` (one read
transaction's providers, inventories with their ``used``, traits and aggregates), reused while
the placement revision stands. A request of one group is answered for one-provider trees (the
usual compute hosts) by a direct capacity check, without building per-tree option lists.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from pocketstack.common import exceptions
from pocketstack.placement import errors, standard
from pocketstack.placement.domain.snapshot import EMPTY, Inv, Snapshot

__all__ = ["Candidate", "Inv", "Query", "RequestGroup", "Result", "check_names", "search"]


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
class Candidate:
    allocations: dict[int, dict[str, int]]  # provider id -> {rc: amount}
    mappings: dict[str, list[int]]  # group suffix -> provider ids


@dataclass
class Result:
    """The candidates in order. ``items`` holds, for the usual one-provider candidate of a
    one-group request, just the provider id (the allocation is ``resources``, the mapping
    ``{suffix: [id]}``) -- a thousand candidates then make no objects for the garbage collector
    to track (whose full passes, with a thousand dicts per request, took 30 ms); otherwise a
    :class:`Candidate`. ``candidates`` spells every item out."""

    items: list[int | Candidate]
    snapshot: Snapshot
    resources: dict[str, int] = field(default_factory=dict)  # of an id item
    suffix: str = ""  # of an id item

    @property
    def candidates(self) -> list[Candidate]:
        res, suffix = self.resources, self.suffix
        return [Candidate({item: dict(res)} if res else {}, {suffix: [item]})
                if isinstance(item, int) else item for item in self.items]

    @property
    def providers(self) -> dict[int, dict[str, Any]]:
        return self.snapshot.providers

    @property
    def inventories(self) -> dict[int, dict[str, Inv]]:
        return self.snapshot.inventories

    @property
    def traits(self) -> dict[int, frozenset[str]]:
        return self.snapshot.traits

    @property
    def trees(self) -> dict[int, list[int]]:
        return self.snapshot.trees

    def uuid(self, pid: int) -> str:
        return self.snapshot.uuids[pid]


def check_names(snap: Snapshot, query: Query) -> None:
    """400 for a resource class or trait that does not exist (as of ``snap``)."""
    for g in query.groups:
        for rc in g.resources:
            if rc not in standard.RESOURCE_CLASS_SET and rc not in snap.custom_classes:
                raise errors.bad_query(
                    f"Invalid resource class in resources parameter: No such resource class "
                    f"{rc}.")
    names = {n for g in query.groups for s in g.required for n in s}
    names |= {n for g in query.groups for n in g.forbidden}
    names |= {n for s in query.root_required for n in s} | query.root_forbidden
    missing = sorted(n for n in names
                     if n not in standard.TRAIT_SET and n not in snap.custom_traits)
    if missing:
        raise exceptions.BadRequest(f"No such trait(s): {', '.join(missing)}")


def search(snap: Snapshot, query: Query) -> Result:
    """Every candidate (up to ``query.limit``), trees in id order of their first provider."""
    data = snap
    in_tree_roots: dict[str, int] = {}
    for g in query.groups:
        if g.in_tree:
            found = snap.by_uuid.get(g.in_tree)
            in_tree_roots[g.suffix] = (snap.providers[found]["root_id"] if found is not None
                                       else -1)
    out: list[int | Candidate] = []
    limit = query.limit
    root_filter = bool(query.root_required or query.root_forbidden)
    only = query.groups[0] if len(query.groups) == 1 else None
    simple = only is not None and not (only.required or only.forbidden or only.member_of
                                       or only.forbidden_aggs)
    wanted = list(only.resources.items()) if only is not None else []
    invs = data.inventories
    for root, members in data.trees.items():
        if root not in data.providers:
            continue
        if root_filter and not _traits_ok(data.traits.get(root, EMPTY), query.root_required,
                                          query.root_forbidden):
            continue
        if in_tree_roots and any(r != root for r in in_tree_roots.values()):
            continue
        if only is not None and len(members) == 1:
            # one group, one provider in the tree: the provider alone must take it all
            pid = root
            if wanted:
                pinv = invs.get(pid)
                if pinv is None:
                    continue
                ok = True
                for rc, amount in wanted:
                    inv = pinv.get(rc)
                    if inv is None or not (inv.used + amount <= inv.capacity and
                                           inv.min_unit <= amount <= inv.max_unit and
                                           amount % inv.step_size == 0):
                        ok = False
                        break
                if not ok:
                    continue
            if not simple:
                if (only.required or only.forbidden) and not _traits_ok(
                        data.traits.get(pid, EMPTY), only.required, only.forbidden):
                    continue
                if not _aggs_ok(pid, only, data):
                    continue
            out.append(pid)
            if limit is not None and len(out) >= limit:
                break
            continue
        for cand in _tree_candidates(query, members, data):
            out.append(cand)
            if limit is not None and len(out) >= limit:
                break
        if limit is not None and len(out) >= limit:
            break
    return Result(out, snap, dict(only.resources) if only is not None else {},
                  only.suffix if only is not None else "")


def _traits_ok(have: frozenset[str] | set[str], required: list[frozenset[str]],
               forbidden: set[str]) -> bool:
    if forbidden and have & forbidden:
        return False
    return all(have & any_of for any_of in required)


def _aggs_ok(pid: int, group: RequestGroup, data: Snapshot) -> bool:
    if not group.member_of and not group.forbidden_aggs:
        return True
    have = data.aggregates.get(pid, EMPTY) | data.aggregates.get(
        data.providers[pid]["root_id"], EMPTY)
    if group.forbidden_aggs and have & group.forbidden_aggs:
        return False
    return all(have & any_of for any_of in group.member_of)


Option = tuple[dict[int, dict[str, int]], list[int]]


def _group_options(group: RequestGroup, members: list[int], data: Snapshot,
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
                    data.traits.get(pid, EMPTY), group.required, group.forbidden):
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
                and not (group.forbidden and data.traits.get(pid, EMPTY) & group.forbidden)
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
                have |= data.traits.get(pid, EMPTY)
            if not _traits_ok(have, group.required, set()):
                continue
        alloc: dict[int, dict[str, int]] = {}
        for rc, pid in zip(rcs, combo, strict=True):
            alloc.setdefault(pid, {})[rc] = group.resources[rc]
        out.append((alloc, used))
    return out


def _ancestors(pid: int, data: Snapshot) -> set[int]:
    out = {pid}
    parent = data.providers[pid]["parent_id"]
    while parent is not None:
        out.add(parent)
        parent = data.providers[parent]["parent_id"]
    return out


def _tree_candidates(query: Query, members: list[int], data: Snapshot) -> Iterator[Candidate]:
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


def _same_subtree(pids: list[int], data: Snapshot) -> bool:
    if not pids:
        return True
    chains = [_ancestors(p, data) for p in pids]
    return any(all(top in chain for chain in chains) for top in set(pids))
