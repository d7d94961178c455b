"""OS-TRUST (trusts and trust-scoped tokens) and OS-EC2 credentials."""

from __future__ import annotations

import datetime as dt

import httpx

from tests.conftest import LiveCloud, unique

V3 = "/identity/v3"


def _trust_setup(cloud: LiveCloud, admin: httpx.Client) -> dict[str, str]:
    """A trustor with two roles on a fresh project, and a trustee (both with passwords)."""
    project = admin.post(f"{V3}/projects", json={"project": {"name": unique("tp")}}).json()[
        "project"]
    out = {"project": project["id"]}
    for who in ("trustor", "trustee"):
        name = unique(who)
        out[who] = admin.post(f"{V3}/users", json={"user": {
            "name": name, "password": f"{who}-pw-1"}}).json()["user"]["id"]
        out[f"{who}_name"] = name
    for key in ("delegated", "kept"):
        role = admin.post(f"{V3}/roles", json={"role": {"name": unique(key)}}).json()["role"]
        out[key] = role["id"]
        out[f"{key}_name"] = role["name"]
        assert admin.put(f"{V3}/projects/{project['id']}/users/{out['trustor']}/roles/"
                         f"{role['id']}").status_code == 204
    return out


def _token(cloud: LiveCloud, user_id: str, password: str, scope: object) -> httpx.Response:
    return httpx.post(cloud.identity + "/auth/tokens", json={"auth": {"identity": {
        "methods": ["password"], "password": {"user": {"id": user_id, "password": password}}},
        "scope": scope}})


def test_trust_crud_and_roles(cloud: LiveCloud, admin: httpx.Client) -> None:
    s = _trust_setup(cloud, admin)
    trustor_tok = _token(cloud, s["trustor"], "trustor-pw-1", {"project": {"id": s["project"]}})
    with cloud.client(trustor_tok.headers["X-Subject-Token"]) as trustor:
        expires = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).replace(
            microsecond=0, tzinfo=None)
        body = {"trust": {"trustor_user_id": s["trustor"], "trustee_user_id": s["trustee"],
                          "project_id": s["project"], "impersonation": False,
                          "roles": [{"name": s["delegated_name"]}],
                          "expires_at": expires.isoformat() + "Z"}}
        r = trustor.post(f"{V3}/OS-TRUST/trusts", json=body)
        assert r.status_code == 201, r.text
        trust = r.json()["trust"]
        assert trust["expires_at"] == expires.isoformat() + ".000000Z"
        assert [x["id"] for x in trust["roles"]] == [s["delegated"]]
        tid = trust["id"]
        assert trustor.get(f"{V3}/OS-TRUST/trusts/{tid}").json()["trust"]["id"] == tid
        listed = trustor.get(f"{V3}/OS-TRUST/trusts/",
                             params={"trustor_user_id": s["trustor"]}).json()["trusts"]
        assert [x["id"] for x in listed] == [tid]
        roles = trustor.get(f"{V3}/OS-TRUST/trusts/{tid}/roles").json()["roles"]
        assert [x["id"] for x in roles] == [s["delegated"]]
        assert trustor.head(f"{V3}/OS-TRUST/trusts/{tid}/roles/{s['delegated']}"
                            ).status_code == 200
        assert trustor.get(f"{V3}/OS-TRUST/trusts/{tid}/roles/{s['kept']}").status_code == 404
        # without a filter only an admin may list; nobody may trust on another's behalf
        assert trustor.get(f"{V3}/OS-TRUST/trusts").status_code == 403
        assert admin.get(f"{V3}/OS-TRUST/trusts").status_code == 200
        assert admin.post(f"{V3}/OS-TRUST/trusts", json=body).status_code == 403
        for bad in ({"expires_at": "bad.123Z"}, {"impersonation": "yes"},
                    {"remaining_uses": 0}, {"roles": []}):
            r = trustor.post(f"{V3}/OS-TRUST/trusts",
                             json={"trust": {**body["trust"], **bad}})
            assert r.status_code == 400, (bad, r.text)
        r = trustor.post(f"{V3}/OS-TRUST/trusts", json={"trust": {
            **body["trust"], "roles": [{"id": admin.get(f"{V3}/roles?name=admin").json()[
                "roles"][0]["id"]}]}})
        assert r.status_code == 403  # the trustor does not hold admin there
        assert trustor.delete(f"{V3}/OS-TRUST/trusts/{tid}").status_code == 204
        assert trustor.get(f"{V3}/OS-TRUST/trusts/{tid}").status_code == 404


def test_trust_scoped_tokens(cloud: LiveCloud, admin: httpx.Client) -> None:
    s = _trust_setup(cloud, admin)
    trustor_tok = _token(cloud, s["trustor"], "trustor-pw-1",
                         {"project": {"id": s["project"]}}).headers["X-Subject-Token"]
    with cloud.client(trustor_tok) as trustor:
        def trust(impersonation: bool, uses: int | None = None) -> str:
            r = trustor.post(f"{V3}/OS-TRUST/trusts", json={"trust": {
                "trustor_user_id": s["trustor"], "trustee_user_id": s["trustee"],
                "project_id": s["project"], "impersonation": impersonation,
                "remaining_uses": uses, "roles": [{"id": s["delegated"]}]}})
            assert r.status_code == 201, r.text
            return str(r.json()["trust"]["id"])

        plain, imp, once = trust(False), trust(True), trust(False, 1)
    scope = {"OS-TRUST:trust": {"id": plain}}
    r = _token(cloud, s["trustee"], "trustee-pw-1", scope)
    assert r.status_code == 201, r.text
    tok = r.json()["token"]
    assert tok["user"]["id"] == s["trustee"]
    assert tok["project"]["id"] == s["project"]
    assert [x["id"] for x in tok["roles"]] == [s["delegated"]]
    assert tok["OS-TRUST:trust"] == {"id": plain, "impersonation": False,
                                     "trustee_user": {"id": s["trustee"]},
                                     "trustor_user": {"id": s["trustor"]}}
    trust_token = r.headers["X-Subject-Token"]
    # the token validates, cannot be rescoped, cannot redelegate
    shown = admin.get(f"{V3}/auth/tokens", headers={"X-Subject-Token": trust_token})
    assert shown.status_code == 200 and shown.json()["token"]["OS-TRUST:trust"]["id"] == plain
    rescope = httpx.post(cloud.identity + "/auth/tokens", json={"auth": {"identity": {
        "methods": ["token"], "token": {"id": trust_token}},
        "scope": {"project": {"id": s["project"]}}}})
    assert rescope.status_code == 403
    with cloud.client(trust_token) as trustee:
        assert trustee.post(f"{V3}/OS-TRUST/trusts", json={"trust": {
            "trustor_user_id": s["trustee"], "trustee_user_id": s["trustor"],
            "impersonation": False}}).status_code == 403
    # only the trustee may use it
    assert _token(cloud, s["trustor"], "trustor-pw-1", scope).status_code == 403
    # impersonation: the token is the trustor's
    r = _token(cloud, s["trustee"], "trustee-pw-1", {"OS-TRUST:trust": {"id": imp}})
    assert r.status_code == 201 and r.json()["token"]["user"]["id"] == s["trustor"]
    # remaining_uses
    assert _token(cloud, s["trustee"], "trustee-pw-1",
                  {"OS-TRUST:trust": {"id": once}}).status_code == 201
    assert _token(cloud, s["trustee"], "trustee-pw-1",
                  {"OS-TRUST:trust": {"id": once}}).status_code == 403
    # the trustor losing the delegated role ends the trust's tokens; so does deleting it
    assert admin.delete(f"{V3}/projects/{s['project']}/users/{s['trustor']}/roles/"
                        f"{s['delegated']}").status_code == 204
    assert admin.get(f"{V3}/auth/tokens",
                     headers={"X-Subject-Token": trust_token}).status_code == 404
    assert _token(cloud, s["trustee"], "trustee-pw-1", scope).status_code == 401
    assert admin.delete(f"{V3}/OS-TRUST/trusts/{plain}").status_code == 204
    assert _token(cloud, s["trustee"], "trustee-pw-1", scope).status_code == 404


def test_ec2_credentials(cloud: LiveCloud, admin: httpx.Client) -> None:
    token, body = cloud.token("demo", project="demo")
    uid, pid = body["user"]["id"], body["project"]["id"]
    base = f"{V3}/users/{uid}/credentials/OS-EC2"
    with cloud.client(token) as demo:
        r = demo.post(base, json={"tenant_id": pid})
        assert r.status_code == 201, r.text
        cred = r.json()["credential"]
        assert cred["access"] and cred["secret"]
        assert cred["user_id"] == uid and cred["tenant_id"] == pid
        shown = demo.get(f"{base}/{cred['access']}").json()["credential"]
        assert {k: shown[k] for k in ("access", "secret", "user_id", "tenant_id")} == {
            k: cred[k] for k in ("access", "secret", "user_id", "tenant_id")}
        assert cred["access"] in [c["access"] for c in demo.get(base).json()["credentials"]]
        # the same key through the generic credentials API
        generic = admin.get(f"{V3}/credentials", params={"user_id": uid, "type": "ec2"})
        assert any(cred["access"] in c["blob"] for c in generic.json()["credentials"])
        assert demo.post(base, json={}).status_code == 400
        assert demo.post(base, json={"tenant_id": "nope"}).status_code == 404
        admin_uid = cloud.token()[1]["user"]["id"]
        assert demo.get(f"{V3}/users/{admin_uid}/credentials/OS-EC2").status_code == 403
        assert demo.delete(f"{base}/{cred['access']}").status_code == 204
        assert demo.get(f"{base}/{cred['access']}").status_code == 404
