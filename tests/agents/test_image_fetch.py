"""An agent that cannot read the image store streams images from the conductor over the bus
into its host's cache (what a compute host on another machine does)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
from dataclasses import replace
from pathlib import Path

import pytest

from pocketstack.agents.compute.drivers.base import DriverError, ImageSource
from pocketstack.agents.compute.images import BusFetch, ImageCache
from pocketstack.cloud import Cloud
from pocketstack.config import load_settings


def test_images_stream_from_the_conductor_into_a_remote_hosts_cache(tmp_path: Path) -> None:
    settings = load_settings(environ={}, overrides={
        "state_dir": str(tmp_path / "state"), "password_hash_rounds": 4, "compute_hosts": 0,
        "admin_password": "pw"})
    cloud = Cloud(settings)
    cloud.prepare()
    store = settings.state_path / "images"
    (image_file,) = [p for p in store.iterdir() if p.is_file()]  # the default image
    data = image_file.read_bytes()

    async def main() -> None:
        await cloud.start()
        try:
            reply = await cloud.bus.call("conductor", {
                "op": "image_chunk", "image_id": image_file.name, "offset": 0, "length": 100})
            assert reply == {"data": base64.b64encode(data[:100]).decode(), "size": len(data)}
            reply = await cloud.bus.call("conductor", {
                "op": "image_chunk", "image_id": "no-such-image", "offset": 0, "length": 1})
            assert reply["missing"] is True
            bad = await cloud.bus.call("conductor", {
                "op": "image_chunk", "image_id": image_file.name, "offset": "x"})
            assert "integers" in bad["error"]

            cache = ImageCache(tmp_path / "remote" / "instances" / "_base",
                               BusFetch(cloud.bus))
            source = ImageSource(id=image_file.name, size=len(data),
                                 checksum=hashlib.md5(data, usedforsecurity=False).hexdigest(),
                                 path="/on/another/machine/" + image_file.name)
            resolved = await cache.resolve(source)
            assert resolved.path == str(cache.cached_path(image_file.name))
            assert Path(resolved.path).read_bytes() == data
            other = ImageCache(tmp_path / "other", BusFetch(cloud.bus))
            with pytest.raises(DriverError, match="checksum mismatch"):
                await other.resolve(replace(source, checksum="0" * 32))
            assert list((tmp_path / "other").iterdir()) == []  # nothing half-written is kept
            gone = await cache.resolve(ImageSource(id="no-such-image"))
            assert gone.path is None
        finally:
            await cloud.stop()

    try:
        asyncio.run(main())
    finally:
        cloud.close()
