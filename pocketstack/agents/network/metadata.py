"""The metadata proxy (Neutron's metadata agent and its haproxy, in-process): one listener on
169.254.169.254:80 inside every namespace the DHCP part serves (``served()``: network id ->
``{"netns": ...}``), opened by this process (:mod:`pocketstack.agents.kernel.nssocket`) and
served on its event loop.

A request's source address and network name its instance (``metadata_lookup`` over
network.rpc; none: 404). The request goes on to the metadata API (``ctx.metadata_url`` + its
path) with ``X-Instance-ID``, ``X-Instance-ID-Signature`` (HMAC-SHA256 of the id with
``ctx.metadata_secret``), ``X-Tenant-ID`` and ``X-Forwarded-For``; the API's status and body
come back to the guest.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import h11

from pocketstack.agents.kernel import nssocket
from pocketstack.agents.kernel.run import KernelError
from pocketstack.agents.network.base import AgentContext
from pocketstack.agents.network.rpc import RPCError
from pocketstack.common.metadata_secret import sign

LOG = logging.getLogger(__name__)

METADATA_ADDRESS = "169.254.169.254"
METADATA_PORT = 80
MAX_BODY = 64 * 1024
READ_TIMEOUT = 30.0  # seconds a guest may take to send a request (or the next one)
FORWARD_TIMEOUT = 30.0


@dataclass
class _Listener:
    netns: str
    inode: int | None
    server: asyncio.AbstractServer


@dataclass
class _Reply:
    status: int
    body: bytes
    content_type: str = "text/plain; charset=UTF-8"


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class MetadataPart:
    """The ``Metadata agent`` of a network host."""

    agent_type = "Metadata agent"
    binary = "neutron-metadata-agent"
    topic = "N/A"

    def __init__(self, ctx: AgentContext, served: Callable[[], dict[str, dict[str, Any]]],
                 address: str = METADATA_ADDRESS, port: int = METADATA_PORT) -> None:
        self.ctx = ctx
        self.served = served
        self.address = address
        self.port = port
        self._listeners: dict[str, _Listener] = {}
        self._connections: set[asyncio.Task[Any]] = set()
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}),
                                                   _NoRedirects())

    def configurations(self) -> dict[str, Any]:
        return {"nova_metadata_url": self.ctx.metadata_url,
                "metadata_proxy_address": f"{self.address}:{self.port}",
                "networks": len(self._listeners)}

    # -- sync ------------------------------------------------------------------------------
    async def sync(self) -> None:
        wanted = self.served()
        for network_id in list(self._listeners):
            have = self._listeners[network_id]
            want = wanted.get(network_id)
            if (want is None or want.get("netns") != have.netns
                    or nssocket.netns_inode(have.netns) != have.inode):
                await self._close(network_id)
        failures = []
        for network_id, info in wanted.items():
            if network_id in self._listeners:
                continue
            netns = str(info["netns"])
            try:
                await self._open(network_id, netns)
            except (OSError, KernelError) as exc:
                if nssocket.netns_inode(netns) is None:
                    # the DHCP namespace went away under us (its network is being deleted,
                    # or the DHCP agent is remaking it): nothing to serve until it is back
                    LOG.info("%s: no namespace %s for network %s yet; the next sync looks "
                             "again", self.ctx.host, netns, network_id)
                    continue
                failures.append(f"{netns}: {exc}")
        if failures:  # the runner logs it; the next sync tries again
            raise RuntimeError("metadata proxy: " + "; ".join(failures))

    async def _open(self, network_id: str, netns: str) -> None:
        inode = nssocket.netns_inode(netns)
        sock = await asyncio.to_thread(nssocket.tcp_listener, netns, self.address, self.port)
        try:
            server = await asyncio.start_server(
                lambda r, w: self._connection(network_id, r, w), sock=sock)
        except BaseException:
            sock.close()
            raise
        self._listeners[network_id] = _Listener(netns, inode, server)
        LOG.info("%s: metadata proxy for network %s listens in %s", self.ctx.host,
                 network_id, netns)

    async def _close(self, network_id: str) -> None:
        listener = self._listeners.pop(network_id, None)
        if listener is None:
            return
        listener.server.close()
        with contextlib.suppress(Exception):
            await listener.server.wait_closed()

    async def stop(self) -> None:
        for network_id in list(self._listeners):
            await self._close(network_id)
        for task in list(self._connections):
            task.cancel()
        for task in list(self._connections):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    def listening(self) -> dict[str, str]:
        """Network id -> namespace of every open listener (tests, diagnostics)."""
        return {net: lst.netns for net, lst in self._listeners.items()}

    # -- one guest connection (HTTP/1.1, keep-alive) ----------------------------------------
    async def _connection(self, network_id: str, reader: asyncio.StreamReader,
                          writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._connections.add(task)
        peer = writer.get_extra_info("peername")
        address = str(peer[0]) if peer else ""
        conn = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_BODY)
        try:
            while True:
                try:
                    got = await asyncio.wait_for(self._request(conn, reader), READ_TIMEOUT)
                except (h11.RemoteProtocolError, ValueError):
                    if conn.our_state in (h11.IDLE, h11.SEND_RESPONSE):
                        await self._send(conn, writer, _Reply(400, b"Bad Request\n"))
                    break
                if got is None:
                    break
                request, body = got
                reply = await self._answer(network_id, address, request, body)
                await self._send(conn, writer, reply, head=request.method == b"HEAD")
                if conn.our_state is h11.MUST_CLOSE or conn.their_state is h11.MUST_CLOSE:
                    break
                conn.start_next_cycle()
        except (TimeoutError, ConnectionError, h11.LocalProtocolError,
                asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
            if task is not None:
                self._connections.discard(task)

    @staticmethod
    async def _request(conn: h11.Connection, reader: asyncio.StreamReader
                       ) -> tuple[h11.Request, bytes] | None:
        request: h11.Request | None = None
        body = bytearray()
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                conn.receive_data(await reader.read(65536))
            elif isinstance(event, h11.Request):
                request = event
            elif isinstance(event, h11.Data):
                body += event.data
                if len(body) > MAX_BODY:
                    raise ValueError("request body too large")
            elif isinstance(event, h11.EndOfMessage):
                assert request is not None
                return request, bytes(body)
            elif isinstance(event, h11.ConnectionClosed) or event is h11.PAUSED:
                return None

    @staticmethod
    async def _send(conn: h11.Connection, writer: asyncio.StreamWriter, reply: _Reply,
                    head: bool = False) -> None:
        headers = [("Content-Type", reply.content_type),
                   ("Content-Length", str(len(reply.body)))]
        data = conn.send(h11.Response(status_code=reply.status, headers=headers)) or b""
        if not head:
            data += conn.send(h11.Data(data=reply.body)) or b""
        data += conn.send(h11.EndOfMessage()) or b""
        writer.write(data)
        await writer.drain()

    async def _answer(self, network_id: str, address: str, request: h11.Request,
                      body: bytes) -> _Reply:
        try:
            found = await self.ctx.rpc.call("metadata_lookup", network_id=network_id,
                                            address=address)
        except RPCError as exc:
            LOG.warning("metadata proxy: lookup of %s on %s: %s", address, network_id, exc)
            return _Reply(500, b"An unknown error has occurred. Please try your request "
                               b"again.\n")
        if not found or not found.get("instance_id"):
            return _Reply(404, b"404 Not Found\n\nThe resource could not be found.\n")
        instance_id = str(found["instance_id"])
        headers = {"X-Instance-ID": instance_id,
                   "X-Instance-ID-Signature": sign(self.ctx.metadata_secret, instance_id),
                   "X-Tenant-ID": str(found.get("project_id") or ""),
                   "X-Forwarded-For": address}
        for name, value in request.headers:
            if name.lower() == b"content-type":
                headers["Content-Type"] = value.decode("latin-1")
        target = request.target.decode("latin-1")
        parts = urlsplit(target)  # absolute-form (through a proxy) or origin-form
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        method = request.method.decode("ascii")
        return await asyncio.to_thread(self._forward, method, path, headers,
                                       body if method not in ("GET", "HEAD") else None)

    def _forward(self, method: str, path: str, headers: dict[str, str],
                 body: bytes | None) -> _Reply:
        url = self.ctx.metadata_url.rstrip("/") + path
        req = urllib.request.Request(url, data=body, headers=headers, method=method)
        try:
            with self._opener.open(req, timeout=FORWARD_TIMEOUT) as resp:
                return _Reply(resp.status, resp.read(),
                              resp.headers.get("Content-Type", "text/plain"))
        except urllib.error.HTTPError as exc:
            return _Reply(exc.code, exc.read(), exc.headers.get("Content-Type", "text/plain"))
        except (urllib.error.URLError, OSError) as exc:
            LOG.warning("metadata proxy: %s %s: %s", method, url, exc)
            return _Reply(500, b"An unknown error has occurred. Please try your request "
                               b"again.\n")
