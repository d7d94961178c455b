"""Generic volume groups over HTTP and the stock CLI: group types with specs, groups of
volumes (create, volumes joining at create or by update, remove, delete with its volumes),
group snapshots (a snapshot of every member, deleted with it), groups from a group or a group
snapshot (the volumes' bytes are the source's), reset status, bad input."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import LiveCloud, unique
from tests.volume.conftest import volume_dir, wait_status, wait_volume

V = "/volume/v3"
MV = {"OpenStack-API-Version": "volume 3.20"}


@pytest.fixture(scope="module")
def admin3(cloud: LiveCloud) -> Iterator[httpx.Client]:
    """Clients that speak 3.25 unless told otherwise (the group APIs need 3.13+)."""
    token, _ = cloud.token()
    with cloud.client(token) as client:
        client.headers["OpenStack-API-Version"] = "volume 3.25"
        yield client


@pytest.fixture(scope="module")
def demo3(cloud: LiveCloud) -> Iterator[httpx.Client]:
    token, _ = cloud.token("demo", project="demo")
    with cloud.client(token) as client:
        client.headers["OpenStack-API-Version"] = "volume 3.25"
        yield client


def _wait_group(client: httpx.Client, gid: str, *statuses: str) -> dict[str, Any]:
    return wait_status(client, f"{V}/groups/{gid}", "group", set(statuses or ("available",)))


def test_group_types_with_the_cli(cloud: LiveCloud, admin: httpx.Client) -> None:
    name = unique("gt")
    made = cloud.osc("--os-volume-api-version", "3.11", "volume", "group", "type", "create",
                     "--description", "d", name)
    gid = made.get("id") or made["ID"]  # the group commands title their columns
    shown = admin.get(f"{V}/group_types/{gid}", headers=MV).json()["group_type"]
    assert shown["description"] == "d" and shown["group_specs"] == {}
    cloud.osc("--os-volume-api-version", "3.11", "volume", "group", "type", "set",
              "--property", "k=v", gid, as_json=False)
    r = admin.get(f"{V}/group_types/{gid}/group_specs/k", headers=MV)
    assert r.json() == {"k": "v"}
    listed = cloud.osc("--os-volume-api-version", "3.11", "volume", "group", "type", "list")
    assert gid in {t["ID"] for t in listed}
    cloud.osc("--os-volume-api-version", "3.11", "volume", "group", "type", "delete", gid,
              as_json=False)
    assert admin.get(f"{V}/group_types/{gid}", headers=MV).status_code == 404


def test_group_types_over_http(admin: httpx.Client, demo: httpx.Client) -> None:
    a = admin.post(f"{V}/group_types", headers=MV, json={"group_type": {
        "name": unique("a"), "is_public": True}}).json()["group_type"]
    b = admin.post(f"{V}/group_types", headers=MV, json={"group_type": {
        "name": unique("b"), "is_public": False, "description": "d"}}).json()["group_type"]
    public = {t["id"] for t in admin.get(f"{V}/group_types", headers=MV).json()["group_types"]}
    assert a["id"] in public and b["id"] not in public
    every = admin.get(f"{V}/group_types", headers=MV,
                      params={"is_public": "None", "sort": "name:asc"}).json()["group_types"]
    ids = [t["id"] for t in every]
    assert ids.index(a["id"]) < ids.index(b["id"])
    private = admin.get(f"{V}/group_types", headers=MV, params={"is_public": "false"}).json()
    assert {t["id"] for t in private["group_types"]} >= {b["id"]}
    assert demo.get(f"{V}/group_types/{b['id']}", headers=MV).status_code == 404
    assert demo.post(f"{V}/group_types", headers=MV,
                     json={"group_type": {"name": unique("x")}}).status_code == 403
    url = f"{V}/group_types/{a['id']}/group_specs"
    assert admin.post(url, headers=MV, json={"group_specs": {"k1": "v1", "k2": "v2"}}
                      ).status_code == 202
    assert admin.put(f"{url}/k1", headers=MV, json={"k1": "v9"}).json() == {"k1": "v9"}
    assert admin.put(f"{url}/k1", headers=MV, json={"k2": "v9"}).status_code == 400
    assert admin.get(url, headers=MV).json() == {"group_specs": {"k1": "v9", "k2": "v2"}}
    assert admin.delete(f"{url}/k1", headers=MV).status_code == 202
    assert admin.get(f"{url}/k1", headers=MV).status_code == 404
    assert admin.post(url, headers=MV, json={"group_specs": None}).status_code == 400
    r = admin.put(f"{V}/group_types/{a['id']}", headers=MV,
                  json={"group_type": {"name": b["name"]}})
    assert r.status_code == 409
    assert admin.get(f"{V}/group_types/default", headers=MV).status_code == 404
    assert admin.get(f"{V}/group_types", headers={
        "OpenStack-API-Version": "volume 3.10"}).status_code == 404
    for t in (a, b):
        assert admin.delete(f"{V}/group_types/{t['id']}", headers=MV).status_code == 202



@pytest.mark.parametrize(("path", "key", "kind", "headers"), [
    ("types", "volume_type", "Volume type", {}),
    ("group_types", "group_type", "Group type", MV)])
def test_type_names_are_checked_and_stripped(admin: httpx.Client, path: str, key: str,
                                             kind: str, headers: dict[str, str]) -> None:
    """A volume or group type's name is never blank (Cinder's 400) and is kept stripped, at
    create and at update; an update with nothing to change is a 400."""
    for bad in ("", "   ", None):
        r = admin.post(f"{V}/{path}", headers=headers, json={key: {"name": bad}})
        assert r.status_code == 400 and f"{kind} name can not be empty." in r.text, r.text
    name = unique("pad")
    r = admin.post(f"{V}/{path}", headers=headers, json={key: {"name": f"  {name} "}})
    assert r.status_code in (200, 202), r.text
    made = r.json()[key]
    assert made["name"] == name
    url = f"{V}/{path}/{made['id']}"
    r = admin.put(url, headers=headers, json={key: {"name": " "}})
    assert r.status_code == 400 and f"{kind} name can not be empty." in r.text, r.text
    r = admin.put(url, headers=headers, json={key: {"name": f" {name}-2 ",
                                                    "description": "d"}})
    assert r.status_code == 200, r.text
    assert (r.json()[key]["name"], r.json()[key]["description"]) == (f"{name}-2", "d")
    assert admin.put(url, headers=headers, json={key: {}}).status_code == 400
    assert admin.delete(url, headers=headers).status_code == 202

def _write(cloud: LiveCloud, vid: str, data: bytes) -> None:
    with open(volume_dir(cloud) / f"volume-{vid}", "r+b") as f:
        f.seek(8192)
        f.write(data)


def _read(cloud: LiveCloud, vid: str, n: int) -> bytes:
    with open(volume_dir(cloud) / f"volume-{vid}", "rb") as f:
        f.seek(8192)
        return f.read(n)


def test_groups_snapshots_and_clones(cloud: LiveCloud, admin3: httpx.Client,
                                     demo3: httpx.Client) -> None:
    admin, demo = admin3, demo3
    vtype = admin.post(f"{V}/types", json={"volume_type": {"name": unique("gv")}}).json()[
        "volume_type"]["id"]
    other = admin.post(f"{V}/types", json={"volume_type": {"name": unique("ov")}}).json()[
        "volume_type"]["id"]
    gtype = admin.post(f"{V}/group_types", headers=MV, json={"group_type": {
        "name": unique("gt")}}).json()["group_type"]["id"]
    r = demo.post(f"{V}/groups", headers=MV, json={"group": {
        "name": "g1", "group_type": gtype, "volume_types": [vtype]}})
    assert r.status_code == 202, r.text
    gid = r.json()["group"]["id"]
    assert _wait_group(demo, gid)["volume_types"] == [vtype]
    # a volume joins at create; one of another type cannot
    r = demo.post(f"{V}/volumes", headers=MV, json={"volume": {
        "size": 1, "volume_type": vtype, "group_id": gid}})
    assert r.status_code == 202 and r.json()["volume"]["group_id"] == gid, r.text
    v1 = r.json()["volume"]["id"]
    r = demo.post(f"{V}/volumes", headers=MV, json={"volume": {
        "size": 1, "volume_type": other, "group_id": gid}})
    assert r.status_code == 400, r.text
    v2 = demo.post(f"{V}/volumes", headers=MV, json={"volume": {
        "size": 1, "volume_type": vtype}}).json()["volume"]["id"]
    for v in (v1, v2):
        wait_volume(demo, v)
    _write(cloud, v1, b"first member")
    # update: add v2, then remove and re-add; unknown volumes are refused
    assert demo.put(f"{V}/groups/{gid}", headers=MV, json={"group": {
        "add_volumes": v2, "name": "renamed"}}).status_code == 202
    shown = demo.get(f"{V}/groups/{gid}", headers={"OpenStack-API-Version": "volume 3.25"},
                     params={"list_volume": "true"}).json()["group"]
    assert shown["name"] == "renamed" and sorted(shown["volumes"]) == sorted([v1, v2])
    assert demo.get(f"{V}/volumes/{v2}", headers=MV).json()["volume"]["group_id"] == gid
    assert demo.put(f"{V}/groups/{gid}", headers=MV, json={"group": {
        "remove_volumes": v2}}).status_code == 202
    assert demo.get(f"{V}/volumes/{v2}", headers=MV).json()["volume"]["group_id"] is None
    assert demo.put(f"{V}/groups/{gid}", headers=MV, json={"group": {
        "add_volumes": "nope"}}).status_code == 404
    assert demo.put(f"{V}/groups/{gid}", headers=MV, json={"group": {}}).status_code == 400
    # a group snapshot: one snapshot per member
    r = demo.post(f"{V}/group_snapshots", headers=MV, json={"group_snapshot": {
        "group_id": gid, "name": "gs"}})
    assert r.status_code == 202, r.text
    gsid = r.json()["group_snapshot"]["id"]
    gs = wait_status(demo, f"{V}/group_snapshots/{gsid}", "group_snapshot", {"available"})
    assert gs["group_id"] == gid and gs["group_type_id"] == gtype
    snaps = [s for s in demo.get(f"{V}/snapshots/detail").json()["snapshots"]
             if s["volume_id"] == v1]
    assert len(snaps) == 1 and snaps[0]["status"] == "available"
    assert snaps[0]["group_snapshot_id"] == gsid
    assert demo.get(f"{V}/snapshots/{snaps[0]['id']}").json()["snapshot"][
        "group_snapshot_id"] == gsid
    # a group with group snapshots cannot be deleted
    r = demo.post(f"{V}/groups/{gid}/action", headers=MV,
                  json={"delete": {"delete-volumes": True}})
    assert r.status_code == 400, r.text
    # groups from the group and from the group snapshot carry v1's bytes
    for source in ({"source_group_id": gid}, {"group_snapshot_id": gsid}):
        r = demo.post(f"{V}/groups/action", headers=MV,
                      json={"create-from-src": {"name": unique("c"), **source}})
        assert r.status_code == 202, r.text
        cid = r.json()["group"]["id"]
        clone = _wait_group(demo, cid)
        assert clone["group_type"] == gtype and clone["volume_types"] == [vtype]
        members = [v for v in demo.get(f"{V}/volumes/detail", headers=MV).json()["volumes"]
                   if v["group_id"] == cid]
        assert len(members) == 1 and members[0]["status"] == "available"
        assert _read(cloud, members[0]["id"], 12) == b"first member"
        r = demo.post(f"{V}/groups/{cid}/action", headers=MV,
                      json={"delete": {"delete-volumes": True}})
        assert r.status_code == 202, r.text
        wait_volume(demo, members[0]["id"], "gone")
        assert demo.get(f"{V}/groups/{cid}", headers=MV).status_code == 404
    # reset status (admin), then delete the snapshot and the group with its volume
    for status in ("creating", "error", "available"):
        assert admin.post(f"{V}/group_snapshots/{gsid}/action", headers=MV,
                          json={"reset_status": {"status": status}}).status_code == 202
        assert demo.get(f"{V}/group_snapshots/{gsid}", headers=MV).json()[
            "group_snapshot"]["status"] == status
        assert admin.post(f"{V}/groups/{gid}/action", headers=MV,
                          json={"reset_status": {"status": status}}).status_code == 202
        assert _wait_group(demo, gid, status)["status"] == status
    assert demo.post(f"{V}/groups/{gid}/action", headers=MV,
                     json={"reset_status": {"status": "error"}}).status_code == 403
    assert demo.delete(f"{V}/group_snapshots/{gsid}", headers=MV).status_code == 202
    wait_status(demo, f"{V}/snapshots/{snaps[0]['id']}", "snapshot", {"gone"})
    assert demo.get(f"{V}/group_snapshots/{gsid}", headers=MV).status_code == 404
    r = demo.post(f"{V}/groups/{gid}/action", headers=MV,
                  json={"delete": {"delete-volumes": False}})
    assert r.status_code == 400  # it still holds v1
    r = demo.post(f"{V}/groups/{gid}/action", headers=MV,
                  json={"delete": {"delete-volumes": True}})
    assert r.status_code == 202, r.text
    wait_volume(demo, v1, "gone")
    assert demo.get(f"{V}/groups/{gid}", headers=MV).status_code == 404
    assert demo.delete(f"{V}/volumes/{v2}").status_code == 202
    wait_volume(demo, v2, "gone")
    assert admin.delete(f"{V}/group_types/{gtype}", headers=MV).status_code == 202
    for t in (vtype, other):
        assert admin.delete(f"{V}/types/{t}").status_code == 202


def test_group_bad_input(admin3: httpx.Client, demo3: httpx.Client,
                         alt: httpx.Client) -> None:
    admin, demo = admin3, demo3
    vtype = admin.post(f"{V}/types", json={"volume_type": {"name": unique("bv")}}).json()[
        "volume_type"]["id"]
    gtype = admin.post(f"{V}/group_types", headers=MV, json={"group_type": {
        "name": unique("bg")}}).json()["group_type"]["id"]
    before = demo.get(f"{V}/groups", headers=MV).json()["groups"]
    for bad in ({"volume_types": [vtype]}, {"group_type": gtype},
                {"group_type": gtype, "volume_types": []},
                {"group_type": "nope", "volume_types": [vtype]},
                {"group_type": gtype, "volume_types": ["nope"]}):
        r = demo.post(f"{V}/groups", headers=MV, json={"group": bad})
        assert r.status_code in (400, 404), (bad, r.text)
    assert demo.get(f"{V}/groups", headers=MV).json()["groups"] == before
    gid = demo.post(f"{V}/groups", headers=MV, json={"group": {
        "group_type": gtype, "volume_types": [vtype]}}).json()["group"]["id"]
    assert alt.get(f"{V}/groups/{gid}", headers=MV).status_code == 404
    assert alt.post(f"{V}/volumes", headers=MV, json={"volume": {
        "size": 1, "volume_type": vtype, "group_id": gid}}).status_code == 404
    assert demo.post(f"{V}/groups/action", headers=MV, json={"create-from-src": {}}
                     ).status_code == 400
    assert demo.post(f"{V}/group_snapshots", headers=MV,
                     json={"group_snapshot": {"group_id": "nope"}}).status_code == 404
    assert admin.delete(f"{V}/group_types/{gtype}", headers=MV).status_code == 400  # in use
    assert demo.post(f"{V}/groups/{gid}/action", headers=MV,
                     json={"delete": {}}).status_code == 202
    assert admin.delete(f"{V}/group_types/{gtype}", headers=MV).status_code == 202
    assert admin.delete(f"{V}/types/{vtype}").status_code == 202
