"""Rehearsed hypervisor failures end cleanly, seen through the public API.

One cloud, five fake hosts, each told to fail its own way (``fake_fail`` per host): a build
forced onto a failing host ends in ERROR with its placement claim released — never BUILD
forever — and a guest that dies later is reported shut down by its host. The healthy host
shows that the spawn spec reaches the driver whole, and that rescue and rebuild are real
driver operations.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import LiveCloud, own_cloud

V21 = "/compute/v2.1"
MV = {"OpenStack-API-Version": "compute 2.96"}
PLACEMENT = {"OpenStack-API-Version": "placement 1.9"}
FAILURES = "spawn@compute1,hang@compute2,crash@compute3,guest_dies=1@compute4"


@pytest.fixture(scope="module")
def failing(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveCloud]:
    yield from own_cloud(tmp_path_factory, "failing", {
        "POCKETSTACK_COMPUTE_HOSTS": "5",
        "POCKETSTACK_FAKE_FAIL": FAILURES,
        "POCKETSTACK_BUILD_TIMEOUT": "1",
        "POCKETSTACK_RECONCILE_INTERVAL": "0.2",
        "POCKETSTACK_HEARTBEAT_INTERVAL": "0.3"})


@pytest.fixture(scope="module")
def admin(failing: LiveCloud) -> Iterator[httpx.Client]:
    token, _ = failing.token()
    with failing.client(token) as client:
        deadline = time.monotonic() + 15
        while len(client.get(f"{V21}/os-hypervisors").json()["hypervisors"]) < 5:
            assert time.monotonic() < deadline, "the five hosts did not report"
            time.sleep(0.1)
        yield client


def _boot(admin: httpx.Client, host: str, name: str) -> str:
    image = admin.get("/image/v2/images").json()["images"][0]["id"]
    r = admin.post(f"{V21}/servers", headers=MV, json={"server": {
        "name": name, "imageRef": image, "flavorRef": "1", "networks": "none",
        "availability_zone": f"nova:{host}"}})
    assert r.status_code == 202, r.text
    return str(r.json()["server"]["id"])


def _wait(admin: httpx.Client, server_id: str, statuses: set[str],
          timeout: float = 20) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        server = admin.get(f"{V21}/servers/{server_id}", headers=MV).json()["server"]
        if server["status"] in statuses:
            return dict(server)
        assert time.monotonic() < deadline, f"{server_id} stuck in {server['status']}"
        time.sleep(0.1)


def _claim(admin: httpx.Client, server_id: str) -> dict[str, Any]:
    r = admin.get(f"/placement/allocations/{server_id}", headers=PLACEMENT)
    return dict(r.json()["allocations"])


@pytest.mark.parametrize("host, fault", [
    # the spawn fails; the forced host was the only candidate, so no host is left to retry
    ("compute1", "already tried for this instance on 1 host"),
    ("compute2", "Build timed out"),  # the spawn never returns
    ("compute3", "Build timed out"),  # the agent died mid-spawn
])
def test_a_failing_host_leaves_the_build_in_error_with_its_claim_released(
        admin: httpx.Client, host: str, fault: str) -> None:
    server_id = _boot(admin, host, f"fails-on-{host}")
    server = _wait(admin, server_id, {"ERROR", "ACTIVE"})
    assert server["status"] == "ERROR", server
    assert fault in server["fault"]["message"] + server["fault"].get("details", "")
    assert _claim(admin, server_id) == {}
    assert admin.delete(f"{V21}/servers/{server_id}").status_code == 204
    deadline = time.monotonic() + 20
    while admin.get(f"{V21}/servers/{server_id}").status_code != 404:
        assert time.monotonic() < deadline, "the failed server could not be deleted"
        time.sleep(0.1)


def test_usage_counts_only_the_servers_that_run(admin: httpx.Client,
                                                 failing: LiveCloud) -> None:
    _, body = failing.token()
    server_id = _boot(admin, "compute1", "fails-again")
    assert _wait(admin, server_id, {"ERROR", "ACTIVE"})["status"] == "ERROR"
    usages = admin.get("/placement/usages", params={"project_id": body["project"]["id"]},
                       headers=PLACEMENT).json()["usages"]
    running = [s for s in admin.get(f"{V21}/servers/detail").json()["servers"]
               if s["status"] != "ERROR"]
    assert usages.get("MEMORY_MB", 0) == 512 * len(running)  # flavor 1: 512 MB each


def test_a_guest_that_dies_later_is_reported_shut_down(admin: httpx.Client,
                                                       failing: LiveCloud) -> None:
    server_id = _boot(admin, "compute4", "mortal")
    assert _wait(admin, server_id, {"ACTIVE", "ERROR"})["status"] == "ACTIVE"
    assert _claim(admin, server_id)  # it runs: its claim stays
    time.sleep(1.5)
    out = admin.post(f"{V21}/servers/{server_id}/action",
                     json={"os-getConsoleOutput": {"length": 3}}).json()["output"]
    assert "Kernel panic" in out
    # the host's own record (what it heartbeats to the conductor) has it shut down
    guest = json.loads((failing.state_dir / "hypervisors" / "compute4" / "guests" /
                        f"{server_id}.json").read_text())
    assert guest["power_state"] == 4  # SHUTDOWN
    # and the conductor's power sync turns that into what the user sees: SHUTOFF
    shown = _wait(admin, server_id, {"SHUTOFF", "ERROR"})
    assert (shown["status"], shown["OS-EXT-STS:power_state"]) == ("SHUTOFF", 4)
    actions = admin.get(f"{V21}/servers/{server_id}/os-instance-actions").json()[
        "instanceActions"]
    assert "stop" in [a["action"] for a in actions]


def test_the_spawn_spec_reaches_the_driver_whole_and_rescue_and_rebuild_are_real(
        admin: httpx.Client, failing: LiveCloud) -> None:
    images = admin.get("/image/v2/images").json()["images"]
    image = images[0]
    server_id = _boot(admin, "compute5", "healthy")
    assert _wait(admin, server_id, {"ACTIVE", "ERROR"})["status"] == "ACTIVE"
    record = failing.state_dir / "hypervisors" / "compute5" / "guests" / f"{server_id}.json"
    spec = json.loads(record.read_text())["spec"]
    assert spec["image"]["id"] == image["id"]
    assert spec["image"]["path"] == str(failing.state_dir.resolve() / "images" / image["id"])
    assert spec["image"]["size"] == image["size"]
    assert spec["image"]["disk_format"] == image["disk_format"]
    flavor = admin.get(f"{V21}/flavors/1").json()["flavor"]
    assert spec["block_devices"] == {
        "root_gb": flavor["disk"], "ephemeral_gb": flavor["OS-FLV-EXT-DATA:ephemeral"],
        "swap_mb": flavor["swap"] or 0, "root_device_name": "/dev/vda", "volumes": []}
    assert spec["network_interfaces"] == [] and spec["hostname"] == "healthy"

    url = f"{V21}/servers/{server_id}/action"

    def console() -> str:
        return str(admin.post(url, json={"os-getConsoleOutput": {}}).json()["output"])

    assert admin.post(url, json={"rescue": {"rescue_image_ref": image["id"]}}).status_code == 200
    assert _wait(admin, server_id, {"RESCUE", "ERROR"})["status"] == "RESCUE"
    assert f"Booting rescue image {image['id']}" in console()
    assert admin.post(url, json={"unrescue": None}).status_code == 202
    assert _wait(admin, server_id, {"ACTIVE", "ERROR"})["status"] == "ACTIVE"
    assert "Booting (unrescue)" in console()
    r = admin.post(url, json={"rebuild": {"imageRef": image["id"]}}, headers=MV)
    assert r.status_code == 202
    assert _wait(admin, server_id, {"ACTIVE", "ERROR"})["status"] == "ACTIVE"
    assert f"rebuilt from image {image['id']}" in console()

    assert admin.post(url, json={"changePassword": {"adminPass": "n3w-secret"}}
                      ).status_code == 202
    assert "administrator password changed" in console()
    guest = json.loads(record.read_text())
    assert guest["password_sha256"] == hashlib.sha256(b"n3w-secret").hexdigest()
    assert "n3w-secret" not in record.read_text()
    r = admin.post(url, json={"changePassword": {"adminPass": 5}})
    assert r.status_code == 400 and "badRequest" in r.json()
    assert admin.post(url, json={"os-stop": None}).status_code == 202
    assert _wait(admin, server_id, {"SHUTOFF", "ERROR"})["status"] == "SHUTOFF"
    r = admin.post(url, json={"changePassword": {"adminPass": "x"}})
    assert r.status_code == 409 and "conflictingRequest" in r.json()
