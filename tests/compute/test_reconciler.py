"""Nothing stays stuck: a build that never finishes times out into ERROR (with its resources
given back), and a guest the database no longer places on a host is removed from it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import LiveCloud, own_cloud, start_cloud

V21 = "/compute/v2.1"
MV = {"OpenStack-API-Version": "compute 2.96"}


@pytest.fixture(scope="module")
def quick_cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveCloud]:
    yield from own_cloud(tmp_path_factory, "reconcile", {
        "POCKETSTACK_BUILD_TIMEOUT": "1",
        "POCKETSTACK_RECONCILE_INTERVAL": "0.2",
        "POCKETSTACK_HEARTBEAT_INTERVAL": "0.5"})


def _wait(client: httpx.Client, server_id: str, statuses: set[str], timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        server = client.get(f"{V21}/servers/{server_id}", headers=MV).json()["server"]
        if server["status"] in statuses:
            return dict(server)
        assert time.monotonic() < deadline, server["status"]
        time.sleep(0.1)


def test_build_that_never_finishes_ends_in_error(quick_cloud: LiveCloud) -> None:
    token, body = quick_cloud.token()
    with quick_cloud.client(token) as admin:
        image = admin.get("/image/v2/images").json()["images"][0]["id"]
        r = admin.post(f"{V21}/servers", headers=MV, json={"server": {
            "name": "hangs", "imageRef": image, "flavorRef": "1", "networks": "none",
            "metadata": {"fake:spawn_delay": "8"}}})
        assert r.status_code == 202
        server = _wait(admin, r.json()["server"]["id"], {"ERROR", "ACTIVE"}, timeout=15)
        assert server["status"] == "ERROR"
        assert "Build timed out" in server["fault"]["message"]
        usage = admin.get("/placement/usages", params={"project_id": body["project"]["id"]},
                          headers={"OpenStack-API-Version": "placement 1.9"}).json()["usages"]
        assert usage.get("MEMORY_MB", 0) == 0  # the claim was given back
        # the slow spawn finishes later on the hypervisor; the next heartbeats remove the
        # guest the database no longer places there, so it is deleted cleanly too
        assert admin.delete(f"{V21}/servers/{server['id']}").status_code == 204
        deadline = time.monotonic() + 10
        while admin.get(f"{V21}/servers/{server['id']}").status_code != 404:
            assert time.monotonic() < deadline
            time.sleep(0.1)


def test_orphaned_guests_are_found(tmp_path: Path) -> None:
    """A guest a host reports is kept when the database places it there (or a task is under
    way), and removed when its instance is gone, deleted or placed elsewhere."""
    from pocketstack.common import migrate
    from pocketstack.common.bus import InProcessBus
    from pocketstack.common.db import Database
    from pocketstack.compute.conductor.conductor import Conductor
    from pocketstack.compute.domain import instances, states
    from pocketstack.config import load_settings
    from pocketstack.placement.client import PlacementClient

    db = Database(f"sqlite:///{tmp_path / 'c.db'}")
    migrate.upgrade(db)
    base = {"display_name": "g", "project_id": "p", "user_id": "u", "image_ref": None,
            "flavor": {"id": "1", "name": "m1.tiny", "vcpus": 1, "ram": 512, "disk": 1},
            "metadata": {}, "tags": [], "security_groups": [], "networks": [],
            "addresses": {}, "block_devices": [], "scheduler_hints": {}}
    rows = db.write(lambda conn: instances.create(conn, base, 4, 60))
    here, elsewhere, busy, gone = rows

    def place(conn, row, **values):  # type: ignore[no-untyped-def]
        instances.update(conn, instances.get(conn, row["uuid"]), values)

    db.write(lambda c: place(c, here, host="compute1", task_state=None,
                             vm_state=states.ACTIVE))
    db.write(lambda c: place(c, elsewhere, host="compute2", task_state=None,
                             vm_state=states.ACTIVE))
    db.write(lambda c: place(c, busy, host="compute2", task_state=states.RESIZE_FINISH))
    db.write(lambda c: place(c, gone, host="compute1", task_state=None, deleted=True))
    conductor = Conductor(db, InProcessBus(), load_settings(environ={}), PlacementClient(db))
    reported = [here["uuid"], elsewhere["uuid"], busy["uuid"], gone["uuid"], "never-known"]
    removed = {msg["uuid"] for topic, msg in conductor.hosts.orphans("compute1", reported)
               if topic == "compute.compute1" and msg["op"] == "destroy"}
    assert removed == {elsewhere["uuid"], gone["uuid"], "never-known"}
    db.dispose()


def test_failed_spawns_reschedule_then_error_naming_every_host(tmp_path: Path) -> None:
    """A spawn failure releases the claim and tries another host, up to max_attempts (3);
    then ERROR with each host's failure."""
    state = tmp_path / "state"
    state.mkdir()
    cloud = start_cloud(state, {"POCKETSTACK_COMPUTE_HOSTS": "3"})
    try:
        token, body = cloud.token()
        with cloud.client(token) as admin:
            image = admin.get("/image/v2/images").json()["images"][0]["id"]
            time.sleep(0.5)
            r = admin.post(f"{V21}/servers", headers=MV, json={"server": {
                "name": "unlucky", "imageRef": image, "flavorRef": "1", "networks": "none",
                "metadata": {"fake:fail_spawn": "1"}}})
            server = _wait(admin, r.json()["server"]["id"], {"ERROR", "ACTIVE"}, timeout=20)
            assert server["status"] == "ERROR"
            details = server["fault"]["details"]
            assert "failed on every host tried (3 attempts)" in details
            for host in ("compute1", "compute2", "compute3"):
                assert f"{host}: {host}: spawn failed (fake:fail_spawn)" in details
            usage = admin.get("/placement/usages", params={"project_id": body["project"]["id"]},
                              headers={"OpenStack-API-Version": "placement 1.9"}).json()
            assert usage["usages"].get("VCPU", 0) == 0
    finally:
        cloud.stop()


def test_servers_survive_a_cloud_restart(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    cloud = start_cloud(state)
    token, _ = cloud.token()
    with cloud.client(token) as admin:
        image = admin.get("/image/v2/images").json()["images"][0]["id"]
        r = admin.post(f"{V21}/servers", headers=MV, json={"server": {
            "name": "durable", "imageRef": image, "flavorRef": "1", "networks": "none"}})
        server_id = r.json()["server"]["id"]
        assert _wait(admin, server_id, {"ACTIVE", "ERROR"}, timeout=15)["status"] == "ACTIVE"
    cloud.stop()
    cloud = start_cloud(state)
    try:
        with cloud.client(token) as admin:
            server = admin.get(f"{V21}/servers/{server_id}", headers=MV).json()["server"]
            assert server["status"] == "ACTIVE"
            out = admin.post(f"{V21}/servers/{server_id}/action",
                             json={"os-getConsoleOutput": {"length": 5}})
            assert out.status_code == 200 and "login" in out.json()["output"]
            assert admin.post(f"{V21}/servers/{server_id}/action",
                              json={"os-stop": None}).status_code == 202
            assert _wait(admin, server_id, {"SHUTOFF"}, timeout=15)["status"] == "SHUTOFF"
    finally:
        cloud.stop()
