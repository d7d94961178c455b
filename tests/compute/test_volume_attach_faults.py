"""A volume attach the host fails or never finishes is rolled back within its deadline
(``volume_attach_timeout``): the volume is ``available`` again, the server ``ACTIVE`` with no
task and no mapping left, the ``attach_volume`` action ends in ``Error`` — and a second attempt
on a healthy host works. The fake driver's ``fake_fail`` makes the hosts misbehave:
``compute1`` fails every attach, ``compute2`` takes far longer than the deadline."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import LiveCloud, own_cloud, start_cloud, unique
from tests.volume.conftest import wait_volume

V21 = "/compute/v2.1"
DEADLINE = 2.0


@pytest.fixture(scope="module")
def faulty(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveCloud]:
    yield from own_cloud(tmp_path_factory, "attachfaults", {
        "POCKETSTACK_COMPUTE_HOSTS": "3",
        "POCKETSTACK_FAKE_FAIL": "attach@compute1,"
        "attach_delay=30@compute2",
        "POCKETSTACK_VOLUME_ATTACH_TIMEOUT": str(DEADLINE),
        "POCKETSTACK_RECONCILE_INTERVAL": "0.5"})


@pytest.fixture(scope="module")
def admin(faulty: LiveCloud) -> Iterator[httpx.Client]:
    token, _ = faulty.token()
    with faulty.client(token) as client:
        yield client


def _server_on(admin: httpx.Client, host: str) -> str:
    image = admin.get("/image/v2/images", params={"name": "pocketstack-empty-qcow2"}).json()
    r = admin.post(f"{V21}/servers", json={"server": {
        "name": unique("att"), "imageRef": image["images"][0]["id"], "flavorRef": "1",
        "networks": "none", "availability_zone": f"nova:{host}"}},
        headers={"OpenStack-API-Version": "compute 2.37"})
    assert r.status_code == 202, r.text
    sid: str = r.json()["server"]["id"]
    _wait_idle(admin, sid, "ACTIVE", 30)
    return sid


def _wait_idle(admin: httpx.Client, sid: str, status: str, timeout: float) -> dict[str, Any]:
    end = time.monotonic() + timeout
    while True:
        server: dict[str, Any] = admin.get(f"{V21}/servers/{sid}").json()["server"]
        if server["status"] == status and server["OS-EXT-STS:task_state"] is None:
            return server
        assert time.monotonic() < end, server
        time.sleep(0.1)


def _volume(admin: httpx.Client) -> str:
    r = admin.post("/volume/v3/volumes", json={"volume": {"size": 1, "name": unique("v")}})
    assert r.status_code == 202, r.text
    vid: str = r.json()["volume"]["id"]
    wait_volume(admin, vid)
    return vid


def _guest_volumes(admin: httpx.Client, sid: str) -> int:
    r = admin.get(f"{V21}/servers/{sid}/diagnostics",
                  headers={"OpenStack-API-Version": "compute 2.48"})
    assert r.status_code == 200, r.text
    return int(r.json()["num_disks"]) - 1


def _attach_rolled_back(admin: httpx.Client, host: str, reason: str) -> tuple[str, str]:
    sid, vid = _server_on(admin, host), _volume(admin)
    t0 = time.monotonic()
    r = admin.post(f"{V21}/servers/{sid}/os-volume_attachments",
                   json={"volumeAttachment": {"volumeId": vid}})
    assert r.status_code == 200, r.text  # accepted: the API does not wait for the host
    assert r.json()["volumeAttachment"]["device"] == "/dev/vdb"
    assert time.monotonic() - t0 < DEADLINE
    vol = wait_volume(admin, vid, "available", "in-use")  # attaching meanwhile
    took = time.monotonic() - t0
    assert vol["status"] == "available" and vol["attachments"] == [], vol
    assert took < DEADLINE + 3, took  # rolled back at the deadline, not by a later sweep
    server = _wait_idle(admin, sid, "ACTIVE", 5)
    assert server["os-extended-volumes:volumes_attached"] == []
    assert admin.get(f"{V21}/servers/{sid}/os-volume_attachments").json() == {
        "volumeAttachments": []}
    assert _guest_volumes(admin, sid) == 0
    actions = admin.get(f"{V21}/servers/{sid}/os-instance-actions").json()["instanceActions"]
    [attach] = [a for a in actions if a["action"] == "attach_volume"]
    assert attach["message"] == "Error", attach
    detail = admin.get(f"{V21}/servers/{sid}/os-instance-actions/{attach['request_id']}",
                       headers={"OpenStack-API-Version": "compute 2.51"}).json()
    [event] = detail["instanceAction"]["events"]
    assert event["event"] == "compute_attach_volume" and event["result"] == "Error", event
    assert reason in event["traceback"], event
    return sid, vid


def test_a_failing_attach_is_rolled_back(faulty: LiveCloud, admin: httpx.Client) -> None:
    sid, vid = _attach_rolled_back(admin, "compute1", "fake_fail=attach")
    admin.delete(f"{V21}/servers/{sid}")
    assert admin.delete(f"/volume/v3/volumes/{vid}").status_code == 202


def test_a_hung_attach_ends_at_its_deadline(faulty: LiveCloud, admin: httpx.Client) -> None:
    sid, vid = _attach_rolled_back(admin, "compute2", "did not answer in time")
    # the server takes other work at once, and the volume can go elsewhere
    healthy = _server_on(admin, "compute3")
    faulty.osc("server", "add", "volume", healthy, vid, as_json=False)
    vol = wait_volume(admin, vid, "in-use")
    assert [a["server_id"] for a in vol["attachments"]] == [healthy]
    assert _guest_volumes(admin, healthy) == 1
    faulty.osc("server", "remove", "volume", healthy, vid, as_json=False)
    wait_volume(admin, vid, "available")
    assert _guest_volumes(admin, healthy) == 0
    for server in (sid, healthy):
        admin.delete(f"{V21}/servers/{server}")
    assert admin.delete(f"/volume/v3/volumes/{vid}").status_code == 202


def test_an_attach_interrupted_by_a_crash_is_rolled_back(faulty: LiveCloud,
                                                          admin: httpx.Client) -> None:
    """``kill -9`` while the host is plugging the volume: after the restart nobody drives that
    attach any more; the reconciler rolls it back once its deadline passes."""
    sid, vid = _server_on(admin, "compute2"), _volume(admin)
    r = admin.post(f"{V21}/servers/{sid}/os-volume_attachments",
                   json={"volumeAttachment": {"volumeId": vid}})
    assert r.status_code == 200, r.text
    assert admin.get(f"/volume/v3/volumes/{vid}").json()["volume"]["status"] == "attaching"
    faulty.process.kill()
    faulty.process.wait()
    port = int(faulty.url.rsplit(":", 1)[1])
    restarted = start_cloud(faulty.state_dir, {k: v for k, v in faulty.env.items()
                                               if k.startswith("POCKETSTACK_")}, port=port)
    faulty.process = restarted.process
    token, _ = faulty.token()
    with faulty.client(token) as again:
        vol = wait_volume(again, vid, "available")
        assert vol["attachments"] == [], vol
        server = _wait_idle(again, sid, "ACTIVE", 10)
        assert server["os-extended-volumes:volumes_attached"] == []
        again.delete(f"{V21}/servers/{sid}")
        assert again.delete(f"/volume/v3/volumes/{vid}").status_code == 202
