"""The image service object: wires database, store, quotas, policy and the ASGI app."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any

from pocketstack.common.api.app import ApiRequest, ServiceApp
from pocketstack.common.api.errors import glance_error
from pocketstack.common.context import RequestContext
from pocketstack.common.db import Database
from pocketstack.common.policy import PolicyEngine
from pocketstack.common.service import CatalogEntry, Mount, Role, Runtime
from pocketstack.config import Settings
from pocketstack.image.domain import images
from pocketstack.image.policies import RULES
from pocketstack.image.store import FileStore, ImageStore

LOG = logging.getLogger(__name__)

Authenticator = Callable[[ApiRequest], RequestContext]


@dataclass(frozen=True)
class ImageOptions:
    """Image service options.

    ``image_require_format_match`` (Glance's ``require_image_format_match``): when false, an
    upload whose content is not its declared ``disk_format`` is accepted as long as the
    content is safe (Tempest's ``image_format_enforcement = false`` runs need this).

    Each is the ``Settings`` option of the same name (documented there). Sizes are in bytes;
    negative quotas mean unlimited.
    """

    image_quota_count: int = -1
    image_quota_size: int = -1
    image_quota_stage: int = -1
    image_quota_uploading: int = -1
    image_size_cap: int = 1 << 40
    image_property_quota: int = 128
    image_tag_quota: int = 128
    image_member_quota: int = 128
    image_default: bool = True
    image_default_guest: bool = False
    image_require_format_match: bool = True

    @classmethod
    def from_settings(cls, settings: Settings) -> ImageOptions:
        return cls(**{f.name: getattr(settings, f.name) for f in fields(cls)})

    @property
    def quotas(self) -> images.Quotas:
        return images.Quotas(
            image_count_total=self.image_quota_count,
            image_size_total=self.image_quota_size,
            image_stage_total=self.image_quota_stage,
            image_count_uploading=self.image_quota_uploading,
            image_size_cap=self.image_size_cap,
            properties_per_image=self.image_property_quota,
            tags_per_image=self.image_tag_quota,
            members_per_image=self.image_member_quota,
        )


class ImageService:
    """Glance v2 for one cloud."""

    name = "image"
    catalog = (CatalogEntry("image", "glance", "/image", "Glance Image Service"),)
    tables = "pocketstack.image.tables"
    settings_section = None

    def __init__(self, runtime: Runtime, store: ImageStore | None = None) -> None:
        self.runtime = runtime
        settings = runtime.settings
        self.db: Database = runtime.db
        self.settings = settings
        self.authenticate: Authenticator = runtime.authenticate
        self.options = ImageOptions.from_settings(settings)
        self.quotas = self.options.quotas
        self.store: ImageStore = store or FileStore(settings.state_path / "images")
        self.policy = PolicyEngine(RULES, settings.policy_file or None)

    # -- the seam -------------------------------------------------------------------------------
    def mounts(self) -> list[Mount]:
        return [Mount("/image", self.app())]

    def roles(self) -> list[Role]:
        return []

    def provides(self) -> dict[type, object]:
        from pocketstack.image.interface import ImageAPI
        from pocketstack.image.public import ImageInterface

        return {ImageAPI: ImageInterface(self)}

    # -- setup ----------------------------------------------------------------------------------
    def prepare(self) -> None:
        """After migrations: clean the store and register the default image on first start."""
        self.prepare_store()

    def prepare_store(self, admin_project: str = "admin") -> str | None:
        """Reset interrupted uploads, scrub the store, register the default image on first
        start; returns the default image id when it was registered now."""
        from pocketstack.image import default_image

        started = time.monotonic()
        # One process serves every upload (all-in-one): one cut short by a restart cannot
        # resume, so the image goes back to queued and its partial file is scrubbed.
        interrupted = self.db.write(images.reset_interrupted)
        if interrupted:
            LOG.warning("image service: %d interrupted upload(s) reset to queued", interrupted)
        if isinstance(self.store, FileStore):
            self.store.scrub(self.db.read(images.all_ids), self.db.read(images.staged_ids))
        self._seed_metadefs(admin_project)
        registered = None
        if self.options.image_default:
            registered = default_image.register(self, admin_project)
        from pocketstack.image import task_import

        resumed = task_import.resume(self)
        if resumed:
            LOG.warning("image service: %d interrupted import task(s) restarted", resumed)
        LOG.debug("image service prepared in %.1f ms", (time.monotonic() - started) * 1000)
        return registered

    def _seed_metadefs(self, admin_project: str) -> None:
        from pocketstack.identity.interface import IdentityAPI
        from pocketstack.image import metadef_seed
        from pocketstack.image.domain import metadefs

        owner = self.runtime.interfaces.get(IdentityAPI).project_id(admin_project) or \
            admin_project

        def write(conn: Any) -> bool:
            return metadefs.seed(conn, owner, metadef_seed.RESOURCE_TYPES,
                                 metadef_seed.NAMESPACES)

        if self.db.write(write):
            LOG.info("image service: loaded %d metadata definition namespaces",
                     len(metadef_seed.NAMESPACES))

    # -- serving --------------------------------------------------------------------------------
    def app(self) -> ServiceApp:
        from pocketstack.image.routes import ROUTES

        identity_uri = self.settings.effective_public_url + "/identity"
        return ServiceApp(
            "image",
            ROUTES,
            glance_error,
            authenticate=self.authenticate,
            request_id_headers=("X-Openstack-Request-Id",),
            unauthorized_headers={"WWW-Authenticate": f'Keystone uri="{identity_uri}"'},
            state={"image": self},
            empty_id_paths=("/v2/images",),  # Glance: an empty image id is 404
        )
