"""The stock `openstack` CLI against a live cloud: flavors, keypairs, services, hypervisors,
zones, aggregates, quotas, limits and server groups; plus wire checks over HTTP.

CLI calls are kept to what a user does; checks and clean-up go over HTTP (faster)."""

from __future__ import annotations

import httpx

from tests.conftest import LiveCloud, unique

NOVA = "/compute/v2.1"
V = {"X-OpenStack-Nova-API-Version": "2.96"}


def test_flavor_cli(cloud: LiveCloud, admin: httpx.Client) -> None:
    name = unique("flv")
    made = cloud.osc("flavor", "create", "--ram", "128", "--vcpus", "1", "--disk", "1",
                     "--description", "cli flavor", "--property", "hw:cpu_policy=shared", name)
    assert made["name"] == name and made["properties"] == {"hw:cpu_policy": "shared"}
    cloud.osc("flavor", "set", "--property", "quota:vif_inbound_average=10", name,
              as_json=False)
    shown = cloud.osc("flavor", "show", name)
    assert shown["properties"] == {"hw:cpu_policy": "shared", "quota:vif_inbound_average": "10"}
    assert shown["description"] == "cli flavor" and shown["ram"] == 128
    cloud.osc("flavor", "delete", name, as_json=False)
    assert admin.get(f"{NOVA}/flavors/{made['id']}").status_code == 404


def test_keypair_cli(cloud: LiveCloud, admin: httpx.Client) -> None:
    name = unique("kp")
    out = cloud.osc("keypair", "create", name, cloud="pocketstack-alt", as_json=False)
    assert "PRIVATE KEY" in out  # the CLI generates the key and imports its public half
    listed = cloud.osc("keypair", "list", cloud="pocketstack-alt")
    assert name in [k["Name"] for k in listed]
    # another user's key pair is not in the admin's own list
    own = admin.get(f"{NOVA}/os-keypairs").json()["keypairs"]
    assert name not in [k["keypair"]["name"] for k in own]
    cloud.osc("keypair", "delete", name, cloud="pocketstack-alt", as_json=False)


def test_services_hypervisors_zones_aggregates_cli(cloud: LiveCloud,
                                                   admin: httpx.Client) -> None:
    svcs = cloud.osc("compute", "service", "list")
    assert {s["Binary"] for s in svcs} >= {"nova-compute", "nova-conductor", "nova-scheduler"}
    compute = next(s for s in svcs if s["Binary"] == "nova-compute")
    assert compute["State"] == "up"
    host = compute["Host"]
    cloud.osc("compute", "service", "set", "--disable", "--disable-reason", "cli test", host,
              "nova-compute", as_json=False)
    got = admin.get(f"{NOVA}/os-services?binary=nova-compute&host={host}",
                    headers=V).json()["services"][0]
    assert got["status"] == "disabled" and got["disabled_reason"] == "cli test"
    r = admin.put(f"{NOVA}/os-services/{got['id']}", json={"status": "enabled"}, headers=V)
    assert r.status_code == 200 and r.json()["service"]["status"] == "enabled"
    hypervisors = cloud.osc("hypervisor", "list")
    assert hypervisors and hypervisors[0]["State"] == "up"
    shown = cloud.osc("hypervisor", "show", hypervisors[0]["Hypervisor Hostname"])
    assert shown["service_host"] and "uptime" not in shown  # no driver reports one
    agg, zone = unique("agg"), unique("az")
    made = cloud.osc("aggregate", "create", "--zone", zone, agg)
    assert made["availability_zone"] == zone
    cloud.osc("aggregate", "add", "host", agg, host)
    shown = cloud.osc("aggregate", "show", agg)
    assert shown["hosts"] == [host] and shown["availability_zone"] == zone
    zones = {z["Zone Name"] for z in cloud.osc("availability", "zone", "list", "--compute")}
    assert zone in zones
    assert admin.post(f"{NOVA}/os-aggregates/{made['id']}/action",
                      json={"remove_host": {"host": host}}).status_code == 200
    assert admin.delete(f"{NOVA}/os-aggregates/{made['id']}").status_code == 200
    info = admin.get(f"{NOVA}/os-availability-zone").json()["availabilityZoneInfo"]
    names = [z["zoneName"] for z in info]
    assert zone not in names and "nova" in names


def test_quota_limits_and_server_groups_cli(cloud: LiveCloud, admin: httpx.Client) -> None:
    cloud.osc("quota", "set", "--instances", "7", "--server-groups", "4", "alt_demo",
              as_json=False)
    shown = {q["Resource"]: q["Limit"] for q in cloud.osc("quota", "show", "alt_demo")}
    assert shown["instances"] == 7 and shown["server-groups"] == 4
    def used() -> dict[str, int]:
        return {x["Name"]: x["Value"] for x in cloud.osc(
            "limits", "show", "--absolute", cloud="pocketstack-alt")}

    before = used()
    name = unique("sg")
    made = cloud.osc("server", "group", "create", "--policy", "anti-affinity", name,
                     cloud="pocketstack-alt")
    assert made["policy"] == "anti-affinity" and made["members"] == []
    listed = cloud.osc("server", "group", "list", cloud="pocketstack-alt")
    assert name in [g["Name"] for g in listed]
    server = cloud.osc("server", "create", "--flavor", "m1.tiny", "--image",
                       "pocketstack-empty-qcow2", "--wait", unique("lim"),
                       cloud="pocketstack-alt")
    limits = used()
    assert limits["max_total_instances"] == 7 and limits["max_server_groups"] == 4
    # what the project uses now, counted: one more group, one more m1.tiny server
    assert limits["total_server_groups_used"] == before["total_server_groups_used"] + 1
    assert limits["total_instances_used"] == before["total_instances_used"] + 1
    assert limits["total_cores_used"] == before["total_cores_used"] + 1
    assert limits["total_ram_used"] == before["total_ram_used"] + 512
    cloud.osc("server", "delete", "--wait", server["id"], cloud="pocketstack-alt",
              as_json=False)
    cloud.osc("server", "group", "delete", name, cloud="pocketstack-alt", as_json=False)
    project = admin.get("/identity/v3/projects?name=alt_demo").json()["projects"][0]["id"]
    assert admin.delete(f"{NOVA}/os-quota-sets/{project}").status_code == 202


def test_wire_errors_and_versions(cloud: LiveCloud, admin: httpx.Client) -> None:
    r = admin.get(f"{NOVA}/flavors/does-not-exist",
                  headers={"X-OpenStack-Nova-API-Version": "2.61"})
    assert r.status_code == 404 and r.headers["X-OpenStack-Nova-API-Version"] == "2.61"
    assert r.json()["itemNotFound"]["code"] == 404
    r = admin.post(f"{NOVA}/os-keypairs", json={"keypair": {"name": "x", "public_key": "no"}})
    assert r.status_code == 400 and "badRequest" in r.json()
    assert admin.post(f"{NOVA}/os-aggregates", content=b"{not json").status_code == 400
    detail = admin.get(f"{NOVA}/os-hypervisors/detail", headers=V).json()["hypervisors"]
    assert "vcpus" not in detail[0] and "uptime" in detail[0]
    token, _ = cloud.token("demo", project="demo")
    with cloud.client(token) as demo:
        assert demo.get(f"{NOVA}/os-hypervisors").json()["forbidden"]["code"] == 403
        r = demo.get(f"{NOVA}/os-availability-zone")
        assert r.status_code == 200 and r.json()["availabilityZoneInfo"]
        assert demo.post(f"{NOVA}/flavors", json={"flavor": {
            "name": "x", "ram": 1, "vcpus": 1, "disk": 0}}).status_code == 403
