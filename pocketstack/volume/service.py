"""The block storage service object: Cinder v3 at ``/volume``, its conductor and in-process
storage agent, and the :class:`VolumeAPI` compute uses."""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any

import anyio
from starlette.types import ASGIApp

from pocketstack.common import exceptions
from pocketstack.common.api.app import ServiceApp
from pocketstack.common.api.errors import cinder_error
from pocketstack.common.context import RequestContext
from pocketstack.common.policy import PolicyEngine
from pocketstack.common.service import CatalogEntry, Mount, Role, Runtime
from pocketstack.volume.domain import quotas, types
from pocketstack.volume.policies import RULES
from pocketstack.volume.settings import VolumeSettings

if TYPE_CHECKING:
    from pocketstack.image.interface import ImageAPI

LOG = logging.getLogger(__name__)


class VolumeService:
    """Cinder for one cloud."""

    name = "volume"
    catalog = (
        CatalogEntry("block-storage", "cinder", "/volume/v3", "Cinder Volume Service"),
        CatalogEntry("volumev3", "cinderv3", "/volume/v3", "Cinder Volume Service V3"),
    )
    tables = "pocketstack.volume.tables"
    settings_section = VolumeSettings

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.db = runtime.db
        self.options: VolumeSettings = runtime.settings.section(VolumeSettings)
        o = self.options
        self.quota_defaults: dict[str, int] = {
            name: int(getattr(o, f"volume_quota_{name}"))
            for name in ("volumes", "gigabytes", "snapshots", "per_volume_gigabytes",
                         "backups", "backup_gigabytes", "groups")}
        self.policy = PolicyEngine(RULES, runtime.settings.policy_file or None)
        s = runtime.settings
        base = o.volume_storage_host or f"{s.compute_host_prefix}1"
        self.storage_host = f"{base}@{o.volume_backend_name}"
        self.scheduler_host = base
        self._done = threading.Condition()

    # -- the seam -------------------------------------------------------------------------------
    def mounts(self) -> list[Mount]:
        return [Mount("/volume", self.app())]

    def roles(self) -> list[Role]:
        from pocketstack.volume.conductor import VolumeConductor

        roles: list[Role] = [VolumeConductor(self)]
        if self.options.volume_agent_in_process:
            roles.append(InProcessStorage(self))
        return roles

    def provides(self) -> dict[type, object]:
        from pocketstack.volume.interface import VolumeAPI
        from pocketstack.volume.public import VolumeInterface

        return {VolumeAPI: VolumeInterface(self)}

    def prepare(self) -> None:
        """The ``__DEFAULT__`` volume type, as Cinder's database has it from the start."""
        self.db.write(types.ensure_default)

    # -- quotas ---------------------------------------------------------------------------------
    @property
    def unified_limits(self) -> bool:
        return self.options.volume_quota_driver == "unified_limits"

    def quota_limits(self, project_id: str | None, defaults: bool = False) -> dict[str, int]:
        """What a project's quota checks start from: the defaults (``cinder_quotas`` rows
        override them in the check), or with ``volume_quota_driver = unified_limits`` its
        keystone limits of the block-storage service, read through identity's public
        interface before the write that enforces them (``defaults``: the registered ones)."""
        if not self.unified_limits or not (project_id or defaults):
            return self.quota_defaults
        from pocketstack.identity.interface import IdentityAPI

        found = self.runtime.interfaces.get(IdentityAPI).unified_limits(
            None if defaults else project_id, "block-storage", list(self.quota_defaults))
        return quotas.Fixed({**self.quota_defaults, **found})

    def quota_limits_of_volume(self, volume_id: str) -> dict[str, int]:
        """The quota limits of a volume's project (one read of the owner in unified mode)."""
        if not self.unified_limits:
            return self.quota_defaults
        from pocketstack.volume.domain import volumes

        try:
            project = self.db.read(volumes.get, volume_id, None, True)["project_id"]
        except exceptions.NotFound:
            return self.quota_defaults  # the write that follows answers the 404
        return self.quota_limits(project)

    # -- helpers --------------------------------------------------------------------------------
    def image_api(self) -> ImageAPI | None:
        from pocketstack.image.interface import ImageAPI

        return self.runtime.interfaces.find(ImageAPI)

    def enforce(self, ctx: RequestContext, rule: str, target: dict[str, Any]) -> None:
        self.policy.enforce(ctx, rule, target)

    def send(self, msgs: list[dict[str, Any]] | dict[str, Any] | None,
             request_id: str | None = None) -> None:
        """Cast task messages to their storage hosts (after the transaction committed); the
        agent's report carries ``request_id`` back (for the user message of a failure)."""
        if msgs is None:
            return
        for msg in msgs if isinstance(msgs, list) else [msgs]:
            if request_id and "request_id" not in msg:
                msg["request_id"] = request_id
            if msg.get("host"):
                self.runtime.notify(f"volume.{msg['host']}", msg)

    def task_done(self, ident: str) -> None:
        with self._done:
            self._done.notify_all()

    def wait_change(self, timeout: float) -> None:
        """Block until some task finishes (or ``timeout``): for callers that poll a status."""
        with self._done:
            self._done.wait(timeout)

    def app(self) -> ASGIApp:
        from pocketstack.volume.api.urls import ProjectPaths
        from pocketstack.volume.microversions import SPEC
        from pocketstack.volume.routes import ROUTES

        identity_uri = self.runtime.settings.effective_public_url + "/identity"
        return ProjectPaths(ServiceApp(
            "volume",
            ROUTES,
            cinder_error,
            authenticate=self.runtime.authenticate,
            microversions=SPEC,
            request_id_headers=("X-Openstack-Request-Id",),
            unauthorized_headers={"WWW-Authenticate": f'Keystone uri="{identity_uri}"'},
            state={"volume": self},
            thread_limiter=anyio.CapacityLimiter(max(1, self.options.volume_api_threads)),
            # Cinder: ``/volumes/`` and friends name an empty id (404), not the collection
            empty_id_paths=("/v3/volumes", "/v3/snapshots", "/v3/backups", "/v3/types"),
        ))


class InProcessStorage:
    """The storage agent of ``pocketstack up``: the file backend in ``STATE/volumes/<host>``."""

    name = "volume-agent"

    def __init__(self, service: VolumeService) -> None:
        from pocketstack.agents.volume.agent import VolumeAgent
        from pocketstack.agents.volume.backend import FileBackend

        o = service.options
        root = service.runtime.state / "volumes" / service.storage_host
        backend = FileBackend(root, o.volume_backend_name, service.runtime.state / "backups",
                              o.volume_copy_bps_limit)
        self.agent = VolumeAgent(service.storage_host, backend,
                                 service.runtime.bus, o.volume_report_interval,
                                 o.volume_availability_zone,
                                 progress_interval=o.volume_progress_interval)

    async def start(self) -> None:
        await self.agent.start()

    async def stop(self) -> None:
        await self.agent.stop()
