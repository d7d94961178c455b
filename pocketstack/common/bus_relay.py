"""A bus for extra API processes of one ``pocketstack up`` on its in-process bus.

``pocketstack up --api-workers N`` serves the API from N processes sharing the database; the
conductor and the in-process agents stay in the main process, on its in-process bus. The main
process runs a :class:`RelayServer` on a Unix socket in the state directory; each extra API
process uses a :class:`RelayBus` whose ``cast``/``fanout``/``call`` travel over that socket and
are published on the main process's bus. (With ``--transport-url amqp://…`` every process talks
to RabbitMQ instead, and no relay is needed.)

Frames are a 4-byte big-endian length and a msgpack map: requests
``{"id", "kind": cast|fanout|call, "topic", "message", "timeout"}`` and replies
``{"id", "ok", "result" | "error"}`` (every request is answered, so a cast is delivered to the
main bus — and held there until its subscriber exists — before the API answers its client).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import struct
from pathlib import Path
from typing import Any

import msgpack

from pocketstack.common.bus import Bus, BusTimeout, Consumer

LOG = logging.getLogger(__name__)
_HEADER = struct.Struct(">I")
MAX_FRAME = 16 << 20


class RelayError(Exception):
    """The main process answered a relayed call with an error."""


async def _read_frame(reader: asyncio.StreamReader) -> dict[str, Any] | None:
    try:
        header = await reader.readexactly(_HEADER.size)
    except asyncio.IncompleteReadError:
        return None
    (size,) = _HEADER.unpack(header)
    if size > MAX_FRAME:
        raise ValueError(f"bus relay frame of {size} bytes refused")
    data: dict[str, Any] = msgpack.unpackb(await reader.readexactly(size), raw=False)
    return data


def _frame(data: dict[str, Any]) -> bytes:
    body: bytes = msgpack.packb(data, use_bin_type=True)
    return _HEADER.pack(len(body)) + body


class RelayServer:
    """Publishes what API worker processes send on this process's bus (a role of ``up``)."""

    name = "bus-relay"

    def __init__(self, bus: Bus, path: Path) -> None:
        self.bus = bus
        self.path = path
        self._server: asyncio.AbstractServer | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        self._server = await asyncio.start_unix_server(self._serve, path=str(self.path))
        self.path.chmod(0o600)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for task in list(self._tasks):
            task.cancel()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        lock = asyncio.Lock()
        try:
            while (request := await _read_frame(reader)) is not None:
                task = asyncio.create_task(self._answer(request, writer, lock))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
        except (ConnectionError, ValueError) as exc:
            LOG.warning("bus relay: dropping a worker connection: %s", exc)
        finally:
            writer.close()

    async def _answer(self, request: dict[str, Any], writer: asyncio.StreamWriter,
                      lock: asyncio.Lock) -> None:
        reply: dict[str, Any] = {"id": request.get("id"), "ok": True, "result": None}
        try:
            kind, topic, message = request["kind"], request["topic"], request["message"]
            if kind == "cast":
                await self.bus.cast(topic, message)
            elif kind == "fanout":
                await self.bus.fanout(topic, message)
            elif kind == "call":
                reply["result"] = await self.bus.call(topic, message,
                                                      float(request.get("timeout", 30.0)))
            else:
                raise ValueError(f"unknown relay request {kind!r}")
        except BusTimeout as exc:
            reply = {"id": request.get("id"), "ok": False, "error": str(exc), "timeout": True}
        except Exception as exc:  # answered, never left hanging
            reply = {"id": request.get("id"), "ok": False, "error": f"{type(exc).__name__}: {exc}"}
        async with lock:
            with contextlib.suppress(ConnectionError):
                writer.write(_frame(reply))
                await writer.drain()


class RelayBus:
    """The bus of an API worker process: everything goes to the main process's relay."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._ids = itertools.count(1)
        self._receiver: asyncio.Task[None] | None = None
        self._connect_lock: asyncio.Lock | None = None

    async def start(self) -> None:
        await self._connect()

    async def stop(self) -> None:
        if self._receiver is not None:
            self._receiver.cancel()
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = self._receiver = None

    async def _connect(self) -> asyncio.StreamWriter:
        if self._connect_lock is None:
            self._connect_lock = asyncio.Lock()
        async with self._connect_lock:
            if self._writer is None or self._writer.is_closing():
                self._reader, self._writer = await asyncio.open_unix_connection(str(self.path))
                self._receiver = asyncio.create_task(self._receive(self._reader))
            return self._writer

    async def _receive(self, reader: asyncio.StreamReader) -> None:
        try:
            while (reply := await _read_frame(reader)) is not None:
                future = self._pending.pop(reply.get("id", -1), None)
                if future is not None and not future.done():
                    future.set_result(reply)
        finally:
            for future in self._pending.values():
                if not future.done():
                    future.set_exception(ConnectionError("bus relay connection closed"))
            self._pending.clear()
            self._writer = None

    async def _send(self, kind: str, topic: str, message: dict[str, Any],
                    timeout: float) -> Any:
        writer = await self._connect()
        request_id = next(self._ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        writer.write(_frame({"id": request_id, "kind": kind, "topic": topic,
                             "message": message, "timeout": timeout}))
        await writer.drain()
        try:
            reply = await asyncio.wait_for(future, timeout + 5.0)
        except TimeoutError:
            self._pending.pop(request_id, None)
            raise BusTimeout(f"no reply on {topic} within {timeout}s") from None
        if not reply.get("ok"):
            if reply.get("timeout"):
                raise BusTimeout(str(reply.get("error")))
            raise RelayError(str(reply.get("error")))
        return reply.get("result")

    async def subscribe(self, topic: str, consumer: Consumer) -> None:
        raise RuntimeError("API worker processes do not consume from the bus")

    async def cast(self, topic: str, message: dict[str, Any]) -> None:
        await self._send("cast", topic, message, 30.0)

    async def fanout(self, topic: str, message: dict[str, Any]) -> None:
        await self._send("fanout", topic, message, 30.0)

    async def call(self, topic: str, message: dict[str, Any], timeout: float = 30.0) -> Any:
        return await self._send("call", topic, message, timeout)
