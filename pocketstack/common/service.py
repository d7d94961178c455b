"""The service seam: what every service package offers the cloud, and what the cloud gives it.

A service (identity, image, compute, placement, …) is one package with one *service object*,
constructed as ``Service(runtime)``. The object says

* its ``name`` and its ``catalog`` entries (type, name, path under the cloud's public URL);
* its ``tables`` (the module whose tables register on the shared MetaData);
* its optional ``settings_section`` (a frozen dataclass of its own options, read with
  ``runtime.settings.section(cls)``);
* its ASGI apps (``mounts()``), its bootstrap data (``prepare()``), its background roles
  (``roles()``: conductors, in-process agents) and the public interfaces it implements for
  other services (``provides()``: ``{Protocol: implementation}``).

The cloud (``pocketstack/cloud.py``) loops over :data:`pocketstack.services.SERVICES`; nothing
else has to be edited to add a service. Services reach each other only through
``runtime.interfaces.get(SomeProtocol)``, where the Protocol lives in the owning service's
``interface`` module (the import contracts in ``pyproject.toml`` enforce it).
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, cast

from starlette.types import ASGIApp

if TYPE_CHECKING:
    from pocketstack.common.api.app import ApiRequest
    from pocketstack.common.bus import Bus
    from pocketstack.common.context import RequestContext
    from pocketstack.common.db import Database
    from pocketstack.config import Settings

T = TypeVar("T")


@dataclass(frozen=True)
class CatalogEntry:
    """One service-catalog entry: endpoints are ``public_url + path`` in every interface."""

    type: str
    name: str
    path: str
    description: str


@dataclass(frozen=True)
class Mount:
    """An ASGI app served under a path prefix of the one port."""

    prefix: str
    app: ASGIApp


class Role(Protocol):
    """A background role of a service (conductor, in-process agent): started after the API
    is mounted, stopped before the process ends. Roles start in the order services list
    them and stop in the reverse order."""

    name: str

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class InterfaceMissing(LookupError):
    """No service of this cloud provides the asked-for interface."""


class Interfaces:
    """The public interfaces services provide to each other, keyed by their Protocol."""

    def __init__(self) -> None:
        self._impls: dict[type, object] = {}

    def register(self, protocol: type, impl: object) -> None:
        if protocol in self._impls:
            raise ValueError(f"{protocol.__name__} is provided twice")
        self._impls[protocol] = impl

    def get(self, protocol: type[T]) -> T:
        try:
            return cast(T, self._impls[protocol])
        except KeyError:
            raise InterfaceMissing(f"no service provides {protocol.__name__}") from None

    def find(self, protocol: type[T]) -> T | None:
        return cast("T | None", self._impls.get(protocol))


Notifier = Callable[[str, dict[str, Any]], None]


class Authentication(Protocol):
    """Turns a request's token into a request context; every service's API needs it, so the
    protocol lives here rather than in the identity package that implements it."""

    def authenticate_request(self, req: ApiRequest) -> RequestContext: ...


@dataclass
class Runtime:
    """What the cloud hands every service: shared handles, no service-specific wiring."""

    settings: Settings
    db: Database
    bus: Bus
    state: Path
    interfaces: Interfaces = field(default_factory=Interfaces)
    catalog: list[CatalogEntry] = field(default_factory=list)
    _loop: asyncio.AbstractEventLoop | None = None

    def authenticate(self, req: ApiRequest) -> RequestContext:
        """``X-Auth-Token`` → a request context, through whichever service provides
        :class:`Authentication` (identity)."""
        return self.interfaces.get(Authentication).authenticate_request(req)

    def bind_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def notify(self, topic: str, message: dict[str, Any]) -> None:
        """Cast a hint on the bus from any thread (a no-op before the loop runs: the
        reconcilers pick the work up from the database when it starts)."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        bus = self.bus
        loop.call_soon_threadsafe(lambda: loop.create_task(bus.cast(topic, message)))

    def call_from_thread(self, topic: str, message: dict[str, Any],
                         timeout: float = 30.0) -> Any:
        """A bus ``call`` from a worker thread (a handler, ``asyncio.to_thread``), waiting for
        the answer; :class:`BusTimeout` if none. Never from the event loop's own thread (it
        would wait on itself: RuntimeError)."""
        loop = self._loop
        if loop is None or loop.is_closed():
            raise RuntimeError("the cloud's event loop is not running")
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            raise RuntimeError("call_from_thread on the event loop: await bus.call instead")
        future = asyncio.run_coroutine_threadsafe(
            self.bus.call(topic, message, timeout=timeout), loop)
        return future.result(timeout + 5)

    def broadcast(self, topic: str, message: dict[str, Any]) -> None:
        """Like :meth:`notify`, but every subscriber of ``topic`` gets the hint (a fanout):
        for agents on many hosts that each keep their own part of the state."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        bus = self.bus
        loop.call_soon_threadsafe(lambda: loop.create_task(bus.fanout(topic, message)))


class Service(Protocol):
    """The one object a service package exposes (see the module docstring)."""

    name: str
    catalog: Sequence[CatalogEntry]
    tables: str
    settings_section: type | None

    def mounts(self) -> list[Mount]: ...

    def prepare(self) -> None: ...

    def roles(self) -> list[Role]: ...

    def provides(self) -> dict[type, object]: ...


@dataclass(frozen=True)
class ServiceSpec:
    """Where a service's object lives, imported only when the cloud builds it."""

    name: str
    factory: str  # "package.module:Class"
    tables: str  # "package.tables"
    settings: str | None = None  # "package.settings:Class", a section of options

    def load(self) -> Callable[[Runtime], Service]:
        return cast(Callable[[Runtime], Service], _import(self.factory))

    def settings_section(self) -> type | None:
        return cast(type, _import(self.settings)) if self.settings else None


def _import(path: str) -> Any:
    module, _, attr = path.partition(":")
    return getattr(importlib.import_module(module), attr)
