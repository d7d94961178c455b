"""Pagination helpers and the in-process bus."""

from __future__ import annotations

import asyncio

import pytest
from starlette.datastructures import Headers, QueryParams

from pocketstack.common import exceptions
from pocketstack.common.api.app import ApiRequest
from pocketstack.common.api.pagination import after_marker, page, page_request
from pocketstack.common.bus import BusTimeout, InProcessBus


def _req(query: str) -> ApiRequest:
    return ApiRequest("GET", "/v2/things", {}, QueryParams(query), Headers({}), b"",
                      "http://h/svc", "req-1")


def test_page_and_next_link() -> None:
    items = [{"id": f"i{n}"} for n in range(5)]
    req = _req("limit=2&name=x")
    wanted = page_request(req)
    kept, nxt = page(req, after_marker(items, wanted.marker), wanted)
    assert [i["id"] for i in kept] == ["i0", "i1"]
    assert nxt == "http://h/svc/v2/things?limit=2&name=x&marker=i1"
    req = _req("limit=2&marker=i3")
    wanted = page_request(req)
    kept, nxt = page(req, after_marker(items, wanted.marker), wanted)
    assert [i["id"] for i in kept] == ["i4"] and nxt is None


def test_bad_limit_and_marker() -> None:
    with pytest.raises(exceptions.BadRequest):
        page_request(_req("limit=ten"))
    with pytest.raises(exceptions.BadRequest):
        page_request(_req("limit=-1"))
    with pytest.raises(exceptions.NotFound):
        after_marker([{"id": "a"}], "zzz")


def test_in_process_bus_cast_fanout_call() -> None:
    async def scenario() -> None:
        bus = InProcessBus()
        seen: list[tuple[str, int]] = []

        async def worker_a(msg: dict) -> int:
            seen.append(("a", msg["n"]))
            return int(msg["n"]) * 2

        async def worker_b(msg: dict) -> int:
            seen.append(("b", msg["n"]))
            return int(msg["n"]) * 3

        await bus.subscribe("compute", worker_a)
        await bus.subscribe("compute", worker_b)
        await bus.cast("compute", {"n": 1})
        await bus.cast("compute", {"n": 2})
        await bus.fanout("compute", {"n": 3})
        await asyncio.sleep(0.01)
        assert sorted(seen) == [("a", 1), ("a", 3), ("b", 2), ("b", 3)]
        assert await bus.call("compute", {"n": 5}) in (10, 15)
        await bus.cast("nobody", {"n": 0})  # held until someone subscribes
        assert bus.held("nobody") == 1
        with pytest.raises(BusTimeout):
            await bus.call("nobody", {"n": 0}, timeout=0.05)
        await bus.stop()

    asyncio.run(scenario())
