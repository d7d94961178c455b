"""Nova's deprecated volume proxies through HTTP, as Tempest's compute volume tests drive
them: ``/os-volumes`` and ``/os-snapshots`` at microversion 2.1 and 2.35 (404 from 2.36), in
Nova's words, reaching block storage (its quotas, policies, errors) through ``VolumeAPI``."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.conftest import LiveCloud, unique
from tests.volume.conftest import wait_status

API = "/compute/v2.1"
DEMO = "pocketstack"  # a member of project demo
IMAGE = "pocketstack-empty-qcow2"
VOLUME_KEYS = {"id", "status", "size", "availabilityZone", "createdAt", "attachments",
               "displayName", "displayDescription", "volumeType", "snapshotId", "metadata"}
SNAPSHOT_KEYS = {"id", "volumeId", "status", "size", "createdAt", "displayName",
                 "displayDescription"}


def _mv(version: str) -> dict[str, str]:
    return {"OpenStack-API-Version": f"compute {version}"}


@pytest.fixture(scope="module")
def demo(cloud: LiveCloud) -> Any:
    token, _ = cloud.token("demo", project="demo")
    with cloud.client(token) as client:
        yield client


def _create(demo: httpx.Client, **extra: Any) -> dict[str, Any]:
    r = demo.post(f"{API}/os-volumes", json={"volume": {"size": 1, **extra}})
    assert r.status_code == 200, r.text
    vol: dict[str, Any] = r.json()["volume"]
    return vol


def _wait(demo: httpx.Client, vid: str, *statuses: str) -> dict[str, Any]:
    return wait_status(demo, f"{API}/os-volumes/{vid}", "volume",
                       set(statuses or ("available",)))


def test_volume_create_show_list_delete(demo: httpx.Client) -> None:
    name = unique("pvol")
    vol = _create(demo, display_name=name, display_description="d",
                  metadata={"Type": "work"})
    assert set(vol) == VOLUME_KEYS, vol
    assert (vol["displayName"], vol["displayDescription"], vol["size"],
            vol["metadata"]) == (name, "d", 1, {"Type": "work"})
    assert vol["status"] == "creating" and vol["attachments"] == [{}]
    vid = vol["id"]
    shown = _wait(demo, vid)
    assert shown["volumeType"] and shown["createdAt"] == vol["createdAt"]
    cinder = demo.get(f"/volume/v3/volumes/{vid}").json()["volume"]
    assert (cinder["name"], cinder["description"], cinder["volume_type"],
            cinder["availability_zone"]) == (name, "d", shown["volumeType"],
                                             shown["availabilityZone"])
    # the same volume, the same words, in both lists, at 2.1 and at 2.35
    for path in ("/os-volumes", "/os-volumes/detail"):
        for version in ("2.1", "2.35"):
            r = demo.get(API + path, headers=_mv(version))
            assert r.status_code == 200, r.text
            listed = {v["id"]: v for v in r.json()["volumes"]}
            assert listed[vid] == shown
        # gone from 2.36 on, as Nova
        assert demo.get(API + path, headers=_mv("2.36")).status_code == 404
    assert demo.get(f"{API}/os-volumes/{vid}", headers=_mv("2.36")).status_code == 404
    # Nova's limit and offset
    second = _create(demo)["id"]
    _wait(demo, second)
    everything = [v["id"] for v in demo.get(f"{API}/os-volumes").json()["volumes"]]
    assert len(everything) >= 2
    r = demo.get(f"{API}/os-volumes/detail", params={"limit": 1, "offset": 1})
    assert [v["id"] for v in r.json()["volumes"]] == everything[1:2]
    assert demo.get(f"{API}/os-volumes", params={"limit": "x"}).status_code == 400
    for ident in (vid, second):
        assert demo.delete(f"{API}/os-volumes/{ident}").status_code == 202
        wait_status(demo, f"{API}/os-volumes/{ident}", "volume", {"gone"})


def test_volume_refusals(demo: httpx.Client) -> None:
    for size in ("#$%", "", "0", 0, -1, 2**31, "9" * 30):
        r = demo.post(f"{API}/os-volumes", json={"volume": {"size": size}})
        assert r.status_code == 400, (size, r.text)
        assert "badRequest" in r.json()
    r = demo.post(f"{API}/os-volumes", json={"volume": {"size": 1, "bogus": 1}})
    assert r.status_code == 400, r.text
    r = demo.post(f"{API}/os-volumes", json={"volume": {"size": 1, "volume_type": "nope"}})
    assert r.status_code == 404, r.text
    missing = "5c0ce8f6-7d5b-4c9f-9d56-9a3c0b7c3b11"
    r = demo.get(f"{API}/os-volumes/{missing}")
    assert r.status_code == 404 and "itemNotFound" in r.json(), r.text
    assert demo.delete(f"{API}/os-volumes/{missing}").status_code == 404
    assert demo.get(f"{API}/os-volumes/").status_code == 404
    assert demo.delete(f"{API}/os-volumes/").status_code == 404
    assert demo.get(f"{API}/os-snapshots/{missing}").status_code == 404
    assert demo.delete(f"{API}/os-snapshots/{missing}").status_code == 404
    r = demo.post(f"{API}/os-snapshots", json={"snapshot": {"volume_id": missing}})
    assert r.status_code == 404, r.text
    # a refused create leaves no volume behind
    before = len(demo.get("/volume/v3/volumes").json()["volumes"])
    demo.post(f"{API}/os-volumes", json={"volume": {"size": "0"}})
    assert len(demo.get("/volume/v3/volumes").json()["volumes"]) == before


def test_attachments_and_snapshots(cloud: LiveCloud, demo: httpx.Client) -> None:
    vid = _create(demo, display_name=unique("pvol"))["id"]
    _wait(demo, vid)
    server = cloud.osc("server", "create", "--flavor", "m1.tiny", "--image", IMAGE, "--wait",
                       unique("pvs"), cloud=DEMO)
    sid = server["id"]
    r = demo.post(f"{API}/servers/{sid}/os-volume_attachments",
                  json={"volumeAttachment": {"volumeId": vid}})
    assert r.status_code == 200, r.text
    vol = _wait(demo, vid, "in-use")
    assert vol["attachments"] == [{"id": vid, "volumeId": vid, "serverId": sid,
                                   "device": "/dev/vdb"}]
    # an in-use volume: a snapshot needs force, as Cinder
    r = demo.post(f"{API}/os-snapshots", json={"snapshot": {"volume_id": vid}})
    assert r.status_code == 400, r.text
    r = demo.post(f"{API}/os-snapshots", json={"snapshot": {
        "volume_id": vid, "force": True, "display_name": "s1", "display_description": "x"}})
    assert r.status_code == 200, r.text
    snap = r.json()["snapshot"]
    assert set(snap) == SNAPSHOT_KEYS, snap
    assert (snap["volumeId"], snap["size"], snap["displayName"],
            snap["displayDescription"]) == (vid, 1, "s1", "x")
    shown = wait_status(demo, f"{API}/os-snapshots/{snap['id']}", "snapshot", {"available"})
    assert demo.get(f"/volume/v3/snapshots/{snap['id']}").json()["snapshot"]["status"] == \
        "available"
    for path in ("/os-snapshots", "/os-snapshots/detail"):
        listed = {s["id"]: s for s in demo.get(API + path).json()["snapshots"]}
        assert listed[snap["id"]] == shown
        assert demo.get(API + path, headers=_mv("2.36")).status_code == 404
    # a volume with snapshots cannot be deleted (Cinder's 400), nor one in use
    assert demo.delete(f"{API}/os-volumes/{vid}").status_code == 400
    assert demo.delete(f"{API}/os-snapshots/{snap['id']}").status_code == 202
    wait_status(demo, f"{API}/os-snapshots/{snap['id']}", "snapshot", {"gone"})
    r = demo.delete(f"{API}/servers/{sid}/os-volume_attachments/{vid}")
    assert r.status_code == 202, r.text
    assert _wait(demo, vid)["attachments"] == [{}]
    assert demo.delete(f"{API}/os-volumes/{vid}").status_code == 202
    wait_status(demo, f"{API}/os-volumes/{vid}", "volume", {"gone"})
    cloud.osc("server", "delete", "--wait", sid, as_json=False, cloud=DEMO)
