"""The seed's story: fill the hosts until a boot fails with "No valid host was found" and the
reason per host; add a compute host in a second process over RabbitMQ; the next boot lands on
it. Plus the concurrency rule: many simultaneous boots never over-commit a host."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.conftest import BIN, REQUIRE_DBS, LiveCloud, own_cloud, start_cloud

V21 = "/compute/v2.1"
LATEST = {"OpenStack-API-Version": "compute 2.96"}


@pytest.fixture(scope="module")
def amqp_url() -> Iterator[str]:
    """A private RabbitMQ vhost, so this test's queues never meet another cloud's."""
    ctl = shutil.which("rabbitmqctl")
    vhost = f"pstest-{uuid.uuid4().hex[:8]}"
    ok = ctl is not None and subprocess.run(
        [ctl, "add_vhost", vhost], capture_output=True, timeout=60).returncode == 0
    if not ok:
        if REQUIRE_DBS:
            pytest.fail("RabbitMQ is required (POCKETSTACK_REQUIRE_DBS=1) but unreachable")
        pytest.skip("RabbitMQ not reachable on loopback; skipping the multi-process story")
    assert ctl is not None
    subprocess.run([ctl, "set_permissions", "-p", vhost, "guest", ".*", ".*", ".*"],
                   check=True, capture_output=True, timeout=60)
    try:
        yield f"amqp://guest:guest@127.0.0.1:5672/{vhost}"
    finally:
        subprocess.run([ctl, "delete_vhost", vhost], capture_output=True, timeout=60)


def _image(client: httpx.Client) -> str:
    return str(client.get("/image/v2/images",
                          params={"name": "pocketstack-empty-qcow2"}).json()["images"][0]["id"])


def _boot(client: httpx.Client, image: str, flavor: str, name: str) -> str:
    r = client.post(f"{V21}/servers", headers=LATEST, json={"server": {
        "name": name, "imageRef": image, "flavorRef": flavor, "networks": "none"}})
    assert r.status_code == 202, r.text
    return str(r.json()["server"]["id"])


def _settle(client: httpx.Client, server_id: str, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        server = client.get(f"{V21}/servers/{server_id}", headers=LATEST).json()["server"]
        if server["status"] in ("ACTIVE", "ERROR"):
            return dict(server)
        assert time.monotonic() < deadline, f"{server_id} stuck in {server['status']}"
        time.sleep(0.05)


@pytest.fixture(scope="module")
def story_cloud(tmp_path_factory: pytest.TempPathFactory, amqp_url: str) -> Iterator[LiveCloud]:
    yield from own_cloud(tmp_path_factory, "story", {
        "POCKETSTACK_TRANSPORT_URL": amqp_url, "POCKETSTACK_FAKE_MEMORY_MB": "2048",
        "POCKETSTACK_FAKE_VCPUS": "4", "POCKETSTACK_HEARTBEAT_INTERVAL": "1"})


def test_no_valid_host_then_add_a_compute_host(story_cloud: LiveCloud, amqp_url: str,
                                                tmp_path: Path) -> None:
    cloud = story_cloud
    token, _ = cloud.token()
    demo_token, _ = cloud.token("demo", project="demo")
    with cloud.client(token) as admin, cloud.client(demo_token) as demo:
        image = _image(admin)
        first = _settle(admin, _boot(admin, image, "2", "fits"))  # m1.small, 2048 MB
        assert first["status"] == "ACTIVE" and first["OS-EXT-SRV-ATTR:host"] == "compute1"
        refused = _settle(admin, _boot(admin, image, "2", "too-big"))
        assert refused["status"] == "ERROR"
        fault = refused["fault"]
        assert fault["message"].startswith("No valid host was found.")
        assert "compute1: not enough RAM (1024 MB free, 2048 MB asked)" in fault["details"]
        # a member gets a useful summary, without host names
        mine = _settle(demo, _boot(demo, image, "2", "members-too"))
        assert mine["status"] == "ERROR"
        assert "not enough RAM on 1 host" in mine["fault"]["message"]
        assert "compute1" not in str(mine["fault"]) and "details" not in mine["fault"]
        # the operator's explanation, host by host
        out = subprocess.run([str(BIN / "pocketstack"), "explain", "server", refused["id"],
                              "--state-dir", str(cloud.state_dir)], capture_output=True,
                             text=True, timeout=60, check=True).stdout
        assert "compute1: rejected by placement: not enough RAM (1024 MB free, 2048 MB asked)" \
            in out
        # a second compute host joins from another process
        env = dict(os.environ, POCKETSTACK_HEARTBEAT_INTERVAL="1")
        agent = subprocess.Popen(
            [str(BIN / "pocketstack"), "agent", "compute", "--host", "compute2",
             "--transport-url", amqp_url, "--memory-mb", "8192"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
        try:
            deadline = time.monotonic() + 30
            while True:
                svcs = admin.get(f"{V21}/os-services", headers=LATEST).json()["services"]
                up = {(s["binary"], s["host"]) for s in svcs if s["state"] == "up"}
                if ("nova-compute", "compute2") in up:
                    break
                assert time.monotonic() < deadline, f"compute2 never came up: {svcs}"
                time.sleep(0.2)
            assert {"nova-conductor", "nova-scheduler"} <= {b for b, _ in up}
            listed = cloud.osc("compute", "service", "list")
            assert {("nova-compute", "compute1"), ("nova-compute", "compute2")} <= {
                (s["Binary"], s["Host"]) for s in listed}
            landed = _settle(admin, _boot(admin, image, "2", "lands-on-compute2"))
            assert landed["status"] == "ACTIVE"
            assert landed["OS-EXT-SRV-ATTR:host"] == "compute2"
            # and a delete on the remote host completes
            assert admin.delete(f"{V21}/servers/{landed['id']}").status_code == 204
            deadline = time.monotonic() + 30
            while admin.get(f"{V21}/servers/{landed['id']}").status_code != 404:
                assert time.monotonic() < deadline
                time.sleep(0.05)
        finally:
            agent.terminate()
            agent.wait(timeout=15)


def test_concurrent_boots_never_overcommit(tmp_path: Path) -> None:
    """50 simultaneous boots against room for 30: exactly 30 ACTIVE, 20 ERROR with reasons,
    placement usage equal to the sum of the ACTIVE flavors."""
    state = tmp_path / "state"
    state.mkdir()
    # one host: 10240 MB x 1.5 = room for exactly 30 m1.tiny (512 MB)
    cloud = start_cloud(state, {"POCKETSTACK_FAKE_MEMORY_MB": "10240",
                                "POCKETSTACK_FAKE_VCPUS": "8"})
    try:
        token, body = cloud.token()
        project = body["project"]["id"]
        with cloud.client(token) as admin:
            r = admin.put(f"{V21}/os-quota-sets/{project}", json={"quota_set": {
                "instances": 100, "cores": 200, "ram": 200000}})
            assert r.status_code == 200, r.text
            image = _image(admin)

            def boot(i: int) -> str:
                with cloud.client(token) as c:
                    return _boot(c, image, "1", f"crowd-{i}")

            with ThreadPoolExecutor(16) as pool:
                ids = list(pool.map(boot, range(50)))
            results = [_settle(admin, sid, timeout=60) for sid in ids]
            active = [s for s in results if s["status"] == "ACTIVE"]
            errors = [s for s in results if s["status"] == "ERROR"]
            assert len(active) == 30 and len(errors) == 20
            reasons = [s["fault"]["details"] for s in errors]
            assert all("compute1: not enough RAM (0 MB free, 512 MB asked)" in r
                       for r in reasons), reasons
            usages = cloud_placement_usage(cloud, token, project)
            assert usages["MEMORY_MB"] == 30 * 512 and usages["VCPU"] == 30
    finally:
        cloud.stop()


def cloud_placement_usage(cloud: LiveCloud, token: str, project: str) -> dict:
    r = httpx.get(cloud.url + "/placement/usages", params={"project_id": project},
                  headers={"X-Auth-Token": token, "OpenStack-API-Version": "placement 1.9"})
    assert r.status_code == 200, r.text
    return dict(r.json()["usages"])
