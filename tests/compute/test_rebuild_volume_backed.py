"""Rebuilding a volume-backed server (fake driver): before 2.93 only with the image already in
its root volume (which is left alone), another image is Nova's 400; from 2.93 (the stock CLI's
``server rebuild --reimage-boot-volume``) the root volume is re-imaged through block storage
— same volume, the new image's bytes and ``volume_image_metadata``, ``in-use`` again — and the
server keeps its empty ``image``. An image too large for the volume is refused (400 when its
``min_disk`` says so; otherwise block storage refuses it and the server goes to ERROR with a
fault, the volume back in use and untouched)."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import LiveCloud, unique
from tests.volume.conftest import volume_dir, wait_volume

DEMO = "pocketstack"  # a member of project demo
MIB = 1 << 20


@pytest.fixture(scope="module")
def demo(cloud: LiveCloud) -> Any:
    if shutil.which("qemu-img") is None:
        pytest.skip("qemu-img is not installed (Debian package qemu-utils): volumes from "
                    "images need it")
    token, _ = cloud.token("demo", project="demo")
    with cloud.client(token) as client:
        yield client


def _image(demo: httpx.Client, data: bytes, disk_format: str = "raw", **extra: Any) -> str:
    r = demo.post("/image/v2/images", json={"name": unique("rb"), "disk_format": disk_format,
                                            "container_format": "bare", **extra})
    assert r.status_code == 201, r.text
    iid: str = r.json()["id"]
    r = demo.put(f"/image/v2/images/{iid}/file", content=data,
                 headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 204, r.text
    return iid


def _head(cloud: LiveCloud, vid: str) -> bytes:
    path = volume_dir(cloud) / f"volume-{vid}"
    with path.open("rb") as f:
        return f.read(16)


def _server(demo: httpx.Client, sid: str, version: str = "2.93") -> dict[str, Any]:
    r = demo.get(f"/compute/v2.1/servers/{sid}",
                 headers={"OpenStack-API-Version": f"compute {version}"})
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()["server"]
    return body


def _settled(demo: httpx.Client, sid: str) -> dict[str, Any]:
    end = time.monotonic() + 60
    while True:
        shown = _server(demo, sid)
        if shown["status"] not in ("BUILD", "REBUILD") and shown["OS-EXT-STS:task_state"] \
                is None:
            return shown
        assert time.monotonic() < end, shown
        time.sleep(0.1)


def _rebuild(demo: httpx.Client, sid: str, image: str, version: str) -> httpx.Response:
    return demo.post(f"/compute/v2.1/servers/{sid}/action",
                     headers={"OpenStack-API-Version": f"compute {version}"},
                     json={"rebuild": {"imageRef": image}})


def test_rebuild_of_a_volume_backed_server(cloud: LiveCloud, demo: httpx.Client,
                                           tmp_path: Path) -> None:
    first = _image(demo, b"IMAGE-ONE".ljust(MIB, b"\0"))
    second = _image(demo, b"IMAGE-TWO".ljust(MIB, b"\0"))
    r = demo.post("/compute/v2.1/servers", headers={"OpenStack-API-Version": "compute 2.37"},
                  json={"server": {
                      "name": unique("bfv"), "flavorRef": "1", "networks": "none",
                      "block_device_mapping_v2": [{
                          "uuid": first, "source_type": "image", "destination_type": "volume",
                          "boot_index": 0, "volume_size": 1,
                          "delete_on_termination": True}]}})
    assert r.status_code == 202, r.text
    sid = r.json()["server"]["id"]
    shown = _settled(demo, sid)
    assert shown["status"] == "ACTIVE", shown
    [attached] = shown["os-extended-volumes:volumes_attached"]
    vid = attached["id"]
    assert _head(cloud, vid).startswith(b"IMAGE-ONE")
    inode = (volume_dir(cloud) / f"volume-{vid}").stat().st_ino

    # before 2.93: another image is refused, the same one rebuilds on the volume as it is
    r = _rebuild(demo, sid, second, "2.92")
    assert r.status_code == 400, r.text
    assert r.json()["badRequest"]["message"] == (
        f"Image {second} is unacceptable: Unable to rebuild with a different image for a "
        "volume-backed server.")
    r = _rebuild(demo, sid, first, "2.92")
    assert r.status_code == 202, r.text
    assert r.json()["server"]["image"] == ""
    assert _settled(demo, sid)["status"] == "ACTIVE"
    assert (volume_dir(cloud) / f"volume-{vid}").stat().st_ino == inode  # not re-imaged

    # 2.93 with the stock CLI: the root volume gets the new image
    cloud.osc("--os-compute-api-version", "2.93", "server", "rebuild", "--image", second,
              "--reimage-boot-volume", "--wait", sid, cloud=DEMO, as_json=False)
    shown = _settled(demo, sid)
    assert shown["status"] == "ACTIVE" and shown["image"] == "", shown
    assert [a["id"] for a in shown["os-extended-volumes:volumes_attached"]] == [vid]
    vol = demo.get(f"/volume/v3/volumes/{vid}").json()["volume"]
    assert vol["status"] == "in-use" and vol["volume_image_metadata"]["image_id"] == second
    assert [a["server_id"] for a in vol["attachments"]] == [sid]
    assert _head(cloud, vid).startswith(b"IMAGE-TWO")
    actions = demo.get(f"/compute/v2.1/servers/{sid}/os-instance-actions").json()
    rebuilds = [a for a in actions["instanceActions"] if a["action"] == "rebuild"]
    assert len(rebuilds) == 2 and all(a["message"] is None for a in rebuilds), rebuilds

    # an image whose min_disk exceeds the volume: Nova's 400, nothing touched
    roomy = _image(demo, b"IMAGE-BIG".ljust(MIB, b"\0"), min_disk=2)
    r = _rebuild(demo, sid, roomy, "2.93")
    assert r.status_code == 400, r.text
    assert r.json()["badRequest"]["message"] == (
        "Volume is smaller than the minimum size specified in image metadata. Volume size "
        f"is {1 << 30} bytes, minimum size is {2 << 30} bytes.")
    assert _server(demo, sid)["status"] == "ACTIVE"

    # an image block storage refuses (its virtual size does not fit): the server goes to
    # ERROR with a fault, the volume is in use again with its content
    disk = tmp_path / "big.qcow2"
    subprocess.run(["qemu-img", "create", "-f", "qcow2", str(disk), "3G"], check=True,
                   capture_output=True)
    big = _image(demo, disk.read_bytes(), disk_format="qcow2")
    r = _rebuild(demo, sid, big, "2.93")
    assert r.status_code == 202, r.text
    shown = _settled(demo, sid)
    assert shown["status"] == "ERROR", shown
    assert "Failed to rebuild volume backed instance" in shown["fault"]["message"], shown
    vol = wait_volume(demo, vid, "in-use")
    assert vol["volume_image_metadata"]["image_id"] == second
    assert _head(cloud, vid).startswith(b"IMAGE-TWO")

    cloud.osc("server", "delete", "--wait", sid, cloud=DEMO, as_json=False)
    wait_volume(demo, vid, "gone")
    for iid in (first, second, roomy, big):
        demo.delete(f"/image/v2/images/{iid}")
