"""A whole cloud in one process: database, bus, the services, and the path-routed app.

``Cloud`` is built from :class:`Settings` and loops over :data:`pocketstack.services.SERVICES`:
each service object (:mod:`pocketstack.common.service`) names its catalog entries, apps,
bootstrap and background roles; the cloud only mounts, prepares, starts and stops them. A path
no service serves answers 404, as a cloud without that service would.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Sequence

from starlette.types import Receive, Scope, Send

from pocketstack.common import migrate
from pocketstack.common.bus import Bus, make_bus
from pocketstack.common.db import Database
from pocketstack.common.service import Mount, Role, Runtime, Service, ServiceSpec
from pocketstack.config import Settings
from pocketstack.services import SERVICES

LOG = logging.getLogger(__name__)


class RootApp:
    """Routes by path prefix to each service's app; answers the lifespan protocol."""

    def __init__(self, mounts: list[Mount], public_url: str,
                 on_startup: Callable[[], Awaitable[None]] | None = None,
                 on_shutdown: Callable[[], Awaitable[None]] | None = None) -> None:
        self.mounts = sorted(mounts, key=lambda m: -len(m.prefix))
        self.public_url = public_url.rstrip("/")
        self.on_startup = on_startup
        self.on_shutdown = on_shutdown

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    if self.on_startup is not None:
                        await self.on_startup()
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    if self.on_shutdown is not None:
                        await self.on_shutdown()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        path: str = scope["path"]
        for mount in self.mounts:
            if path == mount.prefix or path.startswith(mount.prefix + "/"):
                sub = dict(scope)
                sub["pocketstack.subpath"] = path[len(mount.prefix):] or "/"
                sub["pocketstack.base_url"] = self.public_url + mount.prefix
                await mount.app(sub, receive, send)
                return
        body = json.dumps({"error": {"code": 404, "title": "Not Found",
                                     "message": f"No service at {path}."}}).encode()
        await send({"type": "http.response.start", "status": 404,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


class Cloud:
    """Everything one Pocketstack process serves."""

    def __init__(self, settings: Settings, services: Sequence[ServiceSpec] = SERVICES,
                 bus: Bus | None = None, api_only: bool = False) -> None:
        """``api_only``: an extra API process of ``up --api-workers N`` — it serves the API
        and casts on ``bus``; bootstrap and the background roles belong to the main process."""
        self.settings = settings
        self.state = settings.state_path
        self.state.mkdir(parents=True, exist_ok=True)
        self.db = Database(settings.effective_database_url)
        self.bus: Bus = bus if bus is not None else make_bus(settings.transport_url or None)
        self.api_only = api_only
        self.extra_roles: list[Role] = []
        self.runtime = Runtime(settings=settings, db=self.db, bus=self.bus, state=self.state)
        self.services: list[Service] = []
        for spec in services:
            service = spec.load()(self.runtime)
            self.services.append(service)
            self.runtime.catalog.extend(service.catalog)
            for protocol, impl in service.provides().items():
                self.runtime.interfaces.register(protocol, impl)
        self.roles: list[Role] = []

    def service(self, name: str) -> Service:
        return next(s for s in self.services if s.name == name)

    # -- setup --------------------------------------------------------------------------------
    def prepare(self) -> None:
        """Migrate, then let every service bootstrap its data, in the services' order."""
        migrate.upgrade(self.db)
        for service in self.services:
            service.prepare()

    # -- serving ------------------------------------------------------------------------------
    def app(self) -> RootApp:
        mounts = [mount for service in self.services for mount in service.mounts()]
        return RootApp(mounts, self.settings.effective_public_url, self.start, self.stop)

    async def start(self) -> None:
        """Start the bus, then every service's roles in the order the services list them."""
        self.runtime.bind_loop(asyncio.get_running_loop())
        await self.bus.start()
        if self.api_only:
            return
        roles = [*self.extra_roles, *(r for s in self.services for r in s.roles())]
        for role in roles:
            await role.start()
            self.roles.append(role)
            LOG.debug("started %s", role.name)

    async def stop(self) -> None:
        for role in reversed(self.roles):
            await role.stop()
        self.roles.clear()
        await self.bus.stop()

    def close(self) -> None:
        self.db.dispose()
