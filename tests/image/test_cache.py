"""Glance's image cache on the API node (``image_cache = true``) with the stock CLI's
``cached image`` commands: a queued image is really copied into the cache, downloads are served
from it (shown by changing the store's copy underneath), and it leaves with delete and clear."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import LiveCloud, own_cloud, unique


@pytest.fixture(scope="module")
def cached(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveCloud]:
    yield from own_cloud(tmp_path_factory, "imgcache", {
        "POCKETSTACK_IMAGE_CACHE": "true"})


def _state(admin: httpx.Client) -> dict[str, Any]:
    r = admin.get("/image/v2/cache")
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def _wait_cached(admin: httpx.Client, image_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        found = [c for c in _state(admin)["cached_images"] if c["image_id"] == image_id]
        if found:
            return found[0]
        time.sleep(0.1)
    raise AssertionError(f"image {image_id} was not cached: {_state(admin)}")


def _image(cloud: LiveCloud, tmp_path: Path, data: bytes) -> str:
    path = tmp_path / unique("data")
    path.write_bytes(data)
    made = cloud.osc("image", "create", "--disk-format", "raw", "--container-format", "bare",
                     "--file", str(path), unique("cached"))
    return str(made["id"])


def test_queue_cache_serve_delete(cached: LiveCloud, tmp_path: Path) -> None:
    token, _ = cached.token()
    admin = cached.client(token)
    data = os.urandom(300_000)
    image_id = _image(cached, tmp_path, data)
    assert _state(admin) == {"cached_images": [], "queued_images": []}

    cached.osc("cached", "image", "queue", image_id, as_json=False)
    entry = _wait_cached(admin, image_id)
    assert entry["size"] == len(data) and entry["hits"] == 0
    assert _state(admin)["queued_images"] == []
    listed = cached.osc("cached", "image", "list")
    assert [(row["ID"], row["Size"], row["Hits"]) for row in listed] == [
        (image_id, len(data), 0)]
    # the cache holds its own copy: change the store's underneath and downloads still give
    # the image's data, served (and counted) by the cache
    stored = cached.state_dir / "images" / image_id
    stored.write_bytes(b"\0" * len(data))
    r = admin.get(f"/image/v2/images/{image_id}/file")
    assert r.status_code == 200 and r.content == data
    r = admin.get(f"/image/v2/images/{image_id}/file", headers={"Range": "bytes=10-19"})
    assert r.status_code == 206 and r.content == data[10:20]
    assert _wait_cached(admin, image_id)["hits"] == 2

    # out of the cache, the store's copy is what is served
    cached.osc("cached", "image", "delete", image_id, as_json=False)
    assert _state(admin) == {"cached_images": [], "queued_images": []}
    assert admin.get(f"/image/v2/images/{image_id}/file").content == b"\0" * len(data)
    assert not (cached.state_dir / "image-cache" / image_id).exists()


def test_clear_and_image_delete(cached: LiveCloud, tmp_path: Path) -> None:
    token, _ = cached.token()
    admin = cached.client(token)
    first = _image(cached, tmp_path, b"first" * 1000)
    second = _image(cached, tmp_path, b"second" * 1000)
    assert admin.put(f"/image/v2/cache/{first}").status_code == 202
    assert admin.put(f"/image/v2/cache/{second}").status_code == 202
    _wait_cached(admin, first)
    _wait_cached(admin, second)
    # deleting an image drops its cached copy
    cached.osc("image", "delete", first, as_json=False)
    assert [c["image_id"] for c in _state(admin)["cached_images"]] == [second]
    assert not (cached.state_dir / "image-cache" / first).exists()
    r = admin.delete("/image/v2/cache", headers={"x-image-cache-clear-target": "everything"})
    assert r.status_code == 400
    assert [c["image_id"] for c in _state(admin)["cached_images"]] == [second]
    cached.osc("cached", "image", "clear", as_json=False)
    assert _state(admin) == {"cached_images": [], "queued_images": []}
    assert not (cached.state_dir / "image-cache" / second).exists()


def test_refusals(cached: LiveCloud) -> None:
    token, _ = cached.token()
    admin = cached.client(token)
    demo_token, _ = cached.token("demo", project="demo")
    demo = cached.client(demo_token)
    # admin-only, as Glance's defaults
    assert demo.get("/image/v2/cache").status_code == 403
    mine = demo.post("/image/v2/images", json={"name": unique("q"), "disk_format": "raw",
                                               "container_format": "bare"}).json()
    assert demo.put(f"/image/v2/cache/{mine['id']}").status_code == 403
    # only active images can be queued; unknown ones are 404
    r = admin.put(f"/image/v2/cache/{mine['id']}")
    assert r.status_code == 400
    assert r.json()["message"] == \
        "Only images with status active can be targeted for queueing"
    missing = "00000000-0000-0000-0000-000000000000"
    assert admin.put(f"/image/v2/cache/{missing}").status_code == 404
    assert admin.delete(f"/image/v2/cache/{missing}").status_code == 404
    assert _state(admin)["queued_images"] == []


def test_without_a_cache_the_api_is_404(cloud: LiveCloud, admin: httpx.Client) -> None:
    r = admin.get("/image/v2/cache")
    assert r.status_code == 404
    assert "Caching via API is not supported at this site." in r.text
