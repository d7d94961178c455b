"""What other services may ask of the image service (implemented by
:class:`pocketstack.image.public.ImageInterface`): compute boots from images, snapshots
servers into new images, and serves Nova's deprecated ``/images`` proxy.

Only this module (and the types in it) may be imported by other services.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from pocketstack.common.context import RequestContext


@dataclass(frozen=True)
class BootImage:
    """What compute needs to boot from an image."""

    id: str
    name: str | None
    status: str
    disk_format: str | None
    container_format: str | None
    size: int | None
    virtual_size: int | None
    min_disk: int  # GiB
    min_ram: int  # MiB
    location: str | None
    properties: dict[str, str]
    path: str | None = None  # the local file with its bytes, when the store is local

    @property
    def min_root_gb(self) -> int:
        """Smallest root disk (GiB) this image fits in: min_disk, and the virtual size."""
        needed = self.min_disk
        if self.virtual_size:
            needed = max(needed, (self.virtual_size + (1 << 30) - 1) >> 30)
        return needed


@dataclass(frozen=True)
class ImageQuery:
    """A page of images the caller may see (Nova's proxy filters)."""

    name: str | None = None
    status: str | None = None
    properties: dict[str, str] = field(default_factory=dict)
    changes_since: dt.datetime | None = None
    limit: int = 1000
    marker: str | None = None


class ImageAPI(Protocol):
    def get_image_for_boot(self, ctx: RequestContext, image_id: str) -> BootImage:
        """The image ``ctx`` wants to boot: NotFound if it cannot see it, BadRequest unless it
        is active."""
        ...

    def create_snapshot(self, *, owner: str, name: str, source_id: str | None,
                        instance_uuid: str, user_id: str | None, metadata: dict[str, str],
                        min_disk: int, min_ram: int) -> dict[str, Any]:
        """A queued snapshot image of a server."""
        ...

    def upload_snapshot(self, image_id: str, source_id: str | None) -> bool:
        """Fill a snapshot image with its data (the source image's, for the fake driver)."""
        ...

    def create_image(self, *, owner: str, name: str, disk_format: str, container_format: str,
                     visibility: str, protected: bool, properties: dict[str, str],
                     min_disk: int = 0) -> dict[str, Any]:
        """A queued image of ``owner`` (block storage's ``os-volume_upload_image``), with the
        owner's image quotas."""
        ...

    def upload_image(self, image_id: str, chunks: Iterable[bytes],
                     virtual_size: int | None = None) -> bool:
        """Fill a queued image with ``chunks`` and make it active; False when the image was
        deleted meanwhile (nothing is left behind)."""
        ...

    def open_image(self, image_id: str, offset: int = 0,
                   length: int | None = None) -> Iterator[bytes]:
        """An active image's bytes from ``offset`` (``length`` of them, or to the end),
        streamed (any store)."""
        ...

    # Nova's /images proxy (deprecated before 2.36): the caller's view, Glance's policies.
    def show_image(self, ctx: RequestContext, image_id: str) -> dict[str, Any]: ...

    def list_images(self, ctx: RequestContext, query: ImageQuery
                    ) -> tuple[list[dict[str, Any]], bool]: ...

    def delete_image(self, ctx: RequestContext, image_id: str) -> None: ...

    def update_properties(self, ctx: RequestContext, image_id: str,
                          new: dict[str, str] | None, *, replace: bool = False,
                          remove: str | None = None,
                          check_count: Callable[[int], None] | None = None
                          ) -> dict[str, Any]:
        """Set, replace or remove custom properties; ``check_count`` sees the final number
        of properties before the write commits (the caller's quota)."""
        ...
