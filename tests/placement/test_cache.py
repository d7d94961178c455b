"""The candidates snapshot cache: reused while the placement revision stands, dropped by every
placement write (in this process or another), on SQLite, PostgreSQL and MariaDB."""

from __future__ import annotations

import random
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from pocketstack.common import exceptions, migrate
from pocketstack.common.db import Database
from pocketstack.placement import tables as t
from pocketstack.placement.api.allocation_candidates import _summary_text
from pocketstack.placement.client import PlacementClient
from pocketstack.placement.domain import (
    aggregates,
    allocations,
    candidates,
    inventories,
    providers,
    resource_classes,
    revision,
    snapshot,
    traits,
)
from tests.conftest import ROOT, fresh_database

HOST = {"VCPU": {"total": 4}, "MEMORY_MB": {"total": 4096}}


@pytest.fixture(params=["sqlite", "postgresql", "mysql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    drop = None
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'p.db'}"
    else:
        url, drop = fresh_database(request.param)
    db = Database(url)
    migrate.upgrade(db)
    db.dispose()
    yield url
    if drop:
        drop()


def _u() -> str:
    return str(uuid.uuid4())


def _cands(db: Database, resources: dict[str, int], **group: Any) -> list[str]:
    snap = snapshot.cache_for(db).get()
    query = candidates.Query([candidates.RequestGroup(resources=resources, **group)])
    result = candidates.search(snap, query)
    return [result.uuid(pid) for c in result.candidates for pid in c.allocations]


def test_every_placement_write_moves_the_revision(db_url: str) -> None:
    """Each write path bumps the revision once; reads do not; the cache reloads after each."""
    db = Database(db_url)
    cache = snapshot.cache_for(db)
    root, child, vm = _u(), _u(), _u()

    def claim(amount: int) -> Callable[[Connection], None]:
        return lambda conn: allocations.replace(conn, [allocations.ConsumerAllocations(
            vm, {root: {"VCPU": amount}} if amount else {}, "p", "u")])

    def reshape(conn: Connection) -> None:  # what POST /reshaper does, in one transaction
        allocations.replace(conn, [allocations.ConsumerAllocations(vm, {}, "p", "u")])
        inventories.replace_all(conn, child, {"VCPU": {"total": 2}}, None)
        allocations.replace(conn, [allocations.ConsumerAllocations(
            vm, {child: {"VCPU": 1}}, "p", "u")])

    writes: list[tuple[str, bool, Callable[[Connection], Any]]] = [  # (what, structural, write)
        ("create root", True, lambda c: providers.create(c, "root", root)),
        ("create child", True, lambda c: providers.create(c, "child", child, root)),
        ("rename", True, lambda c: providers.update(c, child, name="child-0")),
        ("inventories", False, lambda c: inventories.replace_all(c, root, HOST, None)),
        ("inventory create", False, lambda c: inventories.set_one(
            c, root, "DISK_GB", {"total": 10}, None, create=True)),
        ("inventory update", False, lambda c: inventories.set_one(
            c, root, "DISK_GB", {"total": 20}, None, create=False)),
        ("inventory delete", False, lambda c: inventories.delete_one(c, root, "DISK_GB")),
        ("custom trait", True, lambda c: traits.ensure(c, "CUSTOM_FAST")),
        ("provider traits", False, lambda c: traits.set_for_provider(c, root, ["CUSTOM_FAST"])),
        ("aggregates", True, lambda c: aggregates.set_for_provider(c, root, [_u()])),
        ("aggregates without generation bump", True, lambda c: aggregates.set_for_provider(
            c, root, [], bump=False)),
        ("resource class", True, lambda c: resource_classes.create(c, "CUSTOM_GPU")),
        ("resource class rename", True, lambda c: resource_classes.rename(
            c, "CUSTOM_GPU", "CUSTOM_TPU")),
        ("claim", False, claim(2)),
        ("re-claim", False, claim(3)),
        ("release", False, claim(0)),
        ("claim again", False, claim(1)),
        ("delete consumer", False, lambda c: allocations.delete_consumer(c, vm)),
        ("claim on root", False, claim(1)),
        ("reshape", False, reshape),
        ("delete consumer again", False, lambda c: allocations.delete_consumer(c, vm)),
        ("reparent", True, lambda c: providers.update(c, child, parent_uuid=None,
                                                allow_reparent=True)),
        ("delete inventories", False, lambda c: inventories.delete_all(c, child)),
        ("provider traits cleared", False, lambda c: traits.set_for_provider(c, root, [])),
        ("trait delete", True, lambda c: traits.delete(c, "CUSTOM_FAST")),
        ("resource class delete", True, lambda c: resource_classes.delete(c, "CUSTOM_TPU")),
        ("delete provider", True, lambda c: providers.delete(c, child)),
    ]
    try:
        for what, structural, write in writes:
            before = revision.current(db)
            snap = cache.get()
            assert snap.revision == before, what
            assert cache.get() is snap, what  # reads alone keep the snapshot
            db.write(write)
            assert revision.current(db) == before + 1, what  # once per transaction
            fresh = cache.get()
            assert fresh is not snap, what
            assert fresh.revision == before + 1, what
            assert fresh.structure == snap.structure + structural, what
            assert (fresh.trees is snap.trees) == (not structural), what
            _same(fresh, db.read(snapshot.load))  # incremental or not, as a full read
        # a write that fails changes nothing, the revision included
        before = revision.current(db)
        with pytest.raises(exceptions.Conflict):
            db.write(lambda c: providers.create(c, "root", _u()))
        assert revision.current(db) == before
    finally:
        db.dispose()


def _same(got: snapshot.Snapshot, want: snapshot.Snapshot) -> None:
    assert (got.revision, got.structure) == (want.revision, want.structure)
    assert got.providers == want.providers and got.generations == want.generations
    assert got.trees == want.trees and got.uuids == want.uuids
    assert {p: list(v.items()) for p, v in got.inventories.items()} == {
        p: list(v.items()) for p, v in want.inventories.items()}
    assert got.traits == want.traits and got.aggregates == want.aggregates
    assert (got.custom_classes, got.custom_traits) == (want.custom_classes, want.custom_traits)


def test_incremental_refresh_matches_a_full_read(db_url: str) -> None:
    """Random claims, releases, inventory and trait changes across a few trees: after each,
    the refreshed snapshot equals one read from scratch, and so do rendered summaries."""
    db = Database(db_url)
    client = PlacementClient(db)
    rng = random.Random(5)
    try:
        hosts = [_u() for _ in range(6)]
        for i, h in enumerate(hosts):
            client.ensure_provider(h, f"inc-{i}", hosts[0] if i == 5 else None)
            client.set_inventory(h, HOST)
        cache = snapshot.cache_for(db)
        held: dict[str, str] = {}
        for step in range(40):
            before = cache.get()
            action = rng.choice(["claim", "claim", "release", "inventory", "traits"])
            h = rng.choice(hosts)
            if action == "claim":
                vm = _u()
                try:
                    client.claim(vm, {h: {"VCPU": 1, "MEMORY_MB": 256}}, "p", "u")
                    held[vm] = h
                except exceptions.Conflict:
                    pass
            elif action == "release" and held:
                client.delete_allocations(held.pop(rng.choice(sorted(held))))
            elif action == "inventory":
                client.set_inventory(h, {"VCPU": {"total": rng.randint(4, 8)},
                                         "MEMORY_MB": {"total": 4096},
                                         **({"DISK_GB": {"total": 10}} if step % 2 else {})})
            elif action == "traits":
                client.set_traits(h, rng.sample(["HW_CPU_X86_AVX2", "CUSTOM_Y"], k=step % 3))
            snap = cache.get()
            assert snap.structure == before.structure or action == "traits"
            full = db.read(snapshot.load)
            _same(snap, full)
            if snap.structure == before.structure:
                assert snap.trees is before.trees  # refreshed, not read again
            for pid in snap.providers:  # summaries carried over equal fresh ones
                assert (snap.text.get(("summary", pid)) or _summary_text(snap, pid)) == \
                    _summary_text(full, pid)
    finally:
        db.dispose()


def test_candidates_follow_writes_through_the_cache(db_url: str) -> None:
    db = Database(db_url)
    client = PlacementClient(db)
    other = Database(db_url)  # another process's engine and cache
    try:
        h = _u()
        client.ensure_provider(h, "h")
        assert _cands(db, {"VCPU": 1}) == []
        client.set_inventory(h, HOST)
        assert _cands(db, {"VCPU": 1}) == [h]
        assert _cands(other, {"VCPU": 1}) == [h]
        loads = snapshot.cache_for(db).loads
        assert _cands(db, {"VCPU": 4}) == [h]
        assert snapshot.cache_for(db).loads == loads  # same revision: no reload

        # a claim made through the other engine is seen here at once
        vm = _u()
        PlacementClient(other).claim(vm, {h: {"VCPU": 3}}, "p", "u")
        assert _cands(db, {"VCPU": 2}) == []
        assert [c.summary["VCPU"]["used"] for c in client.allocation_candidates(
            {"VCPU": 1})] == [3]
        client.delete_allocations(vm)
        assert _cands(other, {"VCPU": 4}) == [h]

        client.set_traits(h, ["CUSTOM_X"])
        assert _cands(other, {"VCPU": 1}, required=[frozenset(["CUSTOM_X"])]) == [h]
        agg = _u()
        client.set_aggregates(h, [agg])
        assert _cands(other, {"VCPU": 1}, member_of=[frozenset([agg])]) == [h]
        client.set_aggregates(h, [])
        assert _cands(other, {"VCPU": 1}, member_of=[frozenset([agg])]) == []
        client.delete_provider(h)
        assert _cands(db, {"VCPU": 1}) == _cands(other, {"VCPU": 1}) == []
    finally:
        db.dispose()
        other.dispose()


_WRITER = textwrap.dedent("""
    import sys
    from pocketstack.common.db import Database
    from pocketstack.placement.client import PlacementClient
    url, provider, consumer = sys.argv[1:4]
    db = Database(url)
    PlacementClient(db).claim(consumer, {provider: {"VCPU": 4}}, "p", "u")
    db.dispose()
""")


def test_a_claim_in_another_process_invalidates_this_cache(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'p.db'}"
    db = Database(url)
    migrate.upgrade(db)
    client = PlacementClient(db)
    try:
        h = _u()
        client.ensure_provider(h, "h")
        client.set_inventory(h, HOST)
        assert [c.provider_uuid for c in client.allocation_candidates({"VCPU": 1})] == [h]
        subprocess.run([sys.executable, "-c", _WRITER, url, h, _u()], check=True, cwd=ROOT,
                       timeout=60)
        assert client.allocation_candidates({"VCPU": 1}) == []
    finally:
        db.dispose()


def test_touch_counts_once_per_transaction_and_restores_a_missing_row(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'p.db'}")
    migrate.upgrade(db)
    try:
        start = revision.current(db)

        def twice(conn: Connection) -> None:
            revision.touch(conn)
            revision.touch(conn)

        db.write(twice)
        db.write(twice)
        assert revision.current(db) == start + 2
        with db.writer() as conn:
            conn.execute(sa.delete(t.revision))
        assert revision.current(db) == 0
        db.write(twice)
        assert revision.current(db) == 1
    finally:
        db.dispose()


def test_response_cache_is_per_revision(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'p.db'}")
    migrate.upgrade(db)
    cache = snapshot.cache_for(db)
    built: list[int] = []

    def build(value: str) -> Callable[[], str]:
        def go() -> str:
            built.append(1)
            return value
        return go

    try:
        rev = cache.get().revision
        assert cache.response(rev, "k", build("a")) == "a"
        assert cache.response(rev, "k", build("b")) == "a"  # remembered
        assert len(built) == 1
        db.write(revision.touch)
        rev2 = cache.get().revision
        assert rev2 == rev + 1
        assert cache.response(rev2, "k", build("c")) == "c"
        # a late request still on the old revision never overwrites newer entries
        assert cache.response(rev, "k", build("d")) == "d"
        assert cache.response(rev2, "k", build("e")) == "c"
        for i in range(cache.RESPONSES + 5):
            cache.response(rev2, i, build(str(i)))
        assert len(cache._responses) == cache.RESPONSES  # noqa: SLF001
        big = "x" * (cache.RESPONSE_BYTES // 3)
        for i in range(4):
            assert cache.response(rev2, ("big", i), build(big)) == big
        assert 0 < len(cache._responses) < cache.RESPONSES  # noqa: SLF001
        assert cache._response_bytes <= cache.RESPONSE_BYTES  # noqa: SLF001
    finally:
        db.dispose()
