"""The candidates snapshot cache: reused while the placement revision stands, dropped by every
placement write (in this process or another), on SQLite, PostgreSQL and MariaDB."""

from __future__ import annotations

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

    writes: list[tuple[str, Callable[[Connection], Any]]] = [
        ("create root", lambda c: providers.create(c, "root", root)),
        ("create child", lambda c: providers.create(c, "child", child, root)),
        ("rename", lambda c: providers.update(c, child, name="child-0")),
        ("inventories", lambda c: inventories.replace_all(c, root, HOST, None)),
        ("inventory create", lambda c: inventories.set_one(
            c, root, "DISK_GB", {"total": 10}, None, create=True)),
        ("inventory update", lambda c: inventories.set_one(
            c, root, "DISK_GB", {"total": 20}, None, create=False)),
        ("inventory delete", lambda c: inventories.delete_one(c, root, "DISK_GB")),
        ("custom trait", lambda c: traits.ensure(c, "CUSTOM_FAST")),
        ("provider traits", lambda c: traits.set_for_provider(c, root, ["CUSTOM_FAST"])),
        ("aggregates", lambda c: aggregates.set_for_provider(c, root, [_u()])),
        ("aggregates without generation bump", lambda c: aggregates.set_for_provider(
            c, root, [], bump=False)),
        ("resource class", lambda c: resource_classes.create(c, "CUSTOM_GPU")),
        ("resource class rename", lambda c: resource_classes.rename(
            c, "CUSTOM_GPU", "CUSTOM_TPU")),
        ("claim", claim(2)),
        ("re-claim", claim(3)),
        ("release", claim(0)),
        ("claim again", claim(1)),
        ("delete consumer", lambda c: allocations.delete_consumer(c, vm)),
        ("claim on root", claim(1)),
        ("reshape", reshape),
        ("delete consumer again", lambda c: allocations.delete_consumer(c, vm)),
        ("reparent", lambda c: providers.update(c, child, parent_uuid=None,
                                                allow_reparent=True)),
        ("delete inventories", lambda c: inventories.delete_all(c, child)),
        ("provider traits cleared", lambda c: traits.set_for_provider(c, root, [])),
        ("trait delete", lambda c: traits.delete(c, "CUSTOM_FAST")),
        ("resource class delete", lambda c: resource_classes.delete(c, "CUSTOM_TPU")),
        ("delete provider", lambda c: providers.delete(c, child)),
    ]
    try:
        for what, write in writes:
            before = revision.current(db)
            snap = cache.get()
            assert snap.revision == before, what
            assert cache.get() is snap, what  # reads alone keep the snapshot
            db.write(write)
            assert revision.current(db) == before + 1, what  # once per transaction
            assert cache.get() is not snap, what
            assert cache.get().revision == before + 1, what
        # a write that fails changes nothing, the revision included
        before = revision.current(db)
        with pytest.raises(exceptions.Conflict):
            db.write(lambda c: providers.create(c, "root", _u()))
        assert revision.current(db) == before
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
        assert len(cache._responses) <= cache.RESPONSES  # noqa: SLF001
    finally:
        db.dispose()
