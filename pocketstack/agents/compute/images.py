"""Getting an image's bytes onto the host that builds a guest: the per-host image cache.

The conductor puts the image service's file path in the spawn spec when its store is a local
directory (``STATE/images``, the image service's FileStore). An agent on the same machine
reads that file in place. Anywhere else (an agent on another machine, another kind of store)
the agent streams the image once into its cache, ``<host state dir>/instances/_base/<sha1 of
the image id>`` as Nova's ``_base`` directory, and every later guest of that image on this host
uses the cached file.

How the bytes are streamed is pluggable: a :data:`Fetch` reads ``length`` bytes of an image
from ``offset`` (an empty answer means the end). The default, :class:`BusFetch`, asks the
conductor with a ``call`` on the bus (``{"op": "image_chunk", "image_id", "offset",
"length"}``), one chunk of :data:`CHUNK` bytes at a time, so a remote agent needs nothing but
the bus to boot an image.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hashlib
import os
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from pocketstack.agents.compute.drivers.base import DriverError, ImageSource

CHUNK = 1 << 20
Fetch = Callable[[str, int, int], Awaitable[bytes]]


class ImageMissing(DriverError):
    """The image has no data to fetch (deleted, or never uploaded)."""


class BusFetch:
    """Streams image chunks from the conductor over the bus."""

    def __init__(self, bus: Any, timeout: float = 60.0) -> None:
        self.bus = bus
        self.timeout = timeout

    async def __call__(self, image_id: str, offset: int, length: int) -> bytes:
        reply = await self.bus.call("conductor", {
            "op": "image_chunk", "image_id": image_id, "offset": offset, "length": length},
            self.timeout)
        if isinstance(reply, dict) and reply.get("missing"):
            raise ImageMissing(f"image {image_id} has no data: {reply.get('error')}")
        if not isinstance(reply, dict) or reply.get("error"):
            message = reply.get("error") if isinstance(reply, dict) else "no answer"
            raise DriverError(f"image {image_id} could not be fetched: {message}")
        try:
            return base64.b64decode(reply.get("data") or "", validate=True)
        except (binascii.Error, TypeError, ValueError):
            raise DriverError(f"image {image_id}: the conductor sent a corrupt chunk") from None


class ImageCache:
    """One host's image cache (see the module docstring)."""

    def __init__(self, base_dir: Path, fetch: Fetch) -> None:
        self.base_dir = base_dir
        self.fetch = fetch
        self._locks: dict[str, asyncio.Lock] = {}

    def cached_path(self, image_id: str) -> Path:
        return self.base_dir / hashlib.sha1(image_id.encode(), usedforsecurity=False).hexdigest()

    async def resolve(self, image: ImageSource) -> ImageSource:
        """The same image with ``path`` readable on this host (fetched and cached if need be).

        An image without an id (booted from a volume) is returned as it is; one whose data is
        gone (deleted since) comes back with ``path=None`` for the driver to judge (a guest
        being moved or rebuilt may not need it). A fetch that fails otherwise raises."""
        if not image.id:
            return image
        if image.path and os.access(image.path, os.R_OK):
            return image
        target = self.cached_path(image.id)
        lock = self._locks.setdefault(image.id, asyncio.Lock())
        async with lock:  # two guests of one image on this host: fetch it once
            if not target.exists():
                try:
                    await self._download(image, target)
                except ImageMissing:
                    return replace(image, path=None)
        return replace(image, path=str(target))

    async def _download(self, image: ImageSource, target: Path) -> None:
        assert image.id is not None
        self.base_dir.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.part")
        md5 = hashlib.md5(usedforsecurity=False)
        size = 0
        try:
            with open(tmp, "xb") as fh:
                while True:
                    data = await self.fetch(image.id, size, CHUNK)
                    if not data:
                        break
                    fh.write(data)
                    md5.update(data)
                    size += len(data)
                    if len(data) < CHUNK:
                        break
                fh.flush()
                os.fsync(fh.fileno())
            if image.size is not None and size != image.size:
                raise DriverError(f"image {image.id}: fetched {size} bytes, expected "
                                  f"{image.size}")
            if image.checksum and md5.hexdigest() != image.checksum:
                raise DriverError(f"image {image.id}: checksum mismatch after fetch")
            os.replace(tmp, target)
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
