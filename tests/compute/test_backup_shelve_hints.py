"""Server backups with rotation, shelve to a real ``<name>-shelved`` snapshot and unshelve to
a chosen host, and the ``same_host``/``different_host``/``query`` scheduler hints — with the
stock CLI where a user would use it, on a cloud of two fake compute hosts.

Checks that the CLI has no command for go over HTTP (faster)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.compute.test_servers import IMAGE
from tests.conftest import LiveCloud, own_cloud, unique

NOVA = "/compute/v2.1"
GLANCE = "/image/v2"


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveCloud]:
    yield from own_cloud(tmp_path_factory, "bsh", {
        "POCKETSTACK_COMPUTE_HOSTS": "2",
        "POCKETSTACK_SCHEDULER_FILTERS": "ComputeFilter,AvailabilityZoneFilter,"
        "SameHostFilter,DifferentHostFilter,JsonFilter"})


@pytest.fixture(scope="module")
def admin(cloud: LiveCloud) -> Iterator[httpx.Client]:
    token, _ = cloud.token()
    with cloud.client(token) as client:
        client.headers["OpenStack-API-Version"] = "compute 2.96"
        yield client


def boot(cloud: LiveCloud, name: str, *extra: str) -> dict[str, Any]:
    return dict(cloud.osc("server", "create", "--flavor", "m1.tiny", "--image", IMAGE,
                          "--nic", "none", *extra, "--wait", name))


def server(admin: httpx.Client, ident: str) -> dict[str, Any]:
    r = admin.get(f"{NOVA}/servers/{ident}")
    assert r.status_code == 200, r.text
    return dict(r.json()["server"])


def wait_for(admin: httpx.Client, ident: str, status: str, timeout: float = 20) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        found = server(admin, ident)
        if found["status"] == status and not found["OS-EXT-STS:task_state"]:
            return found
        assert time.monotonic() < deadline, f"{ident} stuck in {found['status']}"
        time.sleep(0.05)


def remove(admin: httpx.Client, *ids: str) -> None:
    """Delete servers a test made (the project's instance quota is 10)."""
    for ident in ids:
        assert admin.delete(f"{NOVA}/servers/{ident}").status_code == 204


def backups(admin: httpx.Client, server_id: str, kind: str) -> list[dict[str, Any]]:
    r = admin.get(f"{GLANCE}/images", params={
        "image_type": "backup", "backup_type": kind, "instance_uuid": server_id,
        "sort_key": "created_at", "sort_dir": "asc"})
    assert r.status_code == 200, r.text
    return list(r.json()["images"])


def action(admin: httpx.Client, ident: str, body: dict[str, Any],
           version: str = "2.96") -> httpx.Response:
    return admin.post(f"{NOVA}/servers/{ident}/action", json=body,
                      headers={"OpenStack-API-Version": f"compute {version}"})


def test_backup_rotation(cloud: LiveCloud, admin: httpx.Client) -> None:
    name = unique("bk")
    server_id = boot(cloud, name)["id"]
    made: list[str] = []
    backup = unique("daily")
    image = cloud.osc("server", "backup", "create", "--name", backup, "--type", "daily",
                      "--rotate", "2", "--wait", name)
    assert image["name"] == backup and image["status"] == "active"
    made.append(backup)
    # three more at once (a second or less apart): image times keep sub-second precision (as
    # Glance's), so rotation and the created_at sort keep them in the order they were made
    started = time.monotonic()
    for _ in range(3):
        backup = unique("daily")
        r = action(admin, server_id, {"createBackup": {
            "name": backup, "backup_type": "daily", "rotation": 2}})
        assert r.status_code == 202, r.text
        made.append(backup)
    assert time.monotonic() - started < 5
    kept = backups(admin, server_id, "daily")
    assert [i["name"] for i in kept] == made[-2:]  # the oldest went beyond rotation 2
    assert kept[-1]["image_type"] == "backup" and kept[-1]["backup_type"] == "daily"
    assert kept[-1]["instance_uuid"] == server_id
    actions = cloud.osc("server", "event", "list", name)
    assert [a["Action"] for a in actions].count("createBackup") == 4
    # another type is rotated apart; before 2.45 the image's URL is in Location
    r = action(admin, server_id, {"createBackup": {
        "name": unique("weekly"), "backup_type": "weekly", "rotation": "1",
        "metadata": {"purpose": "test"}}}, "2.44")
    assert r.status_code == 202 and r.content == b""
    weekly = backups(admin, server_id, "weekly")
    assert len(weekly) == 1 and r.headers["Location"].endswith(f"/images/{weekly[0]['id']}")
    assert weekly[0]["purpose"] == "test"
    assert len(backups(admin, server_id, "daily")) == 2
    # rotation 0 keeps none, not even the new one (2.45: the id in the body)
    r = action(admin, server_id, {"createBackup": {
        "name": unique("daily"), "backup_type": "daily", "rotation": 0}})
    assert r.status_code == 202 and set(r.json()) == {"image_id"}
    assert backups(admin, server_id, "daily") == []
    assert admin.get(f"{GLANCE}/images/{r.json()['image_id']}").status_code == 404
    assert wait_for(admin, server_id, "ACTIVE")["status"] == "ACTIVE"
    remove(admin, server_id)


@pytest.mark.parametrize("body", [
    {"name": "b", "backup_type": "daily", "rotation": -1},
    {"name": "b", "backup_type": "daily", "rotation": "two"},
    {"name": "b", "backup_type": 7, "rotation": 1},
    {"name": "b", "rotation": 1},
    {"name": " b", "backup_type": "daily", "rotation": 1},
    {"name": "b", "backup_type": "daily", "rotation": 1, "extra": True},
])
def test_backup_bad_input_is_400(cloud: LiveCloud, admin: httpx.Client,
                                 body: dict[str, Any]) -> None:
    found = admin.get(f"{NOVA}/servers", params={"name": "^bad-bk$"}).json()["servers"]
    server_id = found[0]["id"] if found else boot(cloud, "bad-bk")["id"]
    before = len(admin.get(f"{GLANCE}/images").json()["images"])
    r = action(admin, server_id, {"createBackup": body})
    assert r.status_code == 400, r.text
    assert "badRequest" in r.json()
    assert len(admin.get(f"{GLANCE}/images").json()["images"]) == before


def test_backup_in_wrong_state_is_409(cloud: LiveCloud, admin: httpx.Client) -> None:
    server_id = boot(cloud, unique("bk409"))["id"]
    assert action(admin, server_id, {"os-resetState": {"state": "error"}}).status_code == 202
    r = action(admin, server_id, {"createBackup": {
        "name": "x", "backup_type": "daily", "rotation": 1}})
    assert r.status_code == 409, r.text
    assert f"Cannot 'createBackup' instance {server_id} while it is in vm_state error" in \
        r.json()["conflictingRequest"]["message"]
    assert backups(admin, server_id, "daily") == []
    remove(admin, server_id)


def placement_allocations(cloud: LiveCloud, admin: httpx.Client, uuid: str) -> dict:
    r = admin.get(f"/placement/allocations/{uuid}",
                  headers={"OpenStack-API-Version": "placement 1.28"})
    assert r.status_code == 200, r.text
    return dict(r.json()["allocations"])


def test_shelve_snapshot_and_unshelve_to_host(cloud: LiveCloud, admin: httpx.Client) -> None:
    name = unique("shv")
    server_id = boot(cloud, name)["id"]
    made = server(admin, server_id)
    first = made["OS-EXT-SRV-ATTR:host"]
    other = "compute2" if first == "compute1" else "compute1"
    cloud.osc("server", "shelve", "--wait", name, as_json=False)
    shelved = wait_for(admin, server_id, "SHELVED_OFFLOADED")
    assert shelved["OS-EXT-SRV-ATTR:host"] is None
    assert placement_allocations(cloud, admin, server_id) == {}  # the host's room is freed
    images = admin.get(f"{GLANCE}/images", params={"name": f"{name}-shelved"}).json()["images"]
    assert len(images) == 1
    snapshot = images[0]
    assert snapshot["status"] == "active" and snapshot["instance_uuid"] == server_id
    assert snapshot["image_type"] == "snapshot"
    # a shelved server is not shelved again
    assert action(admin, server_id, {"shelve": None}).status_code == 409
    # to the other host, as 2.91 lets an admin ask
    cloud.osc("--os-compute-api-version", "2.91", "server", "unshelve", "--host", other,
              "--wait", name, as_json=False)
    back = wait_for(admin, server_id, "ACTIVE")
    assert back["OS-EXT-SRV-ATTR:host"] == other
    assert back["image"]["id"] == made["image"]["id"]  # still the image it was built from
    assert admin.get(f"{GLANCE}/images/{snapshot['id']}").status_code == 404  # served
    assert list(placement_allocations(cloud, admin, server_id))  # claimed on its new host
    # and back to the first host
    assert action(admin, server_id, {"shelve": None}).status_code == 202
    wait_for(admin, server_id, "SHELVED_OFFLOADED")
    r = action(admin, server_id, {"unshelve": {"host": first}}, "2.91")
    assert r.status_code == 202, r.text
    assert wait_for(admin, server_id, "ACTIVE")["OS-EXT-SRV-ATTR:host"] == first
    left = admin.get(f"{GLANCE}/images", params={"name": f"{name}-shelved"}).json()["images"]
    assert left == []
    remove(admin, server_id)


def test_unshelve_refusals(cloud: LiveCloud, admin: httpx.Client) -> None:
    name = unique("shn")
    server_id = boot(cloud, name)["id"]
    # zone or host only for a shelved-offloaded server
    r = action(admin, server_id, {"unshelve": {"availability_zone": "nova"}}, "2.77")
    assert r.status_code == 409 and "while it is in vm_state active" in r.text
    assert action(admin, server_id, {"unshelve": None}).status_code == 409
    assert action(admin, server_id, {"shelve": None}).status_code == 202
    wait_for(admin, server_id, "SHELVED_OFFLOADED")
    cases: list[tuple[dict[str, Any], str, int]] = [
        ({"unshelve": {"host": "compute1"}}, "2.90", 400),  # host is 2.91's
        ({"unshelve": {}}, "2.77", 400),  # 2.77 wants availability_zone
        ({"unshelve": {"availability_zone": "nowhere"}}, "2.77", 400),
        ({"unshelve": {"host": "compute9"}}, "2.91", 400),  # no such compute host
        ({"unshelve": {"availability_zone": "elsewhere", "host": "compute1"}}, "2.91", 400),
        ({"unshelve": {"host": "compute1", "extra": 1}}, "2.91", 400),
    ]
    for body, version, status in cases:
        r = action(admin, server_id, body, version)
        assert r.status_code == status, (body, version, r.text)
    assert server(admin, server_id)["status"] == "SHELVED_OFFLOADED"
    # a member may unshelve their server but not choose its host
    token, _ = cloud.token("demo", project="demo")
    with cloud.client(token) as demo:
        demo.headers["OpenStack-API-Version"] = "compute 2.91"
        mine = demo.post(f"{NOVA}/servers", json={"server": {
            "name": unique("mine"), "flavorRef": "1", "imageRef": server(
                admin, server_id)["image"]["id"], "networks": "none"}})
        assert mine.status_code == 202, mine.text
        mine_id = mine.json()["server"]["id"]
        wait_for(admin, mine_id, "ACTIVE")
        assert demo.post(f"{NOVA}/servers/{mine_id}/action",
                         json={"shelve": None}).status_code == 202
        wait_for(admin, mine_id, "SHELVED_OFFLOADED")
        r = demo.post(f"{NOVA}/servers/{mine_id}/action",
                      json={"unshelve": {"host": "compute1"}})
        assert r.status_code == 403, r.text
        assert "unshelve_to_host" in r.text
        assert demo.post(f"{NOVA}/servers/{mine_id}/action",
                         json={"unshelve": {"availability_zone": "nova"}}).status_code == 202
        wait_for(admin, mine_id, "ACTIVE")
        assert demo.delete(f"{NOVA}/servers/{mine_id}").status_code == 204
    # deleting a shelved server deletes its snapshot too
    snapshot = admin.get(f"{GLANCE}/images", params={"name": f"{name}-shelved"}).json()
    assert len(snapshot["images"]) == 1
    assert admin.delete(f"{NOVA}/servers/{server_id}").status_code == 204
    deadline = time.monotonic() + 10
    while admin.get(f"{GLANCE}/images/{snapshot['images'][0]['id']}").status_code != 404:
        assert time.monotonic() < deadline, "the shelved snapshot outlived its server"
        time.sleep(0.1)


def test_same_host_and_different_host_hints(cloud: LiveCloud, admin: httpx.Client) -> None:
    anchor = boot(cloud, unique("anc"))["id"]
    home = server(admin, anchor)["OS-EXT-SRV-ATTR:host"]
    other = "compute2" if home == "compute1" else "compute1"
    near = boot(cloud, unique("near"), "--hint", f"same_host={anchor}")["id"]
    far = boot(cloud, unique("far"), "--hint", f"different_host={anchor}")["id"]
    assert server(admin, near)["OS-EXT-SRV-ATTR:host"] == home
    assert server(admin, far)["OS-EXT-SRV-ATTR:host"] == other
    # away from both: no host is left, and each host says why
    name = unique("nowhere")
    cloud.osc("server", "create", "--flavor", "m1.tiny", "--image", IMAGE, "--nic", "none",
              "--hint", f"different_host={anchor}", "--hint", f"different_host={far}", name)
    found = admin.get(f"{NOVA}/servers", params={"name": f"^{name}$"}).json()["servers"]
    refused = wait_for(admin, found[0]["id"], "ERROR")
    assert refused["fault"]["message"].startswith("No valid host was found.")
    assert f"{home}: different_host hint: 1 of the servers named run here" in \
        refused["fault"]["details"]
    assert f"{other}: different_host hint: 1 of the servers named run here" in \
        refused["fault"]["details"]
    # with both anchors' hosts as same_host candidates, either does
    both = boot(cloud, unique("both"), "--hint", f"same_host={anchor}",
                "--hint", f"same_host={far}")["id"]
    assert server(admin, both)["OS-EXT-SRV-ATTR:host"] in {home, other}
    remove(admin, anchor, near, far, found[0]["id"], both)


def test_query_hint(cloud: LiveCloud, admin: httpx.Client) -> None:
    placed = boot(cloud, unique("qry"), "--hint", 'query=["=", "$host", "compute2"]')["id"]
    assert server(admin, placed)["OS-EXT-SRV-ATTR:host"] == "compute2"
    big = boot(cloud, unique("qry"), "--hint",
               'query=["and", [">=", "$free_ram_mb", 1024], ["in", "$host", "compute1"]]')
    assert server(admin, big["id"])["OS-EXT-SRV-ATTR:host"] == "compute1"
    r = admin.post(f"{NOVA}/servers", json={
        "server": {"name": unique("qry"), "flavorRef": "1", "networks": "none",
                   "imageRef": server(admin, placed)["image"]["id"]},
        "os:scheduler_hints": {"query": '[">", "$free_ram_mb", 100000000]'}})
    assert r.status_code == 202
    refused = wait_for(admin, r.json()["server"]["id"], "ERROR")
    assert "compute1: query hint: the host does not match the query" in \
        refused["fault"]["details"]
    remove(admin, placed, big["id"], refused["id"])


@pytest.mark.parametrize("hints", [
    {"same_host": "not-a-uuid"}, {"different_host": ["x"]}, {"same_host": 5},
    {"query": 5},
])
def test_bad_hints_are_400(admin: httpx.Client, hints: dict[str, Any]) -> None:
    r = admin.post(f"{NOVA}/servers", json={
        "server": {"name": "bad-hint", "flavorRef": "1", "networks": "none",
                   "imageRef": "00000000-0000-0000-0000-000000000000"},
        "os:scheduler_hints": hints})
    assert r.status_code == 400, r.text
