"""Instance actions, server metadata and server tags over the API."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pocketstack.compute.domain import instance_actions as ia
from tests.compute.kit import Harness


@pytest.fixture(scope="module")
def h(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    harness = Harness(tmp_path_factory.mktemp("sub"))
    yield harness
    harness.close()


def test_instance_actions(h: Harness) -> None:
    uid = h.add_instance(host="c1")
    db = h.db
    first = db.write(ia.start, uid, "create", "req-a", "p-demo", "u-demo")
    db.write(ia.event_start, first, "compute__do_build_and_run_instance", "c1")
    db.write(ia.event_finish, first, "compute__do_build_and_run_instance", "Success")
    db.write(ia.finish, first)
    second = db.write(ia.start, uid, "reboot", "req-b", "p-demo", "u-demo")
    db.write(ia.event_finish, second, "compute_reboot_instance", "Error", "Traceback: boom")
    listed = h.demo.get(f"/servers/{uid}/os-instance-actions").json()["instanceActions"]
    assert [a["request_id"] for a in listed] == ["req-b", "req-a"]
    assert set(listed[0]) == {"action", "instance_uuid", "message", "project_id",
                              "request_id", "start_time", "user_id"}
    assert listed[0]["message"] == "Error"
    # events: admins only before 2.51; traceback and host only for admins
    a = h.demo.get(f"/servers/{uid}/os-instance-actions/req-a").json()["instanceAction"]
    assert "events" not in a
    a = h.admin.get(f"/servers/{uid}/os-instance-actions/req-b").json()["instanceAction"]
    assert a["events"][0]["traceback"] == "Traceback: boom"
    a = h.demo.get(f"/servers/{uid}/os-instance-actions/req-a",
                   version="2.62").json()["instanceAction"]
    ev = a["events"][0]
    assert set(ev) == {"event", "start_time", "finish_time", "result", "hostId"}
    assert ev["result"] == "Success" and len(ev["hostId"]) == 56 and "updated_at" in a
    ev = h.admin.get(f"/servers/{uid}/os-instance-actions/req-a",
                     version="2.84").json()["instanceAction"]["events"][0]
    assert ev["host"] == "c1" and "details" in ev and "traceback" in ev
    # 2.58 paging and changes-since
    page = h.demo.get(f"/servers/{uid}/os-instance-actions?limit=1", version="2.58").json()
    assert [a["request_id"] for a in page["instanceActions"]] == ["req-b"]
    assert "marker=req-b" in page["links"][0]["href"]
    rest = h.demo.get(f"/servers/{uid}/os-instance-actions?marker=req-b",
                      version="2.58").json()["instanceActions"]
    assert [a["request_id"] for a in rest] == ["req-a"]
    assert h.demo.get(f"/servers/{uid}/os-instance-actions?marker=nope",
                      version="2.58").status_code == 400
    assert h.demo.get(f"/servers/{uid}/os-instance-actions?changes-since=2999-01-01T00:00:00Z",
                      version="2.58").json()["instanceActions"] == []
    assert h.demo.get(f"/servers/{uid}/os-instance-actions?changes-since=soon",
                      version="2.58").status_code == 400
    # other projects: the server does not exist
    assert h.alt.get(f"/servers/{uid}/os-instance-actions").status_code == 404
    assert h.demo.get(f"/servers/{uid}/os-instance-actions/req-zzz").status_code == 404
    assert h.demo.get("/servers/nope/os-instance-actions").status_code == 404


def test_actions_of_deleted_server_from_221(h: Harness) -> None:
    uid = h.add_instance(deleted=True)
    h.db.write(ia.start, uid, "delete", "req-d", "p-demo", "u-demo")
    assert h.demo.get(f"/servers/{uid}/os-instance-actions").status_code == 404
    listed = h.demo.get(f"/servers/{uid}/os-instance-actions", version="2.21").json()
    assert listed["instanceActions"][0]["action"] == "delete"


def test_server_metadata(h: Harness) -> None:
    uid = h.add_instance(metadata={"a": "1"})
    base = f"/servers/{uid}/metadata"
    assert h.demo.get(base).json() == {"metadata": {"a": "1"}}
    r = h.demo.post(base, json={"metadata": {"b": "2"}})
    assert r.json() == {"metadata": {"a": "1", "b": "2"}}
    assert h.demo.get(f"{base}/b").json() == {"meta": {"b": "2"}}
    assert h.demo.put(f"{base}/b", json={"meta": {"b": "3"}}).json() == {"meta": {"b": "3"}}
    assert h.demo.put(f"{base}/b", json={"meta": {"c": "3"}}).status_code == 400
    assert h.demo.put(f"{base}/b", json={"meta": {"b": "3", "c": "4"}}).status_code == 400
    assert h.demo.put(base, json={"metadata": {"z": "9"}}).json() == {"metadata": {"z": "9"}}
    assert h.demo.delete(f"{base}/z").status_code == 204
    assert h.demo.delete(f"{base}/z").status_code == 404
    assert h.demo.get(f"{base}/z").json()["itemNotFound"]["message"] == (
        "Metadata item was not found")
    assert h.reader.post(base, json={"metadata": {"x": "1"}}).status_code == 403
    assert h.reader.get(base).status_code == 200
    assert h.alt.get(base).status_code == 404
    for bad in ({"metadata": {"k": 1}}, {"metadata": {"k": "v" * 256}}, {"meta": {}},
                {"metadata": {"": "v"}}):
        assert h.demo.post(base, json=bad).status_code == 400, bad
    # maxServerMeta
    h.admin.put("/os-quota-sets/p-demo", json={"quota_set": {"metadata_items": 2}})
    r = h.demo.post(base, json={"metadata": {"1": "1", "2": "2", "3": "3"}})
    assert r.status_code == 403 and "metadata_items" in r.json()["forbidden"]["message"]
    h.admin.put("/os-quota-sets/p-demo", json={"quota_set": {"metadata_items": 128}})
    # locked servers and busy servers refuse changes
    locked = h.add_instance(locked=True)
    assert h.demo.post(f"/servers/{locked}/metadata",
                       json={"metadata": {"x": "1"}}).status_code == 409
    busy = h.add_instance(vm_state="building", task_state="spawning")
    assert h.demo.post(f"/servers/{busy}/metadata",
                       json={"metadata": {"x": "1"}}).status_code == 409


def test_server_tags(h: Harness) -> None:
    uid = h.add_instance()
    base = f"/servers/{uid}/tags"
    assert h.demo.get(base).status_code == 404  # before 2.26
    t = h.demo.at("2.26")
    assert t.get(base).json() == {"tags": []}
    r = t.put(f"{base}/red")
    assert r.status_code == 201 and r.headers["Location"].endswith(f"{base}/red")
    assert t.put(f"{base}/red").status_code == 204
    assert t.get(f"{base}/red").status_code == 204
    assert t.get(f"{base}/blue").status_code == 404
    assert t.put(base, json={"tags": ["a", "b", "a"]}).json() == {"tags": ["a", "b"]}
    assert t.delete(f"{base}/a").status_code == 204
    assert t.delete(f"{base}/a").status_code == 404
    assert t.get(base).json() == {"tags": ["b"]}
    assert t.delete(base).status_code == 204
    assert t.get(base).json() == {"tags": []}
    assert t.put(f"{base}/{'x' * 61}").status_code == 400
    assert t.put(f"{base}/a,b").status_code == 400
    assert t.put(base, json={"tags": [str(i) for i in range(51)]}).status_code == 400
    assert t.put(base, json={"tags": "a"}).status_code == 400
    assert h.alt.at("2.26").get(base).status_code == 404
    assert h.reader.at("2.26").put(f"{base}/r").status_code == 403


def test_server_security_groups_without_networking(h: Harness) -> None:
    """No networking service, so no ports and no security groups: an empty list (Nova lists
    the groups of the server's ports), 404 for a server the caller cannot see."""
    uid = h.add_instance(host="c1")
    r = h.demo.get(f"/servers/{uid}/os-security-groups")
    assert r.status_code == 200 and r.json() == {"security_groups": []}
    assert h.alt.get(f"/servers/{uid}/os-security-groups").status_code == 404
    r = h.demo.get("/servers/00000000-0000-0000-0000-000000000000/os-security-groups")
    assert r.status_code == 404 and r.json()["itemNotFound"]["code"] == 404
