"""CRUD and filters of the Keystone resources over HTTP."""

from __future__ import annotations

import json

import httpx

from tests.conftest import LiveCloud, unique

V3 = "/identity/v3"


def test_domain_scoped_admin_manages_its_domain(cloud: LiveCloud, admin: httpx.Client) -> None:
    dom = admin.post(f"{V3}/domains", json={"domain": {"name": unique("dom")}}).json()["domain"]
    user = admin.post(f"{V3}/users", json={"user": {
        "name": unique("dadmin"), "domain_id": dom["id"], "password": "dom-pw-1"}}).json()["user"]
    admin_role = admin.get(f"{V3}/roles?name=admin").json()["roles"][0]
    assert admin.put(f"{V3}/domains/{dom['id']}/users/{user['id']}/roles/"
                     f"{admin_role['id']}").status_code == 204
    token, body = cloud.token(user["name"], "dom-pw-1", domain=dom["name"],
                              scope={"domain": {"id": dom["id"]}})
    assert body["domain"]["id"] == dom["id"]
    with cloud.client(token) as c:
        created = c.post(f"{V3}/projects", json={"project": {"name": unique("dp")}})
        assert created.status_code == 201
        assert created.json()["project"]["domain_id"] == dom["id"]
        listed = c.get(f"{V3}/projects?domain_id={dom['id']}").json()["projects"]
        assert len(listed) == 1


def test_project_tags_and_filters(admin: httpx.Client) -> None:
    name = unique("tagged")
    p = admin.post(f"{V3}/projects", json={"project": {"name": name, "tags": ["a", "b"]}})
    pid = p.json()["project"]["id"]
    assert admin.put(f"{V3}/projects/{pid}/tags/c").status_code == 201
    assert sorted(admin.get(f"{V3}/projects/{pid}/tags").json()["tags"]) == ["a", "b", "c"]
    assert admin.get(f"{V3}/projects/{pid}/tags/b").status_code == 204
    assert admin.delete(f"{V3}/projects/{pid}/tags/b").status_code == 204
    assert admin.get(f"{V3}/projects/{pid}/tags/b").status_code == 404
    found = admin.get(f"{V3}/projects", params={"tags": "a,c"}).json()["projects"]
    assert [p["name"] for p in found] == [name]
    part = name[3:9]
    found = admin.get(f"{V3}/projects", params={"name__contains": part}).json()["projects"]
    assert name in [p["name"] for p in found]


def test_implied_roles(admin: httpx.Client) -> None:
    a = admin.post(f"{V3}/roles", json={"role": {"name": unique("ra")}}).json()["role"]
    b = admin.post(f"{V3}/roles", json={"role": {"name": unique("rb")}}).json()["role"]
    r = admin.put(f"{V3}/roles/{a['id']}/implies/{b['id']}")
    assert r.status_code == 201
    assert r.json()["role_inference"]["implies"]["id"] == b["id"]
    assert admin.head(f"{V3}/roles/{a['id']}/implies/{b['id']}").status_code == 204
    listed = admin.get(f"{V3}/roles/{a['id']}/implies").json()["role_inference"]
    assert [x["id"] for x in listed["implies"]] == [b["id"]]
    rules = admin.get(f"{V3}/role_inferences").json()["role_inferences"]
    assert any(x["prior_role"]["id"] == a["id"] for x in rules)
    # a cycle is refused
    assert admin.put(f"{V3}/roles/{b['id']}/implies/{a['id']}").status_code == 409
    admin_role = admin.get(f"{V3}/roles?name=admin").json()["roles"][0]
    assert admin.put(f"{V3}/roles/{a['id']}/implies/{admin_role['id']}").status_code == 403
    assert admin.delete(f"{V3}/roles/{a['id']}/implies/{b['id']}").status_code == 204
    assert admin.head(f"{V3}/roles/{a['id']}/implies/{b['id']}").status_code == 404


def test_inherited_group_grant_is_effective(cloud: LiveCloud, admin: httpx.Client) -> None:
    parent = admin.post(f"{V3}/projects", json={"project": {"name": unique("par")}}).json()
    pid = parent["project"]["id"]
    child = admin.post(f"{V3}/projects", json={"project": {"name": unique("kid"),
                                                           "parent_id": pid}}).json()
    cid = child["project"]["id"]
    user = admin.post(f"{V3}/users", json={"user": {"name": unique("inh"),
                                                    "password": "inh-pw-1"}}).json()["user"]
    group = admin.post(f"{V3}/groups", json={"group": {"name": unique("g")}}).json()["group"]
    assert admin.put(f"{V3}/groups/{group['id']}/users/{user['id']}").status_code == 204
    member = admin.get(f"{V3}/roles?name=member").json()["roles"][0]
    r = admin.put(f"{V3}/OS-INHERIT/projects/{pid}/groups/{group['id']}/roles/"
                  f"{member['id']}/inherited_to_projects")
    assert r.status_code == 204
    _, body = cloud.token(user["name"], "inh-pw-1", scope={"project": {"id": cid}})
    assert {r["name"] for r in body["roles"]} == {"member", "reader"}
    eff = admin.get(f"{V3}/role_assignments",
                    params={"user.id": user["id"], "effective": ""}).json()["role_assignments"]
    assert {(a["scope"]["project"]["id"], a["role"]["id"]) for a in eff} >= {
        (cid, member["id"])}
    assert all("membership" in a["links"] for a in eff)
    assert admin.delete(f"{V3}/groups/{group['id']}/users/{user['id']}").status_code == 204
    r = httpx.post(cloud.identity + "/auth/tokens", json={"auth": {"identity": {
        "methods": ["password"], "password": {"user": {"id": user["id"],
                                                       "password": "inh-pw-1"}}},
        "scope": {"project": {"id": cid}}}})
    assert r.status_code == 401


def test_regions_services_endpoints(admin: httpx.Client) -> None:
    rid = unique("reg")
    assert admin.put(f"{V3}/regions/{rid}", json={"region": {"description": "x"}}).status_code \
        == 201
    child = admin.post(f"{V3}/regions", json={"region": {"parent_region_id": rid}}).json()
    assert child["region"]["parent_region_id"] == rid
    assert admin.delete(f"{V3}/regions/{rid}").status_code == 403
    svc = admin.post(f"{V3}/services", json={"service": {"type": "dns", "name": unique()}})
    sid = svc.json()["service"]["id"]
    ep = admin.post(f"{V3}/endpoints", json={"endpoint": {
        "service_id": sid, "interface": "internal", "url": "http://dns.example/",
        "region_id": rid}})
    assert ep.status_code == 201
    eid = ep.json()["endpoint"]["id"]
    got = admin.get(f"{V3}/endpoints", params={"service_id": sid}).json()["endpoints"]
    assert [e["id"] for e in got] == [eid]
    upd = admin.patch(f"{V3}/endpoints/{eid}", json={"endpoint": {"enabled": False}})
    assert upd.json()["endpoint"]["enabled"] is False
    assert admin.delete(f"{V3}/services/{sid}").status_code == 204
    assert admin.get(f"{V3}/endpoints/{eid}").status_code == 404


def test_credentials(admin: httpx.Client, cloud: LiveCloud) -> None:
    _, body = cloud.token()
    uid, pid = body["user"]["id"], body["project"]["id"]
    blob = json.dumps({"access": unique("ak"), "secret": "s"})
    r = admin.post(f"{V3}/credentials", json={"credential": {
        "type": "ec2", "blob": blob, "user_id": uid, "project_id": pid}})
    assert r.status_code == 201
    cid = r.json()["credential"]["id"]
    assert len(cid) == 64
    assert admin.post(f"{V3}/credentials", json={"credential": {
        "type": "ec2", "blob": "not json", "user_id": uid, "project_id": pid}}).status_code == 400
    assert admin.get(f"{V3}/credentials/{cid}").json()["credential"]["blob"] == blob
    assert admin.delete(f"{V3}/credentials/{cid}").status_code == 204


def test_grant_listing_on_every_target(cloud: LiveCloud, admin: httpx.Client) -> None:
    """GET .../roles on project, domain, system and OS-INHERIT grants (identity:list_grants)."""
    _, tok = cloud.token()
    pid = tok["project"]["id"]
    user = admin.post(f"{V3}/users", json={"user": {"name": unique("gl")}}).json()["user"]
    group = admin.post(f"{V3}/groups", json={"group": {"name": unique("gl")}}).json()["group"]
    role = admin.post(f"{V3}/roles", json={"role": {"name": unique("gl")}}).json()["role"]
    bases = [f"{V3}/projects/{pid}/users/{user['id']}",
             f"{V3}/projects/{pid}/groups/{group['id']}",
             f"{V3}/domains/default/users/{user['id']}",
             f"{V3}/domains/default/groups/{group['id']}",
             f"{V3}/system/users/{user['id']}",
             f"{V3}/system/groups/{group['id']}"]
    for base in bases:
        assert admin.put(f"{base}/roles/{role['id']}").status_code == 204, base
        listed = admin.get(f"{base}/roles")
        assert listed.status_code == 200, (base, listed.text)
        assert [r["id"] for r in listed.json()["roles"]] == [role["id"]]
    inh = f"{V3}/OS-INHERIT/domains/default/users/{user['id']}/roles"
    assert admin.put(f"{inh}/{role['id']}/inherited_to_projects").status_code == 204
    listed = admin.get(f"{inh}/inherited_to_projects")
    assert listed.status_code == 200 and listed.json()["roles"][0]["id"] == role["id"]


def test_every_enforced_grant_rule_is_registered() -> None:
    from pocketstack.identity.api.assignments import _rule
    from pocketstack.identity.policies import RULES

    names = {r.name for r in RULES}
    for kind in ("project", "domain", "system"):
        for action in ("list", "check", "create", "revoke"):
            assert _rule(kind, action) in names


def test_legacy_endpoint_region_is_created(admin: httpx.Client) -> None:
    """Keystone auto-creates the region named by the v2-style ``region`` field."""
    sid = admin.post(f"{V3}/services", json={"service": {"type": unique("leg")}}).json()[
        "service"]["id"]
    region = unique("legreg")
    ep = admin.post(f"{V3}/endpoints", json={"endpoint": {
        "service_id": sid, "interface": "public", "url": "http://leg.example/",
        "region": region}})
    assert ep.status_code == 201, ep.text
    assert ep.json()["endpoint"]["region_id"] == region
    assert ep.json()["endpoint"]["region"] == region
    assert admin.get(f"{V3}/regions/{region}").status_code == 200
    other = unique("legreg2")
    upd = admin.patch(f"{V3}/endpoints/{ep.json()['endpoint']['id']}",
                      json={"endpoint": {"region": other, "enabled": False}})
    assert upd.status_code == 200, upd.text
    assert upd.json()["endpoint"]["region_id"] == other
    # region_id, unlike region, must name an existing region
    bad = admin.post(f"{V3}/endpoints", json={"endpoint": {
        "service_id": sid, "interface": "public", "url": "http://leg.example/",
        "region_id": unique("missing")}})
    assert bad.status_code == 400
    assert admin.delete(f"{V3}/services/{sid}").status_code == 204


def test_effective_assignments_hide_domain_specific_roles(admin: httpx.Client) -> None:
    dom = admin.post(f"{V3}/domains", json={"domain": {"name": unique("dsr")}}).json()["domain"]
    proj = admin.post(f"{V3}/projects", json={"project": {
        "name": unique("dsr"), "domain_id": dom["id"]}}).json()["project"]
    user = admin.post(f"{V3}/users", json={"user": {
        "name": unique("dsr"), "domain_id": dom["id"]}}).json()["user"]
    dsr = admin.post(f"{V3}/roles", json={"role": {
        "name": unique("dsr"), "domain_id": dom["id"]}}).json()["role"]
    glob = admin.post(f"{V3}/roles", json={"role": {"name": unique("glob")}}).json()["role"]
    assert dsr["domain_id"] == dom["id"] and glob["domain_id"] is None
    assert admin.put(f"{V3}/roles/{dsr['id']}/implies/{glob['id']}").status_code == 201
    assert admin.put(f"{V3}/projects/{proj['id']}/users/{user['id']}/roles/"
                     f"{dsr['id']}").status_code == 204
    params = {"scope.project.id": proj["id"], "user.id": user["id"]}
    direct = admin.get(f"{V3}/role_assignments", params=params).json()["role_assignments"]
    assert [a["role"]["id"] for a in direct] == [dsr["id"]]
    eff = admin.get(f"{V3}/role_assignments", params={**params, "effective": ""})
    assert [a["role"]["id"] for a in eff.json()["role_assignments"]] == [glob["id"]]
