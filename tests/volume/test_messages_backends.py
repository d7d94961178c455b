"""User messages (``/messages``, 3.3) left by real failures — no backend for a volume's type,
the backend failing an extend — with the stock CLI and over HTTP; and what the backends report:
``/capabilities/{host}``, ``/scheduler-stats/get_pools``, ``/os-hosts``."""

from __future__ import annotations

import shutil

import httpx

from tests.conftest import LiveCloud, unique
from tests.volume.conftest import volume_dir, wait_volume

V = "/volume/v3"
MV = {"OpenStack-API-Version": "volume 3.3"}


def _messages(client: httpx.Client, **params: str) -> list[dict[str, object]]:
    r = client.get(f"{V}/messages", headers=MV, params=params)
    assert r.status_code == 200, r.text
    return r.json()["messages"]  # type: ignore[no-any-return]


def test_no_valid_backend_leaves_a_message(cloud: LiveCloud, admin: httpx.Client,
                                           demo: httpx.Client) -> None:
    r = admin.post(f"{V}/types", json={"volume_type": {
        "name": unique("nowhere"), "extra_specs": {"storage_protocol": "carrier-pigeon"}}})
    vtype = r.json()["volume_type"]["id"]
    r = demo.post(f"{V}/volumes", json={"volume": {"size": 1, "volume_type": vtype}})
    assert r.status_code == 202, r.text
    vid = r.json()["volume"]["id"]
    request_id = r.headers["X-Openstack-Request-Id"]
    assert wait_volume(demo, vid, "error")["status"] == "error"
    mine = [m for m in _messages(demo) if m["resource_uuid"] == vid]
    assert len(mine) == 1
    msg = mine[0]
    assert msg["event_id"] == "VOLUME_VOLUME_001_003"
    assert msg["user_message"] == ("schedule allocate volume: Could not find any available "
                                   "weighted backend.")
    assert msg["request_id"] == request_id and msg["resource_type"] == "VOLUME"
    assert msg["message_level"] == "ERROR" and msg["guaranteed_until"] > msg["created_at"]
    # the stock CLI shows it (3.3 is where messages begin)
    listed = cloud.osc("--os-volume-api-version", "3.3", "volume", "message", "list",
                       "--project", "demo")
    # (``volume message show`` reads the body under openstacksdk's ``messages`` key, where
    # Cinder answers ``message``: its fields come out empty against any Cinder)
    row = next(m for m in listed if m["ID"] == msg["id"])
    assert row["Event ID"] == "VOLUME_VOLUME_001_003"
    assert row["Resource UUID"] == vid and row["User Message"] == msg["user_message"]
    # another project neither sees nor deletes it; before 3.3 there is no such API
    alt_token, _ = cloud.token("alt_demo", project="alt_demo")
    with cloud.client(alt_token) as alt:
        assert msg["id"] not in {m["id"] for m in _messages(alt)}
        assert alt.get(f"{V}/messages/{msg['id']}", headers=MV).status_code == 404
        assert alt.delete(f"{V}/messages/{msg['id']}", headers=MV).status_code == 404
    assert demo.get(f"{V}/messages").status_code == 404
    filtered = _messages(admin, event_id="VOLUME_VOLUME_001_003")
    assert msg["id"] in {m["id"] for m in filtered}
    assert not _messages(admin, event_id="VOLUME_VOLUME_007_010", resource_uuid=vid)
    assert demo.delete(f"{V}/messages/{msg['id']}", headers=MV).status_code == 204
    assert demo.get(f"{V}/messages/{msg['id']}", headers=MV).status_code == 404
    assert demo.delete(f"{V}/volumes/{vid}").status_code == 202
    wait_volume(demo, vid, "gone")
    assert admin.delete(f"{V}/types/{vtype}").status_code == 202


def test_backend_failure_leaves_a_message(cloud: LiveCloud, demo: httpx.Client) -> None:
    vid = demo.post(f"{V}/volumes", json={"volume": {"size": 1}}).json()["volume"]["id"]
    wait_volume(demo, vid)
    (volume_dir(cloud) / f"volume-{vid}").unlink()  # the backend has lost the volume's file
    r = demo.post(f"{V}/volumes/{vid}/action", json={"os-extend": {"new_size": 2}})
    assert r.status_code == 202, r.text
    wait_volume(demo, vid, "error_extending")
    mine = [m for m in _messages(demo) if m["resource_uuid"] == vid]
    assert [m["event_id"] for m in mine] == ["VOLUME_VOLUME_007_010"]
    assert mine[0]["user_message"] == "extend volume: Volume Driver failed to extend volume."
    assert mine[0]["request_id"] == r.headers["X-Openstack-Request-Id"]


def test_capabilities_and_pools(cloud: LiveCloud, admin: httpx.Client,
                                demo: httpx.Client) -> None:
    pools = admin.get(f"{V}/scheduler-stats/get_pools").json()["pools"]
    assert pools == [{"name": "compute1@file#file"}]
    detail = admin.get(f"{V}/scheduler-stats/get_pools", params={"detail": "true"}).json()
    caps = detail["pools"][0]["capabilities"]
    usage = shutil.disk_usage(volume_dir(cloud))
    assert caps["storage_protocol"] == "local" and caps["vendor_name"] == "Open Source"
    assert caps["volume_backend_name"] == "file" and caps["pool_name"] == "file"
    assert abs(caps["total_capacity_gb"] - usage.total // (1 << 30)) <= 1
    assert caps["QoS_support"] is False and caps["thin_provisioning_support"] is True
    for host in ("compute1@file#file", "compute1@file", "compute1"):
        r = admin.get(f"{V}/capabilities/{host}")
        assert r.status_code == 200, (host, r.text)
        got = r.json()
        assert (got["vendor_name"], got["volume_backend_name"], got["storage_protocol"]) == (
            caps["vendor_name"], caps["volume_backend_name"], caps["storage_protocol"])
        assert set(got["properties"]) == {"thin_provisioning"}
    assert admin.get(f"{V}/capabilities/nowhere@file").status_code == 404
    vtype = admin.post(f"{V}/types", json={"volume_type": {
        "name": unique("pin"), "extra_specs": {"volume_backend_name": "lvm"}}}).json()[
        "volume_type"]["id"]
    assert admin.get(f"{V}/scheduler-stats/get_pools",
                     params={"volume_type": vtype}).json()["pools"] == []
    assert admin.get(f"{V}/scheduler-stats/get_pools",
                     params={"name": "compute1@file#file"}).json()["pools"] == pools
    admin.delete(f"{V}/types/{vtype}")
    assert demo.get(f"{V}/scheduler-stats/get_pools").status_code == 403
    assert demo.get(f"{V}/capabilities/compute1@file").status_code == 403


def test_os_hosts(cloud: LiveCloud, admin: httpx.Client, demo: httpx.Client) -> None:
    hosts = admin.get(f"{V}/os-hosts").json()["hosts"]
    by = {(h["service"], h["host_name"]): h for h in hosts}
    vol = by[("cinder-volume", "compute1@file")]
    assert vol["service-status"] == "available" and vol["service-state"] == "enabled"
    assert ("cinder-scheduler", "compute1") in by
    vid = demo.post(f"{V}/volumes", json={"volume": {"size": 2}}).json()["volume"]["id"]
    wait_volume(demo, vid)
    # admins see the (always empty) migration status; owners do not
    assert admin.get(f"{V}/volumes/{vid}").json()["volume"]["migration_status"] is None
    assert "migration_status" not in demo.get(f"{V}/volumes/{vid}").json()["volume"]
    res = [r["resource"] for r in admin.get(f"{V}/os-hosts/compute1@file").json()["host"]]
    assert res[0]["project"] == "(total)"
    demo_project = demo.get(f"{V}/volumes/{vid}").json()["volume"][
        "os-vol-tenant-attr:tenant_id"]
    mine = next(r for r in res if r["project"] == demo_project)
    expected = sum(v["size"] for v in demo.get(f"{V}/volumes/detail").json()["volumes"])
    assert mine["total_volume_gb"] == str(expected) and int(mine["volume_count"]) >= 1
    assert int(res[0]["total_volume_gb"]) >= expected
    assert admin.get(f"{V}/os-hosts/compute1").status_code == 404  # no cinder-volume there
    assert demo.get(f"{V}/os-hosts").status_code == 403
    assert demo.delete(f"{V}/volumes/{vid}").status_code == 202
    wait_volume(demo, vid, "gone")


def test_services_by_node_and_disable_reasons(admin: httpx.Client, demo: httpx.Client) -> None:
    # ``host=compute1`` is the node: its scheduler, backup and volume (compute1@file) services
    by_node = admin.get(f"{V}/os-services", params={"host": "compute1"}).json()["services"]
    assert {(s["binary"], s["host"]) for s in by_node} >= {
        ("cinder-scheduler", "compute1"), ("cinder-volume", "compute1@file")}
    r = admin.get(f"{V}/os-services", params={"host": "compute1", "binary": "cinder-volume"})
    assert [s["host"] for s in r.json()["services"]] == ["compute1@file"]
    assert admin.get(f"{V}/os-services", params={"host": "compute"}).json()["services"] == []
    body = {"host": "compute1", "binary": "cinder-scheduler"}
    r = admin.put(f"{V}/os-services/disable-log-reason", json={**body, "disabled_reason": None})
    assert r.status_code == 400 and "badRequest" in r.json()
    r = admin.put(f"{V}/os-services/disable-log-reason",
                  json={**body, "disabled_reason": "maintenance"})
    assert r.json() == {**body, "service": "cinder-scheduler", "status": "disabled",
                        "disabled": True, "disabled_reason": "maintenance"}
    listed = admin.get(f"{V}/os-services", params={"binary": "cinder-scheduler"}).json()
    assert listed["services"][0]["disabled_reason"] == "maintenance"
    r = admin.put(f"{V}/os-services/enable", json=body)
    assert r.json() == {**body, "service": "cinder-scheduler", "status": "enabled",
                        "disabled": False, "disabled_reason": None}
    aliases = {e["alias"] for e in demo.get(f"{V}/extensions").json()["extensions"]}
    assert {"qos-specs", "os-hosts", "capabilities", "scheduler-stats", "os-quota-class-sets",
            "encryption"} <= aliases
