"""The placement service object: database, policy, the in-process client and the ASGI app."""

from __future__ import annotations

from collections.abc import Callable

from pocketstack.common.api.app import ApiRequest, ServiceApp
from pocketstack.common.api.errors import placement_error
from pocketstack.common.api.microversion import MicroversionSpec
from pocketstack.common.context import RequestContext
from pocketstack.common.db import Database
from pocketstack.common.policy import PolicyEngine
from pocketstack.common.service import CatalogEntry, Mount, Role, Runtime
from pocketstack.placement.client import PlacementClient
from pocketstack.placement.policies import RULES

Authenticator = Callable[[ApiRequest], RequestContext]

MIN_VERSION = "1.0"
MAX_VERSION = "1.39"
MICROVERSIONS = MicroversionSpec("placement", MIN_VERSION, MAX_VERSION)


class PlacementService:
    """OpenStack Placement (API 1.0–1.39) for one cloud."""

    name = "placement"
    catalog = (CatalogEntry("placement", "placement", "/placement", "Placement Service"),)
    tables = "pocketstack.placement.tables"
    settings_section = None

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        settings = runtime.settings
        self.db: Database = runtime.db
        self.settings = settings
        self.authenticate: Authenticator = runtime.authenticate
        self.policy = PolicyEngine(RULES, settings.policy_file or None)
        self.client = PlacementClient(self.db)

    def mounts(self) -> list[Mount]:
        return [Mount("/placement", self.app())]

    def prepare(self) -> None:
        return None

    def roles(self) -> list[Role]:
        return []

    def provides(self) -> dict[type, object]:
        from pocketstack.placement.interface import PlacementAPI

        return {PlacementAPI: self.client}

    def app(self) -> ServiceApp:
        from pocketstack.placement.routes import ROUTES

        return ServiceApp(
            "placement",
            ROUTES,
            placement_error,
            authenticate=self.authenticate,
            microversions=MICROVERSIONS,
            request_id_headers=("X-Openstack-Request-Id",),
            state={"placement": self},
        )
