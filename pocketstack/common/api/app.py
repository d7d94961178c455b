"""The API kit: one ASGI app per service, built from that service's route table.

Order of work for every request (outermost first):

1. fault wrapper: a :class:`PocketstackError` becomes the service's error body; anything else is
   a bug, logged with its request id, and answered 500;
2. request id (``X-Openstack-Request-Id``, plus any service-specific alias);
3. routing: unknown path → 404, known path with another method → 405 (with ``Allow``); a NUL
   character in the path or query string → 400;
4. body read (bounded: 413 past ``max_body_size``) for non-streaming routes;
5. microversion negotiation and echo, for services that have microversions;
6. authentication (``X-Auth-Token`` → :class:`RequestContext`) unless the route is public;
7. the handler: ``def h(req) -> Response`` runs in a worker thread (it may block on the
   database or on bcrypt); ``async def h(req)`` runs on the loop (streaming routes).
"""

from __future__ import annotations

import inspect
import json
import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import anyio
import anyio.to_thread
from starlette.datastructures import Headers, QueryParams
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from pocketstack.common import exceptions
from pocketstack.common.api import errors
from pocketstack.common.api.microversion import MicroversionSpec, Version
from pocketstack.common.api.validation import check_text, parse_json
from pocketstack.common.context import RequestContext, new_request_id

LOG = logging.getLogger(__name__)

MAX_JSON_BODY = 1024 * 1024  # services that set no limit of their own (Glance, Placement)

Handler = Callable[["ApiRequest"], Any]
Authenticator = Callable[["ApiRequest"], RequestContext]


@dataclass(frozen=True)
class Route:
    """One line of a service's route table."""

    method: str
    path: str
    handler: Handler
    public: bool = False  # no token needed (version documents, auth)
    stream: bool = False  # handler reads the body itself (``req.receive``)


@dataclass
class ApiRequest:
    """What a handler sees of a request."""

    method: str
    path: str
    path_params: dict[str, str]
    query: QueryParams
    headers: Headers
    body: bytes
    base_url: str  # public URL of the service root, e.g. http://h:p/identity
    request_id: str
    context: RequestContext | None = None
    microversion: Version | None = None
    receive: Receive | None = None
    state: dict[str, Any] = field(default_factory=dict)

    def json(self) -> Any:
        return parse_json(self.body)

    @property
    def ctx(self) -> RequestContext:
        if self.context is None:
            raise exceptions.Unauthorized("The request you have made requires authentication.")
        return self.context

    def url_for(self, path: str) -> str:
        """The public URL of ``path`` (a decoded path, e.g. ``req.path`` or one built from
        ids): characters a URL cannot carry are percent-encoded."""
        return self.base_url + quote(path, safe=_PATH_SAFE)


# RFC 3986 path characters (unreserved, sub-delims, ":", "@") and the separator
_PATH_SAFE = "/:@!$&'()*+,;=-._~"
_UNSAFE_HEADER_CHAR = re.compile(r"[^\x20-\x7e]")
_UNSAFE_HEADER_BYTE = re.compile(rb"[^\x20-\x7e]")


def safe_header(value: str) -> str:
    """A header value as HTTP carries it: visible ASCII and spaces. Anything else (a control
    character or a non-ASCII letter from an id echoed in a ``Location``) is percent-encoded as
    UTF-8, so a hostile id can never make a response unsendable."""
    if _UNSAFE_HEADER_CHAR.search(value) is None:
        return value
    return _UNSAFE_HEADER_CHAR.sub(lambda m: quote(m.group(), safe=""), value)


def _safe_headers(headers: dict[str, str] | None) -> dict[str, str] | None:
    return None if headers is None else {k: safe_header(v) for k, v in headers.items()}


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        json.dumps(body, separators=(",", ":")).encode(),
        status_code=status,
        headers=_safe_headers(headers),
        media_type="application/json",
    )


def empty_response(status: int = 204, headers: dict[str, str] | None = None) -> Response:
    return Response(b"", status_code=status, headers=_safe_headers(headers))


_PARAM_RE = re.compile(r"\{(\w+)\}")


def _compile(path: str) -> re.Pattern[str]:
    out = []
    pos = 0
    for m in _PARAM_RE.finditer(path):
        out.append(re.escape(path[pos : m.start()]))
        out.append(f"(?P<{m.group(1)}>[^/]+)")
        pos = m.end()
    out.append(re.escape(path[pos:]))
    return re.compile("^" + "".join(out) + "$")


class ServiceApp:
    """ASGI app for one OpenStack service, built from its route table."""

    def __init__(
        self,
        name: str,
        routes: Iterable[Route],
        error_format: errors.ErrorFormat,
        authenticate: Authenticator | None = None,
        microversions: MicroversionSpec | None = None,
        request_id_headers: tuple[str, ...] = ("X-Openstack-Request-Id",),
        unauthorized_headers: dict[str, str] | None = None,
        state: dict[str, Any] | None = None,
        thread_limiter: anyio.CapacityLimiter | None = None,
        max_body_size: int = MAX_JSON_BODY,
        empty_id_paths: Iterable[str] = (),
    ) -> None:
        """``empty_id_paths``: collection paths after which a trailing slash names an empty id
        (404), as in Glance's ``/v2/images/``; elsewhere a trailing slash is folded."""
        self.name = name
        self.error_format = error_format
        self.authenticate = authenticate
        self.microversions = microversions
        self.request_id_headers = request_id_headers
        self.unauthorized_headers = unauthorized_headers or {}
        self.state = state or {}
        self.thread_limiter = thread_limiter
        self.max_body_size = max_body_size
        self.empty_id_paths = frozenset(empty_id_paths)
        self._paths: list[tuple[re.Pattern[str], str, dict[str, Route]]] = []
        by_path: dict[str, dict[str, Route]] = {}
        for route in routes:
            methods = by_path.setdefault(route.path, {})
            if route.method in methods:
                raise ValueError(f"duplicate route {route.method} {route.path}")
            methods[route.method] = route
        for path, methods in by_path.items():
            if "GET" in methods:
                methods.setdefault("HEAD", methods["GET"])
            self._paths.append((_compile(path), path, methods))

    # -- routing ---------------------------------------------------------------------------
    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]]:
        allowed: set[str] = set()
        for regex, _template, methods in self._paths:
            m = regex.match(path)
            if not m:
                continue
            route = methods.get(method)
            if route is not None:
                return route, m.groupdict()
            allowed.update(methods)
        if allowed:
            exc = exceptions.MethodNotAllowed(
                f"The method {method} is not allowed for this resource."
            )
            exc.headers["Allow"] = ", ".join(sorted(allowed))
            raise exc
        raise exceptions.NotFound("The resource could not be found.")

    # -- ASGI ------------------------------------------------------------------------------
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        request_id = new_request_id()
        extra_headers: dict[str, str] = {}
        try:
            response = await self._handle(scope, receive, request_id, extra_headers)
        except exceptions.PocketstackError as exc:
            if exc.status == 401:
                exc.headers.update(self.unauthorized_headers)
            response = self._error_response(exc, request_id)
        except Exception:  # the one catch-all: a bug
            LOG.exception("%s: unhandled error in %s %s [%s]", self.name, scope.get("method"),
                          scope.get("path"), request_id)
            response = self._error_response(
                exceptions.PocketstackError(
                    "An unexpected error prevented the server from fulfilling your request."
                ),
                request_id,
            )
        for key, value in extra_headers.items():
            response.headers.setdefault(key, value)
        for header in self.request_id_headers:
            response.headers[header] = request_id
        _sendable(response)
        await response(scope, receive, send)

    def _error_response(self, exc: exceptions.PocketstackError, request_id: str) -> Response:
        body = errors.render(self.error_format, exc.status, exc.title, exc.message, request_id,
                             exc.extra)
        return Response(body, status_code=exc.status, headers=dict(exc.headers),
                        media_type="application/json")

    async def _handle(self, scope: Scope, receive: Receive, request_id: str,
                      extra_headers: dict[str, str]) -> Response:
        method = scope["method"]
        path = scope.get("pocketstack.subpath", scope["path"])
        if len(path) > 1 and path.endswith("/"):
            path = path.rstrip("/") or "/"
            if path in self.empty_id_paths:
                raise exceptions.NotFound("The resource could not be found.")
        route, params = self.match(method, path)
        check_text("path", path)
        query = QueryParams(scope.get("query_string", b""))
        check_text("query string", *(text for item in query.multi_items() for text in item))
        headers = Headers(scope=scope)
        body = b""
        if not route.stream:
            body = await _read_body(receive, self.max_body_size)
        base_url = scope.get("pocketstack.base_url", "")
        req = ApiRequest(
            method=method,
            path=path,
            path_params=params,
            query=query,
            headers=headers,
            body=body,
            base_url=base_url,
            request_id=request_id,
            receive=receive if route.stream else None,
            state=self.state,
        )
        if self.microversions is not None:
            lowered = {k.lower(): v for k, v in headers.items()}
            req.microversion = self.microversions.negotiate(lowered)
            extra_headers.update(self.microversions.response_headers(req.microversion))
        if inspect.iscoroutinefunction(route.handler):
            if not route.public:
                req.context = await anyio.to_thread.run_sync(
                    self._authenticate, req, limiter=self.thread_limiter
                )
            return await route.handler(req)  # type: ignore[no-any-return]
        return await anyio.to_thread.run_sync(self._run_sync, route, req,
                                              limiter=self.thread_limiter)

    def _run_sync(self, route: Route, req: ApiRequest) -> Response:
        if not route.public:
            req.context = self._authenticate(req)
        return route.handler(req)  # type: ignore[no-any-return]

    def _authenticate(self, req: ApiRequest) -> RequestContext:
        if self.authenticate is None:
            return RequestContext(request_id=req.request_id)
        ctx = self.authenticate(req)
        ctx.request_id = req.request_id
        return ctx


def _sendable(response: Response) -> None:
    """The last guard before the server writes the headers: a value with bytes HTTP does not
    allow (from a handler that built its own Response) is percent-encoded, not a crash after
    the fault wrapper has already let go."""
    raw = response.raw_headers
    for i, (name, value) in enumerate(raw):
        if _UNSAFE_HEADER_BYTE.search(value) is not None:
            raw[i] = (name, safe_header(value.decode("latin-1")).encode("ascii"))


async def _read_body(receive: Receive, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    more = True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise exceptions.BadRequest("Client disconnected before sending the whole body.")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise exceptions.PayloadTooLarge(
                f"Request is too large: larger than the limit of {limit} bytes."
            )
        chunks.append(chunk)
        more = message.get("more_body", False)
    return b"".join(chunks)

