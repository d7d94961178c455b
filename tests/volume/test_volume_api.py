"""Cinder v3 over HTTP: version documents and microversions, both URL forms, project
isolation, filters/sort/pages, actions, type access, and quotas enforced race-free."""

from __future__ import annotations

import concurrent.futures
from typing import Any

import httpx

from tests.conftest import LiveCloud, unique
from tests.volume.conftest import volume_dir, wait_status, wait_volume

V = "/volume/v3"


def _create(client: httpx.Client, size: int = 1, **extra: Any) -> dict[str, Any]:
    r = client.post(f"{V}/volumes", json={"volume": {"size": size, **extra}})
    assert r.status_code == 202, r.text
    return r.json()["volume"]  # type: ignore[no-any-return]


def _delete(client: httpx.Client, vid: str) -> None:
    wait_volume(client, vid, "available", "error")
    r = client.delete(f"{V}/volumes/{vid}")
    assert r.status_code == 202, r.text
    wait_volume(client, vid, "gone")


def test_version_documents_and_microversions(cloud: LiveCloud, admin: httpx.Client) -> None:
    r = httpx.get(cloud.url + "/volume")
    assert r.status_code == 300
    (v3,) = r.json()["versions"]
    assert (v3["id"], v3["status"], v3["min_version"]) == ("v3.0", "CURRENT", "3.0")
    r = httpx.get(cloud.url + "/volume/v3/")
    assert r.status_code == 200 and r.json()["versions"][0]["version"] == v3["version"]
    r = admin.get(f"{V}/volumes", headers={"OpenStack-API-Version": "volume 3.50"})
    assert r.status_code == 200
    assert r.headers["OpenStack-API-Version"] == "volume 3.50"
    assert "OpenStack-API-Version" in r.headers["Vary"]
    r = admin.get(f"{V}/volumes", headers={"OpenStack-API-Version": "volume 3.999"})
    assert r.status_code == 406
    r = admin.get(f"{V}/volumes", headers={"OpenStack-API-Version": "volume latest"})
    assert r.headers["OpenStack-API-Version"] == f"volume {v3['version']}"


def test_project_in_url_and_isolation(cloud: LiveCloud, demo: httpx.Client,
                                      alt: httpx.Client) -> None:
    _, token = cloud.token("demo", project="demo")
    project = token["project"]["id"]
    vol = _create(demo, name=unique("iso"))
    r = demo.get(f"{V}/{project}/volumes/{vol['id']}")
    assert r.status_code == 200 and r.json()["volume"]["id"] == vol["id"]
    assert demo.get(f"{V}/volumes/{vol['id']}").status_code == 200
    _, alt_token = cloud.token("alt_demo", project="alt_demo")
    r = demo.get(f"{V}/{alt_token['project']['id']}/volumes")
    assert r.status_code == 400 and "badRequest" in r.json()
    r = alt.get(f"{V}/volumes/{vol['id']}")
    assert r.status_code == 404 and "itemNotFound" in r.json()
    assert alt.delete(f"{V}/volumes/{vol['id']}").status_code == 404
    assert vol["id"] not in {v["id"] for v in alt.get(f"{V}/volumes").json()["volumes"]}
    _delete(demo, vol["id"])


def test_filters_sort_and_pages(admin: httpx.Client, demo: httpx.Client) -> None:
    tag = unique("page")
    ids = [_create(demo, name=f"{tag}-{i}", metadata={"tag": tag})["id"] for i in range(3)]
    for vid in ids:
        wait_volume(demo, vid)
    r = demo.get(f"{V}/volumes/detail", params={"metadata": f'{{"tag": "{tag}"}}',
                                                "sort": "name:asc"})
    assert [v["id"] for v in r.json()["volumes"]] == ids
    r = demo.get(f"{V}/volumes", params={"metadata": f'{{"tag": "{tag}"}}',
                                         "sort": "name:asc", "limit": 2})
    page = r.json()
    assert [v["id"] for v in page["volumes"]] == ids[:2]
    nxt = page["volumes_links"][0]["href"]
    assert "marker=" in nxt
    r = demo.get(nxt)
    assert [v["id"] for v in r.json()["volumes"]] == ids[2:]
    r = demo.get(f"{V}/volumes", params={"metadata": f'{{"tag": "{tag}"}}',
                                         "sort": "name:asc", "offset": 1})
    assert [v["id"] for v in r.json()["volumes"]] == ids[1:]
    r = demo.get(f"{V}/volumes", params={"name": f"{tag}-1"})
    assert [v["id"] for v in r.json()["volumes"]] == [ids[1]]
    r = admin.get(f"{V}/volumes", params={"all_tenants": "1", "name": f"{tag}-2"})
    assert [v["id"] for v in r.json()["volumes"]] == [ids[2]]
    assert demo.get(f"{V}/volumes", params={"all_tenants": "1"}).status_code == 403
    # limit=0 is an empty page, as Cinder's LIMIT 0 (Tempest's snapshot list checks it)
    for kind in ("volumes", "snapshots", "backups"):
        r = demo.get(f"{V}/{kind}", params={"limit": 0})
        assert r.status_code == 200 and r.json()[kind] == [], r.text
    for vid in ids:
        _delete(demo, vid)



def test_snapshot_pages_and_legacy_names(demo: httpx.Client) -> None:
    """A snapshot list's next page (``snapshots_links``, none on the last page) and an update
    under the legacy ``display_`` keys, as for volumes."""
    vol = _create(demo)
    wait_volume(demo, vol["id"])
    tag = unique("snap")
    ids = []
    for i in range(3):
        r = demo.post(f"{V}/snapshots", json={"snapshot": {"volume_id": vol["id"],
                                                           "name": f"{tag}-{i}"}})
        assert r.status_code == 202, r.text
        ids.append(r.json()["snapshot"]["id"])
    for sid in ids:
        wait_status(demo, f"{V}/snapshots/{sid}", "snapshot", {"available"})
    page = demo.get(f"{V}/snapshots", params={"volume_id": vol["id"], "sort": "name:asc",
                                              "limit": 2}).json()
    assert [v["id"] for v in page["snapshots"]] == ids[:2]
    last = demo.get(page["snapshots_links"][0]["href"]).json()
    assert [v["id"] for v in last["snapshots"]] == ids[2:] and "snapshots_links" not in last
    r = demo.put(f"{V}/snapshots/{ids[0]}", json={"snapshot": {
        "display_name": f"{tag}-x", "display_description": "legacy"}})
    assert r.status_code == 200, r.text
    shown = demo.get(f"{V}/snapshots/{ids[0]}").json()["snapshot"]
    assert (shown["name"], shown["description"]) == (f"{tag}-x", "legacy")
    r = demo.put(f"{V}/snapshots/{ids[0]}", json={"snapshot": {"size": 2}})
    assert r.status_code == 400 and "No snapshot attributes to update." in r.text, r.text
    for sid in ids:
        assert demo.delete(f"{V}/snapshots/{sid}").status_code == 202
        wait_status(demo, f"{V}/snapshots/{sid}", "snapshot", {"gone"})
    _delete(demo, vol["id"])

def test_actions_and_metadata(cloud: LiveCloud, admin: httpx.Client,
                              demo: httpx.Client) -> None:
    vol = _create(demo)
    vid = vol["id"]
    wait_volume(demo, vid)
    act = f"{V}/volumes/{vid}/action"
    assert demo.post(act, json={"os-set_bootable": {"bootable": True}}).status_code == 200
    assert demo.get(f"{V}/volumes/{vid}").json()["volume"]["bootable"] == "true"
    assert demo.post(act, json={"os-update_readonly_flag": {"readonly": True}}
                     ).status_code == 202
    r = demo.post(f"{V}/volumes/{vid}/metadata", json={"metadata": {"a": "1", "b": "2"}})
    assert r.json()["metadata"] == {"a": "1", "b": "2"}
    r = demo.put(f"{V}/volumes/{vid}/metadata/a", json={"meta": {"a": "9"}})
    assert r.status_code == 200
    assert demo.get(f"{V}/volumes/{vid}/metadata/a").json() == {"meta": {"a": "9"}}
    assert demo.delete(f"{V}/volumes/{vid}/metadata/b").status_code == 200
    assert demo.get(f"{V}/volumes/{vid}/metadata").json()["metadata"] == {"a": "9"}
    assert demo.get(f"{V}/volumes/{vid}/metadata/b").status_code == 404
    # reset-state is for admins; an attached-like state refuses delete
    r = demo.post(act, json={"os-reset_status": {"status": "in-use"}})
    assert r.status_code == 403
    assert admin.post(act, json={"os-reset_status": {"status": "in-use"}}).status_code == 202
    r = demo.delete(f"{V}/volumes/{vid}")
    assert r.status_code == 400 and "badRequest" in r.json()
    assert admin.post(act, json={"os-force_delete": {}}).status_code == 202
    wait_volume(demo, vid, "gone")
    assert not (volume_dir(cloud) / f"volume-{vid}").exists()


def test_private_type_access(admin: httpx.Client, demo: httpx.Client,
                             cloud: LiveCloud) -> None:
    name = unique("priv")
    r = admin.post(f"{V}/types", json={"volume_type": {
        "name": name, "os-volume-type-access:is_public": False}})
    assert r.status_code == 200, r.text
    tid = r.json()["volume_type"]["id"]
    assert demo.get(f"{V}/types/{tid}").status_code == 404
    assert name not in {t["name"] for t in demo.get(f"{V}/types").json()["volume_types"]}
    r = demo.post(f"{V}/volumes", json={"volume": {"size": 1, "volume_type": name}})
    assert r.status_code == 404
    _, token = cloud.token("demo", project="demo")
    project = token["project"]["id"]
    r = admin.post(f"{V}/types/{tid}/action", json={"addProjectAccess": {"project": project}})
    assert r.status_code == 202
    assert admin.get(f"{V}/types/{tid}/os-volume-type-access").json()[
        "volume_type_access"] == [{"volume_type_id": tid, "project_id": project}]
    assert demo.get(f"{V}/types/{tid}").status_code == 200
    admin.post(f"{V}/types/{tid}/action", json={"removeProjectAccess": {"project": project}})
    assert demo.get(f"{V}/types/{tid}").status_code == 404
    assert admin.delete(f"{V}/types/{tid}").status_code == 202
    assert demo.post(f"{V}/types", json={"volume_type": {"name": "x"}}).status_code == 403


def test_quota_is_race_free(cloud: LiveCloud, admin: httpx.Client, alt: httpx.Client) -> None:
    _, token = cloud.token("alt_demo", project="alt_demo")
    project = token["project"]["id"]
    used = admin.get(f"{V}/os-quota-sets/{project}", params={"usage": "true"}).json()[
        "quota_set"]["volumes"]["in_use"]
    r = admin.put(f"{V}/os-quota-sets/{project}", json={"quota_set": {"volumes": used + 3}})
    assert r.status_code == 200, r.text
    try:
        with concurrent.futures.ThreadPoolExecutor(10) as pool:
            results = list(pool.map(lambda _: alt.post(f"{V}/volumes", json={
                "volume": {"size": 1, "name": "race"}}), range(10)))
        codes = sorted(r.status_code for r in results)
        assert codes == [202] * 3 + [413] * 7, codes
        assert all("overLimit" in r.json() for r in results if r.status_code == 413)
        limits = alt.get(f"{V}/limits").json()["limits"]["absolute"]
        assert limits["totalVolumesUsed"] == used + 3
        assert limits["maxTotalVolumes"] == used + 3
        # a limit below usage is refused
        r = admin.put(f"{V}/os-quota-sets/{project}", json={"quota_set": {"volumes": 0}})
        assert r.status_code == 400
        for r in results:
            if r.status_code == 202:
                _delete(alt, r.json()["volume"]["id"])
    finally:
        admin.delete(f"{V}/os-quota-sets/{project}")
    r = admin.get(f"{V}/os-quota-sets/{project}/defaults").json()["quota_set"]
    assert r["volumes"] == 10 and r["per_volume_gigabytes"] == -1


def test_snapshot_quota_and_extend_quota(cloud: LiveCloud, admin: httpx.Client,
                                         alt: httpx.Client) -> None:
    _, token = cloud.token("alt_demo", project="alt_demo")
    project = token["project"]["id"]
    vol = _create(alt)
    wait_volume(alt, vol["id"])
    used = admin.get(f"{V}/os-quota-sets/{project}", params={"usage": "true"}).json()[
        "quota_set"]["gigabytes"]["in_use"]
    admin.put(f"{V}/os-quota-sets/{project}", json={"quota_set": {"gigabytes": used + 1,
                                                                  "per_volume_gigabytes": 1}})
    try:
        act = f"{V}/volumes/{vol['id']}/action"
        r = alt.post(act, json={"os-extend": {"new_size": 2}})
        assert r.status_code == 413
        r = alt.post(f"{V}/volumes", json={"volume": {"size": 2}})
        assert r.status_code == 413
        r = alt.post(f"{V}/snapshots", json={"snapshot": {"volume_id": vol["id"]}})
        assert r.status_code == 202
        sid = r.json()["snapshot"]["id"]
        r = alt.post(f"{V}/snapshots", json={"snapshot": {"volume_id": vol["id"]}})
        assert r.status_code == 413
        assert alt.get(f"{V}/volumes/{vol['id']}").json()["volume"]["size"] == 1
        from tests.volume.conftest import wait_status

        wait_status(alt, f"{V}/snapshots/{sid}", "snapshot", {"available"})
        assert alt.delete(f"{V}/snapshots/{sid}").status_code == 202
        wait_status(alt, f"{V}/snapshots/{sid}", "snapshot", {"gone"})
    finally:
        admin.delete(f"{V}/os-quota-sets/{project}")
    _delete(alt, vol["id"])


def test_services_availability_zones_extensions(admin: httpx.Client,
                                                demo: httpx.Client) -> None:
    zones = demo.get(f"{V}/os-availability-zone").json()["availabilityZoneInfo"]
    assert zones == [{"zoneName": "nova", "zoneState": {"available": True}}]
    aliases = {e["alias"] for e in demo.get(f"{V}/extensions").json()["extensions"]}
    assert {"os-quota-sets", "os-services", "os-volume-type-access"} <= aliases
    assert demo.get(f"{V}/os-services").status_code == 403
    r = admin.get(f"{V}/os-services", params={"binary": "cinder-volume"})
    assert [s["host"] for s in r.json()["services"]] == ["compute1@file"]
    # a disabled backend takes no new volumes: they go to error at once, no file
    body = {"host": "compute1@file", "binary": "cinder-volume"}
    assert admin.put(f"{V}/os-services/disable", json=body).status_code == 200
    try:
        vol = _create(demo)
        assert vol["status"] == "error"
    finally:
        admin.put(f"{V}/os-services/enable", json=body)
    assert demo.delete(f"{V}/volumes/{vol['id']}").status_code == 202
    wait_volume(demo, vol["id"], "gone")


def test_clone_and_cascade(cloud: LiveCloud, demo: httpx.Client) -> None:
    src = _create(demo)
    wait_volume(demo, src["id"])
    with (volume_dir(cloud) / f"volume-{src['id']}").open("r+b") as f:
        f.write(b"clone me")
    clone = _create(demo, size=2, source_volid=src["id"])
    wait_volume(demo, clone["id"])
    with (volume_dir(cloud) / f"volume-{clone['id']}").open("rb") as f:
        assert f.read(8) == b"clone me"
    assert (volume_dir(cloud) / f"volume-{clone['id']}").stat().st_size == 2 << 30
    _delete(demo, clone["id"])
    _delete(demo, src["id"])
    assert not list(volume_dir(cloud).glob(f"*{src['id']}*"))


def test_image_bigger_than_the_volume_is_refused(cloud: LiveCloud, demo: httpx.Client,
                                                 tmp_path: Any) -> None:
    import shutil
    import subprocess

    import pytest

    if shutil.which("qemu-img") is None:
        pytest.skip("qemu-img is not installed")
    disk = tmp_path / "big.qcow2"
    subprocess.run(["qemu-img", "create", "-f", "qcow2", str(disk), "3G"], check=True,
                   capture_output=True)
    r = demo.post("/image/v2/images", json={"name": unique("big"), "disk_format": "qcow2",
                                            "container_format": "bare"})
    iid = r.json()["id"]
    r = demo.put(f"/image/v2/images/{iid}/file", content=disk.read_bytes(),
                 headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 204, r.text
    before = sorted(p.name for p in volume_dir(cloud).iterdir())
    r = demo.post(f"{V}/volumes", json={"volume": {"size": 2, "imageRef": iid}})
    assert r.status_code == 400 and "badRequest" in r.json()
    assert sorted(p.name for p in volume_dir(cloud).iterdir()) == before
    vol = _create(demo, size=3, imageRef=iid)
    assert wait_volume(demo, vol["id"])["bootable"] == "true"
    _delete(demo, vol["id"])
    demo.delete(f"/image/v2/images/{iid}")


def test_legacy_attach_state_machine(cloud: LiveCloud, demo: httpx.Client) -> None:
    """The transitions VolumeAPI offers compute, driven through Cinder's legacy actions."""
    vol = _create(demo)
    vid = vol["id"]
    wait_volume(demo, vid)
    act = f"{V}/volumes/{vid}/action"
    assert demo.post(act, json={"os-reserve": None}).status_code == 202
    assert demo.get(f"{V}/volumes/{vid}").json()["volume"]["status"] == "attaching"
    assert demo.post(act, json={"os-reserve": None}).status_code == 400  # not twice
    r = demo.post(act, json={"os-initialize_connection": {"connector": {}}})
    info = r.json()["connection_info"]
    assert info["driver_volume_type"] == "local"
    assert info["data"]["device_path"] == str(volume_dir(cloud) / f"volume-{vid}")
    server = "11111111-2222-3333-4444-555555555555"
    r = demo.post(act, json={"os-attach": {"instance_uuid": server, "mountpoint": "/dev/vdb"}})
    assert r.status_code == 202
    shown = demo.get(f"{V}/volumes/{vid}").json()["volume"]
    assert shown["status"] == "in-use"
    assert [(a["server_id"], a["device"]) for a in shown["attachments"]] == [
        (server, "/dev/vdb")]
    r = demo.delete(f"{V}/volumes/{vid}")
    assert r.status_code == 400 and "attached" in r.json()["badRequest"]["message"]
    assert demo.post(act, json={"os-begin_detaching": None}).status_code == 202
    assert demo.get(f"{V}/volumes/{vid}").json()["volume"]["status"] == "detaching"
    assert demo.post(act, json={"os-detach": {}}).status_code == 202
    shown = demo.get(f"{V}/volumes/{vid}").json()["volume"]
    assert (shown["status"], shown["attachments"]) == ("available", [])
    assert demo.post(act, json={"os-reserve": None}).status_code == 202
    assert demo.post(act, json={"os-unreserve": None}).status_code == 202
    assert demo.get(f"{V}/volumes/{vid}").json()["volume"]["status"] == "available"
    _delete(demo, vid)


def test_snapshot_api_retype_and_extend_in_use(admin: httpx.Client, demo: httpx.Client) -> None:
    from tests.volume.conftest import wait_status

    vol = _create(demo)
    vid = vol["id"]
    wait_volume(demo, vid)
    r = demo.post(f"{V}/snapshots", json={"snapshot": {"volume_id": vid, "name": "s",
                                                       "metadata": {"a": "1"}}})
    sid = r.json()["snapshot"]["id"]
    wait_status(demo, f"{V}/snapshots/{sid}", "snapshot", {"available"})
    r = demo.put(f"{V}/snapshots/{sid}", json={"snapshot": {"name": "renamed",
                                                            "description": "d"}})
    assert (r.json()["snapshot"]["name"], r.json()["snapshot"]["description"]) == (
        "renamed", "d")
    demo.put(f"{V}/snapshots/{sid}/metadata", json={"metadata": {"b": "2"}})
    assert demo.get(f"{V}/snapshots/{sid}/metadata").json()["metadata"] == {"b": "2"}
    listed = demo.get(f"{V}/snapshots/detail", params={"volume_id": vid}).json()["snapshots"]
    assert [s["id"] for s in listed] == [sid]
    assert listed[0]["os-extended-snapshot-attributes:progress"] == "100%"
    # retype in place to a new type
    name = unique("rt")
    admin.post(f"{V}/types", json={"volume_type": {"name": name}})
    act = f"{V}/volumes/{vid}/action"
    assert demo.post(act, json={"os-retype": {"new_type": name}}).status_code == 202
    assert demo.get(f"{V}/volumes/{vid}").json()["volume"]["volume_type"] == name
    # in-use extend needs 3.42
    admin.post(act, json={"os-reset_status": {"status": "in-use"}})
    r = demo.post(act, json={"os-extend": {"new_size": 2}})
    assert r.status_code == 400
    r = demo.post(act, json={"os-extend": {"new_size": 2}},
                  headers={"OpenStack-API-Version": "volume 3.42"})
    assert r.status_code == 202
    assert wait_volume(demo, vid, "in-use")["size"] == 2
    admin.post(act, json={"os-reset_status": {"status": "available"}})
    assert demo.delete(f"{V}/snapshots/{sid}").status_code == 202
    wait_status(demo, f"{V}/snapshots/{sid}", "snapshot", {"gone"})
    _delete(demo, vid)
    assert admin.delete(f"{V}/types/{name}").status_code == 202
