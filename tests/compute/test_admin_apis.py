"""Services, hypervisors, availability zones, aggregates and tenant usage (admin APIs)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator

import pytest

from pocketstack.compute.domain import nodes, services
from tests.compute.kit import Harness

UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def _report(host: str) -> dict[str, object]:
    return {"hypervisor_hostname": f"{host}.local", "vcpus": 8, "memory_mb": 16384,
            "local_gb": 200, "cpu_info": {"arch": "x86_64"}, "host_ip": "192.0.2.1"}


@pytest.fixture(scope="module")
def h(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    harness = Harness(tmp_path_factory.mktemp("adm"))
    for host in ("c1", "c2"):
        harness.db.write(services.record_heartbeat, host, "nova-compute")
        harness.db.write(nodes.upsert, host, _report(host))
    harness.db.write(services.record_heartbeat, "ctl", "nova-conductor")
    harness.db.write(services.record_heartbeat, "ctl", "nova-scheduler")
    yield harness
    harness.close()


def test_services_list_and_update(h: Harness) -> None:
    assert h.demo.get("/os-services").status_code == 403
    old = h.admin.get("/os-services").json()["services"]
    assert {s["binary"] for s in old} == {"nova-compute", "nova-conductor", "nova-scheduler"}
    assert all(isinstance(s["id"], int) and "forced_down" not in s for s in old)
    new = h.admin.get("/os-services?binary=nova-compute", version="2.69").json()["services"]
    assert len(new) == 2 and all(UUID_RE.match(s["id"]) for s in new)
    s = new[0]
    assert s["zone"] == "nova" and s["state"] == "up" and s["status"] == "enabled"
    assert s["forced_down"] is False
    zones = {x["binary"]: x["zone"] for x in h.admin.get("/os-services?host=ctl").json()[
        "services"]}
    assert zones == {"nova-conductor": "internal", "nova-scheduler": "internal"}
    # 2.53 update by uuid
    r = h.admin.put(f"/os-services/{s['id']}", version="2.53",
                    json={"status": "disabled", "disabled_reason": "maintenance"})
    assert r.status_code == 200
    got = r.json()["service"]
    assert got["status"] == "disabled" and got["disabled_reason"] == "maintenance"
    assert set(got) == {"id", "binary", "disabled_reason", "host", "state", "status",
                        "updated_at", "zone", "forced_down"}
    r = h.admin.put(f"/os-services/{s['id']}", version="2.53", json={"forced_down": True})
    assert r.json()["service"]["state"] == "down"
    h.admin.put(f"/os-services/{s['id']}", version="2.53",
                json={"status": "enabled", "forced_down": False})
    for bad in ({"status": "enabled", "disabled_reason": "x"}, {"status": "off"}, {},
                {"forced_down": "yes"}):
        assert h.admin.put(f"/os-services/{s['id']}", version="2.53",
                           json=bad).status_code == 400, bad
    conductor = next(x for x in h.admin.get("/os-services?binary=nova-conductor",
                                            version="2.53").json()["services"])
    assert h.admin.put(f"/os-services/{conductor['id']}", version="2.53",
                       json={"status": "disabled"}).status_code == 400
    assert h.admin.put("/os-services/not-a-uuid", version="2.53",
                       json={"status": "disabled"}).status_code == 404
    # legacy actions
    r = h.admin.put("/os-services/disable", json={"host": "c2", "binary": "nova-compute"})
    assert r.json() == {"service": {"host": "c2", "binary": "nova-compute",
                                    "status": "disabled"}}
    r = h.admin.put("/os-services/disable-log-reason",
                    json={"host": "c2", "binary": "nova-compute", "disabled_reason": "r"})
    assert r.json()["service"]["disabled_reason"] == "r"
    r = h.admin.put("/os-services/force-down", version="2.11",
                    json={"host": "c2", "binary": "nova-compute", "forced_down": False})
    assert r.json()["service"]["forced_down"] is False
    assert h.admin.put("/os-services/force-down", json={
        "host": "c2", "binary": "nova-compute", "forced_down": False}).status_code == 404
    r = h.admin.put("/os-services/enable", json={"host": "c2", "binary": "nova-compute"})
    assert r.json()["service"]["status"] == "enabled"
    assert h.admin.put("/os-services/enable", json={"host": "c9", "binary": "nova-compute"}
                       ).status_code == 404


def test_delete_service(h: Harness) -> None:
    h.db.write(services.record_heartbeat, "gone", "nova-compute")
    h.db.write(nodes.upsert, "gone", _report("gone"))
    busy = h.add_instance(host="gone")
    sid = next(s["id"] for s in h.admin.get("/os-services?host=gone", version="2.53").json()[
        "services"])
    assert h.admin.delete(f"/os-services/{sid}", version="2.53").status_code == 409
    h.admin.delete(f"/os-services/{sid}", version="2.53")
    h.db.write(lambda conn: conn.exec_driver_sql(
        f"UPDATE compute_instances SET deleted=1 WHERE uuid='{busy}'"))
    assert h.admin.delete(f"/os-services/{sid}", version="2.53").status_code == 204
    assert h.admin.delete(f"/os-services/{sid}", version="2.53").status_code == 404
    assert h.admin.get("/os-services?host=gone").json()["services"] == []


def test_hypervisors(h: Harness) -> None:
    uid = h.add_instance(host="c1", vcpus=2, ram=2048, disk=10, name="on-c1")
    assert h.demo.get("/os-hypervisors").status_code == 403
    brief = h.admin.get("/os-hypervisors").json()["hypervisors"]
    assert [set(x) for x in brief] == [{"id", "hypervisor_hostname", "state", "status"}] * 2
    detail = h.admin.get("/os-hypervisors/detail", version="2.1").json()["hypervisors"]
    c1 = next(x for x in detail if x["hypervisor_hostname"] == "c1.local")
    assert isinstance(c1["id"], int) and isinstance(c1["cpu_info"], str)
    assert c1["vcpus_used"] == 2 and c1["memory_mb_used"] == 2048 and c1["running_vms"] == 1
    assert c1["free_ram_mb"] == 16384 - 2048 and c1["local_gb_used"] == 10
    assert c1["service"]["host"] == "c1" and c1["state"] == "up"
    d28 = h.admin.get(f"/os-hypervisors/{c1['id']}", version="2.28").json()["hypervisor"]
    assert d28["cpu_info"] == {"arch": "x86_64"}
    d88 = h.admin.get("/os-hypervisors/detail", version="2.88").json()["hypervisors"]
    assert all("vcpus" not in x and "cpu_info" not in x and "uptime" in x for x in d88)
    assert all(UUID_RE.match(x["id"]) and UUID_RE.match(x["service"]["id"]) for x in d88)
    hid = next(x["id"] for x in d88 if x["hypervisor_hostname"] == "c1.local")
    shown = h.admin.get(f"/os-hypervisors/{hid}?with_servers=true", version="2.88").json()[
        "hypervisor"]
    # no driver reports its host's uptime: null, as Nova shows for such a driver
    assert shown["servers"] == [{"uuid": uid, "name": "on-c1"}] and shown["uptime"] is None
    assert h.admin.get(f"/os-hypervisors/{c1['id']}", version="2.53").status_code == 404
    assert h.admin.get(f"/os-hypervisors/{hid}/uptime", version="2.88").status_code == 404
    stats = h.admin.get("/os-hypervisors/statistics").json()["hypervisor_statistics"]
    assert stats["count"] == 2 and stats["vcpus"] == 16 and stats["running_vms"] == 1
    assert h.admin.get("/os-hypervisors/statistics", version="2.88").status_code == 404
    found = h.admin.get("/os-hypervisors?hypervisor_hostname_pattern=c2",
                        version="2.53").json()["hypervisors"]
    assert [x["hypervisor_hostname"] for x in found] == ["c2.local"]
    assert h.admin.get("/os-hypervisors?hypervisor_hostname_pattern=zz",
                       version="2.53").status_code == 404
    assert h.admin.get("/os-hypervisors/c1/search").json()["hypervisors"][0]["id"] == c1["id"]
    assert h.admin.get("/os-hypervisors/c1/servers").json()["hypervisors"][0]["servers"][0][
        "uuid"] == uid
    assert h.admin.get("/os-hypervisors/c1/search", version="2.53").status_code == 404
    page = h.admin.get("/os-hypervisors/detail?limit=1", version="2.33").json()
    assert len(page["hypervisors"]) == 1 and page["hypervisors_links"][0]["rel"] == "next"
    assert h.admin.get("/os-hypervisors?limit=x", version="2.33").status_code == 400


def test_hypervisor_uptime_is_what_the_host_agent_says(h: Harness) -> None:
    """The uptime is the host agent's ``host_uptime`` answer (the agent side is stood in for
    by a bus here); without one it answers as Nova does for a driver without an uptime: 501
    (null in the 2.88 view). 400 while the host's compute service is down."""
    hyps = h.admin.get("/os-hypervisors/detail", version="2.53").json()["hypervisors"]
    c2 = next(x for x in hyps if x["hypervisor_hostname"] == "c2.local")
    r = h.admin.get(f"/os-hypervisors/{c2['id']}/uptime", version="2.53")
    assert r.status_code == 501, r.text
    assert r.json()["notImplemented"]["message"] == \
        "The requested functionality is not supported."
    asked: list[tuple[str, dict[str, object]]] = []
    answer: object = {"uptime": " 10:01:16 up  1:36,  load average: 0.21, 0.16, 0.19"}

    async def bus_call(topic: str, msg: dict[str, object], timeout: float) -> object:
        asked.append((topic, msg))
        return answer

    h.compute.bus_call = bus_call
    try:
        r = h.admin.get(f"/os-hypervisors/{c2['id']}/uptime", version="2.53")
        assert r.status_code == 200, r.text
        assert r.json() == {"hypervisor": {
            "id": c2["id"], "hypervisor_hostname": "c2.local", "state": "up",
            "status": "enabled", "uptime": answer["uptime"]}}  # type: ignore[index]
        assert asked == [("compute.c2", {"op": "host_uptime"})]
        shown = h.admin.get(f"/os-hypervisors/{c2['id']}", version="2.88").json()["hypervisor"]
        assert shown["uptime"] == answer["uptime"]  # type: ignore[index]
        listed = h.admin.get("/os-hypervisors/detail", version="2.88").json()["hypervisors"]
        assert all(x["uptime"] is None for x in listed)  # Nova asks no host for a list
        assert h.demo.get(f"/os-hypervisors/{c2['id']}/uptime").status_code == 403
        answer = {"uptime": None}  # an agent whose machine has no /proc
        assert h.admin.get(f"/os-hypervisors/{c2['id']}/uptime",
                           version="2.53").status_code == 501
        assert h.admin.get(f"/os-hypervisors/{c2['id']}", version="2.88").json()[
            "hypervisor"]["uptime"] is None
        answer = {"uptime": " 10:01:16 up 1 min,  load average: 0.00, 0.00, 0.00"}
        service = f"/os-services/{c2['service']['id']}"
        assert h.admin.put(service, json={"forced_down": True},
                           version="2.53").status_code == 200
        try:
            r = h.admin.get(f"/os-hypervisors/{c2['id']}/uptime", version="2.53")
            assert r.status_code == 400, r.text
            assert r.json()["badRequest"]["message"] == \
                "Compute service of c2 is unavailable at this time."
        finally:
            h.admin.put(service, json={"forced_down": False}, version="2.53")
    finally:
        h.compute.bus_call = None


def test_aggregates_and_zones(h: Harness) -> None:
    assert h.demo.post("/os-aggregates", json={"aggregate": {"name": "a"}}).status_code == 403
    r = h.admin.post("/os-aggregates", json={"aggregate": {"name": "agg1",
                                                           "availability_zone": "az1"}})
    assert r.status_code == 200
    created = r.json()["aggregate"]
    assert set(created) == {"id", "name", "availability_zone", "created_at", "updated_at",
                            "deleted", "deleted_at"}
    aid = created["id"]
    assert h.admin.post("/os-aggregates", json={"aggregate": {"name": "agg1"}}
                        ).status_code == 409
    r = h.admin.post(f"/os-aggregates/{aid}/action", json={"add_host": {"host": "c1"}},
                     version="2.41")
    agg = r.json()["aggregate"]
    assert agg["hosts"] == ["c1"] and agg["metadata"] == {"availability_zone": "az1"}
    assert UUID_RE.match(agg["uuid"])
    assert h.admin.post(f"/os-aggregates/{aid}/action", json={"add_host": {"host": "c1"}}
                        ).status_code == 409
    assert h.admin.post(f"/os-aggregates/{aid}/action", json={"add_host": {"host": "nope"}}
                        ).status_code == 404
    # c1 cannot also join another zone
    other = h.admin.post("/os-aggregates", json={"aggregate": {
        "name": "agg2", "availability_zone": "az2"}}).json()["aggregate"]["id"]
    assert h.admin.post(f"/os-aggregates/{other}/action", json={"add_host": {"host": "c1"}}
                        ).status_code == 409
    r = h.admin.post(f"/os-aggregates/{aid}/action", json={"set_metadata": {"metadata": {
        "ssd": "true", "gone": None}}})
    assert r.json()["aggregate"]["metadata"] == {"availability_zone": "az1", "ssd": "true"}
    r = h.admin.put(f"/os-aggregates/{aid}", json={"aggregate": {"name": "agg1b"}})
    assert r.json()["aggregate"]["name"] == "agg1b"
    assert h.admin.put(f"/os-aggregates/{aid}", json={"aggregate": {"name": "agg2"}}
                       ).status_code == 409
    assert h.admin.get("/os-aggregates/9999").status_code == 404
    assert h.admin.get("/os-aggregates/abc").status_code == 404
    # zones: services report them, the default zone keeps c2
    svcs = {s["host"]: s["zone"] for s in h.admin.get("/os-services?binary=nova-compute"
                                                      ).json()["services"]}
    assert svcs == {"c1": "az1", "c2": "nova"}
    zones = h.demo.get("/os-availability-zone").json()["availabilityZoneInfo"]
    assert zones == [{"zoneName": "az1", "zoneState": {"available": True}, "hosts": None},
                     {"zoneName": "nova", "zoneState": {"available": True}, "hosts": None}]
    assert h.demo.get("/os-availability-zone/detail").status_code == 403
    detail = {z["zoneName"]: z for z in h.admin.get("/os-availability-zone/detail").json()[
        "availabilityZoneInfo"]}
    assert set(detail) == {"az1", "nova", "internal"}
    c1 = detail["az1"]["hosts"]["c1"]["nova-compute"]
    assert c1["available"] is True and c1["active"] is True and c1["updated_at"]
    assert set(detail["internal"]["hosts"]["ctl"]) == {"nova-conductor", "nova-scheduler"}
    # an aggregate with hosts cannot go; remove them first
    assert h.admin.delete(f"/os-aggregates/{aid}").status_code == 400
    h.admin.post(f"/os-aggregates/{aid}/action", json={"remove_host": {"host": "c1"}})
    assert h.admin.post(f"/os-aggregates/{aid}/action", json={"remove_host": {"host": "c1"}}
                        ).status_code == 404
    assert h.admin.delete(f"/os-aggregates/{aid}").status_code == 200
    for bad in ({"aggregate": {"name": ""}}, {"aggregate": {"name": "x", "bogus": 1}},
                {"aggregate": {"name": "x", "availability_zone": "a:b"}}, {}):
        assert h.admin.post("/os-aggregates", json=bad).status_code == 400, bad
    assert h.admin.post(f"/os-aggregates/{other}/action", json={"explode": {}}
                        ).status_code == 400


def test_simple_tenant_usage(h: Harness) -> None:
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    h.add_instance(project_id="p-usage", vcpus=2, ram=1024, disk=5,
                   launched_at=now - dt.timedelta(hours=2), name="u1")
    h.add_instance(project_id="p-usage", vcpus=1, ram=512, deleted=True,
                   launched_at=now - dt.timedelta(hours=5),
                   terminated_at=now - dt.timedelta(hours=4), name="u2")
    start = (now - dt.timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M:%S")
    end = now.strftime("%Y-%m-%dT%H:%M:%S.%f")
    r = h.admin.get(f"/os-simple-tenant-usage/p-usage?start={start}&end={end}")
    u = r.json()["tenant_usage"]
    assert [s["name"] for s in u["server_usages"]] == ["u1"]
    assert 1.9 < u["total_hours"] < 2.1 and 3.9 < u["total_vcpus_usage"] < 4.1
    s = u["server_usages"][0]
    assert s["state"] == "active" and s["flavor"] == "m1.tiny" and s["ended_at"] is None
    wide = (now - dt.timedelta(hours=6)).strftime("%Y-%m-%dT%H:%M:%S")
    listed = h.admin.get(f"/os-simple-tenant-usage?start={wide}&end={end}&detailed=1").json()
    mine = next(x for x in listed["tenant_usages"] if x["tenant_id"] == "p-usage")
    assert {x["state"] for x in mine["server_usages"]} == {"active", "terminated"}
    brief = h.admin.get(f"/os-simple-tenant-usage?start={wide}&end={end}").json()
    assert all("server_usages" not in x for x in brief["tenant_usages"])
    assert h.demo.get("/os-simple-tenant-usage").status_code == 403
    assert h.demo.get("/os-simple-tenant-usage/p-usage").status_code == 403
    assert h.admin.get(f"/os-simple-tenant-usage/p-usage?start={end}&end={start}"
                       ).status_code == 400
    assert h.admin.get("/os-simple-tenant-usage/p-usage?start=yesterday").status_code == 400
    # Tempest's test_get_usage_tenant_with_empty_tenant_id: an empty project id is 404
    r = h.admin.get(f"/os-simple-tenant-usage/?start={start}&end={end}")
    assert r.status_code == 404 and r.json()["itemNotFound"]["code"] == 404


def test_server_list_project_filter_needs_all_tenants(h: Harness) -> None:
    """As Nova: ``tenant_id``/``project_id`` pick a project only with ``all_tenants``; without
    it the admin's list is its own project's (Tempest's ServersAdminTestJSON)."""
    theirs = h.add_instance(project_id="p-demo", name="demo-listed")
    mine = h.add_instance(project_id="p-admin", user_id="u-admin", name="admin-listed")

    def ids(query: str) -> set[str]:
        r = h.admin.get(f"/servers/detail?{query}")
        assert r.status_code == 200, r.text
        return {s["id"] for s in r.json()["servers"]}

    for key in ("tenant_id", "project_id"):
        listed = ids(f"{key}=p-demo")
        assert theirs not in listed and mine in listed
        listed = ids(f"all_tenants&{key}=p-demo")
        assert theirs in listed and mine not in listed
        listed = ids(f"all_tenants=1&{key}=p-admin")
        assert mine in listed and theirs not in listed
    assert {theirs, mine} <= ids("all_tenants=true")
    assert theirs not in ids("all_tenants=0")
    assert h.demo.get("/servers?all_tenants=1").status_code == 403
