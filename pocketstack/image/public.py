"""The image service's side of :class:`pocketstack.image.interface.ImageAPI`: what compute
asks of images, each answer with Glance's own checks (visibility, policy, quotas)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import Connection

from pocketstack.common import exceptions
from pocketstack.common.context import RequestContext
from pocketstack.image.domain import images
from pocketstack.image.interface import BootImage, ImageQuery
from pocketstack.image.store import FileStore

if TYPE_CHECKING:
    from pocketstack.image.service import ImageService


class ImageInterface:
    """Implements ``ImageAPI`` on top of one :class:`ImageService`."""

    def __init__(self, service: ImageService) -> None:
        self.service = service
        self.db = service.db

    # -- booting and snapshots --------------------------------------------------------------
    def get_image_for_boot(self, ctx: RequestContext, image_id: str) -> BootImage:
        image = images.get_image_for_boot(self.db, ctx, image_id)
        store = self.service.store
        if image.location and isinstance(store, FileStore):
            try:
                image = replace(image, path=str(store.local_path(image.location)))
            except exceptions.NotFound:
                pass
        return image

    def create_snapshot(self, *, owner: str, name: str, source_id: str | None,
                        instance_uuid: str, user_id: str | None, metadata: dict[str, str],
                        min_disk: int, min_ram: int) -> dict[str, Any]:
        from pocketstack.image import snapshots

        return snapshots.register(self.service, owner=owner, name=name, source_id=source_id,
                                  instance_uuid=instance_uuid, user_id=user_id,
                                  metadata=metadata, min_disk=min_disk, min_ram=min_ram)

    def upload_snapshot(self, image_id: str, source_id: str | None) -> bool:
        from pocketstack.image import snapshots

        return snapshots.upload(self.service, image_id, source_id)

    def create_image(self, *, owner: str, name: str, disk_format: str, container_format: str,
                     visibility: str, protected: bool, properties: dict[str, str],
                     min_disk: int = 0) -> dict[str, Any]:
        from pocketstack.image import snapshots

        return snapshots.register_plain(self.service, owner=owner, name=name,
                                        disk_format=disk_format,
                                        container_format=container_format,
                                        visibility=visibility, protected=protected,
                                        properties=properties, min_disk=min_disk)

    def upload_image(self, image_id: str, chunks: Iterable[bytes],
                     virtual_size: int | None = None) -> bool:
        from pocketstack.image import snapshots

        return snapshots.upload_chunks(self.service, image_id, chunks, virtual_size)

    def _active_location(self, image_id: str) -> str:
        image = self.db.read(images.get, image_id)
        if image["status"] != "active" or not image["location"]:
            raise exceptions.Conflict(f"Image {image_id} has no data to read.")
        return str(image["location"])

    def open_image(self, image_id: str, offset: int = 0,
                   length: int | None = None) -> Iterator[bytes]:
        return self.service.store.get(self._active_location(image_id), offset, length)

    # -- Nova's /images proxy ---------------------------------------------------------------
    def _visible(self, conn: Connection, ctx: RequestContext, image_id: str,
                 rule: str) -> dict[str, Any]:
        image: dict[str, Any] = images.get_visible(conn, ctx, image_id)
        self.service.policy.enforce(ctx, rule, images.policy_target(image, ctx))
        return image

    def show_image(self, ctx: RequestContext, image_id: str) -> dict[str, Any]:
        return self.db.read(self._visible, ctx, image_id, "get_image")  # type: ignore[no-any-return]

    def list_images(self, ctx: RequestContext, query: ImageQuery
                    ) -> tuple[list[dict[str, Any]], bool]:
        filters: dict[str, list[str]] = {}
        if query.name:
            filters["name"] = [query.name]
        if query.status:
            filters["status"] = [query.status]
        times = [] if query.changes_since is None else \
            [("updated_at", "gte", query.changes_since)]
        q = images.ListQuery(filters=filters, properties=dict(query.properties), tags=[],
                             time_filters=times, limit=min(query.limit, 1000),
                             marker=query.marker)
        return self.db.read(images.list_images, ctx, q)  # type: ignore[no-any-return]

    def delete_image(self, ctx: RequestContext, image_id: str) -> None:
        def write(conn: Connection) -> list[str]:
            image = self._visible(conn, ctx, image_id, "delete_image")
            return images.delete(conn, image["id"])

        for location in self.db.write(write):
            self.service.store.delete(location)

    def update_properties(self, ctx: RequestContext, image_id: str,
                          new: dict[str, str] | None, *, replace: bool = False,
                          remove: str | None = None,
                          check_count: Callable[[int], None] | None = None
                          ) -> dict[str, Any]:
        def write(conn: Connection) -> dict[str, Any]:
            image = self._visible(conn, ctx, image_id, "modify_image")
            current = dict(image["properties"])
            if remove is not None and remove not in current:
                raise exceptions.NotFound("Image metadata not found.")
            wanted = dict(new or {}) if replace else {**current, **(new or {})}
            if remove is not None:
                wanted.pop(remove)
            if check_count is not None:
                check_count(len(wanted))
            changed = {k: v for k, v in wanted.items() if current.get(k) != v}
            removed = [k for k in current if k not in wanted]
            if changed or removed:
                image = images.update(conn, image["id"], image["generation"], {}, changed,
                                      removed, None, self.service.quotas)
            return image

        return self.db.write(write)  # type: ignore[no-any-return]
