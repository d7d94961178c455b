"""Deferred delete (``reclaim_instance_interval``): a deleted server is SOFT_DELETED —
powered off, its resources kept — until it is restored (`server restore`), force-deleted
(`server delete --force`) or reclaimed by the conductor once the interval is over."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.compute.test_servers import IMAGE
from tests.conftest import LiveCloud, own_cloud, unique

NOVA = "/compute/v2.1"
INTERVAL = 15  # longer than the CLI calls made while a server is soft-deleted (loaded CI)


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveCloud]:
    yield from own_cloud(tmp_path_factory, "soft", {
        "POCKETSTACK_RECLAIM_INSTANCE_INTERVAL": str(INTERVAL),
        "POCKETSTACK_RECONCILE_INTERVAL": "0.5"})


@pytest.fixture(scope="module")
def admin(cloud: LiveCloud) -> Iterator[httpx.Client]:
    token, _ = cloud.token()
    with cloud.client(token) as client:
        client.headers["OpenStack-API-Version"] = "compute 2.96"
        yield client


def boot(cloud: LiveCloud, name: str) -> str:
    return str(cloud.osc("server", "create", "--flavor", "m1.tiny", "--image", IMAGE,
                         "--nic", "none", "--wait", name)["id"])


def show(admin: httpx.Client, ident: str) -> httpx.Response:
    return admin.get(f"{NOVA}/servers/{ident}")


def wait_for(admin: httpx.Client, ident: str, status: str, timeout: float = 20) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        found = show(admin, ident).json()["server"]
        if found["status"] == status and not found["OS-EXT-STS:task_state"]:
            return dict(found)
        assert time.monotonic() < deadline, f"{ident} stuck in {found['status']}"
        time.sleep(0.05)


def wait_gone(admin: httpx.Client, ident: str, timeout: float) -> float:
    started = time.monotonic()
    while show(admin, ident).status_code != 404:
        assert time.monotonic() - started < timeout, f"{ident} was not deleted"
        time.sleep(0.1)
    return time.monotonic() - started


def allocations(admin: httpx.Client, ident: str) -> dict[str, Any]:
    r = admin.get(f"/placement/allocations/{ident}",
                  headers={"OpenStack-API-Version": "placement 1.28"})
    assert r.status_code == 200, r.text
    return dict(r.json()["allocations"])


def test_delete_restore_and_force_delete(cloud: LiveCloud, admin: httpx.Client) -> None:
    name = unique("soft")
    ident = boot(cloud, name)
    cloud.osc("server", "delete", name, as_json=False)
    gone = wait_for(admin, ident, "SOFT_DELETED")
    assert gone["OS-EXT-STS:vm_state"] == "soft-delete"
    assert gone["OS-EXT-STS:power_state"] == 4  # powered off on its host
    assert gone["OS-EXT-SRV-ATTR:host"] == "compute1" and allocations(admin, ident)
    # as Nova, listed with the deleted servers only
    listed = admin.get(f"{NOVA}/servers", params={"name": f"^{name}$"}).json()["servers"]
    assert listed == []
    listed = admin.get(f"{NOVA}/servers/detail", params={
        "name": f"^{name}$", "deleted": "true"}).json()["servers"]
    assert [s["status"] for s in listed] == ["SOFT_DELETED"]
    # a second delete changes nothing; a restore brings it back, running
    assert admin.delete(f"{NOVA}/servers/{ident}").status_code == 204
    # (by id: as with Nova, the CLI cannot find a soft-deleted server by name)
    cloud.osc("server", "restore", ident, as_json=False)
    back = wait_for(admin, ident, "ACTIVE")
    assert back["OS-EXT-STS:power_state"] == 1
    events = [a["Action"] for a in cloud.osc("server", "event", "list", name)]
    assert events[:2] == ["restore", "delete"]
    # restore is only for a soft-deleted server
    r = admin.post(f"{NOVA}/servers/{ident}/action", json={"restore": None})
    assert r.status_code == 409 and "vm_state active" in r.text
    # --force deletes a soft-deleted server at once
    cloud.osc("server", "delete", name, as_json=False)
    wait_for(admin, ident, "SOFT_DELETED")
    cloud.osc("server", "delete", "--force", ident, as_json=False)
    assert wait_gone(admin, ident, 10) < INTERVAL
    assert allocations(admin, ident) == {}


def test_reclaim_after_the_interval(cloud: LiveCloud, admin: httpx.Client) -> None:
    name = unique("reclaim")
    ident = boot(cloud, name)
    kept = boot(cloud, unique("kept"))
    assert admin.delete(f"{NOVA}/servers/{kept}").status_code == 204
    assert admin.delete(f"{NOVA}/servers/{ident}").status_code == 204
    deleted_at = time.monotonic()
    wait_for(admin, ident, "SOFT_DELETED")
    wait_for(admin, kept, "SOFT_DELETED")
    assert admin.post(f"{NOVA}/servers/{kept}/action", json={"restore": None}).status_code \
        == 202
    assert allocations(admin, ident)  # still claimed while it can be restored
    wait_gone(admin, ident, INTERVAL + 10)
    assert time.monotonic() - deleted_at >= INTERVAL - 1  # not before the interval
    assert allocations(admin, ident) == {}
    # the restored one outlived the interval it was deleted with
    assert wait_for(admin, kept, "ACTIVE")["OS-EXT-STS:power_state"] == 1
    assert admin.post(f"{NOVA}/servers/{kept}/action",
                      json={"forceDelete": None}).status_code == 202
    wait_gone(admin, kept, 10)
    r = admin.get(f"{NOVA}/servers/detail", params={"deleted": "true", "name": f"^{name}$"})
    assert [s["status"] for s in r.json()["servers"]] == ["DELETED"]


def test_force_delete_and_restore_of_missing_servers_are_404(admin: httpx.Client) -> None:
    missing = "11111111-2222-3333-4444-555555555555"
    for body in ({"restore": None}, {"forceDelete": None}):
        r = admin.post(f"{NOVA}/servers/{missing}/action", json=body)
        assert r.status_code == 404, r.text


def test_member_restores_own_server(cloud: LiveCloud, admin: httpx.Client) -> None:
    token, _ = cloud.token("demo", project="demo")
    with cloud.client(token) as demo:
        image = admin.get("/image/v2/images", params={"name": IMAGE}).json()["images"][0]
        r = demo.post(f"{NOVA}/servers", json={"server": {
            "name": unique("mine"), "flavorRef": "1", "imageRef": image["id"],
            "networks": "none"}})
        assert r.status_code == 202, r.text
        ident = r.json()["server"]["id"]
        wait_for(admin, ident, "ACTIVE")
        assert demo.delete(f"{NOVA}/servers/{ident}").status_code == 204
        wait_for(admin, ident, "SOFT_DELETED")
        assert demo.post(f"{NOVA}/servers/{ident}/action",
                         json={"restore": None}).status_code == 202
        wait_for(admin, ident, "ACTIVE")
        assert demo.post(f"{NOVA}/servers/{ident}/action",
                         json={"forceDelete": None}).status_code == 202
        wait_gone(admin, ident, 10)


def test_shelved_server_soft_deletes_and_restores_shelved(cloud: LiveCloud,
                                                          admin: httpx.Client) -> None:
    name = unique("shsd")
    ident = boot(cloud, name)
    assert admin.post(f"{NOVA}/servers/{ident}/action", json={"shelve": None}).status_code \
        == 202
    wait_for(admin, ident, "SHELVED_OFFLOADED")
    snapshot = admin.get("/image/v2/images", params={"name": f"{name}-shelved"}).json()
    assert len(snapshot["images"]) == 1
    assert admin.delete(f"{NOVA}/servers/{ident}").status_code == 204
    gone = wait_for(admin, ident, "SOFT_DELETED")  # no guest to power off
    assert gone["OS-EXT-SRV-ATTR:host"] is None
    assert admin.post(f"{NOVA}/servers/{ident}/action",
                      json={"restore": None}).status_code == 202
    wait_for(admin, ident, "SHELVED_OFFLOADED")  # back as it was, its snapshot kept
    image_id = snapshot["images"][0]["id"]
    assert admin.get(f"/image/v2/images/{image_id}").status_code == 200
    assert admin.post(f"{NOVA}/servers/{ident}/action",
                      json={"forceDelete": None}).status_code == 202
    wait_gone(admin, ident, 10)
    deadline = time.monotonic() + 10  # the snapshot goes with the server
    while admin.get(f"/image/v2/images/{image_id}").status_code != 404:
        assert time.monotonic() < deadline
        time.sleep(0.1)


def test_server_that_never_ran_is_deleted_at_once(admin: httpx.Client) -> None:
    image = admin.get("/image/v2/images", params={"name": IMAGE}).json()["images"][0]
    flavor = admin.post(f"{NOVA}/flavors", json={"flavor": {
        "name": unique("huge"), "ram": 40_000, "vcpus": 1, "disk": 1}})
    assert flavor.status_code == 200, flavor.text
    flavor_id = flavor.json()["flavor"]["id"]
    r = admin.post(f"{NOVA}/servers", json={"server": {
        "name": unique("never"), "flavorRef": flavor_id, "imageRef": image["id"],
        "networks": "none"}})
    assert r.status_code == 202, r.text
    ident = r.json()["server"]["id"]
    wait_for(admin, ident, "ERROR")  # more RAM than the host has (16 GiB x 1.5): it never launched
    assert admin.delete(f"{NOVA}/servers/{ident}").status_code == 204
    wait_gone(admin, ident, 10)
    assert admin.delete(f"{NOVA}/flavors/{flavor_id}").status_code == 202
