"""The in-process bus holds a cast until its topic has a consumer, as a RabbitMQ topic queue
does, so a role that subscribes after its senders started loses nothing."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from pocketstack.common.bus import BusTimeout, InProcessBus


def test_casts_before_any_subscriber_are_delivered_in_order_on_subscribe() -> None:
    async def scenario() -> None:
        bus = InProcessBus()
        got: list[int] = []

        async def consume(msg: dict[str, Any]) -> None:
            got.append(msg["n"])

        for n in range(5):
            await bus.cast("compute.host1", {"n": n})
        await bus.cast("elsewhere", {"n": 99})
        assert bus.held("compute.host1") == 5
        await asyncio.sleep(0.01)
        assert got == []
        await bus.subscribe("compute.host1", consume)
        assert bus.held("compute.host1") == 0
        await asyncio.sleep(0.01)
        assert got == [0, 1, 2, 3, 4]  # nothing of another topic, nothing twice
        await bus.cast("compute.host1", {"n": 5})
        await asyncio.sleep(0.01)
        assert got == [0, 1, 2, 3, 4, 5]
        assert bus.held("elsewhere") == 1
        await bus.stop()

    asyncio.run(scenario())


def test_held_casts_are_bounded_dropping_the_oldest() -> None:
    async def scenario() -> None:
        bus = InProcessBus(max_held=3)
        got: list[int] = []

        async def consume(msg: dict[str, Any]) -> None:
            got.append(msg["n"])

        for n in range(5):
            await bus.cast("t", {"n": n})
        await bus.subscribe("t", consume)
        await asyncio.sleep(0.01)
        assert got == [2, 3, 4]
        await bus.stop()

    asyncio.run(scenario())


def test_held_message_is_a_copy() -> None:
    async def scenario() -> None:
        bus = InProcessBus()
        got: list[dict[str, Any]] = []

        async def consume(msg: dict[str, Any]) -> None:
            got.append(msg)

        message = {"n": 1}
        await bus.cast("t", message)
        message["n"] = 2  # the sender reuses its dict
        await bus.subscribe("t", consume)
        await asyncio.sleep(0.01)
        assert got == [{"n": 1}]
        await bus.stop()

    asyncio.run(scenario())


def test_call_waits_for_a_late_subscriber_then_times_out_without_one() -> None:
    async def scenario() -> None:
        bus = InProcessBus()

        async def answer(msg: dict[str, Any]) -> int:
            return int(msg["n"]) + 1

        async def subscribe_later() -> None:
            await asyncio.sleep(0.05)
            await bus.subscribe("late", answer)

        task = asyncio.create_task(subscribe_later())
        assert await bus.call("late", {"n": 1}, timeout=2) == 2
        await task
        with pytest.raises(BusTimeout):
            await bus.call("never", {"n": 1}, timeout=0.05)
        await bus.stop()

    asyncio.run(scenario())
