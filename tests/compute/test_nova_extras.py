"""Quota classes, server external events, the legacy extension list, the usage audit log and
the migrations APIs' input handling (their data from real moves is in test_migrate)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from pocketstack.compute.domain import nodes, services
from tests.compute.kit import Harness


@pytest.fixture(scope="module")
def h(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    harness = Harness(tmp_path_factory.mktemp("extras"))
    for host in ("c1", "c2"):
        harness.db.write(services.record_heartbeat, host, "nova-compute")
        harness.db.write(nodes.upsert, host, {
            "hypervisor_hostname": f"{host}.local", "vcpus": 8, "memory_mb": 16384,
            "local_gb": 200, "cpu_info": {}, "host_ip": "192.0.2.1"})
    harness.db.write(services.record_heartbeat, "ctl", "nova-conductor")
    yield harness
    harness.close()


# -- os-quota-class-sets --------------------------------------------------------------------
def test_quota_class_fields_per_microversion(h: Harness) -> None:
    old = h.admin.get("/os-quota-class-sets/default").json()["quota_class_set"]
    assert old["id"] == "default" and old["cores"] == 20 and old["instances"] == 10
    assert "floating_ips" in old and "injected_files" in old
    assert "server_groups" not in old and "server_group_members" not in old
    v250 = h.admin.get("/os-quota-class-sets/default", version="2.50").json()[
        "quota_class_set"]
    assert "server_groups" in v250 and "floating_ips" not in v250
    assert "injected_files" in v250
    v257 = h.admin.get("/os-quota-class-sets/default", version="2.57").json()[
        "quota_class_set"]
    assert set(v257) == {"id", "cores", "instances", "ram", "metadata_items", "key_pairs",
                         "server_groups", "server_group_members"}
    # fields a microversion does not have are refused in updates
    r = h.admin.put("/os-quota-class-sets/default", version="2.57",
                    json={"quota_class_set": {"injected_files": 3}})
    assert r.status_code == 400
    r = h.admin.put("/os-quota-class-sets/default", version="2.1",
                    json={"quota_class_set": {"server_groups": 3}})
    assert r.status_code == 400


def test_quota_class_update_changes_project_defaults(h: Harness) -> None:
    r = h.admin.put("/os-quota-class-sets/default", version="2.57",
                    json={"quota_class_set": {"cores": 120, "instances": "15"}})
    assert r.status_code == 200, r.text
    body = r.json()["quota_class_set"]
    assert "id" not in body and body["cores"] == 120 and body["instances"] == 15
    try:
        shown = h.admin.get("/os-quota-class-sets/default").json()["quota_class_set"]
        assert shown["cores"] == 120 and shown["ram"] == 51200
        # projects without limits of their own get the class's
        defaults = h.demo.get("/os-quota-sets/p-demo/defaults").json()["quota_set"]
        assert defaults["cores"] == 120 and defaults["instances"] == 15
        fresh = h.admin.get(f"/os-quota-sets/{uuid.uuid4().hex}").json()["quota_set"]
        assert fresh["cores"] == 120
        limits = h.demo.get("/limits").json()["limits"]["absolute"]
        assert limits["maxTotalCores"] == 120
        # another class is independent of the default one
        other = h.admin.put("/os-quota-class-sets/gold",
                            json={"quota_class_set": {"ram": 1}}).json()["quota_class_set"]
        assert other["ram"] == 1 and other["cores"] == 20
    finally:
        h.admin.put("/os-quota-class-sets/default",
                    json={"quota_class_set": {"cores": 20, "instances": 10}})
    assert h.demo.get("/os-quota-sets/p-demo/defaults").json()["quota_set"]["cores"] == 20


def test_quota_class_refusals(h: Harness) -> None:
    assert h.demo.get("/os-quota-class-sets/default").status_code == 403
    r = h.demo.put("/os-quota-class-sets/default", json={"quota_class_set": {"cores": 1}})
    assert r.status_code == 403
    assert r.json()["forbidden"]["code"] == 403
    for bad in ({"quota_class_set": {"cores": -2}}, {"quota_class_set": {"cores": "x"}},
                {"quota_class_set": {"bogus": 1}}, {"cores": 1}):
        r = h.admin.put("/os-quota-class-sets/default", json=bad)
        assert r.status_code == 400, bad
        assert "badRequest" in r.json()
    assert h.admin.get("/os-quota-class-sets/default").json()["quota_class_set"]["cores"] == 20


# -- os-server-external-events --------------------------------------------------------------
def test_external_events_per_event_codes(h: Harness) -> None:
    on_host = h.add_instance(host="c1")
    no_host = h.add_instance(host=None, vm_state="building")
    gone = h.add_instance(host="c1", deleted=True, vm_state="deleted")
    unknown = str(uuid.uuid4())
    events = [
        {"name": "network-changed", "server_uuid": on_host},
        {"name": "network-vif-plugged", "server_uuid": on_host, "tag": "port-1",
         "status": "failed"},
        {"name": "network-vif-plugged", "server_uuid": no_host},
        {"name": "network-vif-deleted", "server_uuid": gone},
        {"name": "network-changed", "server_uuid": unknown},
    ]
    r = h.admin.post("/os-server-external-events", json={"events": events})
    assert r.status_code == 207, r.text
    out = r.json()["events"]
    assert [(e["code"], e["status"]) for e in out] == [
        (200, "completed"), (200, "completed"), (422, "failed"), (404, "failed"),
        (404, "failed")]
    assert out[1]["tag"] == "port-1" and "tag" not in out[0]
    assert out[0]["server_uuid"] == on_host and out[0]["name"] == "network-changed"
    ok = h.admin.post("/os-server-external-events",
                      json={"events": [{"name": "network-changed", "server_uuid": on_host}]})
    assert ok.status_code == 200 and ok.json()["events"][0]["code"] == 200
    # network events are not instance actions
    actions = h.admin.get(f"/servers/{on_host}/os-instance-actions").json()["instanceActions"]
    assert actions == []


def test_external_events_record_volume_and_power_actions(h: Harness) -> None:
    server = h.add_instance(host="c2")
    # volume-extended needs 2.51 and a tag
    r = h.admin.post("/os-server-external-events", version="2.50", json={"events": [
        {"name": "volume-extended", "server_uuid": server, "tag": "vol-1"}]})
    assert r.status_code == 400
    r = h.admin.post("/os-server-external-events", version="2.76", json={"events": [
        {"name": "volume-extended", "server_uuid": server},
        {"name": "volume-extended", "server_uuid": server, "tag": "vol-1"},
        {"name": "power-update", "server_uuid": server, "tag": "POWER_OFF"}]})
    assert r.status_code == 207, r.text
    assert [e["code"] for e in r.json()["events"]] == [400, 200, 200]
    request_id = r.headers["X-OpenStack-Request-Id"]
    actions = h.admin.get(f"/servers/{server}/os-instance-actions").json()["instanceActions"]
    assert sorted(a["action"] for a in actions) == ["extend_volume", "stop"]
    assert {a["request_id"] for a in actions} == {request_id}
    assert {a["user_id"] for a in actions} == {"u-admin"}


def test_external_events_refusals(h: Harness) -> None:
    server = h.add_instance(host="c1")
    body = {"events": [{"name": "network-changed", "server_uuid": server}]}
    assert h.demo.post("/os-server-external-events", json=body).status_code == 403
    service = h.client.post("/compute/v2.1/os-server-external-events", json=body, headers={
        "X-Test-User": "nova-svc", "X-Test-Project": "service", "X-Test-Roles": "service"})
    assert service.status_code == 200
    for bad in ({"events": []}, {"events": [{"name": "reboot", "server_uuid": server}]},
                {"events": [{"name": "network-changed"}]},
                {"events": [{"name": "network-changed", "server_uuid": "nope"}]},
                {"events": [{"name": "network-changed", "server_uuid": server,
                             "status": "done"}]},
                {"events": [{"name": "network-changed", "server_uuid": server, "x": 1}]}):
        r = h.admin.post("/os-server-external-events", json=bad)
        assert r.status_code == 400, bad


# -- /extensions ----------------------------------------------------------------------------
def test_extensions(h: Harness) -> None:
    exts = h.demo.get("/extensions").json()["extensions"]
    assert "Hosts" in {e["name"] for e in exts}
    assert len({e["alias"] for e in exts}) == len(exts) > 90
    assert set(exts[0]) == {"alias", "name", "description", "links", "namespace", "updated"}
    one = h.demo.get("/extensions/os-consoles").json()["extension"]
    assert one["alias"] == "os-consoles" and one["name"] == "Consoles"
    assert h.demo.get("/extensions/os-nothing").status_code == 404


# -- os-instance_usage_audit_log ------------------------------------------------------------
def test_usage_audit_log(h: Harness) -> None:
    logs = h.admin.get("/os-instance_usage_audit_log").json()["instance_usage_audit_logs"]
    assert logs["num_hosts"] == 2 and sorted(logs["hosts_not_run"]) == ["c1", "c2"]
    assert logs["num_hosts_done"] == 0 and logs["log"] == {}
    assert logs["overall_status"] == "0 of 2 hosts done. 0 errors."
    one = h.admin.get("/os-instance_usage_audit_log/2012-07-05 10:00:00").json()[
        "instance_usage_audit_log"]
    assert one["period_beginning"] == "2012-06-01 00:00:00"
    assert one["period_ending"] == "2012-07-01 00:00:00"
    jan = h.admin.get("/os-instance_usage_audit_log/2013-01-01 00:00:00.5").json()[
        "instance_usage_audit_log"]
    assert (jan["period_beginning"], jan["period_ending"]) == (
        "2012-12-01 00:00:00", "2013-01-01 00:00:00")
    edge = h.admin.get("/os-instance_usage_audit_log/2013-03-01 00:00:00").json()[
        "instance_usage_audit_log"]
    assert edge["period_beginning"] == "2013-01-01 00:00:00"
    r = h.admin.get("/os-instance_usage_audit_log/yesterday")
    assert r.status_code == 400 and "Invalid timestamp for date yesterday" in r.text
    assert h.demo.get("/os-instance_usage_audit_log").status_code == 403


# -- migrations: input handling -------------------------------------------------------------
def test_migrations_input(h: Harness) -> None:
    assert h.admin.get("/os-migrations").json() == {"migrations": []}
    assert h.demo.get("/os-migrations").status_code == 403
    r = h.admin.get("/os-migrations?bogus=1", version="2.59")
    assert r.status_code == 400
    assert h.admin.get("/os-migrations?bogus=1").status_code == 200  # ignored before 2.59
    r = h.admin.get("/os-migrations?marker=nope", version="2.59")
    assert r.status_code == 400 and "Marker nope could not be found" in r.text
    r = h.admin.get("/os-migrations?changes-since=2020-01-02T00:00:00Z"
                    "&changes-before=2020-01-01T00:00:00Z", version="2.66")
    assert r.status_code == 400
    assert h.admin.get("/os-migrations?changes-since=junk", version="2.59").status_code == 400
    assert h.admin.get("/os-migrations?limit=-1", version="2.59").status_code == 400
    assert h.admin.get("/os-migrations?user_id=x", version="2.79").status_code == 400
    assert h.admin.get("/os-migrations?user_id=x", version="2.80").status_code == 200


def test_server_migrations(h: Harness) -> None:
    server = h.add_instance(host="c1")
    assert h.admin.get(f"/servers/{server}/migrations", version="2.22").status_code == 404
    r = h.admin.get(f"/servers/{server}/migrations", version="2.23")
    assert r.status_code == 200 and r.json() == {"migrations": []}
    r = h.admin.get(f"/servers/{uuid.uuid4()}/migrations", version="2.23")
    assert r.status_code == 404 and "itemNotFound" in r.json()
    r = h.admin.get(f"/servers/{server}/migrations/1", version="2.23")
    assert r.status_code == 404
    assert "In-progress live migration 1 is not found" in r.json()["itemNotFound"]["message"]
    assert h.alt.get(f"/servers/{server}/migrations", version="2.23").status_code == 404
    assert h.demo.get(f"/servers/{server}/migrations/1", version="2.23").status_code == 403


# -- diagnostics ----------------------------------------------------------------------------
def test_diagnostics_shapes_what_the_agent_reports(h: Harness) -> None:
    """The agent side is stood in for here by a bus answering as the compute agent's
    ``diagnostics`` operation does (the driver's ``info`` of the guest)."""
    server = h.add_instance(host="c1", config_drive="True")
    asked: list[tuple[str, dict[str, object]]] = []
    answer: dict[str, object] = {"info": {
        "power_state": 1, "vcpus": 2, "memory_mb": 512, "root_gb": 1, "vifs": ["port-1"],
        "volumes": {"vol-1": "/dev/vdb"}, "uptime": 12.7}}

    async def bus_call(topic: str, msg: dict[str, object], timeout: float) -> object:
        asked.append((topic, msg))
        return answer

    h.compute.bus_call = bus_call
    try:
        r = h.admin.get(f"/servers/{server}/diagnostics", version="2.48")
        assert r.status_code == 200, r.text
        d = r.json()
        assert asked == [("compute.c1", {"op": "diagnostics", "uuid": server})]
        assert d["state"] == "running" and d["driver"] == "libvirt"
        assert (d["num_cpus"], d["num_nics"], d["num_disks"]) == (2, 1, 2)
        assert d["uptime"] == 12 and d["config_drive"] is True
        assert d["memory_details"] == {"maximum": 512, "used": None}
        assert [c["id"] for c in d["cpu_details"]] == [0, 1]
        assert len(d["nic_details"]) == 1 and len(d["disk_details"]) == 2
        legacy = h.admin.get(f"/servers/{server}/diagnostics").json()
        assert legacy == {"memory": 512 * 1024, "uptime": 12}
        assert h.demo.get(f"/servers/{server}/diagnostics").status_code == 403
        answer = {"error": "no such guest", "not_found": True}
        assert h.admin.get(f"/servers/{server}/diagnostics").status_code == 409
        answer = None  # type: ignore[assignment]  # an agent without the operation
        r = h.admin.get(f"/servers/{server}/diagnostics", version="2.48")
        assert r.status_code == 501 and "notImplemented" in r.json()
    finally:
        h.compute.bus_call = None
    unplaced = h.add_instance(host=None, vm_state="building")
    assert h.admin.get(f"/servers/{unplaced}/diagnostics").status_code == 409
    assert h.admin.get(f"/servers/{uuid.uuid4()}/diagnostics").status_code == 404
