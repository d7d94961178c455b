"""Personas: a member is refused admin APIs, a reader reads but cannot write, projects are
isolated from each other."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import LiveCloud, unique


@pytest.fixture(scope="module")
def demo(cloud: LiveCloud) -> httpx.Client:
    token, _ = cloud.token("demo", project="demo")
    return cloud.client(token)


@pytest.fixture(scope="module")
def reader(cloud: LiveCloud, admin: httpx.Client) -> httpx.Client:
    name = unique("reader")
    user = admin.post("/identity/v3/users", json={"user": {
        "name": name, "password": "reader-pw-1"}}).json()["user"]
    project = admin.get("/identity/v3/projects?name=demo").json()["projects"][0]
    role = admin.get("/identity/v3/roles?name=reader").json()["roles"][0]
    admin.put(f"/identity/v3/projects/{project['id']}/users/{user['id']}/roles/{role['id']}")
    token, body = cloud.token(name, "reader-pw-1", project="demo")
    assert [r["name"] for r in body["roles"]] == ["reader"]
    return cloud.client(token)


@pytest.mark.parametrize("method,path,body", [
    ("GET", "/identity/v3/users", None),
    ("GET", "/identity/v3/projects", None),
    ("GET", "/identity/v3/role_assignments", None),
    ("POST", "/identity/v3/projects", {"project": {"name": "x"}}),
    ("POST", "/identity/v3/roles", {"role": {"name": "x"}}),
    ("POST", "/identity/v3/services", {"service": {"type": "x"}}),
    ("GET", "/identity/v3/services", None),
    ("POST", "/identity/v3/domains", {"domain": {"name": "x"}}),
])
def test_member_refused_admin_calls(demo: httpx.Client, method: str, path: str,
                                    body: dict | None) -> None:
    r = demo.request(method, path, json=body)
    assert r.status_code == 403, r.text
    assert "not authorized" in r.json()["error"]["message"]


def test_member_sees_own_things(cloud: LiveCloud, demo: httpx.Client) -> None:
    me = demo.get("/identity/v3/auth/tokens", headers={
        "X-Subject-Token": demo.headers["X-Auth-Token"]}).json()["token"]
    uid, pid = me["user"]["id"], me["project"]["id"]
    assert demo.get(f"/identity/v3/users/{uid}").status_code == 200
    assert demo.get(f"/identity/v3/projects/{pid}").status_code == 200
    mine = demo.get(f"/identity/v3/users/{uid}/projects").json()["projects"]
    assert [p["name"] for p in mine] == ["demo"]


def test_projects_are_isolated(cloud: LiveCloud, demo: httpx.Client) -> None:
    alt_token, alt = cloud.token("alt_demo", project="alt_demo")
    alt_pid, alt_uid = alt["project"]["id"], alt["user"]["id"]
    assert demo.get(f"/identity/v3/projects/{alt_pid}").status_code == 403
    assert demo.get(f"/identity/v3/users/{alt_uid}").status_code == 403
    assert demo.get(f"/identity/v3/users/{alt_uid}/projects").status_code == 403
    assert demo.get(f"/identity/v3/users/{alt_uid}/application_credentials").status_code == 403
    r = demo.post(f"/identity/v3/users/{alt_uid}/application_credentials",
                  json={"application_credential": {"name": "steal"}})
    assert r.status_code == 403


def test_reader_reads_but_cannot_write(reader: httpx.Client) -> None:
    me = reader.get("/identity/v3/auth/tokens", headers={
        "X-Subject-Token": reader.headers["X-Auth-Token"]}).json()["token"]
    assert reader.get(f"/identity/v3/projects/{me['project']['id']}").status_code == 200
    r = reader.patch(f"/identity/v3/projects/{me['project']['id']}",
                     json={"project": {"description": "changed"}})
    assert r.status_code == 403
    assert reader.post("/identity/v3/projects",
                       json={"project": {"name": "nope"}}).status_code == 403


def test_system_reader_reads_everything_writes_nothing(cloud: LiveCloud,
                                                       admin: httpx.Client) -> None:
    name = unique("sysreader")
    user = admin.post("/identity/v3/users", json={"user": {
        "name": name, "password": "sys-pw-1"}}).json()["user"]
    role = admin.get("/identity/v3/roles?name=reader").json()["roles"][0]
    assert admin.put(f"/identity/v3/system/users/{user['id']}/roles/{role['id']}").status_code \
        == 204
    token, body = cloud.token(name, "sys-pw-1", scope={"system": {"all": True}})
    with cloud.client(token) as c:
        assert c.get("/identity/v3/users").status_code == 200
        assert c.get("/identity/v3/projects").status_code == 200
        assert c.post("/identity/v3/roles", json={"role": {"name": "x"}}).status_code == 403
