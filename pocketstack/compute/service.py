"""The compute service object: Nova's API app plus handles to what its handlers need.

The API writes intent (instance rows, task states with deadlines) and casts a hint to the
conductor; the conductor (``pocketstack.compute.conductor``) schedules and drives the compute
agents, and is the only writer of what agents observe.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pocketstack.common.api.app import ApiRequest, ServiceApp
from pocketstack.common.api.errors import nova_error
from pocketstack.common.context import RequestContext
from pocketstack.common.db import Database
from pocketstack.common.policy import PolicyEngine
from pocketstack.common.service import CatalogEntry, Mount, Role, Runtime
from pocketstack.compute import microversions
from pocketstack.compute.domain.quotas import Unified
from pocketstack.compute.policies import RULES
from pocketstack.compute.settings import ComputeSettings
from pocketstack.identity.interface import IdentityAPI
from pocketstack.image.interface import ImageAPI
from pocketstack.network.interface import NetworkAPI
from pocketstack.placement.interface import PlacementAPI
from pocketstack.volume.interface import VolumeAPI

if TYPE_CHECKING:
    from pocketstack.config import Settings

Authenticator = Callable[[ApiRequest], RequestContext]
# Sends a hint to the conductor from a worker thread: (topic, message) -> None.
Notifier = Callable[[str, dict[str, Any]], None]


@dataclass
class _Role:
    """Names a conductor or agent for the cloud's role list."""

    name: str
    target: Any

    async def start(self) -> None:
        await self.target.start()

    async def stop(self) -> None:
        await self.target.stop()


class ComputeService:
    """Nova v2.1 for one cloud: its API, its conductor and its in-process compute hosts."""

    name = "compute"
    catalog = (CatalogEntry("compute", "nova", "/compute/v2.1", "Nova Compute Service"),)
    tables = "pocketstack.compute.tables"
    settings_section = ComputeSettings

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.db: Database = runtime.db
        self.settings: Settings = runtime.settings
        self.options: ComputeSettings = runtime.settings.section(ComputeSettings)
        self.authenticate: Authenticator = runtime.authenticate
        self.policy = PolicyEngine(
            RULES, self.settings.policy_file or None,
            message="Policy doesn't allow {rule} to be performed.")
        self.notify: Notifier = runtime.notify
        self.bus_call: Callable[[str, dict[str, Any], float], Any] | None = runtime.bus.call

    @property
    def placement(self) -> PlacementAPI:
        return self.runtime.interfaces.get(PlacementAPI)

    @property
    def images(self) -> ImageAPI:
        return self.runtime.interfaces.get(ImageAPI)

    @property
    def network(self) -> NetworkAPI | None:
        """Networking, when the cloud runs it (``None``: servers get no ports)."""
        return self.runtime.interfaces.find(NetworkAPI)

    @property
    def volume(self) -> VolumeAPI | None:
        """Block storage, when the cloud runs it (``None``: no volumes to attach)."""
        return self.runtime.interfaces.find(VolumeAPI)  # type: ignore[type-abstract]

    def unified_limits(self, project_id: str | None) -> Unified | None:
        """The project's compute limits from keystone when ``quota_driver = unified_limits``
        (read before the write that enforces them), else None: os-quota-sets rows apply.
        Without a project: the registered defaults."""
        if self.settings.quota_driver != "unified_limits":
            return None
        from pocketstack.compute.domain.quotas import UNIFIED_NAMES

        identity = self.runtime.interfaces.get(IdentityAPI)
        found = identity.unified_limits(project_id, "compute", list(UNIFIED_NAMES))
        return Unified.from_keystone(project_id or "", found)

    # -- the seam -------------------------------------------------------------------------------
    def mounts(self) -> list[Mount]:
        return [Mount("/compute/v2.1", self.app()), Mount("/compute", self.root_app()),
                Mount("/metadata", self.metadata_app())]

    def prepare(self) -> None:
        from pocketstack.compute.domain import flavors

        self.db.write(flavors.ensure_defaults)

    def provides(self) -> dict[type, object]:
        from pocketstack.compute.interface import ServerLookup

        return {ServerLookup: _Lookup(self.db)}

    def roles(self) -> list[Role]:
        """The in-process compute hosts, then the conductor: it resumes interrupted tasks as
        it starts, and the hosts those tasks are for must already listen (the bus also holds a
        cast until its topic has a consumer, so this order is belt and braces)."""
        from pocketstack.agents.compute.agent import AgentOptions
        from pocketstack.agents.compute.drivers.loader import load_agent
        from pocketstack.compute.conductor.conductor import Conductor

        s = self.settings
        options = AgentOptions.from_settings(s)
        hosts = self.runtime.state / "hypervisors"
        hosts.mkdir(exist_ok=True)
        roles: list[Role] = []
        for index in range(1, s.compute_hosts + 1):
            host = f"{s.compute_host_prefix}{index}"
            agent = load_agent(host, s, self.runtime.bus, options, hosts / host)
            roles.append(_Role(f"compute-agent:{host}", agent))
        conductor = Conductor(self.db, self.runtime.bus, s, self.placement, self.images,
                              self.network, lambda: self.volume)
        roles.append(_Role("conductor", conductor))
        return roles

    def app(self) -> ServiceApp:
        from pocketstack.compute.routes import ROUTES

        return ServiceApp(
            "compute",
            ROUTES,
            nova_error,
            authenticate=self.authenticate,
            microversions=microversions.SPEC,
            request_id_headers=("X-Openstack-Request-Id", "X-Compute-Request-Id"),
            state={"compute": self},
            max_body_size=self.settings.max_request_body_size,
            # Nova: an empty id after these collections is 404
            empty_id_paths=("/os-simple-tenant-usage", "/os-security-groups", "/images",
                            "/os-volumes", "/os-snapshots"),
        )

    def metadata_app(self) -> Any:
        """``/metadata``: the instance metadata API (not in the catalog), for the metadata
        proxies; they sign each instance id with the shared secret."""
        from pocketstack.compute.api.metadata import MetadataApp

        return MetadataApp(self, self.settings.effective_metadata_secret)

    def root_app(self) -> ServiceApp:
        """``/compute``: the unversioned version list."""
        from pocketstack.compute.routes import ROOT_ROUTES

        return ServiceApp("compute-root", ROOT_ROUTES, nova_error, state={"compute": self})


class _Lookup:
    """:class:`pocketstack.compute.interface.ServerLookup` over the compute database."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def find_servers(self, name_or_id: str) -> list[tuple[str, str, str | None]]:
        from pocketstack.compute.domain import lookup

        return self.db.read(lookup.find_servers, name_or_id)
