"""A compute host's console proxy: websockets in front of its guests' consoles (Nova's
``nova-serialproxy`` and ``nova-novncproxy`` in one listener, run by the compute agent).

It runs beside the guests, so the bytes of a console never cross the bus: a client opens
``ws://HOST:PORT/?token=T`` (a serial console) or the noVNC page ``/vnc_lite.html`` that
opens the same websocket (VNC). Before any byte is relayed the proxy asks the conductor (a
bus call) whether the token is valid — known, not expired, for an instance this host has
now — and refuses the upgrade with 403 otherwise. It then relays binary frames to the
guest's console (a UNIX socket or a loopback port, as the token's row says) both ways, and
closes the session when the token expires or the guest is destroyed (:meth:`close_instance`).

The listener starts on first use (:meth:`ensure`), on ``serialproxy_host:serialproxy_port``;
when that port is taken (a second agent on this machine) it takes a free one, and the URLs
it hands out carry the port it really has.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import mimetypes
import socket
import time
import urllib.parse
import weakref
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.typing import Subprotocol

LOG = logging.getLogger(__name__)
#: where Debian's ``novnc`` package keeps the HTML client the VNC URLs point at
NOVNC_DIRS = (Path("/usr/share/novnc"),)
_CHUNK = 65536
#: token -> the conductor's answer ({"instance_uuid", "console_type", "expires_at", ...})
Checker = Callable[[str], Awaitable[dict[str, Any]]]


@dataclass
class _Session:
    uuid: str
    task: asyncio.Task[Any]


@dataclass
class ConsoleProxy:
    """See the module docstring. ``check`` asks the conductor about a token."""

    host: str
    listen: str
    port: int
    base_url: str
    check: Checker
    novnc_dir: Path | None = None
    _server: Server | None = None
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _sessions: dict[int, _Session] = field(default_factory=dict)
    #: the conductor's answer for each connection whose token passed, until its handler runs
    _accepted: weakref.WeakKeyDictionary[ServerConnection, dict[str, Any]] = field(
        default_factory=weakref.WeakKeyDictionary)

    # -- the listener ---------------------------------------------------------------------
    async def ensure(self) -> str:
        """Start listening if not yet; the base URL of this proxy's consoles (no slash)."""
        async with self._lock:
            if self._server is None:
                self._server = await self._bind()
            port = self.bound_port
        if self.base_url:
            return self.base_url.rstrip("/")
        name = self.listen if self.listen not in ("0.0.0.0", "::", "") else socket.getfqdn()
        return f"ws://{name}:{port}"

    async def _bind(self) -> Server:
        kwargs: dict[str, Any] = {"process_request": self._process_request,
                                  "select_subprotocol": _binary_if_asked,
                                  "ping_interval": 20, "max_size": 1 << 20}
        try:
            server = await serve(self._handle, self.listen, self.port, **kwargs)
        except OSError as exc:
            if self.port == 0:
                raise
            LOG.info("%s: console proxy port %s is taken (%s); using a free one",
                        self.host, self.port, exc)
            server = await serve(self._handle, self.listen, 0, **kwargs)
        LOG.info("%s: console proxy listening on %s:%s", self.host, self.listen,
                 server.sockets[0].getsockname()[1])
        return server

    @property
    def bound_port(self) -> int:
        if self._server is None:
            return 0
        return int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        for session in list(self._sessions.values()):
            session.task.cancel()
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 5)
            self._server = None

    def close_instance(self, uuid: str) -> None:
        """End every console session of a guest (it is being destroyed)."""
        for session in list(self._sessions.values()):
            if session.uuid == uuid:
                session.task.cancel()

    # -- HTTP: the token check, and noVNC's static files ------------------------------------
    async def _process_request(self, conn: ServerConnection, request: Request
                               ) -> Response | None:
        url = urllib.parse.urlsplit(request.path)
        upgrade = request.headers.get("Upgrade", "").lower() == "websocket"
        if not upgrade:
            return self._static(conn, url.path)
        token = (urllib.parse.parse_qs(url.query).get("token") or [""])[0]
        if not token:  # noVNC may send the token as a cookie instead
            cookie = request.headers.get("Cookie", "")
            for part in cookie.split(";"):
                name, _, value = part.strip().partition("=")
                if name == "token":
                    token = urllib.parse.unquote(value)
        try:
            answer = await self.check(token) if token else {"error": "no token"}
        except Exception as exc:  # noqa: BLE001 - the conductor is away: refuse
            answer = {"error": f"the token could not be checked: {exc}"}
        if "error" in answer:
            LOG.info("%s: console proxy refused a connection: %s", self.host, answer["error"])
            # no body: a client reading frames right after the handshake sees the
            # connection close and nothing else (as websockify closes on a bad token)
            return Response(HTTPStatus.FORBIDDEN.value, "Forbidden",
                            Headers([("Content-Length", "0"), ("Connection", "close")]), b"")
        self._accepted[conn] = answer
        return None

    def _static(self, conn: ServerConnection, path: str) -> Response:
        root = self.novnc_dir
        if root is None:
            return conn.respond(HTTPStatus.NOT_FOUND, "No noVNC client on this host.\n")
        relative = path.lstrip("/") or "vnc_lite.html"
        target = (root / relative).resolve()
        if root.resolve() not in target.parents or not target.is_file():
            return conn.respond(HTTPStatus.NOT_FOUND, "Not found.\n")
        body = target.read_bytes()
        kind = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        if kind == "text/javascript":
            kind = "application/javascript"
        headers = Headers([("Content-Type", kind), ("Content-Length", str(len(body))),
                           ("Cache-Control", "no-cache")])
        return Response(200, "OK", headers, body)

    # -- the relay --------------------------------------------------------------------------
    async def _handle(self, conn: ServerConnection) -> None:
        answer = self._accepted.pop(conn, None)
        if answer is None:
            await conn.close(1008, "no valid token")
            return
        uuid = str(answer["instance_uuid"])
        me = asyncio.current_task()
        assert me is not None
        self._sessions[id(conn)] = _Session(uuid, me)
        remaining = float(answer["expires_at"]) - time.time()
        try:
            await asyncio.wait_for(self._relay(conn, answer), max(0.0, remaining))
        except TimeoutError:
            LOG.info("%s: console session of %s closed: its token expired", self.host, uuid)
            await conn.close(1000, "the console token expired")
        except asyncio.CancelledError:
            LOG.info("%s: console session of %s closed: the guest is going", self.host, uuid)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.close(1001, "the guest is gone"), 2)
        except OSError as exc:
            LOG.info("%s: console of %s unreachable: %s", self.host, uuid, exc)
            await conn.close(1011, "the guest's console is not reachable")
        finally:
            self._sessions.pop(id(conn), None)

    async def _relay(self, conn: ServerConnection, answer: dict[str, Any]) -> None:
        path, port = answer.get("internal_access_path"), answer.get("port")
        if path:
            reader, writer = await asyncio.open_unix_connection(str(path))
        else:
            reader, writer = await asyncio.open_connection("127.0.0.1", int(port or 0))

        async def to_guest() -> None:
            async for message in conn:
                writer.write(message.encode() if isinstance(message, str) else message)
                await writer.drain()

        async def to_client() -> None:
            while chunk := await reader.read(_CHUNK):
                await conn.send(chunk)

        tasks = [asyncio.create_task(to_guest()), asyncio.create_task(to_client())]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            raise
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, ConnectionClosed, OSError):
                    await task
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
        if conn.state.name == "OPEN":
            await conn.close(1000, "the guest's console closed")


def _binary_if_asked(conn: ServerConnection, offered: Sequence[str]) -> Subprotocol | None:
    """websockify's ``binary`` when the client offers it (noVNC does), else none."""
    return Subprotocol("binary") if "binary" in offered else None


def novnc_dir() -> Path | None:
    """Where the noVNC HTML client is installed on this machine, or None."""
    return next((d for d in NOVNC_DIRS if (d / "vnc_lite.html").is_file()), None)
