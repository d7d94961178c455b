"""Glance v2 through HTTP: versions, schemas, CRUD, JSON patch, data, listing, import."""

from __future__ import annotations

import hashlib
import os
import time

import httpx
import pytest

from pocketstack.image.builder import empty_qcow2
from tests.conftest import LiveCloud, unique
from tests.image.conftest import Persona, new_image, store_files, upload

V21 = {"Content-Type": "application/openstack-images-v2.1-json-patch"}
V20 = {"Content-Type": "application/openstack-images-v2.0-json-patch"}


def test_versions_document(cloud: LiveCloud) -> None:
    r = httpx.get(cloud.url + "/image")
    assert r.status_code == 300
    versions = r.json()["versions"]
    current = [v for v in versions if v["status"] == "CURRENT"]
    assert [v["id"] for v in current] == ["v2.16"]
    assert all({"id", "links", "status"} <= set(v) for v in versions)
    assert current[0]["links"][0]["href"] == cloud.url + "/image/v2/"
    assert {"v2.0", "v2.12"} <= {v["id"] for v in versions}


@pytest.mark.parametrize("name", ["image", "images", "member", "members"])
def test_schemas(img_demo: Persona, name: str) -> None:
    r = img_demo.client.get(f"/image/v2/schemas/{name}")
    assert r.status_code == 200
    assert r.json()["name"] == name


def test_image_schema_lists_formats(img_demo: Persona) -> None:
    props = img_demo.client.get("/image/v2/schemas/image").json()["properties"]
    assert "qcow2" in props["disk_format"]["enum"]
    assert "bare" in props["container_format"]["enum"]
    assert img_demo.client.get("/image/v2/schemas/nope").status_code == 404


def test_create_show_and_json(img_demo: Persona) -> None:
    image = new_image(img_demo.client, min_ram=64, tags=["a", "b"], os_distro="cirros",
                      custom_key="x")
    assert image["status"] == "queued"
    assert image["visibility"] == "shared"
    assert image["owner"] == img_demo.project_id
    assert image["tags"] == ["a", "b"]
    assert image["custom_key"] == "x"
    for key in ("id", "name", "status", "visibility", "protected", "os_hidden", "tags",
                "disk_format", "container_format", "size", "virtual_size", "checksum",
                "os_hash_algo", "os_hash_value", "owner", "min_disk", "min_ram", "created_at",
                "updated_at", "file", "self", "schema"):
        assert key in image, key
    assert image["self"] == f"/v2/images/{image['id']}"
    assert image["file"] == f"/v2/images/{image['id']}/file"
    assert image["schema"] == "/v2/schemas/image"
    assert image["created_at"].endswith("Z") and len(image["created_at"]) == 20
    shown = img_demo.client.get(f"/image/v2/images/{image['id']}").json()
    assert shown == image


def test_create_with_id_and_duplicate(img_demo: Persona) -> None:
    import uuid

    image_id = str(uuid.uuid4())
    new_image(img_demo.client, id=image_id)
    r = img_demo.client.post("/image/v2/images", json={"id": image_id, "name": "again"})
    assert r.status_code == 409


def test_patch_v21_and_v20(img_demo: Persona) -> None:
    c = img_demo.client
    image = new_image(c, foo="1")
    url = f"/image/v2/images/{image['id']}"
    r = c.patch(url, headers=V21, json=[
        {"op": "replace", "path": "/name", "value": "renamed"},
        {"op": "add", "path": "/bar", "value": "2"},
        {"op": "replace", "path": "/foo", "value": "3"},
        {"op": "add", "path": "/tags", "value": ["t1"]},
        {"op": "replace", "path": "/min_disk", "value": 5},
        {"op": "replace", "path": "/protected", "value": True},
    ])
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["name"], body["bar"], body["foo"], body["tags"], body["min_disk"],
            body["protected"]) == ("renamed", "2", "3", ["t1"], 5, True)
    r = c.patch(url, headers=V20, json=[{"remove": "/bar"},
                                        {"replace": "/protected", "value": False},
                                        {"add": "/trait:CUSTOM_X", "value": "required"}])
    assert r.status_code == 200, r.text
    body = r.json()
    assert "bar" not in body and body["protected"] is False
    assert body["trait:CUSTOM_X"] == "required"
    assert body["updated_at"] >= image["updated_at"]


def test_upload_download_and_ranges(img_demo: Persona) -> None:
    c = img_demo.client
    data = os.urandom(300_000)
    image = new_image(c)
    assert c.get(f"/image/v2/images/{image['id']}/file").status_code == 204
    r = upload(c, image["id"], data)
    assert r.status_code == 204, r.text
    shown = c.get(f"/image/v2/images/{image['id']}").json()
    assert shown["status"] == "active"
    assert shown["size"] == len(data)
    assert shown["virtual_size"] == len(data)
    assert shown["checksum"] == hashlib.md5(data).hexdigest()
    assert shown["os_hash_algo"] == "sha512"
    assert shown["os_hash_value"] == hashlib.sha512(data).hexdigest()

    full = c.get(f"/image/v2/images/{image['id']}/file")
    assert full.status_code == 200
    assert full.content == data
    assert full.headers["Content-MD5"] == shown["checksum"]
    assert full.headers["Content-Type"] == "application/octet-stream"

    part = c.get(f"/image/v2/images/{image['id']}/file", headers={"Range": "bytes=10-99"})
    assert part.status_code == 206
    assert part.content == data[10:100]
    assert part.headers["Content-Range"] == f"bytes 10-99/{len(data)}"
    tail = c.get(f"/image/v2/images/{image['id']}/file", headers={"Range": "bytes=-5"})
    assert tail.status_code == 206 and tail.content == data[-5:]
    bad = c.get(f"/image/v2/images/{image['id']}/file",
                headers={"Range": f"bytes={len(data)}-"})
    assert bad.status_code == 416
    assert bad.headers["Content-Range"] == f"bytes */{len(data)}"


def test_qcow2_virtual_size(img_demo: Persona) -> None:
    c = img_demo.client
    image = new_image(c, disk_format="qcow2")
    assert upload(c, image["id"], empty_qcow2(3 << 30)).status_code == 204
    shown = c.get(f"/image/v2/images/{image['id']}").json()
    assert shown["virtual_size"] == 3 << 30
    assert shown["size"] == 256 << 10


def test_deactivate_reactivate(img_demo: Persona, img_admin: Persona) -> None:
    c = img_demo.client
    image = new_image(c)
    url = f"/image/v2/images/{image['id']}"
    # only active images can be deactivated
    assert c.post(url + "/actions/deactivate").status_code == 400
    assert upload(c, image["id"], b"x" * 1024).status_code == 204
    assert c.post(url + "/actions/deactivate").status_code == 204
    assert c.get(url).json()["status"] == "deactivated"
    assert c.get(url + "/file").status_code == 403
    assert img_admin.client.get(url + "/file").status_code == 200
    assert c.post(url + "/actions/reactivate").status_code == 204
    assert c.get(url).json()["status"] == "active"
    assert c.get(url + "/file").content == b"x" * 1024


def test_tags(img_demo: Persona) -> None:
    c = img_demo.client
    image = new_image(c)
    url = f"/image/v2/images/{image['id']}"
    assert c.put(url + "/tags/red").status_code == 204
    assert c.put(url + "/tags/red").status_code == 204
    assert c.get(url).json()["tags"] == ["red"]
    listed = c.get("/image/v2/images", params={"tag": "red", "id": image["id"]}).json()
    assert [i["id"] for i in listed["images"]] == [image["id"]]
    assert c.delete(url + "/tags/red").status_code == 204
    assert c.delete(url + "/tags/red").status_code == 404
    assert c.put("/image/v2/images/00000000-0000-0000-0000-000000000000/tags/x"
                 ).status_code == 404


def test_protected_and_delete(cloud: LiveCloud, img_demo: Persona) -> None:
    c = img_demo.client
    image = new_image(c, protected=True)
    url = f"/image/v2/images/{image['id']}"
    assert upload(c, image["id"], b"y" * 2048).status_code == 204
    assert image["id"] in store_files(cloud)
    assert c.delete(url).status_code == 403
    c.patch(url, headers=V21, json=[{"op": "replace", "path": "/protected", "value": False}])
    assert c.delete(url).status_code == 204
    assert c.get(url).status_code == 404
    assert c.delete(url).status_code == 404
    assert image["id"] not in store_files(cloud)


def test_list_filters_sort_and_pages(img_demo: Persona) -> None:
    c = img_demo.client
    tag = unique("batch")
    made = []
    for i, size in enumerate((1000, 2000, 3000, 4000, 5000)):
        image = new_image(c, name=f"{tag}-{i}", tags=[tag],
                          disk_format="raw" if i % 2 else "iso" if i == 4 else "raw")
        if i < 4:
            assert upload(c, image["id"], os.urandom(size)).status_code == 204
        made.append(image["id"])

    def ids(**params: object) -> list[str]:
        r = c.get("/image/v2/images", params={"tag": tag, **params})
        assert r.status_code == 200, r.text
        return [i["id"] for i in r.json()["images"]]

    assert set(ids()) == set(made)
    assert ids(sort="name:asc") == made
    assert ids(sort_key="name", sort_dir="desc") == made[::-1]
    assert ids(sort="size:desc,name:asc") == [made[3], made[2], made[1], made[0], made[4]]
    assert ids(status="active", sort="name:asc") == made[:4]
    assert ids(status="queued") == [made[4]]
    assert ids(size_min=2000, size_max=3000, sort="name:asc") == made[1:3]
    assert ids(size=4000) == [made[3]]
    assert ids(name=f"{tag}-2") == [made[2]]
    assert ids(disk_format="iso") == [made[4]]
    assert ids(id=f"in:{made[0]},{made[3]}", sort="name:asc") == [made[0], made[3]]
    assert ids(visibility="shared", sort="name:asc") == made
    assert ids(visibility="private") == []
    future = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3600))
    assert ids(**{"changes-since": future}) == []
    assert len(ids(**{"changes-since": "2000-01-01T00:00:00Z"})) == 5
    assert ids(created_at="lt:2000-01-01T00:00:00Z") == []

    # pages follow "next" until the end
    seen: list[str] = []
    url: str | None = f"/image/v2/images?tag={tag}&limit=2&sort=name:asc"
    pages = 0
    while url:
        body = c.get(url if url.startswith("/image") else "/image" + url).json()
        assert len(body["images"]) <= 2
        seen += [i["id"] for i in body["images"]]
        assert body["first"] == "/v2/images"
        assert body["schema"] == "/v2/schemas/images"
        url = body.get("next")
        pages += 1
    assert seen == made and pages == 3
    assert ids(limit=1) != []


def test_hidden_images_are_not_listed(img_demo: Persona) -> None:
    c = img_demo.client
    image = new_image(c, os_hidden=True)
    assert image["id"] not in [i["id"] for i in c.get("/image/v2/images").json()["images"]]
    hidden = c.get("/image/v2/images", params={"os_hidden": "true"}).json()["images"]
    assert image["id"] in [i["id"] for i in hidden]
    assert c.get(f"/image/v2/images/{image['id']}").status_code == 200


def test_glance_direct_import(img_demo: Persona) -> None:
    c = img_demo.client
    info = c.get("/image/v2/info/import").json()
    assert info["import-methods"]["value"] == ["glance-direct"]
    assert c.get("/image/v2/info/stores").status_code == 404
    image = new_image(c)
    url = f"/image/v2/images/{image['id']}"
    assert c.post(url + "/import", json={"method": {"name": "glance-direct"}}
                  ).status_code == 409
    data = os.urandom(5000)
    r = c.put(url + "/stage", content=data,
              headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 204, r.text
    assert c.get(url).json()["status"] == "uploading"
    r = c.post(url + "/import", json={"method": {"name": "glance-direct"}})
    assert r.status_code == 202, r.text
    shown = c.get(url).json()
    assert shown["status"] == "active"
    assert shown["checksum"] == hashlib.md5(data).hexdigest()
    assert shown["os_glance_import_task"]
    assert c.get(url + "/file").content == data
    tasks = c.get(url + "/tasks").json()["tasks"]
    assert [t["status"] for t in tasks] == ["success"]
    assert tasks[0]["request_id"] == r.headers["X-Openstack-Request-Id"]
    assert tasks[0]["input"]["import_req"]["method"]["name"] == "glance-direct"
    assert c.post(url + "/import", json={"method": {"name": "web-download"}}
                  ).status_code == 400


def test_import_of_mismatched_data_fails(cloud: LiveCloud, img_demo: Persona) -> None:
    c = img_demo.client
    image = new_image(c, disk_format="raw")
    url = f"/image/v2/images/{image['id']}"
    r = c.put(url + "/stage", content=empty_qcow2(1 << 20),
              headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 204
    assert c.post(url + "/import", json={"method": {"name": "glance-direct"}}
                  ).status_code == 202
    shown = c.get(url).json()
    assert shown["status"] == "queued"
    assert shown["os_glance_failed_import"] == "file"
    tasks = c.get(url + "/tasks").json()["tasks"]
    assert tasks[0]["status"] == "failure"
    assert "does not match" in tasks[0]["message"]
    assert not [f for f in store_files(cloud) if image["id"] in f]


def test_usage(img_demo: Persona) -> None:
    def count() -> int:
        usage = img_demo.client.get("/image/v2/info/usage").json()["usage"]
        assert usage["image_count_total"]["limit"] == -1
        return int(usage["image_count_total"]["usage"])

    before = count()
    image = new_image(img_demo.client)
    assert count() == before + 1  # the project's images, counted
    assert img_demo.client.delete(f"/image/v2/images/{image['id']}").status_code == 204
    assert count() == before


def test_get_image_for_boot(cloud: LiveCloud, img_demo: Persona) -> None:
    from pocketstack.common import exceptions
    from pocketstack.common.context import RequestContext
    from pocketstack.common.db import Database
    from pocketstack.image.domain.images import get_image_for_boot

    c = img_demo.client
    image = new_image(c, disk_format="qcow2", min_disk=1, min_ram=128)
    assert upload(c, image["id"], empty_qcow2(5 << 30)).status_code == 204
    db = Database(f"sqlite:///{cloud.state_dir / 'pocketstack.db'}")
    try:
        demo = RequestContext(project_id=img_demo.project_id, roles=["member", "reader"])
        boot = get_image_for_boot(db, demo, image["id"])
        assert (boot.virtual_size, boot.min_disk, boot.min_ram) == (5 << 30, 1, 128)
        assert boot.min_root_gb == 5
        assert boot.location and boot.location.startswith("file://")
        other = RequestContext(project_id="someone-else", roles=["member"])
        with pytest.raises(exceptions.NotFound):
            get_image_for_boot(db, other, image["id"])
        queued = new_image(c)
        with pytest.raises(exceptions.BadRequest):
            get_image_for_boot(db, demo, queued["id"])
    finally:
        db.dispose()
