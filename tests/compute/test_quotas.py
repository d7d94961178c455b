"""Quota sets and limits: shapes per microversion, usage, admin updates, bad input."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pocketstack.compute.domain import quotas
from tests.compute.kit import Caller, Harness

V21 = set(quotas.DEFAULTS)
V236 = V21 - {"floating_ips", "fixed_ips", "security_groups", "security_group_rules"}
V257 = V236 - {"injected_files", "injected_file_content_bytes", "injected_file_path_bytes"}


@pytest.fixture(scope="module")
def h(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    harness = Harness(tmp_path_factory.mktemp("quota"))
    yield harness
    harness.close()


def test_show_shapes_per_microversion(h: Harness) -> None:
    q = h.demo.get("/os-quota-sets/p-demo").json()["quota_set"]
    assert set(q) == V21 | {"id"} and q["id"] == "p-demo" and q["cores"] == 20
    assert set(h.demo.get("/os-quota-sets/p-demo", version="2.36").json()["quota_set"]) == (
        V236 | {"id"})
    assert set(h.demo.get("/os-quota-sets/p-demo", version="2.57").json()["quota_set"]) == (
        V257 | {"id"})
    d = h.demo.get("/os-quota-sets/p-demo/defaults", version="2.57").json()["quota_set"]
    assert d["instances"] == 10 and d["key_pairs"] == 100 and d["id"] == "p-demo"
    # another project's quota is not for members
    assert h.alt.get("/os-quota-sets/p-demo").status_code == 403
    assert h.admin.get("/os-quota-sets/p-demo").status_code == 200


def test_detail_counts_usage(h: Harness) -> None:
    h.add_instance(project_id="p-use", user_id="u-use", vcpus=2, ram=1024)
    h.add_instance(project_id="p-use", user_id="u-use", vcpus=2, ram=1024)
    d = h.admin.get("/os-quota-sets/p-use/detail", version="2.57").json()["quota_set"]
    assert d["instances"] == {"limit": 10, "in_use": 2, "reserved": 0}
    assert d["cores"]["in_use"] == 4 and d["ram"]["in_use"] == 2048
    assert set(d) == V257 | {"id"}
    user = Caller(h.client, "u-use", "p-use", "member,reader")
    lim = user.get("/limits").json()["limits"]
    assert lim["rate"] == []
    a = lim["absolute"]
    assert a["totalInstancesUsed"] == 2 and a["totalCoresUsed"] == 4
    assert a["totalRAMUsed"] == 2048 and a["maxTotalInstances"] == 10
    assert {"maxSecurityGroups", "maxImageMeta", "maxPersonality"} <= set(a)
    a57 = user.get("/limits", version="2.57").json()["limits"]["absolute"]
    assert set(a57) == {"maxTotalInstances", "maxTotalCores", "maxTotalRAMSize",
                        "maxServerMeta", "maxTotalKeypairs", "maxServerGroups",
                        "maxServerGroupMembers", "totalInstancesUsed", "totalCoresUsed",
                        "totalRAMUsed", "totalServerGroupsUsed"}
    a39 = user.get("/limits", version="2.39").json()["limits"]["absolute"]
    assert "maxImageMeta" not in a39 and "maxPersonality" in a39
    # other projects' limits are for admins
    assert user.get("/limits?tenant_id=p-demo").status_code == 403
    assert h.admin.get("/limits?tenant_id=p-use").json()["limits"]["absolute"][
        "totalInstancesUsed"] == 2


def test_update_and_delete(h: Harness) -> None:
    body = {"quota_set": {"instances": 50, "cores": "40", "force": True}}
    assert h.demo.put("/os-quota-sets/p-up", json=body).status_code == 403
    r = h.admin.put("/os-quota-sets/p-up", json=body, version="2.57")
    assert r.status_code == 200
    q = r.json()["quota_set"]
    assert "id" not in q and q["instances"] == 50 and q["cores"] == 40 and set(q) == V257
    assert h.admin.get("/os-quota-sets/p-up").json()["quota_set"]["instances"] == 50
    # per-user limit, bounded by the project's
    r = h.admin.put("/os-quota-sets/p-up?user_id=u1", json={"quota_set": {"instances": 5}})
    assert r.status_code == 200 and r.json()["quota_set"]["instances"] == 5
    assert h.admin.get("/os-quota-sets/p-up?user_id=u1").json()["quota_set"][
        "instances"] == 5
    assert h.admin.put("/os-quota-sets/p-up?user_id=u1",
                       json={"quota_set": {"instances": 51}}).status_code == 400
    assert h.admin.delete("/os-quota-sets/p-up").status_code == 202
    assert h.admin.get("/os-quota-sets/p-up").json()["quota_set"]["instances"] == 10
    # below usage without force
    h.add_instance(project_id="p-up2", vcpus=4)
    r = h.admin.put("/os-quota-sets/p-up2", json={"quota_set": {"cores": 2}})
    assert r.status_code == 400 and "already used" in r.json()["badRequest"]["message"]
    assert h.admin.put("/os-quota-sets/p-up2", json={"quota_set": {"cores": 2, "force": True}}
                       ).status_code == 200


@pytest.mark.parametrize(("version", "quota_set"), [
    ("2.1", {"instances": -2}),
    ("2.1", {"instances": "abc"}),
    ("2.1", {"bogus": 1}),
    ("2.36", {"floating_ips": 1}),
    ("2.57", {"injected_files": 1}),
    ("2.1", {"force": "maybe"}),
])
def test_update_rejects_bad_input(h: Harness, version: str,
                                  quota_set: dict[str, object]) -> None:
    r = h.admin.put("/os-quota-sets/p-bad", json={"quota_set": quota_set}, version=version)
    assert r.status_code == 400, r.text
    assert "badRequest" in r.json()
    assert h.admin.put("/os-quota-sets/p-bad", json={"nope": {}}).status_code == 400
    assert h.admin.put("/os-quota-sets/p-bad", content=b"{").status_code == 400
