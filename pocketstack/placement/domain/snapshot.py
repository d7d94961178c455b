"""What allocation candidates read, held per process and reused while the revision stands.

A :class:`Snapshot` is every provider (id, uuid, parent, root), every inventory with its
``used``, every provider's traits and aggregates, and the custom resource class and trait
names, read in one read transaction with plain DB-API cursors (no per-row SQLAlchemy objects).
It is tagged with the placement revision (:mod:`.revision`) read *first* in that transaction,
so its data is never older than its tag. :meth:`SnapshotCache.get` reads the committed revision
(one indexed single-row SELECT) and reloads only when it moved; every placement write bumps it,
in whichever process the write happens.

A snapshot is immutable once built; the ``text`` dict holds JSON fragments that renderers
derive from it (for instance a provider's summary), so they are built once per revision.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import Connection

from pocketstack.common.db import Database
from pocketstack.placement.domain import revision


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


EMPTY: frozenset[str] = frozenset()


@dataclass
class Snapshot:
    revision: int
    providers: dict[int, dict[str, Any]]  # id -> {"id", "uuid", "parent_id", "root_id"}
    inventories: dict[int, dict[str, Inv]]  # id -> {rc: Inv}
    traits: dict[int, frozenset[str]]
    aggregates: dict[int, frozenset[str]]
    custom_classes: frozenset[str]
    custom_traits: frozenset[str]
    trees: dict[int, list[int]] = field(default_factory=dict)  # root -> members, id order
    uuids: dict[int, str] = field(default_factory=dict)
    by_uuid: dict[str, int] = field(default_factory=dict)
    text: dict[Any, str] = field(default_factory=dict)  # fragments rendered from this data

    def __post_init__(self) -> None:
        for pid, row in self.providers.items():
            self.trees.setdefault(row["root_id"] or pid, []).append(pid)
            self.uuids[pid] = row["uuid"]
            self.by_uuid[row["uuid"]] = pid


_PROVIDERS = "SELECT id, uuid, parent_id, root_id FROM placement_providers ORDER BY id"
_INVENTORIES = ("SELECT provider_id, resource_class, total, reserved, allocation_ratio, used, "
                "min_unit, max_unit, step_size FROM placement_inventories")
_TRAITS = "SELECT provider_id, trait FROM placement_provider_traits"
_AGGREGATES = "SELECT provider_id, aggregate FROM placement_provider_aggregates"
_CLASSES = "SELECT name FROM placement_resource_classes"
_CUSTOM_TRAITS = "SELECT name FROM placement_traits"


def load(conn: Connection) -> Snapshot:
    """Read a snapshot in ``conn``'s (read) transaction."""
    rev = revision.read(conn)  # first: the data read below is at least this new
    cur = conn.connection.cursor()
    try:
        cur.execute(_PROVIDERS)
        provs = {pid: {"id": pid, "uuid": uuid, "parent_id": parent, "root_id": root}
                 for pid, uuid, parent, root in cur.fetchall()}
        cur.execute(_INVENTORIES)
        invs: dict[int, dict[str, Inv]] = {}
        for pid, rc, total, reserved, ratio, used, lo, hi, step in cur.fetchall():
            per = invs.get(pid)
            if per is None:
                per = invs[pid] = {}
            per[rc] = Inv(int((total - reserved) * float(ratio)), int(used), int(lo), int(hi),
                          int(step))
        traits: dict[int, set[str]] = {}
        cur.execute(_TRAITS)
        for pid, name in cur.fetchall():
            traits.setdefault(pid, set()).add(name)
        aggs: dict[int, set[str]] = {}
        cur.execute(_AGGREGATES)
        for pid, agg in cur.fetchall():
            aggs.setdefault(pid, set()).add(agg)
        cur.execute(_CLASSES)
        classes = frozenset(r[0] for r in cur.fetchall())
        cur.execute(_CUSTOM_TRAITS)
        custom_traits = frozenset(r[0] for r in cur.fetchall())
    finally:
        cur.close()
    return Snapshot(rev, provs, invs, {k: frozenset(v) for k, v in traits.items()},
                    {k: frozenset(v) for k, v in aggs.items()}, classes, custom_traits)


class SnapshotCache:
    """The current snapshot of one database, plus a small LRU of rendered documents keyed on
    (revision, request); both are dropped as soon as the revision moves."""

    RESPONSES = 64  # rendered documents kept (each ≤ a few hundred KB)

    def __init__(self, db: Database) -> None:
        self.db = db
        self._snapshot: Snapshot | None = None
        self._lock = threading.Lock()
        self._responses: OrderedDict[Any, Any] = OrderedDict()
        self._responses_rev = -1
        self.loads = 0  # how many times a snapshot was read (tests look at it)

    def get(self, rev: int | None = None) -> Snapshot:
        """The snapshot for the committed revision (``rev`` if the caller just read it)."""
        if rev is None:
            rev = revision.current(self.db)
        snap = self._snapshot
        if snap is not None and snap.revision == rev:
            return snap
        with self._lock:  # one loader; concurrent readers wait and share its result
            snap = self._snapshot
            if snap is not None and snap.revision == rev:
                return snap
            snap = self.db.read(load)
            self.loads += 1
            if self._snapshot is None or snap.revision >= self._snapshot.revision:
                self._snapshot = snap
            return snap

    def response(self, rev: int, key: Any, build: Callable[[], Any]) -> Any:
        """``build()``'s result, remembered for (``rev``, ``key``)."""
        found = self._responses.get((rev, key))
        if found is not None:
            return found
        value = build()
        with self._lock:
            if rev > self._responses_rev:
                self._responses.clear()
                self._responses_rev = rev
            if rev == self._responses_rev:
                self._responses[(rev, key)] = value
                while len(self._responses) > self.RESPONSES:
                    self._responses.popitem(last=False)
        return value

    def clear(self) -> None:
        with self._lock:
            self._snapshot = None
            self._responses.clear()
            self._responses_rev = -1


_caches: weakref.WeakKeyDictionary[Database, SnapshotCache] = weakref.WeakKeyDictionary()
_caches_lock = threading.Lock()


def cache_for(db: Database) -> SnapshotCache:
    """The process-wide cache of ``db`` (shared by the REST API and the in-process client)."""
    found = _caches.get(db)
    if found is None:
        with _caches_lock:
            found = _caches.get(db)
            if found is None:
                found = _caches[db] = SnapshotCache(db)
    return found
