"""Server group API: policies per microversion, members, quota, visibility."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pocketstack.compute.domain import server_groups
from tests.compute.kit import Harness


@pytest.fixture(scope="module")
def h(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    harness = Harness(tmp_path_factory.mktemp("sg"))
    yield harness
    harness.close()


def test_crud_and_shapes(h: Harness) -> None:
    r = h.demo.post("/os-server-groups", json={"server_group": {
        "name": "old", "policies": ["anti-affinity"]}})
    assert r.status_code == 200
    g = r.json()["server_group"]
    assert set(g) == {"id", "name", "policies", "members", "metadata"}
    assert g["policies"] == ["anti-affinity"] and g["members"] == [] and g["metadata"] == {}
    r = h.demo.post("/os-server-groups", json={"server_group": {
        "name": "new", "policy": "anti-affinity", "rules": {"max_server_per_host": 2}}},
        version="2.64")
    g2 = r.json()["server_group"]
    assert set(g2) == {"id", "name", "policy", "rules", "members", "project_id", "user_id"}
    assert g2["rules"] == {"max_server_per_host": 2} and g2["project_id"] == "p-demo"
    shown = h.demo.get(f"/os-server-groups/{g['id']}", version="2.13").json()["server_group"]
    assert shown["policies"] == ["anti-affinity"] and shown["user_id"] == "u-demo"
    uid = h.add_instance()
    h.db.write(server_groups.add_member, g["id"], uid)
    assert h.demo.get(f"/os-server-groups/{g['id']}").json()["server_group"]["members"] == [
        uid]
    names = [x["name"] for x in h.demo.get("/os-server-groups").json()["server_groups"]]
    assert names == ["old", "new"]
    assert [x["name"] for x in h.demo.get("/os-server-groups?limit=1&offset=1").json()[
        "server_groups"]] == ["new"]
    # other projects neither see nor delete it; admins see all with all_projects
    assert h.alt.get(f"/os-server-groups/{g['id']}").status_code == 404
    assert h.alt.delete(f"/os-server-groups/{g['id']}").status_code == 404
    assert h.alt.get("/os-server-groups").json()["server_groups"] == []
    assert h.alt.get("/os-server-groups?all_projects=True").json()["server_groups"] == []
    everyone = h.admin.get("/os-server-groups?all_projects=True").json()["server_groups"]
    assert {"old", "new"} <= {x["name"] for x in everyone}
    assert h.admin.get("/os-server-groups").json()["server_groups"] == []
    assert h.reader.delete(f"/os-server-groups/{g['id']}").status_code == 403
    assert h.demo.delete(f"/os-server-groups/{g['id']}").status_code == 204
    assert h.demo.get(f"/os-server-groups/{g['id']}").status_code == 404


@pytest.mark.parametrize(("version", "group"), [
    ("2.1", {"name": "x", "policies": ["soft-affinity"]}),
    ("2.15", {"name": "x", "policies": ["affinity", "anti-affinity"]}),
    ("2.15", {"name": "x", "policies": ["nope"]}),
    ("2.15", {"name": "x", "policy": "affinity"}),
    ("2.64", {"name": "x", "policies": ["affinity"]}),
    ("2.64", {"name": "x", "policy": "affinity", "rules": {"max_server_per_host": 2}}),
    ("2.64", {"name": "x", "policy": "anti-affinity", "rules": {"max_server_per_host": 0}}),
    ("2.64", {"name": "x", "policy": "anti-affinity", "rules": {"other": 1}}),
    ("2.64", {"name": "", "policy": "affinity"}),
    ("2.64", {"policy": "affinity"}),
])
def test_bad_input(h: Harness, version: str, group: dict[str, object]) -> None:
    r = h.demo.post("/os-server-groups", json={"server_group": group}, version=version)
    assert r.status_code == 400, (group, r.text)
    assert "badRequest" in r.json()


def test_soft_policies_and_quota(h: Harness) -> None:
    h.admin.put("/os-quota-sets/p-alt", json={"quota_set": {"server_groups": 1}})
    r = h.alt.post("/os-server-groups", json={"server_group": {
        "name": "soft", "policies": ["soft-anti-affinity"]}}, version="2.15")
    assert r.status_code == 200
    r = h.alt.post("/os-server-groups", json={"server_group": {
        "name": "over", "policies": ["affinity"]}}, version="2.15")
    assert r.status_code == 403
    assert r.json()["forbidden"]["message"] == "Quota exceeded, too many server groups."
    assert h.alt.get("/limits").json()["limits"]["absolute"]["totalServerGroupsUsed"] == 1
