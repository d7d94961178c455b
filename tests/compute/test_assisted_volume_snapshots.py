"""Nova's ``/os-assisted-volume-snapshots`` through HTTP, as Cinder (and Tempest's
``VolumesAssistedSnapshotsTest``) call it: an admin has the host of the server a volume is
attached to snapshot it (the fake driver records the overlay) and delete the snapshot, and
every refusal in Nova's words (403, schema 400s, a volume no server has attached, a bad
``delete_info``)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import LiveCloud, own_cloud, unique
from tests.volume.conftest import wait_volume

API = "/compute/v2.1"
PATH = f"{API}/os-assisted-volume-snapshots"
IMAGE = "pocketstack-empty-qcow2"
DEMO = "pocketstack"


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveCloud]:
    """A cloud of this module's own (its servers and volumes stay out of the shared one)."""
    yield from own_cloud(tmp_path_factory, "avscloud")


@pytest.fixture(scope="module")
def admin(cloud: LiveCloud) -> Iterator[httpx.Client]:
    token, _ = cloud.token()
    with cloud.client(token) as client:
        yield client


@pytest.fixture(scope="module")
def demo(cloud: LiveCloud) -> Iterator[httpx.Client]:
    token, _ = cloud.token("demo", project="demo")
    with cloud.client(token) as client:
        yield client


@pytest.fixture(scope="module")
def attached(cloud: LiveCloud, demo: httpx.Client) -> dict[str, Any]:
    """A demo server with a volume attached: {"server", "volume", "host"}."""
    vid = cloud.osc("volume", "create", "--size", "1", unique("avs"), cloud=DEMO)["id"]
    wait_volume(demo, vid)
    server = cloud.osc("server", "create", "--flavor", "m1.tiny", "--image", IMAGE, "--wait",
                       unique("avs"), cloud=DEMO)
    cloud.osc("server", "add", "volume", server["id"], vid, as_json=False, cloud=DEMO)
    wait_volume(demo, vid, "in-use")
    host = cloud.osc("server", "show", server["id"])["OS-EXT-SRV-ATTR:host"]
    return {"server": server["id"], "volume": vid, "host": host}


def _guest(cloud: LiveCloud, host: str, server: str) -> dict[str, Any]:
    """The fake driver's record of the guest."""
    path = Path(cloud.state_dir, "hypervisors", host, "guests", f"{server}.json")
    record: dict[str, Any] = json.loads(path.read_text())
    return record


def _create(volume_id: str, **info: Any) -> dict[str, Any]:
    create_info = {"snapshot_id": info.pop("snapshot_id", unique("snap")), "type": "qcow2",
                   "new_file": "volume-snap.qcow2", **info}
    return {"snapshot": {"volume_id": volume_id, "create_info": create_info}}


def _delete_info(volume_id: str) -> dict[str, str]:
    return {"delete_info": json.dumps({"volume_id": volume_id})}


def test_create_and_delete_on_the_servers_host(cloud: LiveCloud, admin: httpx.Client,
                                               attached: dict[str, Any]) -> None:
    vid, sid, host = attached["volume"], attached["server"], attached["host"]
    # as Tempest: no id in create_info, so the answer's id is null (Nova echoes create_info's)
    r = admin.post(PATH, json=_create(vid, snapshot_id="s-tempest"))
    assert r.status_code == 200, r.text
    assert r.json() == {"snapshot": {"id": None, "volumeId": vid}}
    r = admin.post(PATH, json=_create(vid, snapshot_id="s-1", id="s-1",
                                      new_file="volume-s-1.qcow2"))
    assert r.status_code == 200, r.text
    assert r.json() == {"snapshot": {"id": "s-1", "volumeId": vid}}
    snaps = _guest(cloud, host, sid)["volume_snapshots"]
    assert snaps == {"s-tempest": {"volume_id": vid, "new_file": "volume-snap.qcow2",
                                   "type": "qcow2"},
                     "s-1": {"volume_id": vid, "new_file": "volume-s-1.qcow2",
                             "type": "qcow2"}}
    r = admin.delete(f"{PATH}/s-1", params=_delete_info(vid))
    assert r.status_code == 204, r.text
    assert set(_guest(cloud, host, sid)["volume_snapshots"]) == {"s-tempest"}
    # Tempest deletes the id the create answered: "None"; a snapshot the host lacks is gone
    r = admin.delete(f"{PATH}/None", params=_delete_info(vid))
    assert r.status_code == 204, r.text
    r = admin.delete(f"{PATH}/s-tempest", params=_delete_info(vid))
    assert r.status_code == 204, r.text
    assert _guest(cloud, host, sid)["volume_snapshots"] == {}
    # before 2.75 other query parameters are ignored
    r = admin.delete(f"{PATH}/s-x", params={**_delete_info(vid), "other": "1"})
    assert r.status_code == 204, r.text


def test_only_admins(demo: httpx.Client, attached: dict[str, Any]) -> None:
    vid = attached["volume"]
    r = demo.post(PATH, json=_create(vid))
    assert r.status_code == 403, r.text
    assert "os-assisted-volume-snapshots:create" in r.json()["forbidden"]["message"]
    r = demo.delete(f"{PATH}/s-1", params=_delete_info(vid))
    assert r.status_code == 403, r.text


@pytest.mark.parametrize("change", [
    {"type": "raw"}, {"new_file": ""}, {"extra": "x"}, {"snapshot_id": 5}])
def test_create_schema(admin: httpx.Client, attached: dict[str, Any],
                       change: dict[str, Any]) -> None:
    body = _create(attached["volume"])
    body["snapshot"]["create_info"].update(change)
    r = admin.post(PATH, json=body)
    assert r.status_code == 400, r.text
    assert r.json()["badRequest"]["message"].startswith("Invalid input"), r.text


def test_create_schema_required(admin: httpx.Client, attached: dict[str, Any]) -> None:
    body = _create(attached["volume"])
    del body["snapshot"]["create_info"]["new_file"]
    assert admin.post(PATH, json=body).status_code == 400
    assert admin.post(PATH, json={"snapshot": {"volume_id": attached["volume"]}}
                      ).status_code == 400
    assert admin.post(PATH, json={}).status_code == 400


def test_a_volume_no_server_has(cloud: LiveCloud, admin: httpx.Client,
                                demo: httpx.Client) -> None:
    free = cloud.osc("volume", "create", "--size", "1", unique("avs"), cloud=DEMO)["id"]
    wait_volume(demo, free)
    for vid in (free, "8b0c4f0c-0000-4000-8000-000000000000"):
        r = admin.post(PATH, json=_create(vid))
        assert r.status_code == 400, r.text
        assert r.json()["badRequest"]["message"] == (
            f"No volume Block Device Mapping with id {vid}.")
        r = admin.delete(f"{PATH}/s-1", params=_delete_info(vid))
        assert r.status_code == 400, r.text
        assert "No volume Block Device Mapping" in r.json()["badRequest"]["message"]


@pytest.mark.parametrize("params", [
    {}, {"delete_info": "{not json"}, {"delete_info": json.dumps({"id": "x"})},
    {"delete_info": "[1]"}])
def test_delete_info_must_name_the_volume(admin: httpx.Client,
                                          params: dict[str, str]) -> None:
    r = admin.delete(f"{PATH}/s-1", params=params)
    assert r.status_code == 400, r.text
    assert r.json()["badRequest"]["message"]


def test_delete_query_is_strict_from_2_75(admin: httpx.Client,
                                          attached: dict[str, Any]) -> None:
    r = admin.delete(f"{PATH}/s-1", params={**_delete_info(attached["volume"]), "other": "1"},
                     headers={"OpenStack-API-Version": "compute 2.75"})
    assert r.status_code == 400, r.text
    assert "Additional properties are not allowed" in r.json()["badRequest"]["message"]


def test_a_server_without_a_host(cloud: LiveCloud, admin: httpx.Client, demo: httpx.Client,
                                 attached: dict[str, Any]) -> None:
    """Shelved offloaded, the server keeps its volume but has no host to do the work: 400 as
    Nova's InstanceNotReady (its API keeps 400 here rather than 409); unshelved, it works."""
    vid, sid = attached["volume"], attached["server"]
    cloud.osc("server", "shelve", sid, as_json=False, cloud=DEMO)
    _wait_status(demo, sid, "SHELVED_OFFLOADED")
    r = admin.post(PATH, json=_create(vid))
    assert r.status_code == 400, r.text
    assert r.json()["badRequest"]["message"] == f"Instance {sid} is not ready"
    r = admin.delete(f"{PATH}/s-1", params=_delete_info(vid))
    assert r.status_code == 400, r.text
    cloud.osc("server", "unshelve", sid, as_json=False, cloud=DEMO)
    _wait_status(demo, sid, "ACTIVE")
    r = admin.post(PATH, json=_create(vid, snapshot_id="after-unshelve"))
    assert r.status_code == 200, r.text
    host = cloud.osc("server", "show", sid)["OS-EXT-SRV-ATTR:host"]
    assert "after-unshelve" in _guest(cloud, host, sid)["volume_snapshots"]


def _wait_status(client: httpx.Client, sid: str, status: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        server = client.get(f"{API}/servers/{sid}").json()["server"]
        if server["status"] == status and not server.get("OS-EXT-STS:task_state"):
            return
        time.sleep(0.2)
    raise AssertionError(f"server {sid} not {status}: {server['status']}")
