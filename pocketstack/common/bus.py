"""The message bus: hints between roles ("look at server X"), never the source of truth.

:class:`Bus` is the interface; :class:`InProcessBus` delivers on the running event loop. A lost
message only delays work: the database holds intent, and reconcilers resync periodically.

Two patterns, as oslo.messaging has them:

* ``cast(topic, message)`` — fire and forget to one consumer of a topic (round-robin);
* ``fanout(topic, message)`` — to every consumer of a topic;
* ``call(topic, message)`` — request/response with a timeout.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

LOG = logging.getLogger(__name__)

Consumer = Callable[[dict[str, Any]], Awaitable[Any]]


class BusTimeout(Exception):
    """No reply to a ``call`` in time."""


class Bus(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def subscribe(self, topic: str, consumer: Consumer) -> None: ...

    async def cast(self, topic: str, message: dict[str, Any]) -> None: ...

    async def fanout(self, topic: str, message: dict[str, Any]) -> None: ...

    async def call(self, topic: str, message: dict[str, Any], timeout: float = 30.0) -> Any: ...


class InProcessBus:
    """Delivers messages to consumers in this process, each on its own task."""

    def __init__(self) -> None:
        self._consumers: dict[str, list[Consumer]] = {}
        self._cursors: dict[str, itertools.count[int]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        self._tasks.clear()

    async def subscribe(self, topic: str, consumer: Consumer) -> None:
        self._consumers.setdefault(topic, []).append(consumer)
        self._cursors.setdefault(topic, itertools.count())

    def _pick(self, topic: str) -> Consumer | None:
        consumers = self._consumers.get(topic)
        if not consumers:
            return None
        return consumers[next(self._cursors[topic]) % len(consumers)]

    def _spawn(self, coro: Awaitable[Any]) -> asyncio.Task[Any]:
        task: asyncio.Task[Any] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            LOG.error("bus consumer failed", exc_info=task.exception())

    async def cast(self, topic: str, message: dict[str, Any]) -> None:
        consumer = self._pick(topic)
        if consumer is None:
            LOG.debug("no consumer for %s; message dropped (a reconciler will catch up)", topic)
            return
        self._spawn(consumer(dict(message)))

    async def fanout(self, topic: str, message: dict[str, Any]) -> None:
        for consumer in list(self._consumers.get(topic, [])):
            self._spawn(consumer(dict(message)))

    async def call(self, topic: str, message: dict[str, Any], timeout: float = 30.0) -> Any:
        consumer = self._pick(topic)
        if consumer is None:
            raise BusTimeout(f"no consumer for {topic}")
        try:
            return await asyncio.wait_for(consumer(dict(message)), timeout)
        except TimeoutError:
            raise BusTimeout(f"no reply on {topic} within {timeout}s") from None


def make_bus(transport_url: str | None) -> Bus:
    """The bus for a transport URL: ``None`` or ``inproc://`` → :class:`InProcessBus`;
    ``amqp://user:password@host:port/vhost`` (or ``amqps://``) → RabbitMQ
    (:class:`pocketstack.common.bus_amqp.AmqpBus`, imported only then)."""
    if transport_url is None or transport_url == "inproc://":
        return InProcessBus()
    scheme = transport_url.partition("://")[0].lower() if "://" in transport_url else ""
    if scheme in ("amqp", "amqps"):
        from pocketstack.common.bus_amqp import AmqpBus

        return AmqpBus(transport_url)
    head, at, tail = transport_url.rpartition("@")
    shown = f"{head.partition('://')[0]}://***@{tail}" if at else transport_url
    raise ValueError(f"unsupported bus transport URL {shown!r}: expected 'inproc://' or "
                     "'amqp://user:password@host:port/vhost'")
