"""Microversions 3.68 to 3.70 over HTTP: ``os-reimage`` writes an image into an existing volume
through the storage agent (its bytes, its ``volume_image_metadata``, ``downloading`` on the
way; Cinder's 400/404/409 and nothing written when refused), ``shared_targets`` from the
backend (tri-state from 3.69), and the version document's maximum. The stock CLI has no
re-image command (openstackclient reaches it only through ``server rebuild
--reimage-boot-volume``, see ``tests/compute/test_rebuild_volume_backed.py``)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import LiveCloud, unique
from tests.volume.conftest import volume_dir, wait_volume

V = "/volume/v3"
MV = {"OpenStack-API-Version": "volume 3.68"}
MIB = 1 << 20


@pytest.fixture(scope="module", autouse=True)
def _needs_qemu_img() -> None:
    if shutil.which("qemu-img") is None:
        pytest.skip("qemu-img is not installed (Debian package qemu-utils): the file backend "
                    "converts images with it")


def raw_image(client: httpx.Client, marker: bytes, **extra: Any) -> str:
    """A 1 MiB raw image starting with ``marker`` (removed by the caller)."""
    r = client.post("/image/v2/images", json={"name": unique("ri"), "disk_format": "raw",
                                              "container_format": "bare", **extra})
    assert r.status_code == 201, r.text
    iid: str = r.json()["id"]
    r = client.put(f"/image/v2/images/{iid}/file", content=marker.ljust(MIB, b"\0"),
                   headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 204, r.text
    return iid


def head(cloud: LiveCloud, vid: str, n: int = 16) -> bytes:
    with (volume_dir(cloud) / f"volume-{vid}").open("rb") as f:
        return f.read(n)


def reimage(client: httpx.Client, vid: str, body: Any,
            version: str = "3.68") -> httpx.Response:
    return client.post(f"{V}/volumes/{vid}/action", json={"os-reimage": body},
                       headers={"OpenStack-API-Version": f"volume {version}"})


@pytest.fixture(scope="module")
def images(demo: httpx.Client) -> Any:
    made = {"a": raw_image(demo, b"IMAGE-A"), "b": raw_image(demo, b"IMAGE-B")}
    yield made
    for iid in made.values():
        demo.delete(f"/image/v2/images/{iid}")


def _volume(demo: httpx.Client, image_id: str | None = None, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"size": 1, "name": unique("rv"), **extra}
    if image_id:
        body["imageRef"] = image_id
    r = demo.post(f"{V}/volumes", json={"volume": body})
    assert r.status_code == 202, r.text
    return wait_volume(demo, r.json()["volume"]["id"])


def _delete(client: httpx.Client, vid: str) -> None:
    wait_volume(client, vid, "available", "error")
    assert client.delete(f"{V}/volumes/{vid}").status_code == 202
    wait_volume(client, vid, "gone")


def test_reimage_writes_the_image(cloud: LiveCloud, demo: httpx.Client, admin: httpx.Client,
                                  images: dict[str, str]) -> None:
    vol = _volume(demo, images["a"], metadata={"keep": "me"})
    vid = vol["id"]
    assert head(cloud, vid).startswith(b"IMAGE-A")
    assert vol["volume_image_metadata"]["image_id"] == images["a"]
    r = reimage(demo, vid, {"image_id": images["b"]})
    assert r.status_code == 202, r.text
    assert r.content == b""
    statuses = {demo.get(f"{V}/volumes/{vid}").json()["volume"]["status"]}
    after = wait_volume(demo, vid)
    statuses.add(after["status"])
    assert statuses <= {"downloading", "available"}, statuses
    assert head(cloud, vid).startswith(b"IMAGE-B")
    assert (volume_dir(cloud) / f"volume-{vid}").stat().st_size == 1 << 30  # its size kept
    assert after["volume_image_metadata"]["image_id"] == images["b"]
    assert (after["size"], after["bootable"], after["metadata"]) == (1, "true", {"keep": "me"})
    # a blank volume in error takes an image too (Cinder: available or error), and goes back
    # to the status it had (Cinder's manager restores ``previous_status``)
    blank = _volume(demo)
    r = admin.post(f"{V}/volumes/{blank['id']}/action",
                   json={"os-reset_status": {"status": "error"}})
    assert r.status_code == 202, r.text
    assert reimage(demo, blank["id"], {"image_id": images["a"],
                                       "reimage_reserved": "false"}).status_code == 202
    done = wait_volume(demo, blank["id"], "error")
    assert done["volume_image_metadata"]["image_id"] == images["a"], done
    assert head(cloud, blank["id"]).startswith(b"IMAGE-A")
    _delete(demo, vid)
    _delete(demo, blank["id"])


def test_reimage_of_a_reserved_volume(cloud: LiveCloud, demo: httpx.Client,
                                      admin: httpx.Client, images: dict[str, str]) -> None:
    vol = _volume(demo, images["a"])
    vid = vol["id"]
    assert admin.post(f"{V}/volumes/{vid}/action", json={
        "os-reset_status": {"status": "reserved"}}).status_code == 202
    r = reimage(demo, vid, {"image_id": images["b"]})
    assert r.status_code == 400, r.text
    assert r.json()["badRequest"]["message"] == (
        f"Invalid volume: Volume {vid} status must be available or error, but current "
        "status is reserved.")
    assert head(cloud, vid).startswith(b"IMAGE-A")
    r = reimage(demo, vid, {"image_id": images["b"], "reimage_reserved": True})
    assert r.status_code == 202, r.text
    after = wait_volume(demo, vid, "reserved")
    assert after["volume_image_metadata"]["image_id"] == images["b"]
    assert head(cloud, vid).startswith(b"IMAGE-B")
    assert admin.post(f"{V}/volumes/{vid}/action", json={
        "os-reset_status": {"status": "available"}}).status_code == 202
    _delete(demo, vid)


def test_reimage_refusals(cloud: LiveCloud, demo: httpx.Client, alt: httpx.Client,
                          images: dict[str, str], tmp_path: Path) -> None:
    vol = _volume(demo, images["a"])
    vid = vol["id"]
    # before 3.68 the action does not exist (Cinder: a bare 404)
    r = reimage(demo, vid, {"image_id": images["b"]}, version="3.67")
    assert r.status_code == 404 and "itemNotFound" in r.json(), r.text
    for body in ("x", None, [], {}, {"image_id": "nope"}, {"image_id": 7},
                 {"image_id": images["b"], "extra": 1},
                 {"image_id": images["b"], "reimage_reserved": "maybe"},
                 {"image_id": images["b"], "reimage_reserved": None}):
        r = reimage(demo, vid, body)
        assert r.status_code == 400 and "badRequest" in r.json(), (body, r.text)
    r = demo.post(f"{V}/volumes/{vid}/action", headers=MV,
                  json={"os-reimage": {"image_id": images["b"]}, "os-extend": {}})
    assert r.status_code == 400, r.text
    missing = "2b3d4f4e-0000-4000-8000-000000000000"
    r = reimage(demo, vid, {"image_id": missing})
    assert r.status_code == 404, r.text
    assert r.json()["itemNotFound"]["message"] == f"Image {missing} could not be found."
    r = reimage(demo, missing, {"image_id": images["b"]})
    assert r.status_code == 404 and "itemNotFound" in r.json()
    # another project's volume is not there
    assert reimage(alt, vid, {"image_id": images["b"]}).status_code == 404
    # images that do not fit: min_disk, and a virtual size beyond the volume
    small = raw_image(demo, b"IMAGE-C", min_disk=2)
    r = reimage(demo, vid, {"image_id": small})
    assert r.status_code == 400, r.text
    assert r.json()["badRequest"]["message"] == (
        "Invalid input received: Volume size 1GB cannot be smaller than the image minDisk "
        "size 2GB.")
    disk = tmp_path / "big.qcow2"
    subprocess.run(["qemu-img", "create", "-f", "qcow2", str(disk), "3G"], check=True,
                   capture_output=True)
    r = demo.post("/image/v2/images", json={"name": unique("big"), "disk_format": "qcow2",
                                            "container_format": "bare"})
    big = r.json()["id"]
    r = demo.put(f"/image/v2/images/{big}/file", content=disk.read_bytes(),
                 headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 204, r.text
    r = reimage(demo, vid, {"image_id": big})
    assert r.status_code == 400, r.text
    assert "doesn't fit in a volume of size 1GB" in r.json()["badRequest"]["message"]
    # a queued image (no data) is not active
    r = demo.post("/image/v2/images", json={"name": unique("q"), "disk_format": "raw",
                                            "container_format": "bare"})
    queued = r.json()["id"]
    r = reimage(demo, vid, {"image_id": queued})
    assert r.status_code == 400 and "is not active" in r.text, r.text
    # nothing was written by any of these: same status, same bytes, same image
    shown = demo.get(f"{V}/volumes/{vid}").json()["volume"]
    assert shown["status"] == "available"
    assert shown["volume_image_metadata"]["image_id"] == images["a"]
    assert head(cloud, vid).startswith(b"IMAGE-A")
    assert not list(volume_dir(cloud).glob(f"volume-{vid}.*.part"))
    for iid in (small, big, queued):
        demo.delete(f"/image/v2/images/{iid}")
    _delete(demo, vid)


def test_reimage_of_a_volume_on_two_servers_is_a_conflict(
        cloud: LiveCloud, demo: httpx.Client, admin: httpx.Client,
        images: dict[str, str]) -> None:
    vol = _volume(demo, images["a"], multiattach=True)
    vid = vol["id"]
    for server in ("6b0c2a5e-0000-4000-8000-000000000001",
                   "6b0c2a5e-0000-4000-8000-000000000002"):
        for action in ({"os-reserve": {}},
                       {"os-attach": {"instance_uuid": server, "mountpoint": "/dev/vdb"}}):
            r = admin.post(f"{V}/volumes/{vid}/action", json=action)
            assert r.status_code == 202, r.text
    assert len(demo.get(f"{V}/volumes/{vid}").json()["volume"]["attachments"]) == 2
    r = reimage(demo, vid, {"image_id": images["b"], "reimage_reserved": True})
    assert r.status_code == 409, r.text
    assert r.json()["conflictingRequest"]["message"] == (
        "Cannot re-image a volume which is attached to more than one server.")
    assert head(cloud, vid).startswith(b"IMAGE-A")
    assert admin.post(f"{V}/volumes/{vid}/action",
                      json={"os-force_detach": {}}).status_code == 202
    _delete(demo, vid)


def test_shared_targets_and_the_version_document(cloud: LiveCloud,
                                                 demo: httpx.Client) -> None:
    r = httpx.get(cloud.url + "/volume/v3/")
    assert r.json()["versions"][0]["version"] == "3.70"
    r = demo.get(f"{V}/volumes", headers={"OpenStack-API-Version": "volume 3.70"})
    assert r.headers["OpenStack-API-Version"] == "volume 3.70"
    r = demo.get(f"{V}/volumes", headers={"OpenStack-API-Version": "volume 3.71"})
    assert r.status_code == 406
    vol = _volume(demo)
    for version, shown in (("3.47", None), ("3.48", False), ("3.69", False)):
        body = demo.get(f"{V}/volumes/{vol['id']}",
                        headers={"OpenStack-API-Version": f"volume {version}"}).json()["volume"]
        assert body.get("shared_targets") is shown, (version, body)
    _delete(demo, vol["id"])


def test_hostile_reimage_bodies(cloud: LiveCloud, demo: httpx.Client,
                                images: dict[str, str]) -> None:
    """Generated ``os-reimage`` bodies (any JSON for either field, odd keys, odd versions):
    never a 5xx, and a refused request leaves the volume as it was."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    vol = _volume(demo, images["a"])
    vid = vol["id"]
    json_values = st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
        | st.text(max_size=40) | st.sampled_from([images["b"], images["b"].upper(),
                                                  images["b"].replace("-", ""), "true"]),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8),
                                                                    inner, max_size=3),
        max_leaves=6)
    bodies = st.one_of(json_values, st.dictionaries(
        st.sampled_from(["image_id", "reimage_reserved", "x", ""]), json_values, max_size=3))

    @settings(max_examples=60, deadline=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(body=bodies, version=st.sampled_from(["3.67", "3.68", "3.70"]))
    def probe(body: Any, version: str) -> None:
        r = reimage(demo, vid, body, version=version)
        assert r.status_code < 500, (body, r.text)
        if r.status_code == 202:  # a valid one slipped through: let it finish
            wait_volume(demo, vid)
        else:
            shown = demo.get(f"{V}/volumes/{vid}").json()["volume"]
            assert shown["status"] == "available", (body, shown)

    probe()
    assert not list(volume_dir(cloud).glob(f"volume-{vid}.*.part"))
    _delete(demo, vid)
