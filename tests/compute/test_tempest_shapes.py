"""What Tempest found: response shapes per microversion and the actions it drives
(createImage, rescue, os-resetState), over HTTP against the live cloud."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from tests.conftest import LiveCloud, unique

API = "/compute/v2.1"
EXT = {"OS-EXT-STS:vm_state", "OS-EXT-AZ:availability_zone", "OS-SRV-USG:launched_at",
       "config_drive", "key_name", "os-extended-volumes:volumes_attached",
       "OS-EXT-SRV-ATTR:host"}


def _image(admin: httpx.Client) -> str:
    return str(admin.get("/image/v2/images", params={"name": "pocketstack-empty-qcow2"}
                         ).json()["images"][0]["id"])


def _wait(admin: httpx.Client, sid: str, status: str) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while True:
        server = admin.get(f"{API}/servers/{sid}").json()["server"]
        if server["status"] == status and server["OS-EXT-STS:task_state"] is None:
            return server
        assert time.monotonic() < deadline, (server["status"], server["OS-EXT-STS:task_state"])
        time.sleep(0.1)


@pytest.fixture(scope="module")
def server(admin: httpx.Client) -> Any:
    body = {"server": {"name": unique("shape"), "imageRef": _image(admin), "flavorRef": "42",
                       "accessIPv6": "0000:0000:0000:0000:0000:babe:220.12.22.2",
                       "networks": "none"}}
    r = admin.post(f"{API}/servers", json=body,
                   headers={"X-OpenStack-Nova-API-Version": "2.37"})
    assert r.status_code == 202, r.text
    sid = r.json()["server"]["id"]
    yield _wait(admin, sid, "ACTIVE")
    admin.delete(f"{API}/servers/{sid}")


def test_access_ips_are_shown_canonically(server: dict[str, Any]) -> None:
    assert server["accessIPv6"] == "::babe:dc0c:1602"


def test_update_and_rebuild_answers_leave_out_extensions_before_275(
        admin: httpx.Client, server: dict[str, Any]) -> None:
    url = f"{API}/servers/{server['id']}"
    updated = admin.put(url, json={"server": {"name": "renamed"}}).json()["server"]
    assert updated["name"] == "renamed" and not EXT & set(updated)
    updated = admin.put(url, json={"server": {"name": "renamed"}},
                        headers={"X-OpenStack-Nova-API-Version": "2.75"}).json()["server"]
    assert EXT <= set(updated) and "OS-EXT-SRV-ATTR:user_data" not in updated
    assert updated["server_groups"] == []
    r = admin.post(f"{url}/action", json={"rebuild": {"imageRef": server["image"]["id"]}})
    assert r.status_code == 202
    rebuilt = r.json()["server"]
    assert rebuilt["adminPass"] and not EXT & set(rebuilt)
    _wait(admin, server["id"], "ACTIVE")
    r = admin.post(f"{url}/action", json={"rebuild": {"imageRef": server["image"]["id"]}},
                   headers={"X-OpenStack-Nova-API-Version": "2.57"})
    assert "user_data" in r.json()["server"]
    _wait(admin, server["id"], "ACTIVE")


def test_lists_carry_no_server_groups(admin: httpx.Client, server: dict[str, Any]) -> None:
    h = {"X-OpenStack-Nova-API-Version": "2.71"}
    listed = admin.get(f"{API}/servers/detail", headers=h).json()["servers"]
    assert listed and all("server_groups" not in s for s in listed)
    shown = admin.get(f"{API}/servers/{server['id']}", headers=h).json()["server"]
    assert shown["server_groups"] == []


def _image_active(admin: httpx.Client, image_id: str, timeout: float = 30) -> dict[str, Any]:
    end = time.monotonic() + timeout
    while True:
        image: dict[str, Any] = admin.get(f"/image/v2/images/{image_id}").json()
        if image["status"] == "active":
            return image
        assert image["status"] in ("queued", "saving"), image
        assert time.monotonic() < end, image
        time.sleep(0.05)


def test_create_image_snapshots_into_the_image_service(
        admin: httpx.Client, server: dict[str, Any]) -> None:
    url = f"{API}/servers/{server['id']}/action"
    r = admin.post(url, json={"createImage": {"name": "snap", "metadata": {"k": "v"}}})
    assert r.status_code == 202 and r.content == b""
    image_id = r.headers["Location"].rsplit("/", 1)[-1]
    # answered before the copy: the conductor fills the image, then ends the task
    image = _image_active(admin, image_id)
    assert image["visibility"] == "private"
    assert image["image_type"] == "snapshot" and image["instance_uuid"] == server["id"]
    assert image["k"] == "v" and image["owner"] == server["tenant_id"]
    source = admin.get(f"/image/v2/images/{server['image']['id']}").json()
    assert image["checksum"] == source["checksum"]  # the fake snapshot: the source's data
    _wait(admin, server["id"], "ACTIVE")  # the task ends just after the image is active
    r = admin.post(url, json={"createImage": {"name": "snap2"}},
                   headers={"X-OpenStack-Nova-API-Version": "2.45"})
    assert r.status_code == 202 and set(r.json()) == {"image_id"}
    second = r.json()["image_id"]
    _image_active(admin, second)
    shown = _wait(admin, server["id"], "ACTIVE")
    assert shown["OS-EXT-STS:task_state"] is None
    actions = admin.get(f"{API}/servers/{server['id']}/os-instance-actions").json()
    snaps = [a for a in actions["instanceActions"] if a["action"] == "createImage"]
    assert len(snaps) >= 2
    for a in snaps[:2]:
        detail = admin.get(f"{API}/servers/{server['id']}/os-instance-actions/"
                           f"{a['request_id']}").json()["instanceAction"]
        assert [(e["event"], e["result"]) for e in detail["events"]] == [
            ("compute_snapshot_instance", "Success")], detail
    for bad in ({"name": " x"}, {"name": "x" * 256}, {"name": "x", "metadata": {"": "v"}}, {}):
        r = admin.post(url, json={"createImage": bad})
        assert r.status_code == 400 and "badRequest" in r.json(), bad
    for iid in (image_id, second):
        assert admin.delete(f"/image/v2/images/{iid}").status_code == 204


def test_rescue_unrescue_and_reset_state(admin: httpx.Client, server: dict[str, Any]) -> None:
    url = f"{API}/servers/{server['id']}/action"
    r = admin.post(url, json={"rescue": {"adminPass": "secret"}})
    assert r.status_code == 200 and r.json() == {"adminPass": "secret"}
    _wait(admin, server["id"], "RESCUE")
    assert admin.post(url, json={"rescue": None}).status_code == 409
    assert admin.post(url, json={"unrescue": None}).status_code == 202
    _wait(admin, server["id"], "ACTIVE")
    assert admin.post(url, json={"os-resetState": {"state": "error"}}).status_code == 202
    assert admin.get(f"{API}/servers/{server['id']}").json()["server"]["status"] == "ERROR"
    assert admin.post(url, json={"os-resetState": {"state": "nope"}}).status_code == 400
    assert admin.post(url, json={"os-resetState": {"state": "active"}}).status_code == 202
    _wait(admin, server["id"], "ACTIVE")


def test_reset_state_is_for_admins(cloud: LiveCloud, server: dict[str, Any]) -> None:
    token, _ = cloud.token("demo", project="demo")
    with cloud.client(token) as demo:
        r = demo.post(f"{API}/servers/{server['id']}/action",
                      json={"os-resetState": {"state": "error"}})
        # as Nova: another project's server is not found before any policy is asked
        assert r.status_code == 404 and r.json()["itemNotFound"]["code"] == 404


def test_flavor_id_may_be_a_number(admin: httpx.Client) -> None:
    fid = int(time.time() * 1000) % 1_000_000_000
    r = admin.post(f"{API}/flavors", json={"flavor": {
        "name": unique("numflavor"), "ram": 64, "vcpus": 1, "disk": 1, "id": fid}})
    assert r.status_code == 200, r.text
    assert r.json()["flavor"]["id"] == str(fid)
    assert admin.delete(f"{API}/flavors/{fid}").status_code == 202


def test_images_proxy(admin: httpx.Client, server: dict[str, Any]) -> None:
    r = admin.post(f"{API}/servers/{server['id']}/action", json={"createImage": {"name": "px"}},
                   headers={"X-OpenStack-Nova-API-Version": "2.45"})
    snap = r.json()["image_id"]
    _image_active(admin, snap)
    _wait(admin, server["id"], "ACTIVE")
    listed = admin.get(f"{API}/images", params={"server": server["id"]}).json()["images"]
    assert [i["id"] for i in listed] == [snap]
    assert {link["rel"] for link in listed[0]["links"]} == {"self", "bookmark", "alternate"}
    shown = admin.get(f"{API}/images/{snap}").json()["image"]
    assert shown["status"] == "ACTIVE" and shown["progress"] == 100
    assert shown["server"]["id"] == server["id"] and shown["metadata"]["image_type"] == "snapshot"
    detail = admin.get(f"{API}/images/detail", params={"type": "snapshot"}).json()["images"]
    assert snap in {i["id"] for i in detail}
    meta = f"{API}/images/{snap}/metadata"
    assert admin.put(meta, json={"metadata": {"a": "1"}}).json() == {"metadata": {"a": "1"}}
    assert admin.post(meta, json={"metadata": {"b": "2"}}).json()["metadata"] == {
        "a": "1", "b": "2"}
    assert admin.get(f"{meta}/a").json() == {"meta": {"a": "1"}}
    assert admin.put(f"{meta}/a", json={"meta": {"b": "1"}}).status_code == 400
    assert admin.delete(f"{meta}/a").status_code == 204
    assert admin.get(f"{meta}/a").status_code == 404
    assert admin.get(f"{API}/images/{snap}",
                     headers={"X-OpenStack-Nova-API-Version": "2.36"}).status_code == 404
    assert admin.delete(f"{API}/images/{snap}").status_code == 204
    assert admin.delete(f"{API}/images/").status_code == 404  # an empty id, as Nova
    assert admin.get(f"{API}/images/{snap}").status_code == 404


def test_os_hosts(cloud: LiveCloud, admin: httpx.Client) -> None:
    hosts = admin.get(f"{API}/os-hosts").json()["hosts"]
    computes = [h for h in hosts if h["service"] == "compute"]
    assert computes and computes[0]["zone"] == "nova"
    assert {"conductor", "scheduler"} <= {h["service"] for h in hosts}
    assert admin.get(f"{API}/os-hosts", params={"zone": "xxx"}).json()["hosts"] == []
    name = computes[0]["host_name"]
    res = admin.get(f"{API}/os-hosts/{name}").json()["host"]
    assert [r["resource"]["project"] for r in res[:3]] == ["(total)", "(used_now)", "(used_max)"]
    assert res[0]["resource"]["host"] == name and res[0]["resource"]["cpu"] > 0
    assert admin.get(f"{API}/os-hosts/nope").status_code == 404
    # gone from 2.43 on, as in Nova
    assert admin.get(f"{API}/os-hosts", headers={
        "OpenStack-API-Version": "compute 2.43"}).status_code == 404
    for body in ({}, {"status": "bogus"}, {"maintenance_mode": "bogus"}):
        assert admin.put(f"{API}/os-hosts/{name}", json=body).status_code == 400
    assert admin.put(f"{API}/os-hosts/nope", json={"status": "enable"}).status_code == 404
    r = admin.put(f"{API}/os-hosts/{name}", json={"status": "disable"})
    try:
        assert r.json() == {"host": name, "status": "disabled"}
        # as Nova: the hosts of disabled services are not listed
        listed = [h["host_name"] for h in admin.get(f"{API}/os-hosts").json()["hosts"]
                  if h["service"] == "compute"]
        assert name not in listed
    finally:
        r = admin.put(f"{API}/os-hosts/{name}", json={"status": "Enable"})
    assert r.json() == {"host": name, "status": "enabled"}
    assert name in [h["host_name"] for h in admin.get(f"{API}/os-hosts").json()["hosts"]]
    assert admin.get(f"{API}/os-hosts/nope/reboot").status_code == 404
    assert admin.get(f"{API}/os-hosts/{name}/reboot").status_code == 501
    assert admin.get(f"{API}/os-hosts", headers={
        "X-OpenStack-Nova-API-Version": "2.43"}).status_code == 404
    token, _ = cloud.token("demo", project="demo")
    with cloud.client(token) as demo:
        assert demo.get(f"{API}/os-hosts").status_code == 403


@pytest.mark.parametrize("finish", ["confirmResize", "revertResize"])
def test_a_stopped_server_stays_stopped_through_a_resize(admin: httpx.Client,
                                                         finish: str) -> None:
    body = {"server": {"name": unique("stopped"), "imageRef": _image(admin), "flavorRef": "42"}}
    sid = admin.post(f"{API}/servers", json=body).json()["server"]["id"]
    _wait(admin, sid, "ACTIVE")
    url = f"{API}/servers/{sid}/action"
    assert admin.post(url, json={"os-stop": None}).status_code == 202
    _wait(admin, sid, "SHUTOFF")
    resize = {"flavorRef": "84", "OS-DCF:diskConfig": "AUTO"}
    assert admin.post(url, json={"resize": resize}).status_code == 202
    _wait(admin, sid, "VERIFY_RESIZE")
    expected = {"confirmResize": 204, "revertResize": 202}[finish]  # as Nova answers them
    assert admin.post(url, json={finish: None}).status_code == expected
    server = _wait(admin, sid, "SHUTOFF")
    assert server["OS-EXT-STS:power_state"] == 4
    if finish == "confirmResize":  # the resize's disk config is the server's
        assert server["OS-DCF:diskConfig"] == "AUTO"
    assert admin.post(url, json={"os-start": None}).status_code == 202
    _wait(admin, sid, "ACTIVE")
    admin.delete(f"{API}/servers/{sid}")


def test_rebuild_keeps_a_stopped_server_stopped_and_shows_key_name(admin: httpx.Client) -> None:
    body = {"server": {"name": unique("rb"), "imageRef": _image(admin), "flavorRef": "42"}}
    sid = admin.post(f"{API}/servers", json=body).json()["server"]["id"]
    server = _wait(admin, sid, "ACTIVE")
    url = f"{API}/servers/{sid}/action"
    output = admin.post(url, json={"os-getConsoleOutput": {"length": 2}}).json()["output"]
    assert len(output.split("\n")) == 2  # Nova's tail: the last `length` '\n'-parts
    assert admin.post(url, json={"os-stop": None}).status_code == 202
    _wait(admin, sid, "SHUTOFF")
    assert server["OS-DCF:diskConfig"] == "MANUAL"
    rebuild = {"imageRef": server["image"]["id"], "key_name": None, "OS-DCF:diskConfig": "AUTO"}
    r = admin.post(url, json={"rebuild": {**rebuild, "OS-DCF:diskConfig": "auto"}},
                   headers={"X-OpenStack-Nova-API-Version": "2.54"})
    assert r.status_code == 400, r.text  # AUTO or MANUAL, as Nova's schema
    r = admin.post(url, json={"rebuild": rebuild}, headers={"X-OpenStack-Nova-API-Version": "2.54"})
    assert r.status_code == 202 and r.json()["server"]["key_name"] is None
    assert r.json()["server"]["OS-DCF:diskConfig"] == "AUTO"
    rebuilt = _wait(admin, sid, "SHUTOFF")
    assert rebuilt["OS-EXT-STS:power_state"] == 4 and rebuilt["OS-DCF:diskConfig"] == "AUTO"
    admin.delete(f"{API}/servers/{sid}")


def test_is_public_filter_takes_olso_booleans(admin: httpx.Client) -> None:
    for word in ("t", "y", "f", "n", "1", "off"):
        assert admin.get(f"{API}/flavors/detail", params={"is_public": word}).status_code == 200
    assert admin.get(f"{API}/flavors/detail", params={"is_public": "maybe"}).status_code == 400


def test_resize_is_held_to_the_ram_quota(cloud: LiveCloud, admin: httpx.Client) -> None:
    token, body = cloud.token("demo", project="demo")
    project = body["project"]["id"]
    sid = admin.post(f"{API}/servers", json={"server": {
        "name": unique("q"), "imageRef": _image(admin), "flavorRef": "42"}}).json()["server"]["id"]
    _wait(admin, sid, "ACTIVE")
    admin_project = admin.get(f"{API}/servers/{sid}").json()["server"]["tenant_id"]
    old = admin.get(f"{API}/os-quota-sets/{admin_project}").json()["quota_set"]["ram"]
    listed = admin.get(f"{API}/servers/detail",
                       headers={"X-OpenStack-Nova-API-Version": "2.47"}).json()["servers"]
    used = sum(s["flavor"]["ram"] for s in listed)
    assert project
    admin.put(f"{API}/os-quota-sets/{admin_project}", json={"quota_set": {"ram": used}})
    try:
        r = admin.post(f"{API}/servers/{sid}/action", json={"resize": {"flavorRef": "84"}})
        assert r.status_code == 403, r.text
    finally:
        admin.put(f"{API}/os-quota-sets/{admin_project}", json={"quota_set": {"ram": old}})
        admin.delete(f"{API}/servers/{sid}")
