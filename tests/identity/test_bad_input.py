"""Bad input gets Keystone's own error body and status — never a 500, nothing half-written."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import LiveCloud, unique


def _error(r: httpx.Response, status: int) -> dict:
    assert r.status_code == status, r.text
    body = r.json()["error"]
    assert body["code"] == status and body["title"] and body["message"]
    return body


def test_wrong_password_is_401_with_www_authenticate(cloud: LiveCloud) -> None:
    r = httpx.post(cloud.identity + "/auth/tokens", json={"auth": {"identity": {
        "methods": ["password"], "password": {"user": {
            "name": "demo", "domain": {"id": "default"}, "password": "wrong"}}}}})
    _error(r, 401)
    assert r.headers["WWW-Authenticate"].startswith("Keystone uri=")


@pytest.mark.parametrize(("payload", "status"), [
    (b"{not json", 400), (b"", 400), (b"[]", 400), (b'{"auth": 5}', 400),
    (b'{"auth": {"identity": {"methods": "password"}}}', 400),
    (b'{"auth": {"identity": {"methods": ["password"]}}}', 400),  # no "password" object
    # a user name without its domain: Keystone's ValidationError
    (b'{"auth": {"identity": {"methods": ["password"], "password": {"user": {"name": "x"}}}}}',
     400),
    # an unknown method: Keystone's AuthMethodNotSupported, a 401
    (b'{"auth": {"identity": {"methods": ["magic"], "magic": {}}}}', 401),
])
def test_malformed_auth_bodies(cloud: LiveCloud, payload: bytes, status: int) -> None:
    r = httpx.post(cloud.identity + "/auth/tokens", content=payload,
                   headers={"Content-Type": "application/json"})
    _error(r, status)


def test_unknown_scope_is_401_or_400(cloud: LiveCloud) -> None:
    base = {"methods": ["password"], "password": {"user": {
        "name": "admin", "domain": {"id": "default"}, "password": cloud.password("admin")}}}
    for scope, status in (({"project": {"id": "nope"}}, 401),
                          ({"project": {"name": "nope", "domain": {"id": "default"}}}, 401),
                          ({"domain": {"name": "nowhere"}}, 401),
                          ({"system": {"some": True}}, 400),
                          ({"project": {"id": "x"}, "domain": {"id": "y"}}, 400)):
        r = httpx.post(cloud.identity + "/auth/tokens",
                       json={"auth": {"identity": base, "scope": scope}})
        _error(r, status)


def test_create_validation(admin: httpx.Client) -> None:
    _error(admin.post("/identity/v3/projects", json={"project": {}}), 400)
    _error(admin.post("/identity/v3/projects", json={"project": {"name": 5}}), 400)
    _error(admin.post("/identity/v3/projects", json={"project": {"name": "x" * 300}}), 400)
    _error(admin.post("/identity/v3/users", json={"user": {"name": "u", "enabled": "yes"}}), 400)
    _error(admin.post("/identity/v3/roles", json={}), 400)
    _error(admin.post("/identity/v3/projects", content=b"{", headers={
        "Content-Type": "application/json"}), 400)
    _error(admin.post("/identity/v3/projects", json={"project": {
        "name": unique(), "domain_id": "no-such-domain"}}), 404)
    _error(admin.post("/identity/v3/endpoints", json={"endpoint": {
        "service_id": "nope", "interface": "public", "url": "http://x"}}), 400)
    _error(admin.post("/identity/v3/endpoints", json={"endpoint": {
        "service_id": "nope", "interface": "sideways", "url": "http://x"}}), 400)


def test_duplicates_are_409_and_nothing_half_written(admin: httpx.Client) -> None:
    name = unique("dup")
    assert admin.post("/identity/v3/projects", json={"project": {"name": name}}).status_code \
        == 201
    _error(admin.post("/identity/v3/projects", json={"project": {"name": name}}), 409)
    listed = admin.get("/identity/v3/projects", params={"name": name}).json()["projects"]
    assert len(listed) == 1
    user = unique("dupuser")
    assert admin.post("/identity/v3/users", json={"user": {"name": user}}).status_code == 201
    _error(admin.post("/identity/v3/users", json={"user": {"name": user}}), 409)
    role = unique("duprole")
    admin.post("/identity/v3/roles", json={"role": {"name": role}})
    _error(admin.post("/identity/v3/roles", json={"role": {"name": role}}), 409)
    domain = unique("dupdom")
    admin.post("/identity/v3/domains", json={"domain": {"name": domain}})
    _error(admin.post("/identity/v3/domains", json={"domain": {"name": domain}}), 409)


def test_missing_things_are_404(admin: httpx.Client) -> None:
    for path in ("/projects/nope", "/users/nope", "/groups/nope", "/roles/nope",
                 "/domains/nope", "/services/nope", "/endpoints/nope", "/regions/nope",
                 "/credentials/nope"):
        _error(admin.get("/identity/v3" + path), 404)
    _error(admin.get("/identity/v3/no-such-collection"), 404)


def test_wrong_method_is_405(admin: httpx.Client) -> None:
    r = admin.put("/identity/v3/projects", json={})
    _error(r, 405)
    assert "GET" in r.headers["Allow"]


def test_no_token_is_401(cloud: LiveCloud) -> None:
    r = httpx.get(cloud.identity + "/projects")
    _error(r, 401)
    assert "WWW-Authenticate" in r.headers


def test_enabled_domain_cannot_be_deleted(admin: httpx.Client) -> None:
    d = admin.post("/identity/v3/domains", json={"domain": {"name": unique("d")}}).json()
    did = d["domain"]["id"]
    _error(admin.delete(f"/identity/v3/domains/{did}"), 403)
    admin.patch(f"/identity/v3/domains/{did}", json={"domain": {"enabled": False}})
    assert admin.delete(f"/identity/v3/domains/{did}").status_code == 204


def test_project_with_children_cannot_be_deleted(admin: httpx.Client) -> None:
    parent = admin.post("/identity/v3/projects", json={"project": {"name": unique("p")}})
    pid = parent.json()["project"]["id"]
    child = admin.post("/identity/v3/projects", json={"project": {"name": unique("c"),
                                                                  "parent_id": pid}})
    assert child.status_code == 201 and child.json()["project"]["parent_id"] == pid
    _error(admin.delete(f"/identity/v3/projects/{pid}"), 403)
    assert admin.delete(f"/identity/v3/projects/{child.json()['project']['id']}").status_code \
        == 204
    assert admin.delete(f"/identity/v3/projects/{pid}").status_code == 204


def test_domain_and_project_names_are_at_most_64(admin: httpx.Client) -> None:
    for path, key in (("/identity/v3/domains", "domain"), ("/identity/v3/projects", "project")):
        _error(admin.post(path, json={key: {"name": "n" * 65}}), 400)
        _error(admin.post(path, json={key: {"name": "   "}}), 400)
        ok = admin.post(path, json={key: {"name": unique()[:10] + "n" * 54}})
        assert ok.status_code == 201, ok.text
        _error(admin.patch(f"{path}/{ok.json()[key]['id']}", json={key: {"name": "n" * 65}}),
               400)
