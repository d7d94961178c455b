"""Bad input gets the right Glance error, never a 500, and leaves nothing half-written."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from urllib.parse import urlparse

import httpx
import pytest

from pocketstack.image.builder import empty_qcow2
from tests.conftest import LiveCloud
from tests.image.conftest import Persona, new_image, store_files, upload

V21 = {"Content-Type": "application/openstack-images-v2.1-json-patch"}
MISSING = "5b1b5c11-0000-4000-8000-000000000000"


def _glance_error(r: httpx.Response, status: int) -> dict:
    assert r.status_code == status, r.text
    body = r.json()
    assert body["code"].startswith(str(status)), body
    assert body["message"] and body["title"]
    return body


@pytest.mark.parametrize("values", [
    {"disk_format": "wrong"},
    {"container_format": "wrong", "disk_format": "vhd"},
    {"min_ram": -1},
    {"min_disk": "big"},
    {"protected": "yes"},
    {"visibility": "everyone"},
    {"tags": "notalist"},
    {"id": "not-a-uuid"},
    {"custom": 5},
    {"name": "x" * 256},
])
def test_create_rejects_invalid_values(img_demo: Persona, values: dict) -> None:
    _glance_error(img_demo.client.post("/image/v2/images", json=values), 400)


@pytest.mark.parametrize("key,word", [
    ("status", "read-only"), ("checksum", "read-only"), ("size", "read-only"),
    ("os_glance_foo", "reserved"), ("locations", "reserved"),
])
def test_create_rejects_server_owned_attributes(img_demo: Persona, key: str, word: str) -> None:
    body = _glance_error(img_demo.client.post("/image/v2/images", json={key: "x"}), 403)
    assert word in body["message"]


def test_create_rejects_malformed_json(img_demo: Persona) -> None:
    r = img_demo.client.post("/image/v2/images", content=b"{nope",
                             headers={"Content-Type": "application/json"})
    _glance_error(r, 400)
    _glance_error(img_demo.client.post("/image/v2/images", json=["a"]), 400)


def test_patch_errors(img_demo: Persona) -> None:
    c = img_demo.client
    image = new_image(c)
    url = f"/image/v2/images/{image['id']}"
    r = c.patch(url, json=[{"op": "replace", "path": "/name", "value": "x"}])
    assert _glance_error(r, 415)
    assert "openstack-images-v2.1-json-patch" in r.headers["Accept-Patch"]
    for op, status in [
        ({"op": "replace", "path": "/status", "value": "active"}, 403),
        ({"op": "replace", "path": "/size", "value": 1}, 403),
        ({"op": "add", "path": "/os_glance_x", "value": "1"}, 403),
        ({"op": "add", "path": "/locations/-", "value": {"url": "http://x"}}, 403),
        ({"op": "replace", "path": "/nothere", "value": "1"}, 409),
        ({"op": "remove", "path": "/nothere"}, 409),
        ({"op": "remove", "path": "/name"}, 403),
        ({"op": "move", "path": "/name", "from": "/x"}, 400),
        ({"op": "replace", "path": "/name"}, 400),
        ({"op": "replace", "path": "name", "value": "x"}, 400),
        ({"op": "replace", "path": "/disk_format", "value": "floppy"}, 400),
        ({"op": "replace", "path": "/min_ram", "value": -5}, 400),
        ({"op": "add", "path": "/prop", "value": 7}, 400),
    ]:
        _glance_error(c.patch(url, headers=V21, json=[op]), status)
    _glance_error(c.patch(url, headers=V21, json={"op": "x"}), 400)
    assert c.get(url).json()["updated_at"] == image["updated_at"]


def test_format_change_only_while_queued(img_demo: Persona) -> None:
    c = img_demo.client
    image = new_image(c)
    assert upload(c, image["id"], b"z" * 512).status_code == 204
    r = c.patch(f"/image/v2/images/{image['id']}", headers=V21,
                json=[{"op": "replace", "path": "/disk_format", "value": "qcow2"}])
    _glance_error(r, 403)


@pytest.mark.parametrize("method,path", [
    ("GET", f"/image/v2/images/{MISSING}"),
    ("DELETE", f"/image/v2/images/{MISSING}"),
    ("PATCH", f"/image/v2/images/{MISSING}"),
    ("GET", f"/image/v2/images/{MISSING}/file"),
    ("PUT", f"/image/v2/images/{MISSING}/file"),
    ("GET", f"/image/v2/images/{MISSING}/members"),
    ("POST", f"/image/v2/images/{MISSING}/actions/deactivate"),
    ("GET", "/image/v2/images/"),
    ("DELETE", "/image/v2/images/"),
    ("GET", "/image/v2/images/not-a-uuid"),
    ("GET", "/image/v2/nothing"),
])
def test_missing_things_are_404(img_demo: Persona, method: str, path: str) -> None:
    headers = {"Content-Type": "application/octet-stream"} if path.endswith("/file") else V21
    r = img_demo.client.request(method, path, headers=headers,
                                content=b"[]" if method == "PATCH" else b"")
    _glance_error(r, 404)


def test_upload_to_active_image_is_409(img_demo: Persona) -> None:
    c = img_demo.client
    image = new_image(c)
    assert upload(c, image["id"], b"a" * 100).status_code == 204
    _glance_error(upload(c, image["id"], b"b" * 100), 409)
    assert c.get(f"/image/v2/images/{image['id']}/file").content == b"a" * 100


def test_upload_needs_formats_and_octet_stream(cloud: LiveCloud, img_demo: Persona) -> None:
    c = img_demo.client
    image = new_image(c)
    _glance_error(upload(c, image["id"], b"abc", content_type="application/json"), 415)
    bare = c.post("/image/v2/images", json={"name": "no-formats"}).json()
    _glance_error(upload(c, bare["id"], b"abc"), 400)
    assert c.get(f"/image/v2/images/{bare['id']}").json()["status"] == "queued"


@pytest.mark.parametrize("declared,data,word", [
    ("raw", empty_qcow2(1 << 20), "does not match"),
    ("qcow2", os.urandom(4096), "does not match"),
    ("qcow2", empty_qcow2(1 << 20, backing_file="/etc/shadow"), "backing file"),
    ("vmdk", empty_qcow2(1 << 20), "does not match"),
    ("iso", os.urandom(65536), "does not match"),
])
def test_format_mismatch_and_unsafe_images(cloud: LiveCloud, img_demo: Persona, declared: str,
                                           data: bytes, word: str) -> None:
    c = img_demo.client
    image = new_image(c, disk_format=declared)
    body = _glance_error(upload(c, image["id"], data), 400)
    assert word in body["message"]
    shown = c.get(f"/image/v2/images/{image['id']}").json()
    assert (shown["status"], shown["size"], shown["checksum"]) == ("queued", None, None)
    assert not [f for f in store_files(cloud) if image["id"] in f]
    # the image is still usable: a correct upload works afterwards
    if declared == "raw":
        assert upload(c, image["id"], b"\0" * 4096).status_code == 204


def _raw_put(cloud: LiveCloud, token: str, image_id: str, declared_length: int,
             chunks: Iterator[bytes] | list[bytes], pause: float = 0.0) -> None:
    """Send a PUT by hand so the body can stop early (a client that goes away)."""
    url = urlparse(cloud.url)
    with socket.create_connection((url.hostname, url.port)) as s:
        head = (f"PUT /image/v2/images/{image_id}/file HTTP/1.1\r\n"
                f"Host: {url.hostname}\r\nX-Auth-Token: {token}\r\n"
                "Content-Type: application/octet-stream\r\n"
                f"Content-Length: {declared_length}\r\n\r\n")
        s.sendall(head.encode())
        for chunk in chunks:
            s.sendall(chunk)
            if pause:
                time.sleep(pause)


def _wait_status(c: httpx.Client, image_id: str, status: str) -> dict:
    deadline = time.monotonic() + 10
    while True:
        image = c.get(f"/image/v2/images/{image_id}").json()
        if image["status"] == status or time.monotonic() > deadline:
            return image
        time.sleep(0.05)


def test_truncated_upload_leaves_image_queued(cloud: LiveCloud, img_demo: Persona) -> None:
    c = img_demo.client
    image = new_image(c)
    token = c.headers["X-Auth-Token"]
    _raw_put(cloud, token, image["id"], 5_000_000, [os.urandom(1_500_000)])
    shown = _wait_status(c, image["id"], "queued")
    assert (shown["status"], shown["size"]) == ("queued", None)
    time.sleep(0.1)
    assert not [f for f in store_files(cloud) if image["id"] in f]
    # and it can be uploaded properly afterwards
    assert upload(c, image["id"], b"ok" * 1000).status_code == 204


def test_concurrent_upload_is_409(cloud: LiveCloud, img_demo: Persona) -> None:
    c = img_demo.client
    image = new_image(c)
    token = c.headers["X-Auth-Token"]
    chunks = [b"\1" * 65536] * 20
    slow = threading.Thread(target=_raw_put, args=(cloud, token, image["id"],
                                                   65536 * 20, chunks, 0.05))
    slow.start()
    try:
        assert _wait_status(c, image["id"], "saving")["status"] == "saving"
        _glance_error(upload(c, image["id"], b"second"), 409)
    finally:
        slow.join()
    done = _wait_status(c, image["id"], "active")
    assert done["size"] == 65536 * 20


def test_member_errors(img_demo: Persona, img_alt: Persona) -> None:
    c = img_demo.client
    private = new_image(c, visibility="private")
    _glance_error(c.post(f"/image/v2/images/{private['id']}/members",
                         json={"member": img_alt.project_id}), 403)
    shared = new_image(c)
    url = f"/image/v2/images/{shared['id']}/members"
    _glance_error(c.post(url, json={}), 400)
    assert c.post(url, json={"member": img_alt.project_id}).status_code == 200
    _glance_error(c.post(url, json={"member": img_alt.project_id}), 409)
    # only the member answers; bad status is 400
    _glance_error(c.put(f"{url}/{img_alt.project_id}", json={"status": "accepted"}), 403)
    _glance_error(img_alt.client.put(f"{url}/{img_alt.project_id}",
                                     json={"status": "maybe"}), 400)
    _glance_error(c.delete(f"{url}/{MISSING}"), 404)


def test_quotas(quota_cloud: LiveCloud) -> None:
    token, body = quota_cloud.token("demo", project="demo")
    with quota_cloud.client(token) as c:
        first = new_image(c)
        # 1 MiB of data allowed in total: a bigger upload is refused before it lands
        r = upload(c, first["id"], os.urandom((1 << 20) + 1))
        _glance_error(r, 413)
        assert c.get(f"/image/v2/images/{first['id']}").json()["status"] == "queued"
        assert upload(c, first["id"], os.urandom(600_000)).status_code == 204
        second = new_image(c)
        _glance_error(upload(c, second["id"], os.urandom(600_000)), 413)
        assert c.get(f"/image/v2/images/{second['id']}").json()["status"] == "queued"
        assert not [f for f in store_files(quota_cloud) if second["id"] in f]
        new_image(c)
        _glance_error(c.post("/image/v2/images", json={"name": "fourth"}), 413)
        usage = c.get("/image/v2/info/usage").json()["usage"]
        assert usage["image_count_total"] == {"limit": 3, "usage": 3}
        assert usage["image_size_total"] == {"limit": 1 << 20, "usage": 600_000}
