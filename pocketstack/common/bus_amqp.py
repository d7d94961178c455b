"""The RabbitMQ bus: :class:`AmqpBus`, the AMQP 0-9-1 implementation of :class:`~.bus.Bus`.

This module owns the wire layout of the bus on a broker and its delivery guarantees. The bus only
carries hints (the database holds intent, reconcilers resync), so the design favours *never stuck
and never lost while the broker restarts* over exactly-once.

Topology, for ``AmqpBus(url, exchange="pocketstack")``:

* ``pocketstack`` — a durable **topic** exchange. ``cast``/``call`` publish with routing key =
  topic. Every topic has one shared durable queue ``pocketstack.<topic>`` bound with key = topic;
  every ``subscribe`` adds a consumer to it, so the broker round-robins between subscribers
  (competing consumers). The publisher declares that queue too (as oslo.messaging does), so a cast
  sent before any consumer subscribed waits in the queue instead of being dropped.
* ``pocketstack.fanout`` — a durable **direct** exchange for ``fanout``, routing key = topic. Every
  ``subscribe`` binds its own exclusive auto-delete queue, so each subscriber gets each message.
  A separate exchange (not a ``<topic>.fanout`` key on the topic exchange) so that no topic name,
  whatever its dots or ``*``/``#``, can collide with another topic's fanout.
* replies to ``call`` go through the default exchange to one exclusive reply queue per bus
  (``pocketstack.reply.<uuid>``), matched by ``correlation_id``.

Messages are JSON objects (``content_type: application/json``). Casts are persistent (delivery
mode 2) into durable queues, published with publisher confirms; call requests are transient and
expire when the caller's timeout does; fanouts are transient.

Delivery semantics (at-least-once; **consumers must be idempotent**):

* a message is acked only after its consumer coroutine has finished, so a consumer killed
  mid-way (process crash, connection loss, broker restart) gets it redelivered — possibly twice;
* a consumer that *raises* is logged and its message is **acked anyway**: a hint that fails will
  fail again, redelivering it would be a poison loop, and the periodic resync repairs whatever the
  hint was for. A ``call`` whose consumer raises answers with an error, raised in the caller as
  :class:`BusRemoteError`;
* a publish retried after a connection loss whose confirm never came may duplicate a message.

Resilience: the connection is :func:`aio_pika.connect_robust` — after a broker restart it
reconnects and redeclares exchanges, queues, bindings and consumers. A publish attempted while the
broker is unreachable is retried until ``publish_timeout`` (default 30 s) and then raises
:class:`BusUnavailable`. Messages in flight only on the wire are the exception: a fanout or a call
reply sent while a subscriber's exclusive queue is being redeclared can be lost (hints; calls time
out with :class:`~.bus.BusTimeout`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import aio_pika
import aio_pika.abc
import aio_pika.exceptions
import aiormq.exceptions
from yarl import URL

from pocketstack.common.bus import BusTimeout, Consumer

LOG = logging.getLogger(__name__)

_CONTENT_TYPE = "application/json"

# What a publish or a connect may meet while the broker is restarting or unreachable.
_TRANSIENT: tuple[type[BaseException], ...] = (
    aiormq.exceptions.AMQPError,
    ConnectionError,
    OSError,
    TimeoutError,
    RuntimeError,  # aio-pika raises it for "channel/connection closed" states
)
_ACK_ERRORS: tuple[type[BaseException], ...] = (
    *_TRANSIENT, aio_pika.exceptions.MessageProcessError)
_AUTH_ERRORS: tuple[type[BaseException], ...] = (
    aiormq.exceptions.AuthenticationError,
    aiormq.exceptions.ProbableAuthenticationError,
)


class BusUnavailable(Exception):
    """The broker could not be reached (or did not confirm a publish) within the bounded time."""


class BusRemoteError(Exception):
    """The consumer of a ``call`` raised; ``remote_type`` is the name of its exception class."""

    def __init__(self, topic: str, remote_type: str, message: str) -> None:
        super().__init__(f"{remote_type} in consumer of {topic}: {message}")
        self.topic = topic
        self.remote_type = remote_type
        self.remote_message = message


def redact(url: str) -> str:
    """The transport URL with its password masked, for logs and errors."""
    parsed = URL(url)
    return str(parsed.with_password("***")) if parsed.password else url


def encode(message: Any) -> bytes:
    """JSON-encode a message body (TypeError for what JSON can't carry, before anything is sent)."""
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False).encode()


class AmqpBus:
    """A :class:`~pocketstack.common.bus.Bus` on RabbitMQ (see the module docstring).

    ``url`` is ``amqp://user:password@host:port/vhost``. ``publish_timeout`` bounds how long a
    publish waits for an unreachable broker, ``connect_timeout`` how long :meth:`start` does.
    ``prefetch`` is how many unacked messages each subscriber holds (its concurrency).
    ``stop_grace`` is how long :meth:`stop` lets running consumers finish before cancelling them
    (their messages then go back to the queue). ``reconnect_interval`` is the pause between
    reconnect attempts after the connection drops.
    """

    def __init__(
        self,
        url: str,
        exchange: str = "pocketstack",
        *,
        publish_timeout: float = 30.0,
        connect_timeout: float = 30.0,
        prefetch: int = 10,
        stop_grace: float = 5.0,
        reconnect_interval: float = 1.0,
    ) -> None:
        self.url = url
        self.exchange_name = exchange
        self.fanout_exchange_name = f"{exchange}.fanout"
        self.publish_timeout = publish_timeout
        self.connect_timeout = connect_timeout
        self.prefetch = prefetch
        self.stop_grace = stop_grace
        self.reconnect_interval = reconnect_interval

        self._connection: aio_pika.abc.AbstractRobustConnection | None = None
        self._publish_channel: aio_pika.abc.AbstractRobustChannel | None = None
        self._consume_channel: aio_pika.abc.AbstractRobustChannel | None = None
        self._exchange: aio_pika.abc.AbstractExchange | None = None
        self._fanout_exchange: aio_pika.abc.AbstractExchange | None = None
        self._declared_topics: set[str] = set()
        self._declare_lock = asyncio.Lock()
        self._reply_queue: str | None = None
        self._reply_lock = asyncio.Lock()
        self._pending: dict[str, asyncio.Future[Any]] = {}
        self._consumers: list[tuple[aio_pika.abc.AbstractQueue, str]] = []
        self._inflight: set[asyncio.Task[Any]] = set()

    def __repr__(self) -> str:
        return f"<AmqpBus {redact(self.url)} exchange={self.exchange_name!r}>"

    def queue_name(self, topic: str) -> str:
        """The shared durable queue of ``topic`` (for operators and tests)."""
        return f"{self.exchange_name}.{topic}"

    # -- lifecycle --------------------------------------------------------------------------
    async def start(self) -> None:
        if self._connection is not None:
            return
        connection = await self._connect()
        try:
            async with self._bounded("opening channels and declaring exchanges"):
                publish_channel = await connection.channel(publisher_confirms=True)
                consume_channel = await connection.channel(publisher_confirms=False)
                await consume_channel.set_qos(prefetch_count=self.prefetch)
                exchange = await publish_channel.declare_exchange(
                    self.exchange_name, aio_pika.ExchangeType.TOPIC, durable=True)
                fanout_exchange = await publish_channel.declare_exchange(
                    self.fanout_exchange_name, aio_pika.ExchangeType.DIRECT, durable=True)
        except BaseException:
            await connection.close()
            raise
        self._connection = connection
        self._publish_channel, self._consume_channel = publish_channel, consume_channel
        self._exchange, self._fanout_exchange = exchange, fanout_exchange

    @asynccontextmanager
    async def _bounded(self, what: str) -> AsyncIterator[None]:
        """Bound broker work that a robust channel would otherwise wait for indefinitely."""
        try:
            async with asyncio.timeout(self.publish_timeout):
                yield
        except TimeoutError:
            raise BusUnavailable(f"{what}: RabbitMQ at {redact(self.url)} did not answer within "
                                 f"{self.publish_timeout:g}s") from None

    async def _connect(self) -> aio_pika.abc.AbstractRobustConnection:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.connect_timeout
        last: BaseException | None = None
        while (remaining := deadline - loop.time()) > 0:
            try:
                return await aio_pika.connect_robust(
                    self.url, timeout=max(min(remaining, 10.0), 0.1),
                    reconnect_interval=self.reconnect_interval,
                    client_properties={"connection_name": f"pocketstack bus {self.exchange_name}"})
            except _AUTH_ERRORS as exc:
                raise BusUnavailable(f"RabbitMQ at {redact(self.url)} refused the credentials: "
                                     f"{exc}") from exc
            except _TRANSIENT as exc:
                last = exc
                LOG.debug("RabbitMQ at %s not reachable yet: %s", redact(self.url), exc)
            await asyncio.sleep(min(0.5, max(deadline - loop.time(), 0)))
        raise BusUnavailable(f"RabbitMQ at {redact(self.url)} unreachable for "
                             f"{self.connect_timeout:g}s: {last!r}")

    async def stop(self) -> None:
        connection = self._connection
        if connection is None:
            return
        if connection.connected.is_set():  # while disconnected there is nothing to cancel
            await asyncio.gather(*(self._cancel(queue, tag) for queue, tag in self._consumers))
        self._consumers.clear()
        if self._inflight:
            _, still_running = await asyncio.wait(set(self._inflight), timeout=self.stop_grace)
            for task in still_running:
                task.cancel()
            if still_running:
                await asyncio.wait(still_running, timeout=1.0)
        for future in self._pending.values():
            if not future.done():
                future.set_exception(BusTimeout("bus stopped before the reply came"))
        self._pending.clear()
        self._connection = self._publish_channel = self._consume_channel = None
        self._exchange = self._fanout_exchange = None
        self._declared_topics.clear()
        self._reply_queue = None
        try:
            await connection.close()
        except _TRANSIENT:
            LOG.debug("error closing the RabbitMQ connection", exc_info=True)

    @staticmethod
    async def _cancel(queue: aio_pika.abc.AbstractQueue, tag: str) -> None:
        try:
            await asyncio.wait_for(queue.cancel(tag), 2.0)
        except _TRANSIENT:
            LOG.debug("could not cancel consumer %s on %s", tag, queue.name)

    def _require(self) -> tuple[aio_pika.abc.AbstractRobustChannel, aio_pika.abc.AbstractExchange,
                                aio_pika.abc.AbstractExchange]:
        if self._publish_channel is None or self._exchange is None or self._fanout_exchange is None:
            raise RuntimeError(f"{self!r} is not started; call start() first")
        return self._publish_channel, self._exchange, self._fanout_exchange

    # -- consuming --------------------------------------------------------------------------
    async def subscribe(self, topic: str, consumer: Consumer) -> None:
        self._require()
        channel = self._consume_channel
        assert channel is not None
        async with self._bounded(f"subscribing to {topic}"):
            shared = await channel.declare_queue(self.queue_name(topic), durable=True)
            await shared.bind(self.exchange_name, routing_key=topic)
            own = await channel.declare_queue(
                f"{self.exchange_name}.{topic}.fanout.{uuid.uuid4().hex[:12]}",
                exclusive=True, auto_delete=True)
            await own.bind(self.fanout_exchange_name, routing_key=topic)
            handler = self._handler(topic, consumer)
            for queue in (shared, own):
                self._consumers.append((queue, await queue.consume(handler)))
        self._declared_topics.add(topic)

    def _handler(self, topic: str, consumer: Consumer
                 ) -> Callable[[aio_pika.abc.AbstractIncomingMessage], Awaitable[None]]:
        async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            task = asyncio.current_task()
            if task is not None:
                self._inflight.add(task)
            try:
                await self._deliver(topic, consumer, message)
            finally:
                if task is not None:
                    self._inflight.discard(task)

        return on_message

    async def _deliver(self, topic: str, consumer: Consumer,
                       message: aio_pika.abc.AbstractIncomingMessage) -> None:
        try:
            body = json.loads(message.body)
            if not isinstance(body, dict):
                raise ValueError(f"expected a JSON object, got {type(body).__name__}")
        except ValueError as exc:
            LOG.error("undecodable message on %s dropped: %s", topic, exc)
            await self._ack(topic, message)
            return
        result: Any = None
        error: Exception | None = None
        try:
            result = await consumer(body)
        except Exception as exc:  # noqa: BLE001 - logged, acked: see the module docstring
            LOG.exception("bus consumer of %s failed; message acked, not redelivered", topic)
            error = exc
        if message.reply_to and message.correlation_id:
            await self._reply(topic, message.reply_to, message.correlation_id, result, error)
        await self._ack(topic, message)

    async def _ack(self, topic: str, message: aio_pika.abc.AbstractIncomingMessage) -> None:
        try:
            await message.ack()
        except _ACK_ERRORS as exc:
            # The channel it came on is gone; the broker redelivers it (at-least-once).
            LOG.info("ack of a message on %s failed (%s); it will be redelivered", topic, exc)

    async def _reply(self, topic: str, reply_to: str, correlation_id: str, result: Any,
                     error: Exception | None) -> None:
        try:
            body = encode({"result": result}) if error is None else None
        except (TypeError, ValueError) as exc:
            error = exc
            body = None
        if body is None:
            assert error is not None
            body = encode({"error": {"type": type(error).__name__, "message": str(error)}})
        channel, _, _ = self._require()
        try:
            await self._publish(
                channel.default_exchange, reply_to,
                aio_pika.Message(body, content_type=_CONTENT_TYPE, correlation_id=correlation_id,
                                 delivery_mode=aio_pika.DeliveryMode.NOT_PERSISTENT),
                what=f"reply for {topic}")
        except BusUnavailable as exc:
            LOG.warning("reply for %s not sent: %s", topic, exc)

    # -- publishing -------------------------------------------------------------------------
    async def cast(self, topic: str, message: dict[str, Any]) -> None:
        _, exchange, _ = self._require()
        body = encode(message)
        await self._ensure_topic_queue(topic)
        await self._publish(
            exchange, topic,
            aio_pika.Message(body, content_type=_CONTENT_TYPE,
                             delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
            what=f"cast to {topic}")

    async def fanout(self, topic: str, message: dict[str, Any]) -> None:
        _, _, exchange = self._require()
        await self._publish(
            exchange, topic,
            aio_pika.Message(encode(message), content_type=_CONTENT_TYPE,
                             delivery_mode=aio_pika.DeliveryMode.NOT_PERSISTENT),
            what=f"fanout to {topic}")

    async def call(self, topic: str, message: dict[str, Any], timeout: float = 30.0) -> Any:
        _, exchange, _ = self._require()
        body = encode(message)
        correlation_id = uuid.uuid4().hex
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[correlation_id] = future
        try:
            async with asyncio.timeout(timeout):
                reply_to = await self._ensure_reply_queue()
                await self._ensure_topic_queue(topic)
                await self._publish(
                    exchange, topic,
                    aio_pika.Message(body, content_type=_CONTENT_TYPE,
                                     delivery_mode=aio_pika.DeliveryMode.NOT_PERSISTENT,
                                     correlation_id=correlation_id, reply_to=reply_to,
                                     expiration=max(timeout, 0.001)),
                    what=f"call to {topic}")
                reply = await future
        except TimeoutError:
            raise BusTimeout(f"no reply on {topic} within {timeout:g}s") from None
        finally:
            self._pending.pop(correlation_id, None)
        if isinstance(reply, dict) and isinstance(reply.get("error"), dict):
            err = reply["error"]
            raise BusRemoteError(topic, str(err.get("type")), str(err.get("message")))
        return reply.get("result") if isinstance(reply, dict) else None

    async def _ensure_reply_queue(self) -> str:
        async with self._reply_lock:
            if self._reply_queue is None:
                channel = self._consume_channel
                assert channel is not None
                name = f"{self.exchange_name}.reply.{uuid.uuid4().hex}"
                queue = await channel.declare_queue(name, exclusive=True, auto_delete=True)
                self._consumers.append((queue, await queue.consume(self._on_reply, no_ack=True)))
                self._reply_queue = name
            return self._reply_queue

    async def _on_reply(self, message: aio_pika.abc.AbstractIncomingMessage) -> None:
        future = self._pending.get(message.correlation_id or "")
        if future is None or future.done():
            LOG.debug("late or unknown reply %s dropped", message.correlation_id)
            return
        try:
            future.set_result(json.loads(message.body))
        except ValueError as exc:
            future.set_exception(BusRemoteError("?", "ValueError", f"undecodable reply: {exc}"))

    async def _ensure_topic_queue(self, topic: str) -> None:
        """Declare the topic's shared queue (once per bus) so early casts wait for a consumer."""
        if topic in self._declared_topics:
            return
        async with self._declare_lock:
            if topic in self._declared_topics:
                return
            channel, exchange, _ = self._require()

            async def declare() -> None:
                queue = await channel.declare_queue(self.queue_name(topic), durable=True)
                await queue.bind(exchange, routing_key=topic)

            await self._retrying(declare, what=f"declaring the queue of {topic}")
            self._declared_topics.add(topic)

    async def _publish(self, exchange: aio_pika.abc.AbstractExchange, routing_key: str,
                       message: aio_pika.Message, what: str) -> None:
        async def publish() -> None:
            await exchange.publish(message, routing_key, mandatory=False)

        await self._retrying(publish, what=what)

    async def _retrying(self, attempt: Callable[[], Awaitable[None]], what: str) -> None:
        """Run ``attempt`` until it succeeds, retrying transient failures for publish_timeout."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.publish_timeout
        delay = 0.05
        last: BaseException | None = None
        while (remaining := deadline - loop.time()) > 0:
            try:
                # Per attempt at most 5 s: a confirm lost with its connection must not eat the
                # whole budget; the robust connection needs a moment to come back anyway.
                async with asyncio.timeout(min(remaining, 5.0)):
                    await attempt()
                return
            except _AUTH_ERRORS:
                raise
            except _TRANSIENT as exc:
                last = exc
                LOG.debug("%s failed (%r); retrying", what, exc)
            await asyncio.sleep(min(delay, max(deadline - loop.time(), 0)))
            delay = min(delay * 2, 1.0)
        raise BusUnavailable(f"{what}: RabbitMQ at {redact(self.url)} did not accept it within "
                             f"{self.publish_timeout:g}s (last error: {last!r})")
