"""A long copy shows its progress: a volume made from a few-hundred-MB (sparse) image is
``downloading`` with a ``progress`` metadata value that moves, which is gone once the volume is
``available`` with the image's bytes. The copy is slowed with Cinder's
``volume_copy_bps_limit`` (qemu-img's rate limit) so a client polling the API sees it."""

from __future__ import annotations

import hashlib
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import LiveCloud, own_cloud, unique
from tests.volume.conftest import wait_volume

MIB = 1 << 20
IMAGE_MB = 200
DATA_EVERY_MB = 8  # 1 MiB of data every 8 MiB: 25 MiB to copy, ~2.5 s at 10 MB/s


@pytest.fixture(scope="module")
def slow_copies(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveCloud]:
    if shutil.which("qemu-img") is None:
        pytest.skip("qemu-img is not installed (Debian package qemu-utils)")
    yield from own_cloud(tmp_path_factory, "progress", {
        "POCKETSTACK_VOLUME_PROGRESS_INTERVAL": "0.1",
        "POCKETSTACK_VOLUME_COPY_BPS_LIMIT": str(10 * MIB),
        "POCKETSTACK_COMPUTE_HOSTS": "1"})


def _sparse_image(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "wb") as f:
        f.truncate(IMAGE_MB * MIB)
        for mb in range(0, IMAGE_MB, DATA_EVERY_MB):
            f.seek(mb * MIB)
            f.write(os.urandom(MIB))
    with open(path, "rb") as f:
        while block := f.read(8 * MIB):
            digest.update(block)
    return digest.hexdigest()


def test_image_copy_shows_progress(slow_copies: LiveCloud, tmp_path: Path) -> None:
    source = tmp_path / "big.raw"
    expected = _sparse_image(source)
    token, _ = slow_copies.token()
    with slow_copies.client(token) as admin:
        r = admin.post("/image/v2/images", json={"name": unique("big"), "disk_format": "raw",
                                                 "container_format": "bare"})
        assert r.status_code == 201, r.text
        image_id = r.json()["id"]
        with open(source, "rb") as f:
            r = admin.put(f"/image/v2/images/{image_id}/file", content=f,
                          headers={"Content-Type": "application/octet-stream"}, timeout=120)
        assert r.status_code == 204, r.text
        r = admin.post("/volume/v3/volumes", json={"volume": {"size": 1, "imageRef": image_id}})
        assert r.status_code == 202, r.text
        vid = r.json()["volume"]["id"]
        seen: list[str] = []
        statuses: set[str] = set()
        end = time.monotonic() + 60
        while True:
            vol = admin.get(f"/volume/v3/volumes/{vid}").json()["volume"]
            statuses.add(vol["status"])
            value = vol["metadata"].get("progress")
            if value is not None and (not seen or seen[-1] != value):
                seen.append(value)
            if vol["status"] not in ("creating", "downloading"):
                break
            assert time.monotonic() < end, vol
            time.sleep(0.05)
        assert vol["status"] == "available", vol
        assert "downloading" in statuses, statuses
        assert len(set(seen)) >= 2, seen  # it moved
        numbers = [int(v.rstrip("%")) for v in seen]
        assert numbers == sorted(numbers) and all(0 <= n <= 100 for n in numbers), seen
        assert "progress" not in vol["metadata"], vol  # the copy's key is gone with it
        # and the bytes are the image's
        path = slow_copies.state_dir / "volumes" / "compute1@file" / f"volume-{vid}"
        digest = hashlib.sha256()
        with open(path, "rb") as f:
            left = IMAGE_MB * MIB
            while left:
                block = f.read(min(8 * MIB, left))
                digest.update(block)
                left -= len(block)
        assert digest.hexdigest() == expected
        assert admin.delete(f"/volume/v3/volumes/{vid}").status_code == 202
        # a user's own ``progress`` key is theirs: the copy neither moves nor removes it
        r = admin.post("/volume/v3/volumes", json={"volume": {
            "size": 1, "imageRef": image_id, "metadata": {"progress": "mine"}}})
        assert r.status_code == 202, r.text
        theirs = r.json()["volume"]["id"]
        while (vol := admin.get(f"/volume/v3/volumes/{theirs}").json()["volume"])[
                "status"] in ("creating", "downloading"):
            assert vol["metadata"] == {"progress": "mine"}, vol
            time.sleep(0.1)
        assert vol["status"] == "available" and vol["metadata"] == {"progress": "mine"}, vol
        assert admin.delete(f"/volume/v3/volumes/{theirs}").status_code == 202
        wait_volume(admin, vid, "gone")
        wait_volume(admin, theirs, "gone")
        admin.delete(f"/image/v2/images/{image_id}")


def test_progress_stays_out_of_quick_copies(slow_copies: LiveCloud) -> None:
    """A blank volume has no copy: no progress key, ever."""
    token, _ = slow_copies.token()
    with slow_copies.client(token) as admin:
        r = admin.post("/volume/v3/volumes", json={"volume": {"size": 1}})
        vid = r.json()["volume"]["id"]
        vol = wait_volume(admin, vid)
        assert vol["metadata"] == {}
        admin.delete(f"/volume/v3/volumes/{vid}")
