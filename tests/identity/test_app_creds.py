"""Application credentials: expires_at echoed as given, access rules as shared, per-user rows."""

from __future__ import annotations

import datetime as dt

import httpx

from tests.conftest import LiveCloud, unique


def _user_client(cloud: LiveCloud, admin: httpx.Client) -> tuple[httpx.Client, str]:
    name = unique("ac")
    user = admin.post("/identity/v3/users", json={"user": {
        "name": name, "password": "ac-pw-1"}}).json()["user"]
    project = admin.get("/identity/v3/projects?name=demo").json()["projects"][0]
    role = admin.get("/identity/v3/roles?name=member").json()["roles"][0]
    admin.put(f"/identity/v3/projects/{project['id']}/users/{user['id']}/roles/{role['id']}")
    token, _ = cloud.token(name, "ac-pw-1", project="demo")
    return cloud.client(token), user["id"]


def test_expires_at_is_echoed_as_given(cloud: LiveCloud, admin: httpx.Client) -> None:
    client, uid = _user_client(cloud, admin)
    base = f"/identity/v3/users/{uid}/application_credentials"
    expires = (dt.datetime.now(dt.UTC).replace(tzinfo=None) + dt.timedelta(hours=1))
    r = client.post(base, json={"application_credential": {
        "name": unique("exp"), "expires_at": expires.isoformat()}})
    assert r.status_code == 201, r.text
    cred = r.json()["application_credential"]
    assert cred["expires_at"] == expires.strftime("%Y-%m-%dT%H:%M:%S.%f")
    # the roles it delegates are the global roles the token holds: no domain
    assert "member" in {r["name"] for r in cred["roles"]}
    assert all(r["domain_id"] is None for r in cred["roles"])
    got = client.get(f"{base}/{cred['id']}").json()["application_credential"]
    assert got["expires_at"] == cred["expires_at"]
    for bad in ("yesterday", "2001-01-01T00:00:00"):
        r = client.post(base, json={"application_credential": {
            "name": unique("exp"), "expires_at": bad}})
        assert r.status_code == 400, r.text


def test_access_rules_lifecycle(cloud: LiveCloud, admin: httpx.Client) -> None:
    client, uid = _user_client(cloud, admin)
    base = f"/identity/v3/users/{uid}"
    rule = {"service": "compute", "path": "/v2.1/servers/*/ips", "method": "GET"}
    r = client.post(f"{base}/application_credentials", json={"application_credential": {
        "name": unique("ar"), "access_rules": [rule]}})
    assert r.status_code == 201, r.text
    cred = r.json()["application_credential"]
    got = dict(cred["access_rules"][0])
    rule_id = got.pop("id")
    assert got == rule
    # an identical rule on a second credential is the same rule
    second = client.post(f"{base}/application_credentials", json={"application_credential": {
        "name": unique("ar"), "access_rules": [rule]}}).json()["application_credential"]
    assert second["access_rules"][0]["id"] == rule_id
    listed = client.get(f"{base}/access_rules")
    assert listed.status_code == 200
    assert [x["id"] for x in listed.json()["access_rules"]] == [rule_id]
    shown = client.get(f"{base}/access_rules/{rule_id}")
    assert shown.status_code == 200 and shown.json()["access_rule"]["service"] == "compute"
    # in use: 403; unused once both credentials are gone: deleted
    assert client.delete(f"{base}/access_rules/{rule_id}").status_code == 403
    for c in (cred, second):
        assert client.delete(f"{base}/application_credentials/{c['id']}").status_code == 204
    assert client.get(f"{base}/access_rules/{rule_id}").status_code == 200
    assert client.delete(f"{base}/access_rules/{rule_id}").status_code == 204
    assert client.get(f"{base}/access_rules/{rule_id}").status_code == 404
    assert client.get(f"{base}/access_rules").json()["access_rules"] == []
    # bad rules are 400
    for bad in ({"service": "compute", "path": "no-slash", "method": "GET"},
                {"service": "compute", "path": "/x", "method": "FETCH"},
                {"service": "compute", "path": "/x"}):
        r = client.post(f"{base}/application_credentials", json={"application_credential": {
            "name": unique("ar"), "access_rules": [bad]}})
        assert r.status_code == 400, r.text
    # another user's rules are not visible to this one
    other, _ = _user_client(cloud, admin)
    assert other.get(f"{base}/access_rules").status_code == 403
