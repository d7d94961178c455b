"""A whole cloud in one process: database, bus, services, bootstrap, and the path-routed app.

``Cloud`` is built from :class:`Settings` and owns everything the services share. Each service
is mounted at devstack's path on the one port; a service that is not built yet is absent from
the catalog and its path answers 404, as a cloud without that service would.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml
from starlette.types import ASGIApp, Receive, Scope, Send

from pocketstack.agents.compute.agent import AgentOptions, ComputeAgent
from pocketstack.agents.compute.drivers.fake import FakeDriver
from pocketstack.common import migrate
from pocketstack.common.bus import make_bus
from pocketstack.common.db import Database
from pocketstack.common.timeutils import utcnow
from pocketstack.compute.conductor.conductor import Conductor
from pocketstack.compute.domain import flavors
from pocketstack.compute.service import ComputeService
from pocketstack.config import Settings
from pocketstack.identity import passwords
from pocketstack.identity.domain import bootstrap as identity_bootstrap
from pocketstack.identity.domain import revocations
from pocketstack.identity.service import IdentityService
from pocketstack.image.service import ImageService
from pocketstack.placement.client import PlacementClient
from pocketstack.placement.service import PlacementService

LOG = logging.getLogger(__name__)

CATALOG = [
    identity_bootstrap.CatalogEntry("identity", "keystone", "/identity",
                                    "Keystone Identity Service"),
    identity_bootstrap.CatalogEntry("image", "glance", "/image", "Glance Image Service"),
    identity_bootstrap.CatalogEntry("placement", "placement", "/placement",
                                    "Placement Service"),
    identity_bootstrap.CatalogEntry("compute", "nova", "/compute/v2.1", "Nova Compute Service"),
]

ACCOUNTS = (
    ("admin", "admin", "admin", "admin"),
    ("demo", "demo", "member", None),
    ("alt_demo", "alt_demo", "member", None),
)


@dataclass(frozen=True)
class Mount:
    prefix: str
    app: ASGIApp


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

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.state = settings.state_path
        self.state.mkdir(parents=True, exist_ok=True)
        self.db = Database(settings.effective_database_url)
        self.bus = make_bus(settings.transport_url or None)
        self.identity = IdentityService(self.db, settings)
        self.image = ImageService(self.db, settings, self.identity.authenticate_request)
        self.placement = PlacementService(self.db, settings, self.identity.authenticate_request)
        self.placement_client = PlacementClient(self.db)
        self.compute = ComputeService(self.db, settings, self.identity.authenticate_request,
                                      self.placement_client, self.image)
        self.conductor = Conductor(self.db, self.bus, settings, self.placement_client,
                                   self.image)
        self.agents: list[ComputeAgent] = []

    # -- setup --------------------------------------------------------------------------------
    def prepare(self) -> dict[str, Any]:
        """Migrate, create keys, bootstrap; returns the bootstrap credentials."""
        first_start = not (self.state / "credentials.json").exists()
        migrate.upgrade(self.db)
        self.identity.keys.setup()
        creds = self._credentials()
        rules = self.identity.rules
        hashes: dict[str, str | None] = {user: None for user, *_ in ACCOUNTS}
        if first_start:  # hash the new accounts' passwords side by side (bcrypt frees the GIL)
            with ThreadPoolExecutor(len(ACCOUNTS)) as pool:
                computed = pool.map(lambda u: passwords.hash_password(
                    creds["passwords"][u], rules.hash_rounds), list(hashes))
                hashes = dict(zip(list(hashes), computed, strict=True))
        accounts = [
            identity_bootstrap.Account(
                user=user, project=project, role=role, password=creds["passwords"][user],
                system_role=system_role, password_hash=hashes[user])
            for user, project, role, system_role in ACCOUNTS
        ]
        reset = ("admin",) if self.settings.admin_password else ()
        self.db.write(identity_bootstrap.bootstrap, accounts, self.settings.region,
                      self.settings.effective_public_url, CATALOG, rules, reset)
        expired = self.settings.token_expiration + self.settings.allow_expired_window
        self.db.write(revocations.prune, utcnow() - timedelta(seconds=expired))
        self.image.prepare(admin_project="admin")
        self.db.write(flavors.ensure_defaults)
        self.write_clouds_yaml(creds)
        return creds

    def _credentials(self) -> dict[str, Any]:
        path = self.state / "credentials.json"
        creds: dict[str, Any] = {"passwords": {}}
        if path.exists():
            creds = json.loads(path.read_text())
        changed = False
        for user, *_ in ACCOUNTS:
            if user not in creds["passwords"]:
                creds["passwords"][user] = secrets.token_urlsafe(12)
                changed = True
        if self.settings.admin_password and \
                creds["passwords"]["admin"] != self.settings.admin_password:
            creds["passwords"]["admin"] = self.settings.admin_password
            changed = True
        if changed or not path.exists():
            tmp = path.with_suffix(".tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as fh:
                json.dump(creds, fh, indent=2)
            os.replace(tmp, path)
        return creds

    def write_clouds_yaml(self, creds: dict[str, Any]) -> Path:
        auth_url = self.settings.effective_public_url + "/identity"
        pw = creds["passwords"]

        def cloud(user: str, project: str | None) -> dict[str, Any]:
            auth: dict[str, Any] = {"auth_url": auth_url, "username": user,
                                    "password": pw[user], "user_domain_name": "Default"}
            if project:
                auth["project_name"] = project
                auth["project_domain_name"] = "Default"
            else:
                auth["system_scope"] = "all"
            return {"auth": auth, "region_name": self.settings.region,
                    "identity_api_version": 3, "interface": "public"}

        doc = {"clouds": {
            "pocketstack-admin": cloud("admin", "admin"),
            "pocketstack": cloud("demo", "demo"),
            "pocketstack-alt": cloud("alt_demo", "alt_demo"),
            "pocketstack-system-admin": cloud("admin", None),
        }}
        path = self.state / "clouds.yaml"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            yaml.safe_dump(doc, fh, sort_keys=False)
        openrc = self.state / "openrc"
        lines = [
            f"export OS_AUTH_URL={auth_url}",
            "export OS_IDENTITY_API_VERSION=3",
            f"export OS_REGION_NAME={self.settings.region}",
            "export OS_USERNAME=${OS_USERNAME:-admin}",
            "export OS_PROJECT_NAME=${OS_PROJECT_NAME:-admin}",
            "export OS_USER_DOMAIN_NAME=Default",
            "export OS_PROJECT_DOMAIN_NAME=Default",
            f"export OS_PASSWORD=${{OS_PASSWORD:-{pw['admin']}}}",
            "",
        ]
        fd = os.open(openrc, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write("\n".join(lines))
        return path

    # -- serving ------------------------------------------------------------------------------
    def app(self) -> RootApp:
        mounts = [Mount("/identity", self.identity.app()), Mount("/image", self.image.app()),
                  Mount("/compute/v2.1", self.compute.app()),
                  Mount("/placement", self.placement.app()),
                  Mount("/compute", self.compute.root_app())]
        return RootApp(mounts, self.settings.effective_public_url, self.start, self.stop)

    async def start(self) -> None:
        """Start the roles that run beside the API: bus, conductor, in-process agents."""
        loop = asyncio.get_running_loop()
        bus = self.bus

        def notify(topic: str, message: dict[str, Any]) -> None:
            loop.call_soon_threadsafe(lambda: loop.create_task(bus.cast(topic, message)))

        self.compute.notify = notify
        self.compute.bus_call = bus.call
        await bus.start()
        # Hosts first, conductor last: the conductor resumes interrupted tasks as it starts,
        # and the hosts those tasks are for must already listen (the bus also holds a cast
        # until its topic has a consumer, so this order is belt and braces).
        s = self.settings
        options = AgentOptions(heartbeat_interval=s.heartbeat_interval,
                               cpu_allocation_ratio=s.cpu_allocation_ratio,
                               ram_allocation_ratio=s.ram_allocation_ratio,
                               disk_allocation_ratio=s.disk_allocation_ratio)
        (self.state / "hypervisors").mkdir(exist_ok=True)
        for index in range(1, s.compute_hosts + 1):
            host = f"{s.compute_host_prefix}{index}"
            driver = FakeDriver(host, s.fake_vcpus, s.fake_memory_mb, s.fake_disk_gb,
                                s.cpu_allocation_ratio, s.ram_allocation_ratio,
                                s.disk_allocation_ratio,
                                state_path=self.state / "hypervisors" / f"{host}.json")
            agent = ComputeAgent(host, driver, bus, options)
            await agent.start()
            self.agents.append(agent)
        await self.conductor.start()

    async def stop(self) -> None:
        for agent in self.agents:
            await agent.stop()
        await self.conductor.stop()
        await self.bus.stop()

    def close(self) -> None:
        self.db.dispose()
