"""Unified limits (/v3/registered_limits, /v3/limits, /v3/limits/model): the stock CLI, Keystone's
validation rules and status codes, scope-filtered listing, and the strict-two-level model."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import BIN, LiveCloud, start_cloud, unique


def _service(admin: httpx.Client) -> str:
    r = admin.post("/identity/v3/services", json={"service": {"type": unique("limtype"),
                                                             "name": unique("limsvc")}})
    assert r.status_code == 201, r.text
    return str(r.json()["service"]["id"])


def _project(admin: httpx.Client, **extra: str) -> str:
    r = admin.post("/identity/v3/projects", json={"project": {"name": unique("limproj"),
                                                             **extra}})
    assert r.status_code == 201, r.text
    return str(r.json()["project"]["id"])


def _registered(admin: httpx.Client, service_id: str, name: str, default: int,
                **extra: object) -> dict[str, object]:
    r = admin.post("/identity/v3/registered_limits", json={"registered_limits": [
        {"service_id": service_id, "resource_name": name, "default_limit": default, **extra}]})
    assert r.status_code == 201, r.text
    return r.json()["registered_limits"][0]  # type: ignore[no-any-return]


def _limit(admin: httpx.Client, **body: object) -> httpx.Response:
    return admin.post("/identity/v3/limits", json={"limits": [body]})


def test_cli_registered_limit_and_limit_lifecycle(cloud: LiveCloud, admin: httpx.Client) -> None:
    service = _service(admin)
    name = unique("cores")
    reg = cloud.osc("registered", "limit", "create", "--service", service, "--default-limit",
                    "10", "--region", "RegionOne", "--description", "cores per project", name)
    assert reg["default_limit"] == 10 and reg["region_id"] == "RegionOne"
    assert reg["resource_name"] == name and reg["service_id"] == service
    listed = cloud.osc("registered", "limit", "list", "--service", service)
    assert [r["ID"] for r in listed] == [reg["id"]]
    assert listed[0]["Default Limit"] == 10
    assert cloud.osc("registered", "limit", "list", "--resource-name", unique("none")) == []
    shown = cloud.osc("registered", "limit", "show", reg["id"])
    assert shown["description"] == "cores per project"
    updated = cloud.osc("registered", "limit", "set", "--default-limit", "12", reg["id"])
    assert updated["default_limit"] == 12

    project = _project(admin)
    lim = cloud.osc("limit", "create", "--project", project, "--service", service,
                    "--region", "RegionOne", "--resource-limit", "5", name)
    assert lim["project_id"] == project and lim["resource_limit"] == 5
    assert lim["resource_name"] == name and lim["region_id"] == "RegionOne"
    rows = cloud.osc("limit", "list", "--project", project)
    assert [r["ID"] for r in rows] == [lim["id"]]
    assert rows[0]["Resource Limit"] == 5
    assert cloud.osc("limit", "show", lim["id"])["resource_limit"] == 5
    assert cloud.osc("limit", "set", "--resource-limit", "7", "--description", "raised",
                     lim["id"])["resource_limit"] == 7
    # a registered limit that project limits refer to cannot be changed or deleted
    refused = cloud.osc("registered", "limit", "delete", reg["id"], check=False, as_json=False)
    assert refused.returncode != 0
    cloud.osc("limit", "delete", lim["id"], as_json=False)
    assert cloud.osc("limit", "list", "--project", project) == []
    cloud.osc("registered", "limit", "delete", reg["id"], as_json=False)
    assert cloud.osc("registered", "limit", "list", "--service", service) == []


def test_limit_model_reports_flat(admin: httpx.Client) -> None:
    r = admin.get("/identity/v3/limits/model")
    assert r.status_code == 200
    assert r.json()["model"]["name"] == "flat"
    assert "hierarchy" in r.json()["model"]["description"]


def test_shapes_batches_and_filters(admin: httpx.Client) -> None:
    service = _service(admin)
    r = admin.post("/identity/v3/registered_limits", json={"registered_limits": [
        {"service_id": service, "resource_name": "snapshots", "default_limit": 5},
        {"service_id": service, "resource_name": "volumes", "default_limit": 10,
         "region_id": "RegionOne", "description": None}]})
    assert r.status_code == 201, r.text
    created = r.json()["registered_limits"]
    assert "links" not in r.json()
    assert set(created[0]) == {"id", "service_id", "region_id", "resource_name",
                               "default_limit", "description", "links"}
    assert created[0]["region_id"] is None
    assert created[0]["links"]["self"].endswith(f"/v3/registered_limits/{created[0]['id']}")
    listed = admin.get("/identity/v3/registered_limits", params={"service_id": service}).json()
    assert {x["resource_name"] for x in listed["registered_limits"]} == {"snapshots", "volumes"}
    assert listed["links"]["self"].endswith("/v3/registered_limits")
    only = admin.get("/identity/v3/registered_limits",
                     params={"service_id": service, "region_id": "RegionOne"}).json()
    assert [x["resource_name"] for x in only["registered_limits"]] == ["volumes"]

    project = _project(admin)
    r = admin.post("/identity/v3/limits", json={"limits": [
        {"service_id": service, "resource_name": "snapshots", "resource_limit": 2,
         "project_id": project},
        {"service_id": service, "resource_name": "volumes", "resource_limit": 20,
         "region_id": "RegionOne", "project_id": project},
        {"service_id": service, "resource_name": "snapshots", "resource_limit": 50,
         "domain_id": "default"}]})
    assert r.status_code == 201, r.text
    limits = r.json()["limits"]
    assert set(limits[0]) == {"id", "project_id", "domain_id", "service_id", "region_id",
                              "resource_name", "resource_limit", "description", "links"}
    assert limits[0]["domain_id"] is None and limits[2]["project_id"] is None
    assert limits[2]["domain_id"] == "default"

    def names(**params: str) -> list[tuple[str, int]]:
        body = admin.get("/identity/v3/limits", params={"service_id": service, **params}).json()
        return sorted((x["resource_name"], x["resource_limit"]) for x in body["limits"])

    assert names() == [("snapshots", 2), ("snapshots", 50), ("volumes", 20)]
    assert names(project_id=project) == [("snapshots", 2), ("volumes", 20)]
    assert names(domain_id="default") == [("snapshots", 50)]
    assert names(resource_name="volumes") == [("volumes", 20)]
    assert names(region_id="RegionOne") == [("volumes", 20)]

    # deleting the project deletes its limits (keystone's delete_limits_for_project)
    assert admin.delete(f"/identity/v3/projects/{project}").status_code == 204
    assert names() == [("snapshots", 50)]
    assert admin.delete(f"/identity/v3/limits/{limits[2]['id']}").status_code == 204
    assert admin.get(f"/identity/v3/limits/{limits[2]['id']}").status_code == 404


def test_validation_and_conflicts(admin: httpx.Client) -> None:
    service = _service(admin)
    reg = _registered(admin, service, "ram", 1024)
    project = _project(admin)
    url = "/identity/v3/registered_limits"

    def bad(path: str, body: object, status: int, method: str = "POST") -> str:
        r = admin.request(method, path, json=body)
        assert r.status_code == status, r.text
        return str(r.json()["error"]["message"])

    bad(url, {"registered_limits": []}, 400)
    bad(url, {"registered_limits": [{"service_id": service, "resource_name": "x"}]}, 400)
    bad(url, {"registered_limits": [{"service_id": service, "resource_name": "x",
                                     "default_limit": -2}]}, 400)
    bad(url, {"registered_limits": [{"service_id": service, "resource_name": "x",
                                     "default_limit": 1, "bogus": 1}]}, 400)
    msg = bad(url, {"registered_limits": [{"service_id": "nope", "resource_name": "x",
                                           "default_limit": 1}]}, 400)
    assert msg.startswith("Expecting to find service_id in registered_limit")
    bad(url, {"registered_limits": [{"service_id": service, "resource_name": "x",
                                     "default_limit": 1, "region_id": "Atlantis"}]}, 400)
    msg = bad(url, {"registered_limits": [{"service_id": service, "resource_name": "ram",
                                           "default_limit": 1}]}, 409)
    assert "Duplicate entry" in msg
    # a duplicate inside one batch rolls the whole batch back
    bad(url, {"registered_limits": [
        {"service_id": service, "resource_name": "disk", "default_limit": 1},
        {"service_id": service, "resource_name": "disk", "default_limit": 2}]}, 409)
    assert admin.get(url, params={"resource_name": "disk", "service_id": service}
                     ).json()["registered_limits"] == []
    # the same resource in another region is another registered limit
    _registered(admin, service, "ram", 2048, region_id="RegionOne")
    assert admin.get(f"{url}/nope").status_code == 404
    bad(f"{url}/{reg['id']}", {"registered_limit": {"default_limit": "x"}}, 400, "PATCH")
    bad(f"{url}/{reg['id']}", {"registered_limit": {"id": "other"}}, 400, "PATCH")
    bad(f"{url}/{reg['id']}", {"registered_limit": {"region_id": "RegionOne"}}, 409, "PATCH")

    lurl = "/identity/v3/limits"
    base = {"service_id": service, "resource_name": "ram", "resource_limit": 10}
    bad(lurl, {"limits": [base]}, 400)  # neither project nor domain
    bad(lurl, {"limits": [{**base, "project_id": project, "domain_id": "default"}]}, 400)
    msg = bad(lurl, {"limits": [{**base, "project_id": "nope"}]}, 400)
    assert msg.startswith("Expecting to find project_id in limit")
    msg = bad(lurl, {"limits": [{**base, "resource_name": "gpus", "project_id": project}]}, 403)
    assert msg == "Unable to create a limit that has no corresponding registered limit."
    first = _limit(admin, **base, project_id=project)
    assert first.status_code == 201
    assert bad(lurl, {"limits": [{**base, "project_id": project}]}, 409).endswith(
        "Duplicate entry.")
    limit_id = first.json()["limits"][0]["id"]
    bad(f"{lurl}/{limit_id}", {"limit": {"project_id": project}}, 400, "PATCH")
    bad(f"{lurl}/{limit_id}", {"limit": {"resource_limit": 2**31}}, 400, "PATCH")
    assert admin.patch(f"{lurl}/nope", json={"limit": {"resource_limit": 1}}).status_code == 404
    # the registered limit is referenced now
    msg = bad(f"{url}/{reg['id']}", {"registered_limit": {"default_limit": 5}}, 403, "PATCH")
    assert "there are project limits associated with it" in msg
    assert admin.delete(f"{url}/{reg['id']}").status_code == 403
    # deleting the service removes its registered limits and their limits
    assert admin.delete(f"/identity/v3/services/{service}").status_code == 204
    assert admin.get(f"{url}/{reg['id']}").status_code == 404
    assert admin.get(f"{lurl}/{limit_id}").status_code == 404


def test_non_admin_reads_but_cannot_write(cloud: LiveCloud, admin: httpx.Client) -> None:
    service = _service(admin)
    reg = _registered(admin, service, "instances", 10)
    demo_project = admin.get("/identity/v3/projects", params={"name": "demo"}).json()[
        "projects"][0]["id"]
    other = _project(admin)
    mine = _limit(admin, service_id=service, resource_name="instances", resource_limit=3,
                  project_id=demo_project).json()["limits"][0]
    theirs = _limit(admin, service_id=service, resource_name="instances", resource_limit=4,
                    project_id=other).json()["limits"][0]
    token, _ = cloud.token("demo", project="demo")
    with cloud.client(token) as demo:
        assert demo.get(f"/identity/v3/registered_limits/{reg['id']}").status_code == 200
        assert demo.get("/identity/v3/limits/model").status_code == 200
        listed = demo.get("/identity/v3/limits", params={"service_id": service}).json()
        assert [x["id"] for x in listed["limits"]] == [mine["id"]]
        assert demo.get(f"/identity/v3/limits/{mine['id']}").status_code == 200
        assert demo.get(f"/identity/v3/limits/{theirs['id']}").status_code == 403
        assert demo.get("/identity/v3/limits/nope").status_code == 403
        for method, path, body in (
            ("POST", "/identity/v3/registered_limits", {"registered_limits": [
                {"service_id": service, "resource_name": "x", "default_limit": 1}]}),
            ("PATCH", f"/identity/v3/registered_limits/{reg['id']}",
             {"registered_limit": {"default_limit": 1}}),
            ("DELETE", f"/identity/v3/registered_limits/{reg['id']}", None),
            ("POST", "/identity/v3/limits", {"limits": [
                {"service_id": service, "resource_name": "instances", "resource_limit": 99,
                 "project_id": demo_project}]}),
            ("PATCH", f"/identity/v3/limits/{mine['id']}", {"limit": {"resource_limit": 99}}),
            ("DELETE", f"/identity/v3/limits/{mine['id']}", None),
        ):
            r = demo.request(method, path, json=body)
            assert r.status_code == 403, (method, path, r.text)
            assert r.json()["error"]["code"] == 403
    assert admin.get(f"/identity/v3/limits/{mine['id']}").json()["limit"]["resource_limit"] == 3


def test_unknown_enforcement_model_is_a_clear_error(tmp_path: Path) -> None:
    out = subprocess.run([str(BIN / "pocketstack"), "up", "--state-dir", str(tmp_path)],
                         capture_output=True, text=True, timeout=60,
                         env={"PATH": "/usr/bin:/bin",
                              "POCKETSTACK_UNIFIED_LIMIT_ENFORCEMENT_MODEL": "deep"})
    assert out.returncode == 2
    assert "unified_limit_enforcement_model" in out.stderr and "strict_two_level" in out.stderr


@pytest.fixture(scope="module")
def strict(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveCloud]:
    state: Path = tmp_path_factory.mktemp("strict") / "state"
    state.mkdir()
    live = start_cloud(state, {"POCKETSTACK_UNIFIED_LIMIT_ENFORCEMENT_MODEL": "strict_two_level"})
    try:
        yield live
    finally:
        live.stop()


def test_strict_two_level(strict: LiveCloud) -> None:
    token, _ = strict.token()
    with strict.client(token) as admin:
        model = admin.get("/identity/v3/limits/model").json()["model"]
        assert model["name"] == "strict_two_level"
        service = _service(admin)
        _registered(admin, service, "cores", 10)
        top = _project(admin)
        child = _project(admin, parent_id=top)
        # projects nest at most two deep under this model
        r = admin.post("/identity/v3/projects", json={"project": {
            "name": unique("deep"), "parent_id": child}})
        assert r.status_code == 403, r.text
        base = {"service_id": service, "resource_name": "cores"}
        # without a domain limit, the registered default bounds a project's limit
        r = _limit(admin, **base, resource_limit=11, project_id=top)
        assert r.status_code == 403, r.text
        assert "doesn't satisfy current hierarchy model" in r.json()["error"]["message"]
        # a domain limit in the same request lifts the bound
        r = admin.post("/identity/v3/limits", json={"limits": [
            {**base, "resource_limit": 20, "domain_id": "default"},
            {**base, "resource_limit": 15, "project_id": top}]})
        assert r.status_code == 201, r.text
        domain_limit, top_limit = r.json()["limits"]
        # the domain's limit may not drop below a project's
        r = admin.patch(f"/identity/v3/limits/{domain_limit['id']}",
                        json={"limit": {"resource_limit": 14}})
        assert r.status_code == 403, r.text
        # nor a project's rise above its domain's
        r = admin.patch(f"/identity/v3/limits/{top_limit['id']}",
                        json={"limit": {"resource_limit": 21}})
        assert r.status_code == 403, r.text
        assert admin.patch(f"/identity/v3/limits/{top_limit['id']}",
                           json={"limit": {"resource_limit": 20}}).status_code == 200
        # a sub-project's parent is not a domain: the registered default bounds it
        assert _limit(admin, **base, resource_limit=11, project_id=child).status_code == 403
        assert _limit(admin, **base, resource_limit=10, project_id=child).status_code == 201
