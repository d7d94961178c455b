"""Volumes attached to servers with the stock CLI (fake driver): ``server add volume`` /
``server remove volume``, the volume's status and attachment, the server's
``volumes_attached``, the driver's record, refusals, and what a server delete does."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from tests.conftest import LiveCloud, unique
from tests.volume.conftest import wait_volume

IMAGE = "pocketstack-empty-qcow2"
DEMO = "pocketstack"  # a member of project demo


@pytest.fixture(scope="module")
def demo(cloud: LiveCloud) -> Any:
    token, _ = cloud.token("demo", project="demo")
    with cloud.client(token) as client:
        yield client


def _volume(cloud: LiveCloud, demo: httpx.Client) -> str:
    vid: str = cloud.osc("volume", "create", "--size", "1", unique("vol"), cloud=DEMO)["id"]
    wait_volume(demo, vid)
    return vid


def _server(cloud: LiveCloud) -> dict[str, Any]:
    out: dict[str, Any] = cloud.osc("server", "create", "--flavor", "m1.tiny", "--image",
                                    IMAGE, "--wait", unique("att"), cloud=DEMO)
    return out


def _guest_disks(cloud: LiveCloud, server_id: str) -> int:
    """How many disks the fake driver's guest has (the admin's diagnostics API)."""
    token, _ = cloud.token()
    with cloud.client(token) as admin:
        r = admin.get(f"/compute/v2.1/servers/{server_id}/diagnostics",
                      headers={"OpenStack-API-Version": "compute 2.48"})
        assert r.status_code == 200, r.text
        disks: int = r.json()["num_disks"]
        return disks


def test_add_and_remove_volume(cloud: LiveCloud, demo: httpx.Client) -> None:
    vid = _volume(cloud, demo)
    server = _server(cloud)
    sid = server["id"]
    t0 = time.monotonic()
    cloud.osc("server", "add", "volume", sid, vid, as_json=False, cloud=DEMO)
    vol = wait_volume(demo, vid, "in-use")  # the conductor's task plugs it
    took = time.monotonic() - t0
    assert [(a["server_id"], a["device"]) for a in vol["attachments"]] == [(sid, "/dev/vdb")]
    shown = cloud.osc("server", "show", sid, cloud=DEMO)
    attached = shown["volumes_attached"]
    assert [a["id"] for a in attached] == [vid], shown
    listed = demo.get(f"/compute/v2.1/servers/{sid}/os-volume_attachments").json()
    assert listed["volumeAttachments"] == [{"id": vid, "serverId": sid, "volumeId": vid,
                                            "device": "/dev/vdb"}]
    assert _guest_disks(cloud, sid) == 2  # root + the volume, on the fake guest
    # attached elsewhere: refused (not multiattach)
    other = _server(cloud)
    r = demo.post(f"/compute/v2.1/servers/{other['id']}/os-volume_attachments",
                  json={"volumeAttachment": {"volumeId": vid}})
    assert r.status_code == 400, r.text
    assert demo.get(f"/volume/v3/volumes/{vid}").json()["volume"]["status"] == "in-use"
    # a volume in use cannot be deleted
    assert cloud.osc("volume", "delete", vid, cloud=DEMO, check=False).returncode != 0
    cloud.osc("server", "remove", "volume", sid, vid, as_json=False, cloud=DEMO)
    vol = wait_volume(demo, vid, "available")
    assert vol["attachments"] == [], vol
    assert cloud.osc("server", "show", sid, cloud=DEMO)["volumes_attached"] == []
    events = demo.get(f"/compute/v2.1/servers/{sid}/os-instance-actions").json()
    assert {"attach_volume", "detach_volume"} <= {a["action"] for a in
                                                  events["instanceActions"]}
    assert _guest_disks(cloud, sid) == 1
    r = demo.delete(f"/compute/v2.1/servers/{sid}/os-volume_attachments/{vid}")
    assert r.status_code == 404, r.text
    cloud.osc("server", "delete", "--wait", sid, other["id"], cloud=DEMO, as_json=False)
    cloud.osc("volume", "delete", vid, cloud=DEMO, as_json=False)
    assert took < 30


def test_server_delete_detaches_its_volume(cloud: LiveCloud, demo: httpx.Client) -> None:
    vid = _volume(cloud, demo)
    sid = _server(cloud)["id"]
    r = demo.post(f"/compute/v2.1/servers/{sid}/os-volume_attachments",
                  headers={"OpenStack-API-Version": "compute 2.79"},
                  json={"volumeAttachment": {"volumeId": vid, "device": "/dev/vdc"}})
    assert r.status_code == 200, r.text
    assert r.json()["volumeAttachment"]["device"] == "/dev/vdc"
    assert r.json()["volumeAttachment"]["delete_on_termination"] is False
    wait_volume(demo, vid, "in-use")
    shown = demo.get(f"/compute/v2.1/servers/{sid}/os-volume_attachments/{vid}",
                     headers={"OpenStack-API-Version": "compute 2.89"}).json()
    attachment = shown["volumeAttachment"]
    assert "id" not in attachment and attachment["bdm_uuid"]
    vol = demo.get(f"/volume/v3/volumes/{vid}").json()["volume"]
    assert [a["attachment_id"] for a in vol["attachments"]] == [attachment["attachment_id"]]
    cloud.osc("server", "delete", "--wait", sid, cloud=DEMO, as_json=False)
    vol = wait_volume(demo, vid, "available")
    assert vol["attachments"] == []
    cloud.osc("volume", "delete", vid, cloud=DEMO, as_json=False)


def test_delete_on_termination_deletes_the_volume(cloud: LiveCloud,
                                                  demo: httpx.Client) -> None:
    vid = _volume(cloud, demo)
    sid = _server(cloud)["id"]
    r = demo.post(f"/compute/v2.1/servers/{sid}/os-volume_attachments",
                  headers={"OpenStack-API-Version": "compute 2.79"},
                  json={"volumeAttachment": {"volumeId": vid,
                                             "delete_on_termination": True}})
    assert r.status_code == 200, r.text
    wait_volume(demo, vid, "in-use")
    shown = demo.get(f"/compute/v2.1/servers/{sid}",
                     headers={"OpenStack-API-Version": "compute 2.3"}).json()["server"]
    assert shown["os-extended-volumes:volumes_attached"] == [
        {"id": vid, "delete_on_termination": True}]
    cloud.osc("server", "delete", "--wait", sid, cloud=DEMO, as_json=False)
    wait_volume(demo, vid, "gone")


def test_attach_refusals(cloud: LiveCloud, demo: httpx.Client) -> None:
    sid = _server(cloud)["id"]
    token, _ = cloud.token("alt_demo", project="alt_demo")
    with cloud.client(token) as alt:
        r = alt.post("/volume/v3/volumes", json={"volume": {"size": 1}})
        assert r.status_code == 202, r.text
        alt_vid = r.json()["volume"]["id"]
        wait_volume(alt, alt_vid)
        r = demo.post(f"/compute/v2.1/servers/{sid}/os-volume_attachments",
                      json={"volumeAttachment": {"volumeId": alt_vid}})
        assert r.status_code == 404, r.text
        assert alt.get(f"/volume/v3/volumes/{alt_vid}").json()["volume"]["status"] == \
            "available"
        alt.delete(f"/volume/v3/volumes/{alt_vid}")
    r = demo.post(f"/compute/v2.1/servers/{sid}/os-volume_attachments",
                  json={"volumeAttachment": {"volumeId": "not-a-uuid"}})
    assert r.status_code == 400, r.text
    r = demo.put(f"/compute/v2.1/servers/{sid}/os-volume_attachments/"
                 "00000000-0000-0000-0000-000000000000",
                 json={"volumeAttachment": {"volumeId": "00000000-0000-0000-0000-000000000000"}})
    assert r.status_code == 403, r.text  # swapping a volume is for admins (Nova's policy)
    vid = _volume(cloud, demo)
    admin_token, _ = cloud.token("admin", project="admin")
    with cloud.client(admin_token) as admin:
        url = f"/compute/v2.1/servers/{sid}/os-volume_attachments/"
        r = admin.put(url + "00000000-0000-0000-0000-000000000000",
                      json={"volumeAttachment": {"volumeId": vid}})
        assert r.status_code == 404, r.text  # the volume in the path must exist (Tempest)
        # Nova swaps only for Cinder's volume migration, which never happens here
        r = admin.put(url + vid, json={"volumeAttachment": {
            "volumeId": "00000000-0000-0000-0000-000000000000"}})
        assert r.status_code == 409 and "is not migrating" in r.text, r.text
        r = admin.put(url + vid, json={"volumeAttachment": {"volumeId": "not-a-uuid"}})
        assert r.status_code == 400, r.text
    demo.delete(f"/volume/v3/volumes/{vid}")
    cloud.osc("server", "delete", "--wait", sid, cloud=DEMO, as_json=False)


def test_server_create_from_volume(cloud: LiveCloud, demo: httpx.Client) -> None:
    vid = _volume(cloud, demo)
    # a blank volume is not bootable (as Cinder's): Nova refuses to boot from it
    bfv = {"server": {
        "name": unique("bfv"), "flavorRef": "1", "networks": "none",
        "block_device_mapping_v2": [{"uuid": vid, "source_type": "volume",
                                     "destination_type": "volume", "boot_index": 0}]}}
    r = demo.post("/compute/v2.1/servers", json=bfv,
                  headers={"OpenStack-API-Version": "compute 2.37"})
    assert r.status_code == 400 and f"Block Device {vid} is not bootable." in r.text, r.text
    r = demo.post(f"/volume/v3/volumes/{vid}/action",
                  json={"os-set_bootable": {"bootable": True}})
    assert r.status_code == 200, r.text
    name = unique("bfv")
    server = cloud.osc("server", "create", "--flavor", "m1.tiny", "--volume", vid, "--wait",
                       name, cloud=DEMO)
    assert server["status"] == "ACTIVE", server
    shown = demo.get(f"/compute/v2.1/servers/{server['id']}").json()["server"]
    assert shown["image"] == ""
    assert shown["os-extended-volumes:volumes_attached"] == [{"id": vid}]
    vol = demo.get(f"/volume/v3/volumes/{vid}").json()["volume"]
    assert vol["status"] == "in-use"
    assert [(a["server_id"], a["device"]) for a in vol["attachments"]] == [
        (server["id"], "/dev/vda")]
    # the root volume cannot be detached
    r = demo.delete(f"/compute/v2.1/servers/{server['id']}/os-volume_attachments/{vid}")
    assert r.status_code == 400, r.text
    # the volume is now in use: a second boot from it is refused
    r = demo.post("/compute/v2.1/servers", json={"server": {
        "name": unique("bfv"), "flavorRef": "1", "networks": "none",
        "block_device_mapping_v2": [{"uuid": vid, "source_type": "volume",
                                     "destination_type": "volume", "boot_index": 0}]}},
        headers={"OpenStack-API-Version": "compute 2.37"})
    assert r.status_code == 400, r.text
    cloud.osc("server", "delete", "--wait", server["id"], cloud=DEMO, as_json=False)
    wait_volume(demo, vid, "available")  # not delete_on_termination: kept
    cloud.osc("volume", "delete", vid, cloud=DEMO, as_json=False)


def test_bdm_image_to_volume_delete_on_termination(cloud: LiveCloud,
                                                   demo: httpx.Client) -> None:
    image = cloud.osc("image", "show", IMAGE, cloud=DEMO)
    r = demo.post("/compute/v2.1/servers", headers={"OpenStack-API-Version": "compute 2.37"},
                  json={"server": {
                      "name": unique("bdm"), "flavorRef": "1", "networks": "none",
                      "block_device_mapping_v2": [{
                          "uuid": image["id"], "source_type": "image",
                          "destination_type": "volume", "boot_index": 0, "volume_size": 1,
                          "delete_on_termination": True}]}})
    assert r.status_code == 202, r.text
    sid = r.json()["server"]["id"]
    end = time.monotonic() + 60
    while True:
        shown = demo.get(f"/compute/v2.1/servers/{sid}",
                         headers={"OpenStack-API-Version": "compute 2.3"}).json()["server"]
        if shown["status"] != "BUILD":
            break
        assert time.monotonic() < end, shown
        time.sleep(0.1)
    assert shown["status"] == "ACTIVE", shown
    assert shown["image"] == ""
    [attached] = shown["os-extended-volumes:volumes_attached"]
    assert attached["delete_on_termination"] is True
    vol = demo.get(f"/volume/v3/volumes/{attached['id']}").json()["volume"]
    assert vol["status"] == "in-use" and vol["bootable"] == "true"
    assert vol["volume_image_metadata"]["image_id"] == image["id"]
    cloud.osc("server", "delete", "--wait", sid, cloud=DEMO, as_json=False)
    wait_volume(demo, attached["id"], "gone")


def test_bdm_volume_needs_a_size(demo: httpx.Client, cloud: LiveCloud) -> None:
    image = cloud.osc("image", "show", IMAGE, cloud=DEMO)
    r = demo.post("/compute/v2.1/servers", headers={"OpenStack-API-Version": "compute 2.37"},
                  json={"server": {
                      "name": unique("bdm"), "flavorRef": "1", "networks": "none",
                      "block_device_mapping_v2": [{
                          "uuid": image["id"], "source_type": "image",
                          "destination_type": "volume", "boot_index": 0}]}})
    assert r.status_code == 400, r.text
    r = demo.post("/compute/v2.1/servers", headers={"OpenStack-API-Version": "compute 2.37"},
                  json={"server": {
                      "name": unique("bdm"), "flavorRef": "1", "networks": "none",
                      "block_device_mapping_v2": [{
                          "uuid": "00000000-0000-0000-0000-000000000000",
                          "source_type": "volume", "destination_type": "volume",
                          "boot_index": 0}]}})
    assert r.status_code == 400, r.text


def _wait_server(demo: httpx.Client, sid: str, status: str) -> dict[str, Any]:
    end = time.monotonic() + 60
    while True:
        shown: dict[str, Any] = demo.get(f"/compute/v2.1/servers/{sid}").json()["server"]
        if shown["status"] == status and not shown.get("OS-EXT-STS:task_state"):
            return shown
        assert time.monotonic() < end, shown
        time.sleep(0.1)


def test_volume_on_a_shelved_offloaded_server(cloud: LiveCloud, demo: httpx.Client) -> None:
    """Nova 2.20: attached at block storage while shelved, plugged by the unshelve."""
    vid = _volume(cloud, demo)
    sid = _server(cloud)["id"]
    cloud.osc("server", "shelve", sid, as_json=False, cloud=DEMO)
    _wait_server(demo, sid, "SHELVED_OFFLOADED")
    r = demo.post(f"/compute/v2.1/servers/{sid}/os-volume_attachments",
                  headers={"OpenStack-API-Version": "compute 2.19"},
                  json={"volumeAttachment": {"volumeId": vid}})
    assert r.status_code == 409, r.text  # before 2.20
    cloud.osc("--os-compute-api-version", "2.20", "server", "add", "volume", sid, vid,
              as_json=False, cloud=DEMO)
    vol = demo.get(f"/volume/v3/volumes/{vid}").json()["volume"]
    assert vol["status"] == "in-use", vol
    assert [(a["server_id"], a["device"]) for a in vol["attachments"]] == [(sid, "/dev/vdb")]
    assert [a["id"] for a in cloud.osc("server", "show", sid,
                                       cloud=DEMO)["volumes_attached"]] == [vid]
    cloud.osc("server", "unshelve", sid, as_json=False, cloud=DEMO)
    _wait_server(demo, sid, "ACTIVE")
    assert _guest_disks(cloud, sid) == 2  # the spawn plugged the volume
    cloud.osc("server", "remove", "volume", sid, vid, as_json=False, cloud=DEMO)
    wait_volume(demo, vid, "available")
    assert _guest_disks(cloud, sid) == 1
    # and while shelved again: detached at block storage only
    cloud.osc("--os-compute-api-version", "2.20", "server", "add", "volume", sid, vid,
              as_json=False, cloud=DEMO)
    wait_volume(demo, vid, "in-use")
    cloud.osc("server", "shelve", sid, as_json=False, cloud=DEMO)
    _wait_server(demo, sid, "SHELVED_OFFLOADED")
    cloud.osc("--os-compute-api-version", "2.20", "server", "remove", "volume", sid, vid,
              as_json=False, cloud=DEMO)
    vol = demo.get(f"/volume/v3/volumes/{vid}").json()["volume"]
    assert vol["status"] == "available" and vol["attachments"] == [], vol
    assert cloud.osc("server", "show", sid, cloud=DEMO)["volumes_attached"] == []
    cloud.osc("server", "delete", "--wait", sid, cloud=DEMO, as_json=False)
    cloud.osc("volume", "delete", vid, cloud=DEMO, as_json=False)
