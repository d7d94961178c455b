"""The compute service object: Nova's API app plus handles to what its handlers need.

The API writes intent (instance rows, task states with deadlines) and casts a hint to the
conductor; the conductor (``pocketstack.compute.conductor``) schedules and drives the compute
agents, and is the only writer of what agents observe.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pocketstack.common.api.app import ApiRequest, ServiceApp
from pocketstack.common.api.errors import nova_error
from pocketstack.common.context import RequestContext
from pocketstack.common.db import Database
from pocketstack.common.policy import PolicyEngine
from pocketstack.compute import microversions
from pocketstack.compute.policies import RULES
from pocketstack.config import Settings

Authenticator = Callable[[ApiRequest], RequestContext]
# Sends a hint to the conductor from a worker thread: (topic, message) -> None.
Notifier = Callable[[str, dict[str, Any]], None]


class ComputeService:
    """Nova v2.1 for one cloud."""

    def __init__(self, db: Database, settings: Settings, authenticate: Authenticator,
                 placement: Any, images: Any) -> None:
        self.db = db
        self.settings = settings
        self.authenticate = authenticate
        self.placement = placement  # pocketstack.placement.client.PlacementClient
        self.images = images  # the image service (get_image_for_boot)
        self.policy = PolicyEngine(
            RULES, settings.policy_file or None,
            message="Policy doesn't allow {rule} to be performed.")
        self.notify: Notifier = lambda topic, message: None  # set by the runtime
        self.bus_call: Callable[[str, dict[str, Any], float], Any] | None = None

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
            empty_id_paths=("/os-simple-tenant-usage",),  # Nova: an empty tenant id is 404
        )

    def root_app(self) -> ServiceApp:
        """``/compute``: the unversioned version list."""
        from pocketstack.compute.routes import ROOT_ROUTES

        return ServiceApp("compute-root", ROOT_ROUTES, nova_error, state={"compute": self})
