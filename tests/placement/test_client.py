"""The in-process client (what the scheduler uses) on SQLite, PostgreSQL and MariaDB."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from pocketstack.common import exceptions, migrate
from pocketstack.common.db import Database
from pocketstack.placement.client import CapacityExceeded, PlacementClient
from pocketstack.placement.errors import AllocationConstraint, InventoryInUse
from tests.conftest import fresh_database

INV = {"VCPU": {"total": 8, "allocation_ratio": 2.0, "max_unit": 8},
       "MEMORY_MB": {"total": 4096, "reserved": 512},
       "DISK_GB": {"total": 100}}


@pytest.fixture(scope="module", params=["sqlite", "postgresql", "mysql"])
def client(request: pytest.FixtureRequest,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[PlacementClient]:
    """One migrated database per backend for the module (tests use distinct names)."""
    drop = None
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('placement') / 'p.db'}"
    else:
        url, drop = fresh_database(request.param)
    db = Database(url)
    migrate.upgrade(db)
    yield PlacementClient(db)
    db.dispose()
    if drop:
        drop()


def _host(client: PlacementClient, name: str, inv: dict | None = None) -> str:  # type: ignore[type-arg]
    rp = str(uuid.uuid5(uuid.NAMESPACE_DNS, name))
    client.ensure_provider(rp, name)
    client.set_inventory(rp, inv or INV)
    return rp


def _u() -> str:
    return str(uuid.uuid4())


def test_provider_inventory_candidates_claim(client: PlacementClient) -> None:
    h1 = _host(client, "compute1")
    h2 = _host(client, "compute2", {"VCPU": {"total": 2}, "MEMORY_MB": {"total": 1024}})
    client.ensure_provider(h1, "compute1")  # idempotent
    cands = client.allocation_candidates({"VCPU": 2, "MEMORY_MB": 2048})
    assert [c.provider_uuid for c in cands] == [h1]
    assert cands[0].allocations == {"VCPU": 2, "MEMORY_MB": 2048}
    assert cands[0].summary["VCPU"] == {"capacity": 16, "used": 0}
    assert cands[0].summary["MEMORY_MB"] == {"capacity": 3584, "used": 0}
    summaries = client.provider_summaries()
    assert summaries[h2]["MEMORY_MB"] == {"capacity": 1024, "used": 0}
    assert set(client.provider_summaries([h2])) == {h2}

    vm = _u()
    client.claim(vm, {h1: {"VCPU": 2, "MEMORY_MB": 2048}}, "p1", "u1")
    assert client.get_allocations(vm) == {h1: {"VCPU": 2, "MEMORY_MB": 2048}}
    assert client.usages("p1") == {"VCPU": 2, "MEMORY_MB": 2048}
    assert client.usages("p1", "u2") == {}
    assert client.provider_summaries([h1])[h1]["MEMORY_MB"]["used"] == 2048

    with pytest.raises(CapacityExceeded) as err:
        client.claim(_u(), {h1: {"MEMORY_MB": 2048}}, "p1", "u1")
    assert "compute1: not enough MEMORY_MB (1536 free, 2048 asked)" in str(err.value)
    assert isinstance(err.value, exceptions.Conflict)
    assert client.allocation_candidates({"MEMORY_MB": 2048}) == []

    # resize: replace atomically (old allocation released in the same transaction)
    client.claim(vm, {h1: {"VCPU": 4, "MEMORY_MB": 3584}}, "p1", "u1")
    assert client.get_allocations(vm) == {h1: {"VCPU": 4, "MEMORY_MB": 3584}}
    # migrate to h2 and back out
    client.claim(vm, {h2: {"VCPU": 1, "MEMORY_MB": 512}}, "p1", "u1")
    assert client.provider_summaries([h1])[h1]["MEMORY_MB"]["used"] == 0
    client.delete_allocations(vm)
    client.delete_allocations(vm)  # no-op
    assert client.get_allocations(vm) == {}
    assert client.usages("p1") == {}


def test_constraints_and_inventory_in_use(client: PlacementClient) -> None:
    h = _host(client, "c1", {"VCPU": {"total": 8, "max_unit": 4},
                             "MEMORY_MB": {"total": 4096, "step_size": 256}})
    with pytest.raises(AllocationConstraint):
        client.claim(_u(), {h: {"VCPU": 5}}, "p", "u")
    with pytest.raises(AllocationConstraint):
        client.claim(_u(), {h: {"MEMORY_MB": 100}}, "p", "u")
    with pytest.raises(CapacityExceeded):
        client.claim(_u(), {h: {"DISK_GB": 1}}, "p", "u")
    with pytest.raises(CapacityExceeded):
        client.claim(_u(), {_u(): {"VCPU": 1}}, "p", "u")
    vm = _u()
    client.claim(vm, {h: {"VCPU": 2, "MEMORY_MB": 512}}, "p", "u")
    with pytest.raises(InventoryInUse):
        client.set_inventory(h, {"VCPU": {"total": 8}})
    with pytest.raises(exceptions.Conflict):
        client.delete_provider(h)
    # changing totals of allocated classes is fine
    client.set_inventory(h, {"VCPU": {"total": 16}, "MEMORY_MB": {"total": 8192}})
    assert client.provider_summaries([h])[h]["VCPU"] == {"capacity": 16, "used": 2}
    with pytest.raises(exceptions.BadRequest):
        client.set_inventory(h, {"VCPU": {"total": 4, "reserved": 8},
                                 "MEMORY_MB": {"total": 8192}})
    client.delete_allocations(vm)
    client.delete_provider(h)
    client.delete_provider(h)  # no-op
    assert client.provider_summaries([h]) == {}


def test_traits_aggregates_filters(client: PlacementClient) -> None:
    h1, h2 = _host(client, "t1"), _host(client, "t2")
    client.set_traits(h1, ["HW_CPU_X86_AVX2", "CUSTOM_GOLD"])
    client.set_traits(h2, ["COMPUTE_STATUS_DISABLED"])
    agg = _u()
    client.set_aggregates(h2, [agg])
    want = {"VCPU": 1}

    def found(**kw: object) -> set[str]:
        return {c.provider_uuid for c in client.allocation_candidates(want, **kw)} & {h1, h2}

    assert found() == {h1, h2}
    assert found(required_traits=["CUSTOM_GOLD"]) == {h1}
    assert found(forbidden_traits=["COMPUTE_STATUS_DISABLED"]) == {h1}
    assert [c.provider_uuid for c in client.allocation_candidates(
        want, member_of=[[agg, _u()]])] == [h2]
    assert len(client.allocation_candidates(want, limit=1)) == 1
    with pytest.raises(exceptions.BadRequest):
        client.set_traits(h1, ["NOT_A_TRAIT"])


def test_nested_provider_and_reparent(client: PlacementClient) -> None:
    root = _host(client, "root")
    child = _u()
    client.ensure_provider(child, "root_numa0", parent_uuid=root)
    client.set_inventory(child, {"VCPU": {"total": 4}})
    # single-provider candidates: the child alone fits VCPU
    cands = client.allocation_candidates({"VCPU": 6})
    assert {c.provider_uuid for c in cands} & {root, child} == {root}
    with pytest.raises(exceptions.Conflict):
        client.delete_provider(root)
    client.ensure_provider(child, "root_numa0", parent_uuid=None)
    client.delete_provider(root)


@pytest.mark.timeout(60)
def test_hammer_claims_never_oversubscribe(client: PlacementClient) -> None:
    """N threads race for a host with room for fewer: exactly capacity claims succeed."""
    h = _host(client, "hammer", {"VCPU": {"total": 5}, "MEMORY_MB": {"total": 5000}})
    other = _host(client, "other", {"VCPU": {"total": 100}})
    n = 16
    barrier = threading.Barrier(n)
    results: list[str] = []

    def go(i: int) -> str:
        barrier.wait()
        try:
            allocs = {h: {"VCPU": 1, "MEMORY_MB": 1000}}
            if i % 2:
                allocs[other] = {"VCPU": 1}
            client.claim(str(uuid.UUID(int=i + 1)), allocs, "proj", "user")
            return "ok"
        except CapacityExceeded:
            return "full"

    with ThreadPoolExecutor(n) as pool:
        results = list(pool.map(go, range(n)))
    assert results.count("ok") == 5 and results.count("full") == n - 5, results
    summary = client.provider_summaries([h])[h]
    assert summary["VCPU"]["used"] == 5 and summary["MEMORY_MB"]["used"] == 5000
    assert client.usages("proj")["VCPU"] == 5 + client.provider_summaries([other])[other][
        "VCPU"]["used"]
