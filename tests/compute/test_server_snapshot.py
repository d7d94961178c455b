"""createImage answers before the copy (the conductor fills the image): the happy path is in
``test_tempest_shapes.py``; here a copy that fails — the source's data gone from the image
store, a disk fault — deletes the snapshot image and ends the task and its action as failed."""

from __future__ import annotations

import time
from typing import Any

import httpx

from tests.conftest import LiveCloud, unique

API = "/compute/v2.1"


def _until(client: httpx.Client, path: str, check: Any, timeout: float = 30) -> Any:
    end = time.monotonic() + timeout
    while True:
        r = client.get(path)
        if check(r):
            return r
        assert time.monotonic() < end, r.text
        time.sleep(0.1)


def test_a_failed_copy_deletes_the_image_and_ends_the_task(cloud: LiveCloud) -> None:
    token, _ = cloud.token()
    with cloud.client(token) as admin:
        r = admin.post("/image/v2/images", json={
            "name": unique("src"), "disk_format": "raw", "container_format": "bare"})
        assert r.status_code == 201, r.text
        source = r.json()["id"]
        r = admin.put(f"/image/v2/images/{source}/file", content=b"\0" * 4096,
                      headers={"Content-Type": "application/octet-stream"})
        assert r.status_code == 204, r.text
        r = admin.post(f"{API}/servers", json={"server": {
            "name": unique("snapfail"), "imageRef": source, "flavorRef": "42",
            "networks": "none"}}, headers={"OpenStack-API-Version": "compute 2.37"})
        assert r.status_code == 202, r.text
        sid = r.json()["server"]["id"]
        _until(admin, f"{API}/servers/{sid}",
               lambda r: r.json()["server"]["status"] == "ACTIVE")
        (cloud.state_dir / "images" / source).unlink()  # the disk loses the source's data
        r = admin.post(f"{API}/servers/{sid}/action", json={"createImage": {"name": "x"}},
                       headers={"OpenStack-API-Version": "compute 2.45"})
        assert r.status_code == 202, r.text
        image_id = r.json()["image_id"]
        _until(admin, f"/image/v2/images/{image_id}", lambda r: r.status_code == 404)
        server = _until(admin, f"{API}/servers/{sid}", lambda r: r.json()["server"][
            "OS-EXT-STS:task_state"] is None).json()["server"]
        assert server["status"] == "ACTIVE"
        actions = admin.get(f"{API}/servers/{sid}/os-instance-actions").json()
        [snap] = [a for a in actions["instanceActions"] if a["action"] == "createImage"]
        detail = admin.get(f"{API}/servers/{sid}/os-instance-actions/{snap['request_id']}"
                           ).json()["instanceAction"]
        assert [(e["event"], e["result"]) for e in detail["events"]] == [
            ("compute_snapshot_instance", "Error")], detail
        # the server takes a new task at once
        r = admin.post(f"{API}/servers/{sid}/action", json={"os-stop": None})
        assert r.status_code == 202, r.text
        assert admin.delete(f"{API}/servers/{sid}").status_code == 204
        assert admin.delete(f"/image/v2/images/{source}").status_code == 204
