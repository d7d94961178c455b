"""The RabbitMQ bus (pocketstack.common.bus_amqp) against the broker on loopback, and make_bus.

Skipped when RabbitMQ is unreachable, unless POCKETSTACK_REQUIRE_DBS=1 (then they fail), as the
database backend tests do. The broker URL is POCKETSTACK_TEST_RABBITMQ (default guest@127.0.0.1).
Every test works under its own exchange name (so its own queues) and deletes them afterwards.
The restart test runs ``rabbitmqctl stop_app``/``start_app`` and always leaves the app running.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import os
import shutil
import socket
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any

import pytest

from pocketstack.common.bus import BusTimeout, InProcessBus, make_bus

aio_pika = pytest.importorskip("aio_pika")

from pocketstack.common.bus_amqp import (  # noqa: E402 - after the importorskip
    AmqpBus,
    BusRemoteError,
    BusUnavailable,
)

AMQP_URL = os.environ.get("POCKETSTACK_TEST_RABBITMQ", "amqp://guest:guest@127.0.0.1:5672/")
REQUIRE = os.environ.get("POCKETSTACK_REQUIRE_DBS") == "1"


def run(coro: Coroutine[Any, Any, Any], timeout: float = 45.0) -> Any:
    return asyncio.run(asyncio.wait_for(coro, timeout))


async def _probe() -> None:
    connection = await aio_pika.connect(AMQP_URL, timeout=3)
    await connection.close()


@pytest.fixture(scope="module")
def amqp_url() -> str:
    try:
        run(_probe(), timeout=5)
    except Exception as exc:  # noqa: BLE001 - any failure means "not reachable"
        if REQUIRE:
            pytest.fail(f"RabbitMQ is required (POCKETSTACK_REQUIRE_DBS=1) but unreachable: {exc}")
        pytest.skip(f"RabbitMQ not reachable at {AMQP_URL}; skipping the AMQP bus tests ({exc})")
    return AMQP_URL


class Harness:
    """Buses under one unique exchange; deletes their queues and exchanges at the end."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.exchange = f"pstest-{uuid.uuid4().hex[:10]}"
        self.buses: list[AmqpBus] = []
        self.topics: set[str] = set()

    def topic(self, name: str) -> str:
        self.topics.add(name)
        return name

    async def bus(self, **options: Any) -> AmqpBus:
        options.setdefault("reconnect_interval", 0.5)
        options.setdefault("stop_grace", 1.0)
        bus = AmqpBus(self.url, exchange=self.exchange, **options)
        await bus.start()
        self.buses.append(bus)
        return bus

    async def close(self) -> None:
        for bus in self.buses:
            await bus.stop()
        connection = await aio_pika.connect(self.url, timeout=10)
        try:
            channel = await connection.channel()
            for topic in self.topics:
                await channel.queue_delete(f"{self.exchange}.{topic}")
            for name in (self.exchange, f"{self.exchange}.fanout"):
                await channel.exchange_delete(name)
        finally:
            await connection.close()


@asynccontextmanager
async def harness(url: str) -> AsyncIterator[Harness]:
    h = Harness(url)
    try:
        yield h
    finally:
        await h.close()


async def wait_until(predicate: Callable[[], bool], timeout: float = 10.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate}")
        await asyncio.sleep(0.02)


def recorder(into: list[Any], key: str = "n") -> Callable[[dict[str, Any]], Awaitable[None]]:
    async def consume(message: dict[str, Any]) -> None:
        into.append(message[key])

    return consume


# -- make_bus (no broker needed) ----------------------------------------------------------------
def test_make_bus_picks_the_transport() -> None:
    assert isinstance(make_bus(None), InProcessBus)
    assert isinstance(make_bus("inproc://"), InProcessBus)
    bus = make_bus("amqp://guest:s3cret@127.0.0.1:5672/")
    assert isinstance(bus, AmqpBus)
    assert "s3cret" not in repr(bus)
    for bad in ("redis://u:s3cret@host:6379/0", "rabbit://host", "127.0.0.1:5672", ""):
        with pytest.raises(ValueError, match="unsupported bus transport URL") as err:
            make_bus(bad)
        assert "s3cret" not in str(err.value)


def test_start_gives_up_on_an_unreachable_broker() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    bus = AmqpBus(f"amqp://guest:guest@127.0.0.1:{port}/", connect_timeout=1.0)
    started = time.monotonic()
    with pytest.raises(BusUnavailable, match="unreachable"):
        run(bus.start())
    assert time.monotonic() - started < 5
    with pytest.raises(RuntimeError, match="not started"):
        run(bus.cast("t", {}))


# -- against RabbitMQ -----------------------------------------------------------------------
def test_cast_round_robins_between_consumers(amqp_url: str) -> None:
    async def scenario() -> None:
        async with harness(amqp_url) as h:
            topic = h.topic("conductor")
            a: list[int] = []
            b: list[int] = []
            await (await h.bus()).subscribe(topic, recorder(a))
            await (await h.bus()).subscribe(topic, recorder(b))
            producer = await h.bus()
            for n in range(20):
                await producer.cast(topic, {"n": n})
            await wait_until(lambda: len(a) + len(b) >= 20, what="20 casts")
            await asyncio.sleep(0.2)  # nothing more arrives
            assert sorted(a + b) == list(range(20))  # each exactly once
            assert abs(len(a) - len(b)) <= 2, (a, b)  # shared between the two

    run(scenario())


def test_fanout_reaches_every_subscriber(amqp_url: str) -> None:
    async def scenario() -> None:
        async with harness(amqp_url) as h:
            topic = h.topic("compute")
            got: list[list[int]] = [[], [], []]
            one, two = await h.bus(), await h.bus()
            await one.subscribe(topic, recorder(got[0]))
            await one.subscribe(topic, recorder(got[1]))
            await two.subscribe(topic, recorder(got[2]))
            for n in range(3):
                await two.fanout(topic, {"n": n})
            await wait_until(lambda: all(len(g) == 3 for g in got), what="fanout to all")
            await asyncio.sleep(0.2)
            assert got == [[0, 1, 2]] * 3
            await one.fanout(h.topic("nobody-listens"), {"n": 1})  # unroutable: dropped quietly

    run(scenario())


def test_call_gets_the_reply(amqp_url: str) -> None:
    async def scenario() -> None:
        async with harness(amqp_url) as h:
            topic = h.topic("scheduler")

            async def add(message: dict[str, Any]) -> Any:
                if message.get("boom"):
                    raise KeyError("no such host")
                if message.get("scalar"):
                    return 42
                return {"sum": message["a"] + message["b"], "hosts": ["h1", "h2"]}

            await (await h.bus()).subscribe(topic, add)
            caller = await h.bus()
            assert await caller.call(topic, {"a": 2, "b": 3}, timeout=5) == {
                "sum": 5, "hosts": ["h1", "h2"]}
            assert await caller.call(topic, {"scalar": True}, timeout=5) == 42
            replies = await asyncio.gather(
                *(caller.call(topic, {"a": i, "b": i}, timeout=5) for i in range(10)))
            assert [r["sum"] for r in replies] == [2 * i for i in range(10)]
            with pytest.raises(BusRemoteError, match="KeyError") as err:
                await caller.call(topic, {"boom": True}, timeout=5)
            assert err.value.remote_type == "KeyError"

    run(scenario())


def test_call_times_out(amqp_url: str) -> None:
    async def scenario() -> None:
        async with harness(amqp_url) as h:
            caller = await h.bus()
            started = time.monotonic()
            with pytest.raises(BusTimeout, match="within 0.3s"):
                await caller.call(h.topic("nobody"), {"x": 1}, timeout=0.3)
            assert time.monotonic() - started < 2

            slow_topic = h.topic("slow")
            calls: list[int] = []

            async def slow(message: dict[str, Any]) -> str:
                calls.append(message["n"])
                await asyncio.sleep(1.0)
                return "late"

            await (await h.bus()).subscribe(slow_topic, slow)
            with pytest.raises(BusTimeout):
                await caller.call(slow_topic, {"n": 1}, timeout=0.3)
            await asyncio.sleep(1.0)  # the late reply arrives and is dropped quietly
            assert await caller.call(slow_topic, {"n": 2}, timeout=5) == "late"
            assert calls == [1, 2]

    run(scenario())


def test_json_round_trip_and_early_casts(amqp_url: str) -> None:
    message = {"id": str(uuid.uuid4()), "n": 7, "f": 1.5, "yes": True, "none": None,
               "text": "héllo ☁ \"quoted\" \n", "list": [1, "two", {"three": [3.0]}],
               "nested": {"a": {"b": {"c": []}}}, "big": 2**53 + 1}
    async def scenario() -> None:
        async with harness(amqp_url) as h:
            topic = h.topic("roundtrip")
            producer = await h.bus()
            # sent before anyone subscribed: waits in the topic's durable queue
            await producer.cast(topic, message)
            with pytest.raises(TypeError):
                await producer.cast(topic, {"when": datetime.datetime.now()})
            got: list[dict[str, Any]] = []

            async def consume(m: dict[str, Any]) -> None:
                got.append(m)

            await (await h.bus()).subscribe(topic, consume)
            await wait_until(lambda: len(got) == 1, what="the early cast")
            await producer.cast(topic, message)
            await wait_until(lambda: len(got) == 2, what="the second cast")
            assert got == [message, message]

    run(scenario())


def test_failing_consumer_is_logged_and_acked(amqp_url: str,
                                              caplog: pytest.LogCaptureFixture) -> None:
    async def scenario() -> None:
        async with harness(amqp_url) as h:
            topic = h.topic("poison")
            seen: list[int] = []

            async def consume(message: dict[str, Any]) -> None:
                seen.append(message["n"])
                if message["n"] == 0:
                    raise RuntimeError("bad hint")

            await (await h.bus()).subscribe(topic, consume)
            producer = await h.bus()
            for n in range(3):
                await producer.cast(topic, {"n": n})
            await wait_until(lambda: len(seen) >= 3, what="3 casts")
            await asyncio.sleep(0.3)
            assert sorted(seen) == [0, 1, 2]  # no redelivery of the failing one

    with caplog.at_level(logging.ERROR, logger="pocketstack.common.bus_amqp"):
        run(scenario())
    assert any("bus consumer of poison failed" in r.getMessage() for r in caplog.records)


# -- broker restart -------------------------------------------------------------------------
async def rabbitmqctl(*args: str) -> None:
    proc = await asyncio.create_subprocess_exec(
        "rabbitmqctl", *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    if proc.returncode != 0:
        raise RuntimeError(f"rabbitmqctl {' '.join(args)} failed: {out.decode(errors='replace')}")


def test_broker_restart_loses_no_cast(amqp_url: str) -> None:
    if shutil.which("rabbitmqctl") is None:
        pytest.skip("rabbitmqctl not on PATH; cannot restart the broker")

    async def scenario() -> dict[str, Any]:
        async with harness(amqp_url) as h:
            topic, side = h.topic("work"), h.topic("side")
            received: list[int] = []
            gate = asyncio.Event()

            async def worker(message: dict[str, Any]) -> None:
                received.append(message["id"])
                if len(set(received)) > 10:
                    await gate.wait()  # keep deliveries unacked across the restart

            await (await h.bus(prefetch=5)).subscribe(topic, worker)
            producer = await h.bus()
            impatient = await h.bus(publish_timeout=1.0)
            await impatient.cast(side, {"id": -1})  # declares its queue while the broker is up
            for i in range(50):
                await producer.cast(topic, {"id": i})
            await wait_until(lambda: len(set(received)) > 10, what="work in flight")

            stopped = time.monotonic()
            state["stopped"] = True
            await rabbitmqctl("stop_app")
            try:
                started = time.monotonic()
                with pytest.raises(BusUnavailable, match="within 1s"):
                    await impatient.cast(side, {"id": -2})
                waited = time.monotonic() - started
                gate.set()
                second = asyncio.create_task(_publish_range(producer, topic, 50, 100))
                await asyncio.sleep(0.3)
                assert not second.done()  # waiting for the broker, not failing
            finally:
                await rabbitmqctl("start_app")
                await rabbitmqctl("await_startup")
                state["stopped"] = False
            downtime = time.monotonic() - stopped
            await asyncio.wait_for(second, 30)
            await wait_until(lambda: set(received) >= set(range(100)), timeout=30,
                             what="all 100 casts after the restart")
            await asyncio.sleep(0.3)
            assert set(received) == set(range(100))
            duplicates = sum(c - 1 for c in Counter(received).values())
            return {"duplicates": duplicates, "impatient_wait": waited, "downtime": downtime}

    state = {"stopped": False}
    try:
        stats = run(scenario(), timeout=90)
    finally:
        if state["stopped"]:  # whatever happened, leave RabbitMQ running
            subprocess.run(["rabbitmqctl", "start_app"], capture_output=True, timeout=60)
            subprocess.run(["rabbitmqctl", "await_startup"], capture_output=True, timeout=60)
    assert 0.9 <= stats["impatient_wait"] < 3
    print(f"restart: {stats}")


async def _publish_range(bus: AmqpBus, topic: str, start: int, stop: int) -> None:
    for i in range(start, stop):
        await bus.cast(topic, {"id": i})
