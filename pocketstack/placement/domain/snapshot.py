"""What allocation candidates read, held per process and reused while the revision stands.

A :class:`Snapshot` is every provider (id, uuid, parent, root, generation), every inventory
with its ``used``, every provider's traits and aggregates, and the custom resource class and
trait names, read in one read transaction with plain DB-API cursors (no per-row SQLAlchemy
objects). It is tagged with the placement revisions (:mod:`.revision`) read *first* in that
transaction, so its data is never older than its tag. :meth:`SnapshotCache.get` reads the
committed revision (one indexed single-row SELECT) and refreshes only when it moved; every
placement write bumps it, in whichever process the write happens.

A refresh reads everything again only when the structure revision moved (providers created,
deleted or moved, aggregates, resource class and trait definitions). Otherwise -- claims,
inventory and provider trait changes, which all bump the generation of each provider they
change -- it reads the providers' generations and then the inventories, traits and aggregates
of just the providers whose generation moved, and shares the rest with the previous snapshot.

A snapshot is immutable once built; the ``text`` dict holds JSON fragments that renderers
derive from it, keyed ``(kind, provider id)`` (for instance a provider's summary), so each is
built once and carried over to the next snapshot while that provider is unchanged.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import Connection

from pocketstack.common.db import Database
from pocketstack.placement.domain import rawsql, revision


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
INCREMENTAL_MAX = 200  # more changed providers than this: read everything again


@dataclass
class Snapshot:
    revision: int
    structure: int  # the structure revision (see :mod:`.revision`)
    providers: dict[int, dict[str, Any]]  # id -> {"id", "uuid", "parent_id", "root_id"}
    generations: dict[int, int]
    inventories: dict[int, dict[str, Inv]]  # id -> {rc: Inv}, classes in name order
    traits: dict[int, frozenset[str]]
    aggregates: dict[int, frozenset[str]]
    custom_classes: frozenset[str]
    custom_traits: frozenset[str]
    trees: dict[int, list[int]] = field(default_factory=dict)  # root -> members, id order
    uuids: dict[int, str] = field(default_factory=dict)
    by_uuid: dict[str, int] = field(default_factory=dict)
    text: dict[Any, str] = field(default_factory=dict)  # fragments rendered from this data

    def index(self) -> Snapshot:
        for pid, row in self.providers.items():
            self.trees.setdefault(row["root_id"] or pid, []).append(pid)
            self.uuids[pid] = row["uuid"]
            self.by_uuid[row["uuid"]] = pid
        return self


_PROVIDERS = ("SELECT id, uuid, parent_id, root_id, generation FROM placement_providers "
              "ORDER BY id")
_INVENTORIES = ("SELECT provider_id, resource_class, total, reserved, allocation_ratio, used, "
                "min_unit, max_unit, step_size FROM placement_inventories")
_TRAITS = "SELECT provider_id, trait FROM placement_provider_traits"
_AGGREGATES = "SELECT provider_id, aggregate FROM placement_provider_aggregates"
_CLASSES = "SELECT name FROM placement_resource_classes"
_CUSTOM_TRAITS = "SELECT name FROM placement_traits"
_WHERE_IN = " WHERE provider_id IN ({})"


def _inventories(cur: rawsql.Cursor, where: str = "", params: list[int] | None = None
                 ) -> dict[int, dict[str, Inv]]:
    """{provider id: {resource class: Inv}}, classes in name order."""
    invs: dict[int, dict[str, Inv]] = {}
    for pid, rc, total, reserved, ratio, used, lo, hi, step in cur.all(
            _INVENTORIES + where + " ORDER BY provider_id, resource_class", params or ()):
        per = invs.get(pid)
        if per is None:
            per = invs[pid] = {}
        per[rc] = Inv(int((total - reserved) * ratio), used, lo, hi, step)
    return invs


def _sets(cur: rawsql.Cursor, sql: str, params: list[int] | None = None
          ) -> dict[int, frozenset[str]]:
    found: dict[int, set[str]] = {}
    for pid, name in cur.all(sql, params or ()):
        found.setdefault(pid, set()).add(name)
    return {k: frozenset(v) for k, v in found.items()}


def load(conn: Connection, previous: Snapshot | None = None) -> Snapshot:
    """Read a snapshot in ``conn``'s (read) transaction; with ``previous`` (of the same
    structure revision) only what changed since it."""
    rev, structure = revision.read(conn)  # first: the data read below is at least this new
    cur = rawsql.Cursor(conn)
    try:
        rows = cur.all(_PROVIDERS)
        if previous is not None and previous.structure == structure:
            snap = _refresh(cur, previous, rev, structure, rows)
            if snap is not None:
                return snap
        provs = {pid: {"id": pid, "uuid": uuid, "parent_id": parent, "root_id": root}
                 for pid, uuid, parent, root, _gen in rows}
        return Snapshot(
            rev, structure, provs, {r[0]: r[4] for r in rows}, _inventories(cur),
            _sets(cur, _TRAITS), _sets(cur, _AGGREGATES),
            frozenset(r[0] for r in cur.all(_CLASSES)),
            frozenset(r[0] for r in cur.all(_CUSTOM_TRAITS))).index()
    finally:
        cur.close()


def _refresh(cur: rawsql.Cursor, prev: Snapshot, rev: int, structure: int,
             rows: list[Any]) -> Snapshot | None:
    """``prev`` with the providers whose generation moved read again; None when the provider
    set or tree differs after all (then everything is read again)."""
    if len(rows) != len(prev.providers):
        return None
    changed = []
    generations = {}
    for pid, uuid, parent, root, gen in rows:
        row = prev.providers.get(pid)
        if row is None or row["uuid"] != uuid or row["parent_id"] != parent or \
                row["root_id"] != root:
            return None
        generations[pid] = gen
        if prev.generations.get(pid) != gen:
            changed.append(pid)
    if len(changed) > INCREMENTAL_MAX:
        return None
    invs, traits, aggs = prev.inventories, prev.traits, prev.aggregates
    text = prev.text
    if changed:
        where = _WHERE_IN.format(cur.marks(len(changed)))
        gone = set(changed)
        invs = {k: v for k, v in invs.items() if k not in gone}
        invs.update(_inventories(cur, where, changed))
        traits = {k: v for k, v in traits.items() if k not in gone}
        traits.update(_sets(cur, _TRAITS + where, changed))
        aggs = {k: v for k, v in aggs.items() if k not in gone}
        aggs.update(_sets(cur, _AGGREGATES + where, changed))
        # renderers add to prev.text concurrently: copy it in one step, then filter the copy
        text = {k: v for k, v in text.copy().items() if k[1] not in gone}
    else:
        text = text.copy()
    return Snapshot(rev, structure, prev.providers, generations, invs, traits, aggs,
                    prev.custom_classes, prev.custom_traits, prev.trees, prev.uuids,
                    prev.by_uuid, text)


class SnapshotCache:
    """The current snapshot of one database, plus a small LRU of rendered documents keyed on
    (revision, request); both are dropped as soon as the revision moves."""

    RESPONSES = 16  # rendered documents kept per revision ...
    RESPONSE_BYTES = 16 << 20  # ... and their total size (1000 candidates: ~440 KB)

    def __init__(self, db: Database) -> None:
        self.db = db
        self._snapshot: Snapshot | None = None
        self._lock = threading.Lock()
        self._responses: OrderedDict[Any, Any] = OrderedDict()
        self._responses_rev = -1
        self._response_bytes = 0
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
            snap = self.db.read(load, self._snapshot)
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
        size = len(value) if isinstance(value, bytes | str) else 0
        with self._lock:
            if rev > self._responses_rev:
                self._responses.clear()
                self._responses_rev = rev
                self._response_bytes = 0
            if rev == self._responses_rev and (rev, key) not in self._responses:
                self._responses[(rev, key)] = value
                self._response_bytes += size
                while self._responses and (len(self._responses) > self.RESPONSES or
                                           self._response_bytes > self.RESPONSE_BYTES):
                    _key, dropped = self._responses.popitem(last=False)
                    self._response_bytes -= (len(dropped) if isinstance(dropped, bytes | str)
                                             else 0)
        return value

    def clear(self) -> None:
        with self._lock:
            self._snapshot = None
            self._responses.clear()
            self._responses_rev = -1
            self._response_bytes = 0


def cache_for(db: Database) -> SnapshotCache:
    """The cache of ``db``, kept on the database handle itself (shared by the REST API and the
    in-process client of one cloud; no module-level state)."""
    return db.cache("placement.snapshot", lambda: SnapshotCache(db))  # type: ignore[no-any-return]
