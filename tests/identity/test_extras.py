"""Domain configuration, OS-OAUTH1 consumers, policies, OS-EP-FILTER and is_domain projects."""

from __future__ import annotations

import httpx

from tests.conftest import LiveCloud, unique

V3 = "/identity/v3"


def _domain(admin: httpx.Client) -> str:
    return str(admin.post(f"{V3}/domains", json={"domain": {"name": unique("cfg")}})
               .json()["domain"]["id"])


def test_domain_config_lifecycle(admin: httpx.Client) -> None:
    did = _domain(admin)
    base = f"{V3}/domains/{did}/config"
    assert admin.get(base).status_code == 404
    config = {"identity": {"driver": "ldap"},
              "ldap": {"url": "ldap://x:389/", "user_tree_dn": "ou=Users", "password": "s3"}}
    r = admin.put(base, json={"config": config})
    assert r.status_code == 201, r.text
    shown = {"identity": {"driver": "ldap"},
             "ldap": {"url": "ldap://x:389/", "user_tree_dn": "ou=Users"}}
    assert r.json()["config"] == shown  # the sensitive password is stored, never shown
    assert admin.get(base).json()["config"] == shown
    assert admin.get(f"{base}/ldap").json()["config"] == {"ldap": shown["ldap"]}
    assert admin.get(f"{base}/ldap/url").json()["config"] == {"url": "ldap://x:389/"}
    assert admin.get(f"{base}/ldap/password").status_code == 404
    # PUT again replaces (200), PATCH merges
    assert admin.put(base, json={"config": config}).status_code == 200
    r = admin.patch(base, json={"config": {"identity": {"list_limit": 5}}})
    assert r.json()["config"]["identity"] == {"driver": "ldap", "list_limit": 5}
    r = admin.patch(f"{base}/identity/driver", json={"config": {"driver": "sql"}})
    assert r.status_code == 200 and r.json()["config"]["identity"]["driver"] == "sql"
    # a group/option in the URL must exist and be the only thing in the body
    assert admin.patch(f"{base}/identity/driver",
                       json={"config": {"list_limit": 3}}).status_code == 403
    assert admin.patch(f"{base}/ldap/suffix",
                       json={"config": {"suffix": "x"}}).status_code == 404
    # unsupported groups/options are 403 (keystone's InvalidDomainConfig)
    assert admin.put(base, json={"config": {"nova": {"x": 1}}}).status_code == 403
    assert admin.put(base, json={"config": {"ldap": {"nope": 1}}}).status_code == 403
    assert admin.put(base, json={"config": {}}).status_code == 403
    assert admin.put(base, json={"cfg": {}}).status_code == 400
    assert admin.delete(f"{base}/identity/driver").status_code == 204
    assert admin.get(f"{base}/identity/driver").status_code == 404
    assert admin.delete(f"{base}/identity").status_code == 204
    assert admin.get(f"{base}/identity").status_code == 404
    assert admin.delete(f"{base}/identity").status_code == 404
    assert admin.delete(base).status_code == 204
    assert admin.get(base).status_code == 404
    assert admin.get(f"{V3}/domains/nope/config").status_code == 404


def test_domain_config_defaults_and_security_compliance(admin: httpx.Client) -> None:
    full = admin.get(f"{V3}/domains/config/default").json()["config"]
    assert full["identity"] == {"driver": "sql", "list_limit": None}
    assert full["ldap"]["url"] == "ldap://localhost"
    assert admin.get(f"{V3}/domains/config/ldap/default").json()["config"] == {
        "ldap": full["ldap"]}
    assert admin.get(f"{V3}/domains/config/identity/driver/default").json()["config"] == {
        "driver": "sql"}
    assert admin.get(f"{V3}/domains/config/ldap/password/default").status_code == 403
    assert admin.get(f"{V3}/domains/config/nova/default").status_code == 403
    sc = admin.get(f"{V3}/domains/default/config/security_compliance")
    assert sc.status_code == 200
    assert set(sc.json()["config"]["security_compliance"]) == {
        "password_regex", "password_regex_description"}


def test_oauth1_consumers(admin: httpx.Client) -> None:
    base = f"{V3}/OS-OAUTH1/consumers"
    r = admin.post(base, json={"consumer": {"description": "first"}})
    assert r.status_code == 201, r.text
    consumer = r.json()["consumer"]
    assert consumer["secret"] and consumer["description"] == "first"
    shown = admin.get(f"{base}/{consumer['id']}").json()["consumer"]
    assert "secret" not in shown and shown["links"] == consumer["links"]
    assert consumer["id"] in [c["id"] for c in admin.get(base).json()["consumers"]]
    r = admin.patch(f"{base}/{consumer['id']}", json={"consumer": {"description": "second"}})
    assert r.json()["consumer"]["description"] == "second"
    assert admin.patch(f"{base}/{consumer['id']}",
                       json={"consumer": {"secret": "mine"}}).status_code == 400
    assert admin.delete(f"{base}/{consumer['id']}").status_code == 204
    assert admin.get(f"{base}/{consumer['id']}").status_code == 404


def test_policies(admin: httpx.Client) -> None:
    kind = unique("ptype")
    r = admin.post(f"{V3}/policies", json={"policy": {"blob": "{}", "type": kind}})
    assert r.status_code == 201, r.text
    pid = r.json()["policy"]["id"]
    assert admin.post(f"{V3}/policies", json={"policy": {"type": kind}}).status_code == 400
    listed = admin.get(f"{V3}/policies", params={"type": kind}).json()["policies"]
    assert [p["id"] for p in listed] == [pid]
    r = admin.patch(f"{V3}/policies/{pid}", json={"policy": {"type": kind + "2"}})
    assert r.json()["policy"]["type"] == kind + "2"
    assert admin.get(f"{V3}/policies/{pid}").json()["policy"]["blob"] == "{}"
    assert admin.delete(f"{V3}/policies/{pid}").status_code == 204
    assert admin.get(f"{V3}/policies/{pid}").status_code == 404


def test_member_cannot_write_policies_or_consumers(cloud: LiveCloud) -> None:
    token, _ = cloud.token("demo", project="demo")
    with cloud.client(token) as demo:
        assert demo.post(f"{V3}/policies", json={"policy": {
            "blob": "{}", "type": "x"}}).status_code == 403
        assert demo.post(f"{V3}/OS-OAUTH1/consumers", json={"consumer": {}}).status_code == 403
        assert demo.get(f"{V3}/domains/default/config").status_code == 403


def test_endpoint_groups_and_project_associations(admin: httpx.Client) -> None:
    sid = admin.post(f"{V3}/services", json={"service": {"type": unique("epf")}}).json()[
        "service"]["id"]
    eid = admin.post(f"{V3}/endpoints", json={"endpoint": {
        "service_id": sid, "interface": "public", "url": "http://epf.example/"}}).json()[
        "endpoint"]["id"]
    pid = admin.post(f"{V3}/projects", json={"project": {"name": unique("epf")}}).json()[
        "project"]["id"]
    base = f"{V3}/OS-EP-FILTER/endpoint_groups"
    r = admin.post(base, json={"endpoint_group": {
        "name": unique("eg"), "description": "d", "filters": {"service_id": sid}}})
    assert r.status_code == 201, r.text
    group = r.json()["endpoint_group"]
    gid = group["id"]
    assert group in admin.get(base).json()["endpoint_groups"]
    assert admin.head(f"{base}/{gid}").status_code == 200
    assert [e["id"] for e in admin.get(f"{base}/{gid}/endpoints").json()["endpoints"]] == [eid]
    for bad in ({"name": "x", "filters": {"colour": "red"}},
                {"name": "x"}, {"name": "x", "filters": {"interface": "sideways"}}):
        assert admin.post(base, json={"endpoint_group": bad}).status_code == 400, bad
    # an empty filter is accepted, as Keystone does: the group holds every endpoint
    r = admin.post(base, json={"endpoint_group": {"name": unique("eg-all"), "filters": {}}})
    assert r.status_code == 201, r.text
    everything = f"{base}/{r.json()['endpoint_group']['id']}"
    assert r.json()["endpoint_group"]["filters"] == {}
    assert {e["id"] for e in admin.get(f"{everything}/endpoints").json()["endpoints"]} == \
        {e["id"] for e in admin.get(f"{V3}/endpoints").json()["endpoints"]}
    assert admin.delete(everything).status_code == 204
    r = admin.patch(f"{base}/{gid}", json={"endpoint_group": {"filters": {
        "service_id": sid, "interface": "public"}, "name": "renamed"}})
    assert r.status_code == 200 and r.json()["endpoint_group"]["name"] == "renamed"
    # group <-> project
    assoc = f"{base}/{gid}/projects/{pid}"
    assert admin.get(assoc).status_code == 404
    assert admin.put(assoc).status_code == 204
    assert admin.put(assoc).status_code == 409
    assert admin.get(assoc).json()["project_endpoint_group"]["project_id"] == pid
    assert [p["id"] for p in admin.get(f"{base}/{gid}/projects").json()["projects"]] == [pid]
    proj = f"{V3}/OS-EP-FILTER/projects/{pid}"
    assert [g["id"] for g in admin.get(f"{proj}/endpoint_groups").json()[
        "endpoint_groups"]] == [gid]
    assert [e["id"] for e in admin.get(f"{proj}/endpoints").json()["endpoints"]] == [eid]
    assert admin.delete(assoc).status_code == 204
    assert admin.get(f"{proj}/endpoints").json()["endpoints"] == []
    # endpoint <-> project
    assert admin.get(f"{proj}/endpoints/{eid}").status_code == 404
    assert admin.put(f"{proj}/endpoints/{eid}").status_code == 204
    assert admin.get(f"{proj}/endpoints/{eid}").status_code == 204
    assert [p["id"] for p in admin.get(f"{V3}/OS-EP-FILTER/endpoints/{eid}/projects").json()[
        "projects"]] == [pid]
    assert admin.delete(f"{proj}/endpoints/{eid}").status_code == 204
    assert admin.put(f"{proj}/endpoints/nope").status_code == 404
    assert admin.delete(f"{base}/{gid}").status_code == 204
    assert admin.get(f"{base}/{gid}").status_code == 404
    assert admin.delete(f"{V3}/services/{sid}").status_code == 204


def test_is_domain_project_is_a_domain(admin: httpx.Client) -> None:
    name = unique("isdom")
    r = admin.post(f"{V3}/projects", json={"project": {
        "name": name, "domain_id": None, "is_domain": True, "description": "d"}})
    assert r.status_code == 201, r.text
    project = r.json()["project"]
    assert project["is_domain"] is True and project["domain_id"] is None
    pid = project["id"]
    # one entity, seen through both APIs
    assert admin.get(f"{V3}/domains/{pid}").json()["domain"]["name"] == name
    listed = admin.get(f"{V3}/projects", params={"is_domain": "True"}).json()["projects"]
    assert pid in [p["id"] for p in listed]
    assert pid not in [p["id"] for p in admin.get(f"{V3}/projects").json()["projects"]]
    assert admin.get(f"{V3}/projects/{pid}").json()["project"]["is_domain"] is True
    # projects can live in it
    child = admin.post(f"{V3}/projects", json={"project": {"name": unique(), "domain_id": pid}})
    assert child.status_code == 201
    assert admin.delete(f"{V3}/projects/{pid}").status_code == 403  # still enabled
    r = admin.patch(f"{V3}/projects/{pid}", json={"project": {"enabled": False}})
    assert r.status_code == 200 and r.json()["project"]["enabled"] is False
    assert admin.get(f"{V3}/domains/{pid}").json()["domain"]["enabled"] is False
    assert admin.delete(f"{V3}/projects/{pid}").status_code == 204
    assert admin.get(f"{V3}/domains/{pid}").status_code == 404
    bad = admin.post(f"{V3}/projects", json={"project": {
        "name": unique(), "is_domain": True, "domain_id": "default"}})
    assert bad.status_code == 400
