"""The hint-driven scheduler filters (``pocketstack.compute.scheduler.filters.hints``): what
each keeps and the reason it gives for a host it rejects. (Through the API, with two hosts:
``test_backup_shelve_hints.py``.)"""

from __future__ import annotations

from typing import Any

import pytest

from pocketstack.compute.scheduler.filters import load_filters
from pocketstack.compute.scheduler.filters.hints import (
    DifferentHostFilter,
    JsonFilter,
    QueryError,
    SameHostFilter,
    evaluate,
)
from pocketstack.compute.scheduler.model import HostState, RequestSpec


def host(name: str, ram_used: int = 0) -> HostState:
    return HostState(
        host=name, node_uuid=f"n-{name}", hypervisor_hostname=f"{name}.local",
        hypervisor_type="fake", enabled=True, up=True, disabled_reason=None,
        availability_zone="nova", aggregates=[],
        resources={"MEMORY_MB": {"capacity": 4096, "used": ram_used},
                   "VCPU": {"capacity": 8, "used": 2}, "DISK_GB": {"capacity": 100, "used": 0}})


def spec(**kw: Any) -> RequestSpec:
    return RequestSpec(instance_uuid="i", project_id="p", user_id="u", vcpus=1,
                       memory_mb=512, root_gb=1, **kw)


def test_same_host() -> None:
    flt = SameHostFilter()
    assert flt.host_passes(host("a"), spec()) is None  # no hint: every host
    assert flt.host_passes(host("a"), spec(same_host=["a", "b"])) is None
    assert flt.host_passes(host("c"), spec(same_host=["b", "a"])) == \
        "same_host hint: none of the servers named runs here (they run on a, b)"
    # the servers named run nowhere (gone, or not placed yet): no host is the same
    assert flt.host_passes(host("a"), spec(same_host=[])) == \
        "same_host hint: none of the servers named runs here (they run on no host)"


def test_different_host() -> None:
    flt = DifferentHostFilter()
    assert flt.host_passes(host("a"), spec()) is None
    assert flt.host_passes(host("a"), spec(different_host=["b"])) is None
    assert flt.host_passes(host("a"), spec(different_host=["a", "b", "a"])) == \
        "different_host hint: 2 of the servers named run here"


@pytest.mark.parametrize("query,passes", [
    (None, True), ("", True), ("[]", True),
    ('["=", "$host", "a"]', True), ('["=", "$host", "b"]', False),
    (["in", "$host", "b", "a"], True),
    ('[">=", "$free_ram_mb", 3072]', True), ('[">", "$free_ram_mb", 3072]', False),
    ('["and", ["<", "$vcpus_used", 3], ["=", "$vcpus_total", 8]]', True),
    ('["or", ["=", "$host", "x"], ["<=", "$total_usable_disk_gb", 100]]', True),
    ('["not", ["=", "$host", "a"]]', False),
    ('["=", "$no_such_variable", "a"]', False),  # dropped: "=" with one argument is false
])
def test_json_filter(query: Any, passes: bool) -> None:
    reason = JsonFilter().host_passes(host("a", ram_used=1024), spec(query=query))
    assert (reason is None) == passes, reason
    if not passes:
        assert reason == "query hint: the host does not match the query"


@pytest.mark.parametrize("query", ['["=", "$host"', '["bogus", 1, 2]', "[1, 2]", '{"a": 1}'])
def test_json_filter_refuses_what_it_cannot_read(query: str) -> None:
    reason = JsonFilter().host_passes(host("a"), spec(query=query))
    assert reason is not None and reason.startswith("query hint: not a valid query")


def test_evaluate_unknown_command() -> None:
    with pytest.raises(QueryError):
        evaluate(["~", 1, 2], {})


def test_filters_load_by_name() -> None:
    names = [f.name for f in load_filters("SameHostFilter, DifferentHostFilter,JsonFilter")]
    assert names == ["SameHostFilter", "DifferentHostFilter", "JsonFilter"]
