"""The Placement REST API through a live `pocketstack up` (admin token, httpx)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from tests.conftest import LiveCloud

LATEST = {"OpenStack-API-Version": "placement latest"}


def v(version: str) -> dict[str, str]:
    return {"OpenStack-API-Version": f"placement {version}"}


@pytest.fixture(scope="module")
def pl(cloud: LiveCloud, admin: httpx.Client) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=cloud.url + "/placement", timeout=30,
                      headers={"X-Auth-Token": admin.headers["X-Auth-Token"]}) as c:
        yield c


def _u() -> str:
    return str(uuid.uuid4())


def _err(r: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    assert r.status_code == status, (r.status_code, r.text)
    err = r.json()["errors"][0]
    assert err["status"] == status and err["request_id"].startswith("req-")
    if code:
        assert err["code"] == code, err
    return err  # type: ignore[no-any-return]


def _provider(pl: httpx.Client, name: str | None = None, inv: dict[str, Any] | None = None,
              parent: str | None = None) -> tuple[str, int]:
    body: dict[str, Any] = {"name": name or f"rp-{_u()[:8]}"}
    if parent:
        body["parent_provider_uuid"] = parent
    r = pl.post("/resource_providers", json=body, headers=LATEST)
    assert r.status_code == 200, r.text
    rp = r.json()
    gen = rp["generation"]
    if inv:
        r = pl.put(f"/resource_providers/{rp['uuid']}/inventories", headers=LATEST,
                   json={"inventories": inv, "resource_provider_generation": gen})
        assert r.status_code == 200, r.text
        gen = r.json()["resource_provider_generation"]
    return rp["uuid"], gen


HOST = {"VCPU": {"total": 32, "allocation_ratio": 16.0},
        "MEMORY_MB": {"total": 131072, "allocation_ratio": 1.5},
        "DISK_GB": {"total": 2000}}


def test_version_document_and_microversions(cloud: LiveCloud, pl: httpx.Client) -> None:
    r = httpx.get(cloud.url + "/placement/")
    assert r.status_code == 200
    assert r.json() == {"versions": [{"id": "v1.0", "min_version": "1.0", "max_version": "1.39",
                                      "status": "CURRENT", "links": []}]}
    assert r.headers["OpenStack-API-Version"] == "placement 1.0"
    r = pl.get("/resource_providers", headers=v("1.14"))
    assert r.headers["OpenStack-API-Version"] == "placement 1.14"
    assert "OpenStack-API-Version" in r.headers["Vary"]
    assert pl.get("/resource_providers", headers=LATEST).headers[
        "OpenStack-API-Version"] == "placement 1.39"
    _err(pl.get("/resource_providers", headers=v("1.40")), 406)
    _err(pl.get("/resource_providers", headers=v("2.0")), 406)
    _err(pl.get("/resource_providers", headers=v("1.x")), 400)
    # routes that appear later are 404 before their version
    _err(pl.get("/traits", headers=v("1.5")), 404)
    assert pl.get("/traits", headers=v("1.6")).status_code == 200
    _err(pl.get("/allocation_candidates?resources=VCPU:1", headers=v("1.9")), 404)
    # auth
    _err(httpx.get(cloud.url + "/placement/resource_providers"), 401)
    demo, _ = cloud.token("demo", project="demo")
    _err(httpx.get(cloud.url + "/placement/resource_providers",
                   headers={"X-Auth-Token": demo}), 403)


def test_provider_crud_and_tree(pl: httpx.Client) -> None:
    name = f"crud-{_u()[:8]}"
    rid = _u()
    r = pl.post("/resource_providers", json={"name": name, "uuid": rid})
    assert r.status_code == 201 and r.content == b""
    assert r.headers["Location"].endswith(f"/placement/resource_providers/{rid}")
    r = pl.get(f"/resource_providers/{rid}", headers=v("1.14"))
    rp = r.json()
    assert rp["name"] == name and rp["generation"] == 0
    assert rp["root_provider_uuid"] == rid and rp["parent_provider_uuid"] is None
    assert {ln["rel"] for ln in rp["links"]} == {"self", "inventories", "usages",
                                                 "aggregates", "traits", "allocations"}
    assert "Last-Modified" not in r.headers
    r = pl.get(f"/resource_providers/{rid}", headers=v("1.15"))
    assert "Last-Modified" in r.headers and r.headers["Cache-Control"] == "no-cache"
    _err(pl.post("/resource_providers", json={"name": name}), 409, "placement.duplicate_name")
    _err(pl.post("/resource_providers", json={"name": "x" + name, "uuid": rid}), 409)
    child, _ = _provider(pl, parent=rid)
    r = pl.get("/resource_providers", params={"in_tree": child}, headers=LATEST)
    assert {p["uuid"] for p in r.json()["resource_providers"]} == {rid, child}
    assert pl.get(f"/resource_providers/{child}", headers=LATEST).json()[
        "root_provider_uuid"] == rid
    _err(pl.delete(f"/resource_providers/{rid}"), 409,
         "placement.resource_provider.cannot_delete_parent")
    _err(pl.put(f"/resource_providers/{child}", headers=v("1.36"),
                json={"name": "c", "parent_provider_uuid": None}), 400)
    r = pl.put(f"/resource_providers/{child}", headers=LATEST,
               json={"name": f"un-{_u()[:8]}", "parent_provider_uuid": None})
    assert r.status_code == 200 and r.json()["root_provider_uuid"] == child
    _err(pl.put(f"/resource_providers/{rid}", headers=LATEST,
                json={"name": name, "parent_provider_uuid": rid}), 400)
    r = pl.put(f"/resource_providers/{rid}", json={"name": name + "-renamed"})
    assert r.status_code == 200 and r.json()["name"] == name + "-renamed"
    assert pl.get("/resource_providers", params={"name": name + "-renamed"}).json()[
        "resource_providers"][0]["uuid"] == rid
    assert pl.delete(f"/resource_providers/{rid}").status_code == 204
    _err(pl.get(f"/resource_providers/{rid}"), 404)
    _err(pl.delete(f"/resource_providers/{rid}"), 404)


def test_inventories_and_generation_conflicts(pl: httpx.Client) -> None:
    rp, gen = _provider(pl)
    base = f"/resource_providers/{rp}/inventories"
    r = pl.put(base, json={"inventories": HOST, "resource_provider_generation": gen})
    assert r.status_code == 200
    body = r.json()
    assert body["resource_provider_generation"] == gen + 1
    assert body["inventories"]["VCPU"] == {"total": 32, "reserved": 0, "min_unit": 1,
                                           "max_unit": 2147483647, "step_size": 1,
                                           "allocation_ratio": 16.0}
    # stale generation → 409 placement.concurrent_update, nothing written
    err = _err(pl.put(base, json={"inventories": {"VCPU": {"total": 1}},
                                  "resource_provider_generation": gen}),
               409, "placement.concurrent_update")
    assert "generation" in err["detail"]
    assert pl.get(base).json()["inventories"]["VCPU"]["total"] == 32
    gen += 1
    r = pl.put(f"{base}/VCPU", json={"total": 64, "resource_provider_generation": gen})
    assert r.status_code == 200 and r.json()["total"] == 64
    gen = r.json()["resource_provider_generation"]
    _err(pl.put(f"{base}/VCPU", json={"total": 8, "resource_provider_generation": gen - 1}),
         409, "placement.concurrent_update")
    assert pl.get(f"{base}/VCPU").json()["total"] == 64
    r = pl.post(base, json={"resource_class": "PCI_DEVICE", "total": 4,
                            "resource_provider_generation": gen})
    assert r.status_code == 201 and r.headers["Location"].endswith("/inventories/PCI_DEVICE")
    gen = r.json()["resource_provider_generation"]
    _err(pl.post(base, json={"resource_class": "PCI_DEVICE", "total": 4,
                             "resource_provider_generation": gen}), 409)
    assert pl.delete(f"{base}/PCI_DEVICE").status_code == 204
    _err(pl.get(f"{base}/PCI_DEVICE"), 404)
    _err(pl.delete(f"{base}/PCI_DEVICE"), 404)
    # reserved == total: 400 before 1.26, fine after
    gen = pl.get(base).json()["resource_provider_generation"]
    bad = {"inventories": {"VCPU": {"total": 4, "reserved": 4}},
           "resource_provider_generation": gen}
    _err(pl.put(base, json=bad, headers=v("1.25")), 400)
    assert pl.put(base, json=bad, headers=v("1.26")).status_code == 200
    gen += 1
    _err(pl.put(base, json={"inventories": {"NOPE": {"total": 1}},
                            "resource_provider_generation": gen}), 400)
    _err(pl.put(base, json={"inventories": {"VCPU": {"total": 1, "reserved": 2}},
                            "resource_provider_generation": gen}), 400)
    _err(pl.put(base, json={"inventories": {"VCPU": {"total": 0}},
                            "resource_provider_generation": gen}), 400)
    assert pl.delete(base, headers=v("1.5")).status_code == 204
    assert pl.get(base).json()["inventories"] == {}


def test_list_providers_by_resources_they_can_take(pl: httpx.Client) -> None:
    root, _ = _provider(pl, inv={"VCPU": {"total": 8, "max_unit": 4}})
    child, _ = _provider(pl, parent=root, inv={"DISK_GB": {"total": 100, "step_size": 10}})

    def listed(**params: str) -> set[str]:
        r = pl.get("/resource_providers", params={"in_tree": root, **params}, headers=LATEST)
        assert r.status_code == 200, r.text
        return {p["uuid"] for p in r.json()["resource_providers"]}

    assert listed() == {root, child}
    assert listed(resources="VCPU:4") == {root}
    assert listed(resources="VCPU:5") == set()  # above max_unit
    assert listed(resources="DISK_GB:20") == {child}
    assert listed(resources="DISK_GB:25") == set()  # not a multiple of step_size
    assert listed(resources="VCPU:1,DISK_GB:10") == set()  # one provider must hold both
    _err(pl.get("/resource_providers", params={"resources": "CUSTOM_NOPE_NOPE:1"},
                headers=LATEST), 400)
    assert pl.get("/resource_providers", params={"in_tree": _u()},
                  headers=LATEST).json()["resource_providers"] == []


def test_resource_classes_and_traits(pl: httpx.Client) -> None:
    names = [c["name"] for c in pl.get("/resource_classes").json()["resource_classes"]]
    assert {"VCPU", "MEMORY_MB", "DISK_GB", "PCI_DEVICE", "SRIOV_NET_VF", "VGPU",
            "NUMA_CORE", "IPV4_ADDRESS"} <= set(names)
    custom = f"CUSTOM_RC_{_u()[:6].upper()}"
    assert pl.post("/resource_classes", json={"name": custom}, headers=v("1.2")).status_code \
        == 201
    _err(pl.post("/resource_classes", json={"name": custom}, headers=v("1.2")), 409)
    _err(pl.post("/resource_classes", json={"name": "BAD"}, headers=v("1.2")), 400)
    assert pl.put(f"/resource_classes/{custom}", headers=v("1.7")).status_code == 204
    assert pl.put(f"/resource_classes/{custom}X", headers=v("1.7")).status_code == 201
    assert pl.get(f"/resource_classes/{custom}", headers=v("1.2")).json()["name"] == custom
    _err(pl.delete("/resource_classes/VCPU", headers=v("1.2")), 400)
    rp, gen = _provider(pl, inv={custom: {"total": 3}})
    _err(pl.delete(f"/resource_classes/{custom}", headers=v("1.2")), 409)
    assert pl.delete(f"/resource_classes/{custom}X", headers=v("1.2")).status_code == 204

    trait = f"CUSTOM_T_{_u()[:6].upper()}"
    assert pl.put(f"/traits/{trait}", headers=v("1.6")).status_code == 201
    assert pl.put(f"/traits/{trait}", headers=v("1.6")).status_code == 204
    _err(pl.put("/traits/NOT_CUSTOM", headers=v("1.6")), 400)
    assert pl.get(f"/traits/{trait}", headers=v("1.6")).status_code == 204
    _err(pl.get("/traits/CUSTOM_NOPE_NOPE", headers=v("1.6")), 404)
    listed = pl.get("/traits", params={"name": "startswith:HW_CPU_X86"},
                    headers=v("1.6")).json()["traits"]
    assert "HW_CPU_X86_AVX2" in listed and all(t.startswith("HW_CPU_X86") for t in listed)
    assert "COMPUTE_STATUS_DISABLED" in pl.get("/traits", headers=v("1.6")).json()["traits"]
    base = f"/resource_providers/{rp}/traits"
    r = pl.put(base, headers=v("1.6"), json={"traits": [trait, "HW_CPU_X86_AVX2"],
                                             "resource_provider_generation": gen})
    assert r.status_code == 200 and r.json()["resource_provider_generation"] == gen + 1
    _err(pl.put(base, headers=v("1.6"), json={"traits": [trait],
                                              "resource_provider_generation": gen}),
         409, "placement.concurrent_update")
    _err(pl.put(base, headers=v("1.6"), json={"traits": ["CUSTOM_UNKNOWN_X"],
                                              "resource_provider_generation": gen + 1}), 400)
    assert sorted(pl.get(base, headers=v("1.6")).json()["traits"]) == sorted(
        [trait, "HW_CPU_X86_AVX2"])
    assert trait in pl.get("/traits", params={"associated": "true"},
                           headers=v("1.6")).json()["traits"]
    _err(pl.delete(f"/traits/{trait}", headers=v("1.6")), 409)
    _err(pl.delete("/traits/HW_CPU_X86_AVX2", headers=v("1.6")), 400)
    got = pl.get("/resource_providers", params={"required": f"{trait},!COMPUTE_NODE"},
                 headers=LATEST).json()["resource_providers"]
    assert [p["uuid"] for p in got] == [rp]
    assert pl.delete(base, headers=v("1.6")).status_code == 204
    assert pl.delete(f"/traits/{trait}", headers=v("1.6")).status_code == 204


def test_aggregates(pl: httpx.Client) -> None:
    rp, gen = _provider(pl)
    base = f"/resource_providers/{rp}/aggregates"
    a1, a2 = _u(), _u()
    r = pl.put(base, json=[a1], headers=v("1.1"))
    assert r.status_code == 200 and r.json() == {"aggregates": [a1]}
    gen += 1
    r = pl.put(base, json={"aggregates": [a1, a2], "resource_provider_generation": gen},
               headers=v("1.19"))
    assert r.status_code == 200
    assert sorted(r.json()["aggregates"]) == sorted([a1, a2])
    _err(pl.put(base, json={"aggregates": [], "resource_provider_generation": gen},
                headers=v("1.19")), 409, "placement.concurrent_update")
    _err(pl.put(base, json=["not-a-uuid"], headers=v("1.1")), 400)
    got = pl.get("/resource_providers", params={"member_of": f"in:{a2},{_u()}"},
                 headers=v("1.3")).json()["resource_providers"]
    assert [p["uuid"] for p in got] == [rp]
    got = pl.get("/resource_providers", params={"member_of": f"!{a2}"},
                 headers=LATEST).json()["resource_providers"]
    assert rp not in {p["uuid"] for p in got}
    _err(pl.get("/resource_providers", params={"member_of": "zzz"}, headers=v("1.3")), 400)


def test_allocations_usages_and_consumer_generations(pl: httpx.Client) -> None:
    rp, _ = _provider(pl, inv={"VCPU": {"total": 4}, "MEMORY_MB": {"total": 2048,
                                                                    "step_size": 256}})
    consumer, project, user = _u(), _u(), _u()
    body = {"allocations": {rp: {"resources": {"VCPU": 2, "MEMORY_MB": 1024}}},
            "project_id": project, "user_id": user, "consumer_generation": None}
    assert pl.put(f"/allocations/{consumer}", json=body, headers=v("1.28")).status_code == 204
    got = pl.get(f"/allocations/{consumer}", headers=v("1.28")).json()
    assert got["allocations"][rp]["resources"] == {"VCPU": 2, "MEMORY_MB": 1024}
    assert got["consumer_generation"] == 1 and got["project_id"] == project
    # stale consumer generation (null for an existing consumer) → 409 concurrent_update
    _err(pl.put(f"/allocations/{consumer}", json=body, headers=v("1.28")), 409,
         "placement.concurrent_update")
    # over capacity → 409, nothing written
    other = _u()
    err = _err(pl.put(f"/allocations/{other}", headers=v("1.28"), json={
        **body, "allocations": {rp: {"resources": {"VCPU": 3}}}}), 409)
    assert "VCPU" in err["detail"]
    assert pl.get(f"/allocations/{other}").json() == {"allocations": {}}
    # step_size violation → 400
    _err(pl.put(f"/allocations/{other}", headers=v("1.28"), json={
        **body, "allocations": {rp: {"resources": {"MEMORY_MB": 100}}}}), 400)
    # unknown provider → 400
    _err(pl.put(f"/allocations/{other}", headers=v("1.28"), json={
        **body, "allocations": {_u(): {"resources": {"VCPU": 1}}}}), 400)
    # old list format (1.0) and project usages
    r = pl.put(f"/allocations/{other}", headers=v("1.8"), json={
        "allocations": [{"resource_provider": {"uuid": rp}, "resources": {"VCPU": 1}}],
        "project_id": project, "user_id": _u()})
    assert r.status_code == 204, r.text
    assert pl.get("/usages", params={"project_id": project}, headers=v("1.9")).json() == {
        "usages": {"VCPU": 3, "MEMORY_MB": 1024}}
    assert pl.get("/usages", params={"project_id": project, "user_id": user},
                  headers=v("1.9")).json()["usages"]["VCPU"] == 2
    _err(pl.get("/usages", headers=v("1.9")), 400)
    by_type = pl.get("/usages", params={"project_id": project}, headers=LATEST).json()
    assert by_type["usages"]["unknown"]["consumer_count"] == 2
    usage = pl.get(f"/resource_providers/{rp}/usages").json()
    assert usage["usages"] == {"VCPU": 3, "MEMORY_MB": 1024}
    rp_allocs = pl.get(f"/resource_providers/{rp}/allocations").json()["allocations"]
    assert set(rp_allocs) == {consumer, other}
    # in-use inventory cannot go, provider cannot be deleted
    gen = pl.get(f"/resource_providers/{rp}").json()["generation"]
    _err(pl.put(f"/resource_providers/{rp}/inventories", json={
        "inventories": {"MEMORY_MB": {"total": 2048}}, "resource_provider_generation": gen}),
        409, "placement.inventory.inuse")
    _err(pl.delete(f"/resource_providers/{rp}/inventories/VCPU"), 409,
         "placement.inventory.inuse")
    _err(pl.delete(f"/resource_providers/{rp}"), 409, "placement.resource_provider.inuse")
    # POST /allocations moves two consumers at once (1.13)
    r = pl.post("/allocations", headers=v("1.28"), json={
        consumer: {"allocations": {rp: {"resources": {"VCPU": 1}}}, "project_id": project,
                   "user_id": user, "consumer_generation": 1},
        other: {"allocations": {}, "project_id": project, "user_id": user,
                "consumer_generation": 1}})
    assert r.status_code == 204, r.text
    assert pl.get(f"/resource_providers/{rp}/usages").json()["usages"]["VCPU"] == 1
    # empty allocations (1.28) delete; DELETE 404 afterwards
    assert pl.put(f"/allocations/{consumer}", headers=v("1.28"), json={
        **body, "allocations": {}, "consumer_generation": 2}).status_code == 204
    _err(pl.delete(f"/allocations/{consumer}"), 404)
    assert pl.delete(f"/resource_providers/{rp}", headers=LATEST).status_code == 204


def test_consumer_type_and_reshaper(pl: httpx.Client) -> None:
    rp, gen = _provider(pl, inv={"VCPU": {"total": 8}})
    child, cgen = _provider(pl, parent=rp)
    consumer, project, user = _u(), _u(), _u()
    body = {"allocations": {rp: {"resources": {"VCPU": 2}}}, "project_id": project,
            "user_id": user, "consumer_generation": None, "consumer_type": "INSTANCE"}
    _err(pl.put(f"/allocations/{consumer}", json={**body, "consumer_type": None},
                headers=LATEST), 400)
    assert pl.put(f"/allocations/{consumer}", json=body, headers=LATEST).status_code == 204
    got = pl.get(f"/allocations/{consumer}", headers=LATEST).json()
    assert got["consumer_type"] == "INSTANCE"
    usages = pl.get("/usages", params={"project_id": project}, headers=LATEST).json()
    assert usages == {"usages": {"INSTANCE": {"consumer_count": 1, "VCPU": 2}}}
    gen = pl.get(f"/resource_providers/{rp}").json()["generation"]
    r = pl.post("/reshaper", headers=LATEST, json={
        "inventories": {rp: {"inventories": {}, "resource_provider_generation": gen},
                        child: {"inventories": {"VCPU": {"total": 8}},
                                "resource_provider_generation": cgen}},
        "allocations": {consumer: {"allocations": {child: {"resources": {"VCPU": 2}}},
                                   "project_id": project, "user_id": user,
                                   "consumer_generation": 1, "consumer_type": "INSTANCE"}}})
    assert r.status_code == 204, r.text
    assert pl.get(f"/resource_providers/{child}/usages").json()["usages"] == {"VCPU": 2}
    assert pl.get(f"/resource_providers/{rp}/inventories").json()["inventories"] == {}


def test_candidates_follow_every_kind_of_write(pl: httpx.Client) -> None:
    """Allocation candidates are served from a cache keyed on the placement revision: every
    write path must show in the next answer (and repeated reads answer the same)."""
    tag = _u()[:8].upper()
    rc, trait, agg = f"CUSTOM_CACHE_{tag}", f"CUSTOM_CACHED_{tag}", _u()

    def cands(**extra: str) -> httpx.Response:
        return pl.get("/allocation_candidates", headers=LATEST,
                      params={"resources": f"{rc}:1", **extra})

    def found(**extra: str) -> dict[str, Any]:
        r = cands(**extra)
        assert r.status_code == 200, r.text
        assert r.content == cands(**extra).content  # the same revision: the same answer
        return {p: s["resources"][rc]["used"] for p, s in
                r.json()["provider_summaries"].items() if rc in s["resources"]}

    _err(cands(), 400)
    assert pl.put(f"/resource_classes/{rc}", headers=LATEST).status_code == 201
    assert found() == {}
    rp, gen = _provider(pl, inv={rc: {"total": 2}})
    assert found() == {rp: 0}
    vm1, vm2 = _u(), _u()

    def claim(vm: str, target: str = rp) -> None:
        r = pl.put(f"/allocations/{vm}", headers=LATEST, json={
            "allocations": {target: {"resources": {rc: 1}}}, "project_id": "p",
            "user_id": "u", "consumer_generation": None, "consumer_type": "INSTANCE"})
        assert r.status_code == 204, r.text

    claim(vm1)
    assert found() == {rp: 1}
    claim(vm2)
    assert found() == {}
    assert pl.delete(f"/allocations/{vm2}").status_code == 204
    assert found() == {rp: 1}
    _err(cands(required=trait), 400)
    assert pl.put(f"/traits/{trait}", headers=LATEST).status_code == 201
    assert found(required=trait) == {}
    gen = pl.get(f"/resource_providers/{rp}").json()["generation"]
    r = pl.put(f"/resource_providers/{rp}/traits", headers=LATEST,
               json={"traits": [trait], "resource_provider_generation": gen})
    assert r.status_code == 200, r.text
    assert found(required=trait) == {rp: 1}
    assert found(member_of=agg) == {}
    assert pl.put(f"/resource_providers/{rp}/aggregates", json=[agg],
                  headers=v("1.1")).status_code == 200
    assert found(member_of=agg) == {rp: 1}
    r = pl.put(f"/resource_providers/{rp}/inventories/{rc}", headers=LATEST,
               json={"total": 5, "resource_provider_generation": pl.get(
                   f"/resource_providers/{rp}").json()["generation"]})
    assert r.status_code == 200, r.text
    summary = cands().json()["provider_summaries"][rp]["resources"][rc]
    assert summary == {"capacity": 5, "used": 1}
    # reshape: the inventory and vm1's allocation move to a new child
    child, cgen = _provider(pl, parent=rp)
    r = pl.post("/reshaper", headers=LATEST, json={
        "inventories": {rp: {"inventories": {}, "resource_provider_generation":
                             pl.get(f"/resource_providers/{rp}").json()["generation"]},
                        child: {"inventories": {rc: {"total": 3}},
                                "resource_provider_generation": cgen}},
        "allocations": {vm1: {"allocations": {child: {"resources": {rc: 1}}},
                              "project_id": "p", "user_id": "u", "consumer_generation": 1,
                              "consumer_type": "INSTANCE"}}})
    assert r.status_code == 204, r.text
    assert found() == {child: 1}
    # a new root takes the child under it: the summary's root follows
    top, _ = _provider(pl)
    r = pl.put(f"/resource_providers/{child}", headers=LATEST,
               json={"name": f"moved-{tag}", "parent_provider_uuid": top})
    assert r.status_code == 200, r.text
    assert cands().json()["provider_summaries"][child]["root_provider_uuid"] == top
    assert pl.delete(f"/allocations/{vm1}").status_code == 204
    assert found() == {child: 0}
    assert pl.delete(f"/resource_providers/{child}", headers=LATEST).status_code == 204
    assert found() == {}
    assert pl.delete(f"/resource_providers/{rp}", headers=LATEST).status_code == 204
    assert pl.delete(f"/traits/{trait}", headers=LATEST).status_code == 204
    _err(cands(required=trait), 400)
    assert pl.delete(f"/resource_classes/{rc}", headers=LATEST).status_code == 204
    _err(cands(), 400)


def test_allocation_candidates_shapes(pl: httpx.Client) -> None:
    tag = _u()
    agg = _u()
    hosts = []
    for _ in range(3):
        rp, gen = _provider(pl, inv=HOST)
        r = pl.put(f"/resource_providers/{rp}/aggregates", headers=LATEST,
                   json={"aggregates": [agg], "resource_provider_generation": gen})
        assert r.status_code == 200
        hosts.append(rp)
    q = {"resources": "VCPU:1,MEMORY_MB:512,DISK_GB:10", "member_of": agg}
    r = pl.get("/allocation_candidates", params=q, headers=v("1.21"))
    assert r.status_code == 200, r.text
    body = r.json()
    reqs = body["allocation_requests"]
    assert len(reqs) == 3
    assert reqs[0]["allocations"][hosts[0]]["resources"] == {"VCPU": 1, "MEMORY_MB": 512,
                                                             "DISK_GB": 10}
    assert body["provider_summaries"][hosts[0]]["resources"]["VCPU"] == {"capacity": 512,
                                                                         "used": 0}
    assert body["provider_summaries"][hosts[0]]["resources"]["MEMORY_MB"]["capacity"] == \
        196608
    # 1.10 list shape
    q10 = {"resources": "VCPU:1,MEMORY_MB:512,DISK_GB:10"}
    body = pl.get("/allocation_candidates", params=q10, headers=v("1.10")).json()
    entry = body["allocation_requests"][0]["allocations"][0]
    assert set(entry) == {"resource_provider", "resources"}
    # latest: mappings, traits, tree uuids, limit
    r = pl.get("/allocation_candidates", params={**q, "limit": "2"}, headers=LATEST)
    body = r.json()
    assert len(body["allocation_requests"]) == 2
    assert body["allocation_requests"][0]["mappings"] == {"": [hosts[0]]}
    summary = body["provider_summaries"][hosts[0]]
    assert summary["traits"] == [] and summary["root_provider_uuid"] == hosts[0]
    assert set(body["provider_summaries"]) == set(hosts[:2])
    # granular + isolate on a nested tree
    root, _ = _provider(pl, inv={"VCPU": {"total": 4}})
    numa = [_provider(pl, parent=root, inv={"MEMORY_MB": {"total": 1024}})[0]
            for _ in range(2)]
    gq = {"resources": "VCPU:1", "resources1": "MEMORY_MB:512", "resources2": "MEMORY_MB:512",
          "group_policy": "isolate", "in_tree": root}
    body = pl.get("/allocation_candidates", params=gq, headers=LATEST).json()
    assert len(body["allocation_requests"]) == 1, body  # (1→A, 2→B) == (1→B, 2→A)
    first = body["allocation_requests"][0]
    assert set(first["mappings"]) == {"", "1", "2"}
    assert set(body["provider_summaries"]) == {root, *numa}
    gq["group_policy"] = "none"
    body = pl.get("/allocation_candidates", params=gq, headers=LATEST).json()
    assert len(body["allocation_requests"]) == 3  # AA, AB, BB
    del gq["group_policy"]
    _err(pl.get("/allocation_candidates", params=gq, headers=LATEST), 400)
    # unsuffixed request spread over the tree
    body = pl.get("/allocation_candidates", params={"resources": "VCPU:1,MEMORY_MB:100",
                                                    "in_tree": root},
                  headers=LATEST).json()
    assert len(body["allocation_requests"]) == 2
    assert tag


@pytest.mark.parametrize("path,params", [
    ("/allocation_candidates", {}),
    ("/allocation_candidates", {"resources": "VCPU"}),
    ("/allocation_candidates", {"resources": "VCPU:-1"}),
    ("/allocation_candidates", {"resources": "VCPU:x"}),
    ("/allocation_candidates", {"resources": "NOT_A_CLASS:1"}),
    ("/allocation_candidates", {"resources": "VCPU:1", "required": "NOT_A_TRAIT"}),
    ("/allocation_candidates", {"resources": "VCPU:1", "limit": "0"}),
    ("/allocation_candidates", {"resources": "VCPU:1", "bogus": "1"}),
    ("/allocation_candidates", {"resources": "VCPU:1", "member_of": "in:"}),
    ("/allocation_candidates", {"resources": "VCPU:1", "group_policy": "maybe"}),
    ("/resource_providers", {"uuid": "nope"}),
    ("/resource_providers", {"resources": "VCPU:1:2"}),
    ("/resource_providers", {"unknown": "x"}),
])
def test_bad_queries_are_400(pl: httpx.Client, path: str, params: dict[str, str]) -> None:
    _err(pl.get(path, params=params, headers=LATEST), 400)


@pytest.mark.parametrize("method,path,content", [
    ("POST", "/resource_providers", b"{"),
    ("POST", "/resource_providers", b"[]"),
    ("POST", "/resource_providers", b'{"name": ""}'),
    ("POST", "/resource_providers", b'{"name": "x", "uuid": "not-uuid"}'),
    ("POST", "/resource_providers", b'{"name": "x", "parent_provider_uuid": "'
     + b"11111111-1111-1111-1111-111111111111" + b'"}'),
    ("PUT", "/allocations/not-a-uuid", b'{"allocations": {}, "project_id": "p",'
     b' "user_id": "u", "consumer_generation": null}'),
    ("PUT", "/allocations/11111111-1111-1111-1111-111111111111", b'{"allocations": 5}'),
    ("POST", "/allocations", b"{}"),
    ("POST", "/reshaper", b'{"inventories": {}}'),
])
def test_bad_bodies_are_4xx(pl: httpx.Client, method: str, path: str, content: bytes) -> None:
    r = pl.request(method, path, content=content, headers={
        **LATEST, "Content-Type": "application/json"})
    _err(r, 400)


def test_wrong_media_type_is_415(pl: httpx.Client) -> None:
    r = pl.post("/resource_providers", content=b'{"name": "x"}',
                headers={"Content-Type": "text/plain"})
    _err(r, 415)


def test_concurrent_puts_no_500_and_no_oversubscription(pl: httpx.Client) -> None:
    rp, _ = _provider(pl, inv={"VCPU": {"total": 6}})
    project = _u()

    def claim(_: int) -> int:
        return pl.put(f"/allocations/{_u()}", headers=v("1.28"), json={
            "allocations": {rp: {"resources": {"VCPU": 1}}}, "project_id": project,
            "user_id": "u", "consumer_generation": None}).status_code

    with ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(claim, range(20)))
    assert codes.count(204) == 6 and codes.count(409) == 14, codes
    assert pl.get(f"/resource_providers/{rp}/usages").json()["usages"] == {"VCPU": 6}
