"""Bad input to Cinder v3 is a 4xx with Cinder's body, never a 500, and leaves nothing behind
(no row, no file)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.conftest import LiveCloud
from tests.volume.conftest import volume_dir, wait_volume

V = "/volume/v3"
BAD_CREATES: list[Any] = [
    None, [], "x", {}, {"volume": None}, {"volume": []}, {"volume": {}},
    {"volume": {"size": 0}}, {"volume": {"size": -1}}, {"volume": {"size": "big"}},
    {"volume": {"size": 1.5}}, {"volume": {"size": True}}, {"volume": {"size": 2**40}},
    {"volume": {"size": 10**30}}, {"volume": {"size": 1, "name": 5}},
    {"volume": {"size": 1, "name": "n" * 300}},
    {"volume": {"size": 1, "metadata": "x"}}, {"volume": {"size": 1, "metadata": {"k": 1}}},
    {"volume": {"size": 1, "metadata": {"": "v"}}},
    {"volume": {"size": 1, "volume_type": "no-such-type"}},
    {"volume": {"size": 1, "volume_type": 7}},
    {"volume": {"size": 1, "availability_zone": "mars"}},
    {"volume": {"size": 1, "imageRef": "no-such-image"}},
    {"volume": {"size": 1, "imageRef": 12}},
    {"volume": {"snapshot_id": "no-such-snapshot"}},
    {"volume": {"source_volid": "no-such-volume"}},
    {"volume": {"size": 1, "snapshot_id": "a", "source_volid": "b"}},
    {"volume": {"size": 1, "multiattach": "perhaps"}},
    {"volume": {"size": 1, "backup_id": "b"}},
    {"volume": {"size": 1, "name": "nul\u0000byte"}},
]
BAD_ACTIONS: list[Any] = [
    None, {}, {"os-nope": {}}, {"os-extend": None}, {"os-extend": {"new_size": 0}},
    {"os-extend": {"new_size": "x"}}, {"os-extend": {"new_size": 1}},
    {"os-extend": {"new_size": 10**12}},
    {"os-set_bootable": {}}, {"os-set_bootable": {"bootable": "maybe"}},
    {"os-update_readonly_flag": {"readonly": []}}, {"os-reset_status": {"status": "bogus"}},
    {"os-retype": {"new_type": "no-such"}}, {"os-retype": {}},
    {"os-volume_upload_image": {}}, {"os-volume_upload_image": {"image_name": "i",
                                                                "disk_format": "exe"}},
    {"os-extend": {"new_size": 1}, "os-set_bootable": {"bootable": True}},
]


def _fingerprint(admin: httpx.Client, cloud: LiveCloud) -> tuple[Any, ...]:
    vols = admin.get(f"{V}/volumes", params={"all_tenants": "1"}).json()["volumes"]
    files = sorted(p.name for p in volume_dir(cloud).iterdir())
    return tuple(sorted(v["id"] for v in vols)), tuple(files)


@pytest.fixture(scope="module")
def target(demo: httpx.Client) -> Any:
    r = demo.post(f"{V}/volumes", json={"volume": {"size": 1, "name": "bad-input-target"}})
    vid = r.json()["volume"]["id"]
    wait_volume(demo, vid)
    yield vid
    demo.delete(f"{V}/volumes/{vid}")
    wait_volume(demo, vid, "gone")


def _assert_refused(r: httpx.Response) -> None:
    assert 400 <= r.status_code < 500, (r.status_code, r.text)
    body = r.json()
    (key,) = body
    assert key in {"badRequest", "itemNotFound", "overLimit", "forbidden", "badMethod",
                   "conflictingRequest", "badMediaType", "unauthorized"}, body
    assert set(body[key]) == {"message", "code"}, body


def test_bad_creates_are_refused_and_leave_nothing(cloud: LiveCloud, admin: httpx.Client,
                                                   demo: httpx.Client,
                                                   target: str) -> None:
    before = _fingerprint(admin, cloud)
    for body in BAD_CREATES:
        r = demo.post(f"{V}/volumes", json=body)
        _assert_refused(r)
    r = demo.post(f"{V}/volumes", content=b"{not json", headers={
        "Content-Type": "application/json"})
    _assert_refused(r)
    assert _fingerprint(admin, cloud) == before


def test_bad_actions_and_updates(cloud: LiveCloud, admin: httpx.Client, demo: httpx.Client,
                                 target: str) -> None:
    before = demo.get(f"{V}/volumes/{target}").json()["volume"]
    for body in BAD_ACTIONS:
        r = demo.post(f"{V}/volumes/{target}/action", json=body)
        _assert_refused(r)
    for body in (None, {}, {"volume": {}}, {"volume": {"size": 5}},
                 {"volume": {"name": ["x"]}}, {"volume": {"metadata": [1]}}):
        _assert_refused(demo.put(f"{V}/volumes/{target}", json=body))
    for body in (None, {}, {"metadata": "x"}, {"metadata": {"k": {"deep": 1}}}):
        _assert_refused(demo.post(f"{V}/volumes/{target}/metadata", json=body))
    _assert_refused(demo.put(f"{V}/volumes/{target}/metadata/k", json={"meta": {"j": "v"}}))
    _assert_refused(demo.put(f"{V}/volumes/{target}/metadata/k",
                             json={"meta": {"k": "v", "j": "w"}}))
    after = demo.get(f"{V}/volumes/{target}").json()["volume"]
    assert after == before


def test_bad_queries_and_ids(demo: httpx.Client, admin: httpx.Client) -> None:
    for params in ({"limit": "-1"}, {"limit": "x"}, {"offset": "-5"}, {"marker": "nope"},
                   {"sort": "name:sideways"}, {"sort": "password:asc"},
                   {"sort": "name", "sort_key": "id"}, {"metadata": "[1,"},
                   {"bootable": "perhaps"}, {"volume_type": "no-such"}):
        _assert_refused(demo.get(f"{V}/volumes/detail", params=params))
    for path in ("/volumes/nope", "/snapshots/nope", "/types/nope", "/volumes/nope/metadata"):
        _assert_refused(demo.get(V + path))
    _assert_refused(demo.delete(f"{V}/volumes/nope"))
    _assert_refused(demo.post(f"{V}/snapshots", json={"snapshot": {"volume_id": "nope"}}))
    _assert_refused(demo.post(f"{V}/snapshots", json={"snapshot": {}}))
    _assert_refused(admin.put(f"{V}/os-quota-sets/x", json={"quota_set": {"bogus": 1}}))
    _assert_refused(admin.put(f"{V}/os-quota-sets/x", json={"quota_set": {"volumes": "x"}}))
    _assert_refused(admin.put(f"{V}/os-quota-sets/x", json={"quota_set": {"volumes": -2}}))
    _assert_refused(admin.post(f"{V}/types", json={"volume_type": {"name": " "}}))
    _assert_refused(admin.post(f"{V}/types", json={"volume_type": {"name": "__DEFAULT__"}}))
    _assert_refused(admin.delete(f"{V}/types/__DEFAULT__"))
    _assert_refused(admin.put(f"{V}/os-services/explode", json={}))
    _assert_refused(admin.put(f"{V}/os-services/enable", json={"host": "nowhere"}))
    _assert_refused(demo.get(f"{V}/volumes", headers={"OpenStack-API-Version": "volume 3"}))
