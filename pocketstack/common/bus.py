"""The message bus: hints between roles ("look at server X"), never the source of truth.

:class:`Bus` is the interface; :class:`InProcessBus` delivers on the running event loop. A lost
message only delays work: the database holds intent, and reconcilers resync periodically.

Three patterns, as oslo.messaging has them:

* ``cast(topic, message)`` — fire and forget to one consumer of a topic (round-robin). A cast
  to a topic nobody consumes yet is *held* and delivered when the first consumer subscribes,
  as a RabbitMQ topic queue holds it: a role that starts after its senders loses nothing;
* ``fanout(topic, message)`` — to every consumer subscribed now (none: nobody hears it);
* ``call(topic, message)`` — request/response; waits for a consumer and its answer up to the
  timeout.
"""

from __future__ import annotations

import asyncio
import collections
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
    """Delivers messages to consumers in this process, each on its own task.

    Casts to a topic without a consumer wait in that topic's queue (at most ``max_held`` per
    topic; beyond that the oldest is dropped with a warning — they are hints) and are handed
    out, in order, when a consumer subscribes.
    """

    def __init__(self, max_held: int = 10000) -> None:
        self._consumers: dict[str, list[Consumer]] = {}
        self._cursors: dict[str, itertools.count[int]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._held: dict[str, collections.deque[dict[str, Any]]] = {}
        self._subscribed: dict[str, asyncio.Event] = {}
        self.max_held = max_held

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        self._tasks.clear()

    async def subscribe(self, topic: str, consumer: Consumer) -> None:
        self._consumers.setdefault(topic, []).append(consumer)
        self._cursors.setdefault(topic, itertools.count())
        self._subscribed.setdefault(topic, asyncio.Event()).set()
        held = self._held.pop(topic, None)
        while held:
            self._deliver(topic, held.popleft())

    def held(self, topic: str) -> int:
        """How many casts wait for a consumer of ``topic``."""
        return len(self._held.get(topic, ()))

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

    def _deliver(self, topic: str, message: dict[str, Any]) -> None:
        consumer = self._pick(topic)
        assert consumer is not None
        self._spawn(consumer(message))

    async def cast(self, topic: str, message: dict[str, Any]) -> None:
        if self._consumers.get(topic):
            self._deliver(topic, dict(message))
            return
        queue = self._held.setdefault(topic, collections.deque())
        if len(queue) >= self.max_held:
            queue.popleft()
            LOG.warning("bus: %d casts wait for a consumer of %s; dropping the oldest",
                        self.max_held, topic)
        LOG.debug("bus: no consumer for %s yet; holding the cast", topic)
        queue.append(dict(message))

    async def fanout(self, topic: str, message: dict[str, Any]) -> None:
        for consumer in list(self._consumers.get(topic, [])):
            self._spawn(consumer(dict(message)))

    async def call(self, topic: str, message: dict[str, Any], timeout: float = 30.0) -> Any:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        if not self._consumers.get(topic):  # wait for a consumer, as a queued request would
            event = self._subscribed.setdefault(topic, asyncio.Event())
            try:
                await asyncio.wait_for(event.wait(), timeout)
            except TimeoutError:
                raise BusTimeout(f"no consumer for {topic} within {timeout}s") from None
        consumer = self._pick(topic)
        assert consumer is not None
        try:
            return await asyncio.wait_for(consumer(dict(message)),
                                          max(deadline - loop.time(), 0.001))
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
