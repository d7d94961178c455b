"""Token issue / validate / revoke over HTTP, including scopes, rescoping and tampering."""

from __future__ import annotations

import time

import httpx

from pocketstack.identity import fernet
from tests.conftest import LiveCloud


def _auth(cloud: LiveCloud, body: dict, query: str = "") -> httpx.Response:
    return httpx.post(cloud.identity + "/auth/tokens" + query, json=body, timeout=30)


def _pw(cloud: LiveCloud, user: str = "admin", **scope: object) -> dict:
    body: dict = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": user, "domain": {"id": "default"}, "password": cloud.password(user)}}}}}
    if scope:
        body["auth"]["scope"] = scope
    return body


def test_version_documents(cloud: LiveCloud) -> None:
    r = httpx.get(cloud.url + "/identity")
    assert r.status_code == 300
    v = r.json()["versions"]["values"][0]
    assert v["id"].startswith("v3.") and v["status"] == "stable"
    assert {"base": "application/json",
            "type": "application/vnd.openstack.identity-v3+json"} in v["media-types"]
    r = httpx.get(cloud.url + "/identity/v3")
    assert r.status_code == 200 and r.json()["version"]["id"] == v["id"]
    assert r.headers["X-Openstack-Request-Id"].startswith("req-")


def test_project_scoped_token_body(cloud: LiveCloud) -> None:
    r = _auth(cloud, _pw(cloud, project={"name": "admin", "domain": {"name": "Default"}}))
    assert r.status_code == 201
    token = r.json()["token"]
    assert token["project"]["name"] == "admin"
    assert {r["name"] for r in token["roles"]} >= {"admin", "manager", "member", "reader"}
    assert token["catalog"][0]["endpoints"][0]["url"].startswith(cloud.url)
    assert token["methods"] == ["password"]
    assert token["expires_at"].endswith("Z") and len(token["audit_ids"]) == 1
    assert r.headers["X-Subject-Token"].startswith("gAAAAA")


def test_nocatalog_unscoped_domain_and_system(cloud: LiveCloud) -> None:
    r = _auth(cloud, _pw(cloud, project={"name": "admin", "domain": {"id": "default"}}),
              "?nocatalog")
    assert "catalog" not in r.json()["token"]
    body = _pw(cloud)
    body["auth"]["scope"] = "unscoped"
    unscoped = _auth(cloud, body).json()["token"]
    assert "roles" not in unscoped and "project" not in unscoped
    system = _auth(cloud, _pw(cloud, system={"all": True})).json()["token"]
    assert system["system"] == {"all": True}
    # admin has no domain role: a domain-scoped token is refused
    r = _auth(cloud, _pw(cloud, domain={"id": "default"}))
    assert r.status_code == 401


def test_default_project_scope(cloud: LiveCloud) -> None:
    token = _auth(cloud, _pw(cloud, "demo")).json()["token"]
    assert token["project"]["name"] == "demo"


def test_validate_check_revoke(cloud: LiveCloud) -> None:
    admin, _ = cloud.token()
    subject, _ = cloud.token("demo", project="demo")
    h = {"X-Auth-Token": admin, "X-Subject-Token": subject}
    r = httpx.get(cloud.identity + "/auth/tokens", headers=h)
    assert r.status_code == 200 and r.headers["X-Subject-Token"] == subject
    assert r.json()["token"]["user"]["name"] == "demo"
    assert httpx.head(cloud.identity + "/auth/tokens", headers=h).status_code == 200
    # a user may validate their own token
    own = httpx.get(cloud.identity + "/auth/tokens",
                    headers={"X-Auth-Token": subject, "X-Subject-Token": subject})
    assert own.status_code == 200
    assert httpx.delete(cloud.identity + "/auth/tokens", headers=h).status_code == 204
    assert httpx.get(cloud.identity + "/auth/tokens", headers=h).status_code == 404
    # the revoked token no longer authenticates anything
    r = httpx.get(cloud.identity + "/auth/projects", headers={"X-Auth-Token": subject})
    assert r.status_code == 401
    assert "WWW-Authenticate" in r.headers


def test_rescope_with_token_method(cloud: LiveCloud) -> None:
    body = _pw(cloud)
    body["auth"]["scope"] = "unscoped"
    r = _auth(cloud, body)
    unscoped = r.headers["X-Subject-Token"]
    r = _auth(cloud, {"auth": {"identity": {"methods": ["token"], "token": {"id": unscoped}},
                               "scope": {"project": {"name": "admin",
                                                     "domain": {"id": "default"}}}}})
    assert r.status_code == 201
    token = r.json()["token"]
    assert token["methods"] == ["password", "token"]
    assert len(token["audit_ids"]) == 2


def test_tampered_and_garbage_tokens(cloud: LiveCloud) -> None:
    admin, _ = cloud.token()
    subject, _ = cloud.token("demo", project="demo")
    tampered = subject[:-4] + ("AAAA" if subject[-4:] != "AAAA" else "BBBB")
    for bad in (tampered, "garbage", "gAAAAA" + "x" * 100):
        r = httpx.get(cloud.identity + "/auth/tokens",
                      headers={"X-Auth-Token": admin, "X-Subject-Token": bad})
        assert r.status_code == 404, bad
        assert r.json()["error"]["code"] == 404
        r = httpx.get(cloud.identity + "/projects", headers={"X-Auth-Token": bad})
        assert r.status_code == 401


def test_expired_token_and_allow_expired(cloud: LiveCloud) -> None:
    admin, body = cloud.token()
    keys = fernet.KeyRepository(cloud.state_dir / "fernet-keys")
    now = time.time()
    expired = fernet.encode(keys, fernet.TokenPayload(
        user_id=body["user"]["id"], methods=["password"], issued_at=now - 7200,
        expires_at=int(now - 3600), audit_ids=[fernet.new_audit_id()],
        project_id=body["project"]["id"]))
    h = {"X-Auth-Token": admin, "X-Subject-Token": expired}
    assert httpx.get(cloud.identity + "/auth/tokens", headers=h).status_code == 404
    r = httpx.get(cloud.identity + "/auth/tokens?allow_expired=1", headers=h)
    assert r.status_code == 200
    assert httpx.get(cloud.identity + "/users",
                     headers={"X-Auth-Token": expired}).status_code == 401


def test_fernet_rotation_keeps_tokens_valid(cloud: LiveCloud) -> None:
    admin, _ = cloud.token()
    keys = fernet.KeyRepository(cloud.state_dir / "fernet-keys")
    keys.rotate()
    r = httpx.get(cloud.identity + "/auth/projects", headers={"X-Auth-Token": admin})
    assert r.status_code == 200
    fresh, _ = cloud.token()
    assert httpx.get(cloud.identity + "/auth/projects",
                     headers={"X-Auth-Token": fresh}).status_code == 200


def test_auth_catalog_projects_system(cloud: LiveCloud) -> None:
    demo, _ = cloud.token("demo", project="demo")
    h = {"X-Auth-Token": demo}
    catalog = httpx.get(cloud.identity + "/auth/catalog", headers=h).json()["catalog"]
    assert any(s["type"] == "identity" for s in catalog)
    projects = httpx.get(cloud.identity + "/auth/projects", headers=h).json()["projects"]
    assert [p["name"] for p in projects] == ["demo"]
    assert httpx.get(cloud.identity + "/auth/system", headers=h).json()["system"] == []
    admin, _ = cloud.token()
    system = httpx.get(cloud.identity + "/auth/system", headers={"X-Auth-Token": admin})
    assert system.json()["system"] == [{"all": True}]


def test_disabled_project_and_user(cloud: LiveCloud, admin: httpx.Client) -> None:
    project = admin.post("/identity/v3/projects", json={"project": {"name": "tmp-dis"}}).json()
    user = admin.post("/identity/v3/users", json={"user": {
        "name": "tmp-dis-user", "password": "pw-dis-1", "default_project_id":
        project["project"]["id"]}}).json()["user"]
    roles = admin.get("/identity/v3/roles?name=member").json()["roles"]
    pid = project["project"]["id"]
    assert admin.put(f"/identity/v3/projects/{pid}/users/{user['id']}/roles/"
                     f"{roles[0]['id']}").status_code == 204
    token, _ = cloud.token("tmp-dis-user", "pw-dis-1", project="tmp-dis")
    assert admin.patch(f"/identity/v3/projects/{pid}",
                       json={"project": {"enabled": False}}).status_code == 200
    check = admin.get("/identity/v3/auth/tokens", headers={"X-Subject-Token": token})
    assert check.status_code == 404
    body = _pw(cloud)
    body["auth"]["identity"]["password"]["user"] = {
        "name": "tmp-dis-user", "domain": {"id": "default"}, "password": "pw-dis-1"}
    body["auth"]["scope"] = {"project": {"id": pid}}
    assert _auth(cloud, body).status_code == 401
    admin.patch(f"/identity/v3/projects/{pid}", json={"project": {"enabled": True}})
    assert _auth(cloud, body).status_code == 201
    admin.patch(f"/identity/v3/users/{user['id']}", json={"user": {"enabled": False}})
    r = _auth(cloud, body)
    assert r.status_code == 401 and r.json()["error"]["title"] == "Unauthorized"
