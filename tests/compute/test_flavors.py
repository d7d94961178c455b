"""Flavor API: shapes per microversion, filters, paging, management, extra specs, access."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pocketstack.compute.domain import flavors
from tests.compute.kit import Harness


@pytest.fixture(scope="module")
def h(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    harness = Harness(tmp_path_factory.mktemp("flv"))
    harness.db.write(flavors.ensure_defaults)
    yield harness
    harness.close()


DETAIL_21 = {"id", "name", "ram", "disk", "swap", "OS-FLV-EXT-DATA:ephemeral",
             "OS-FLV-DISABLED:disabled", "vcpus", "os-flavor-access:is_public", "rxtx_factor",
             "links"}


def test_shapes_per_microversion(h: Harness) -> None:
    r = h.demo.get("/flavors/1")
    assert r.status_code == 200 and r.headers["X-OpenStack-Nova-API-Version"] == "2.1"
    f = r.json()["flavor"]
    assert set(f) == DETAIL_21 and f["swap"] == "" and f["ram"] == 512
    assert f["links"][0]["href"].endswith("/compute/v2.1/flavors/1")
    assert f["links"][1]["href"].endswith("/compute/flavors/1")
    f = h.demo.get("/flavors/1", version="2.55").json()["flavor"]
    assert set(f) == DETAIL_21 | {"description"}
    f = h.demo.get("/flavors/1", version="2.61").json()["flavor"]
    assert f["extra_specs"] == {} and f["swap"] == ""
    assert h.demo.get("/flavors/1", version="2.75").json()["flavor"]["swap"] == 0
    brief = h.demo.get("/flavors").json()["flavors"]
    assert set(brief[0]) == {"id", "name", "links"}
    brief = h.demo.get("/flavors", version="2.55").json()["flavors"]
    assert set(brief[0]) == {"id", "name", "links", "description"}
    assert h.demo.get("/flavors/nope").json() == {
        "itemNotFound": {"code": 404, "message": "Flavor nope could not be found."}}


def test_filters_sort_and_paging(h: Harness) -> None:
    big = h.demo.get("/flavors/detail?minRam=4096&minDisk=40").json()["flavors"]
    assert {f["name"] for f in big} == {"m1.medium", "m1.large", "m1.xlarge"}
    by_ram = h.demo.get("/flavors/detail?sort_key=memory_mb&sort_dir=desc").json()["flavors"]
    assert by_ram[0]["name"] == "m1.xlarge"
    page = h.demo.get("/flavors?limit=2").json()
    assert len(page["flavors"]) == 2 and page["flavors_links"][0]["rel"] == "next"
    marker = page["flavors"][-1]["id"]
    rest = h.demo.get(f"/flavors?marker={marker}").json()["flavors"]
    assert marker not in [f["id"] for f in rest] and len(rest) >= 8
    for bad in ("minRam=abc", "minDisk=-1", "sort_key=bogus", "sort_dir=up", "limit=x",
                "marker=nope"):
        r = h.demo.get(f"/flavors/detail?{bad}")
        assert r.status_code == 400 and "badRequest" in r.json(), bad


def test_manage_flavor_and_access(h: Harness) -> None:
    body = {"flavor": {"name": "priv.small", "id": "priv1", "ram": 256, "vcpus": 1, "disk": 1,
                       "swap": 128, "os-flavor-access:is_public": False,
                       "description": "private one"}}
    assert h.demo.post("/flavors", json=body, version="2.55").status_code == 403
    r = h.admin.post("/flavors", json=body, version="2.55")
    assert r.status_code == 200, r.text
    f = r.json()["flavor"]
    assert f["description"] == "private one" and f["swap"] == 128
    assert not f["os-flavor-access:is_public"]
    assert h.admin.post("/flavors", json=body, version="2.55").status_code == 409
    dup_name = {"flavor": dict(body["flavor"], id="other")}
    dup_name["flavor"].pop("description")
    assert h.admin.post("/flavors", json=dup_name).json()["conflictingRequest"]["code"] == 409
    # description in the body needs 2.55
    assert h.admin.post("/flavors", json={"flavor": dict(
        body["flavor"], id="p2", name="p2")}).status_code == 400
    # private: invisible to demo until granted
    assert h.demo.get("/flavors/priv1").status_code == 404
    assert "priv1" not in [x["id"] for x in h.demo.get("/flavors").json()["flavors"]]
    assert "priv1" not in [x["id"] for x in h.admin.get("/flavors").json()["flavors"]]
    assert "priv1" in [x["id"] for x in
                       h.admin.get("/flavors?is_public=none").json()["flavors"]]
    assert [x["id"] for x in h.admin.get("/flavors?is_public=false").json()["flavors"]] == [
        "priv1"]
    assert h.admin.get("/flavors?is_public=maybe").status_code == 400
    assert h.admin.get("/flavors/priv1/os-flavor-access").json() == {"flavor_access": []}
    add = {"addTenantAccess": {"tenant": "p-demo"}}
    assert h.demo.post("/flavors/priv1/action", json=add).status_code == 403
    r = h.admin.post("/flavors/priv1/action", json=add)
    assert r.json() == {"flavor_access": [{"flavor_id": "priv1", "tenant_id": "p-demo"}]}
    assert h.admin.post("/flavors/priv1/action", json=add).status_code == 409
    assert h.admin.post("/flavors/1/action", json=add).status_code == 409
    assert h.admin.get("/flavors/1/os-flavor-access").status_code == 404
    assert h.demo.get("/flavors/priv1").status_code == 200
    assert "priv1" in [x["id"] for x in h.demo.get("/flavors").json()["flavors"]]
    rm = {"removeTenantAccess": {"tenant": "p-demo"}}
    assert h.admin.post("/flavors/priv1/action", json=rm).json() == {"flavor_access": []}
    assert h.admin.post("/flavors/priv1/action", json=rm).status_code == 404
    assert h.admin.post("/flavors/priv1/action", json={"bogus": {}}).status_code == 400
    # description update (2.55+)
    upd = {"flavor": {"description": "new words"}}
    assert h.admin.put("/flavors/priv1", json=upd).status_code == 404
    r = h.admin.put("/flavors/priv1", json=upd, version="2.55")
    assert r.json()["flavor"]["description"] == "new words"
    assert h.admin.put("/flavors/priv1", json={"flavor": {"name": "x"}},
                       version="2.55").status_code == 400
    assert h.demo.delete("/flavors/priv1").status_code == 403
    assert h.admin.delete("/flavors/priv1").status_code == 202
    assert h.admin.delete("/flavors/priv1").status_code == 404


@pytest.mark.parametrize("change", [
    {"ram": 0}, {"vcpus": -1}, {"disk": "x"}, {"name": ""}, {"name": " lead"},
    {"rxtx_factor": 0}, {"os-flavor-access:is_public": "perhaps"}, {"id": "bad/id"},
    {"bogus": 1}, {"swap": -5},
])
def test_create_rejects_bad_input(h: Harness, change: dict[str, object]) -> None:
    flavor = {"name": "bad-one", "ram": 64, "vcpus": 1, "disk": 0, **change}
    r = h.admin.post("/flavors", json={"flavor": flavor})
    assert r.status_code == 400, (change, r.text)
    assert set(r.json()) == {"badRequest"}


def test_extra_specs(h: Harness) -> None:
    h.admin.post("/flavors", json={"flavor": {"name": "specs", "id": "sp", "ram": 64,
                                              "vcpus": 1, "disk": 0}})
    specs = {"extra_specs": {"hw:cpu_policy": "dedicated", "quota:disk_read_iops_sec": 100}}
    assert h.demo.post("/flavors/sp/os-extra_specs", json=specs).status_code == 403
    r = h.admin.post("/flavors/sp/os-extra_specs", json=specs)
    assert r.json() == {"extra_specs": {"hw:cpu_policy": "dedicated",
                                        "quota:disk_read_iops_sec": "100"}}
    assert h.demo.get("/flavors/sp/os-extra_specs").json()["extra_specs"][
        "hw:cpu_policy"] == "dedicated"
    assert h.demo.get("/flavors/sp/os-extra_specs/hw:cpu_policy").json() == {
        "hw:cpu_policy": "dedicated"}
    r = h.admin.put("/flavors/sp/os-extra_specs/hw:cpu_policy",
                    json={"hw:cpu_policy": "shared"})
    assert r.json() == {"hw:cpu_policy": "shared"}
    assert h.admin.put("/flavors/sp/os-extra_specs/hw:cpu_policy",
                       json={"other": "x"}).status_code == 400
    assert h.admin.post("/flavors/sp/os-extra_specs",
                        json={"extra_specs": {"bad/key": "x"}}).status_code == 400
    f = h.demo.get("/flavors/sp", version="2.61").json()["flavor"]
    assert f["extra_specs"]["hw:cpu_policy"] == "shared"
    assert h.admin.delete("/flavors/sp/os-extra_specs/hw:cpu_policy").status_code == 200
    assert h.admin.delete("/flavors/sp/os-extra_specs/hw:cpu_policy").status_code == 404
    assert h.demo.get("/flavors/sp/os-extra_specs/hw:cpu_policy").status_code == 404
    assert h.admin.get("/flavors/none/os-extra_specs").status_code == 404
