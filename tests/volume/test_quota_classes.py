"""``os-quota-class-sets``: the ``default`` class sets every project's default limits (over the
settings), per-volume-type limits (``volumes_<type>`` …) appear for every type and are enforced;
with the stock CLI (``openstack quota set --class``) and over HTTP."""

from __future__ import annotations

import httpx

from tests.conftest import LiveCloud, unique
from tests.volume.conftest import wait_volume

V = "/volume/v3"
KEYS = ("volumes", "snapshots", "gigabytes", "backups", "backup_gigabytes",
        "per_volume_gigabytes", "groups")


def test_default_class_sets_project_defaults(cloud: LiveCloud, admin: httpx.Client,
                                             demo: httpx.Client) -> None:
    before = admin.get(f"{V}/os-quota-class-sets/default").json()["quota_class_set"]
    assert before["id"] == "default" and all(isinstance(before[k], int) for k in KEYS)
    vtype = admin.post(f"{V}/types", json={"volume_type": {"name": unique("qc")}}).json()[
        "volume_type"]
    try:
        shown = admin.get(f"{V}/os-quota-class-sets/default").json()["quota_class_set"]
        assert shown[f"volumes_{vtype['name']}"] == -1  # a new type: unlimited
        change = {"volumes": before["volumes"] + 1, f"volumes_{vtype['name']}": 1}
        r = admin.put(f"{V}/os-quota-class-sets/default", json={"quota_class_set": change})
        assert r.status_code == 200, r.text
        assert change.items() <= r.json()["quota_class_set"].items()
        # every project's defaults, and a project without its own limits, follow the class
        project = demo.get(f"{V}/volumes/detail").json()
        token, body = cloud.token("demo", project="demo")
        pid = body["project"]["id"]
        defaults = admin.get(f"{V}/os-quota-sets/{pid}/defaults").json()["quota_set"]
        assert change.items() <= defaults.items()
        quota = admin.get(f"{V}/os-quota-sets/{pid}").json()["quota_set"]
        assert quota[f"volumes_{vtype['name']}"] == 1
        # the per-type limit is enforced: one volume of the type, not two
        first = demo.post(f"{V}/volumes", json={"volume": {"size": 1,
                                                           "volume_type": vtype["id"]}})
        assert first.status_code == 202, first.text
        vid = first.json()["volume"]["id"]
        wait_volume(demo, vid)
        second = demo.post(f"{V}/volumes", json={"volume": {"size": 1,
                                                            "volume_type": vtype["id"]}})
        assert second.status_code == 413 and "overLimit" in second.json(), second.text
        assert len(demo.get(f"{V}/volumes").json()["volumes"]) == len(project["volumes"]) + 1
        usage = admin.get(f"{V}/os-quota-sets/{pid}", params={"usage": "true"}).json()[
            "quota_set"][f"volumes_{vtype['name']}"]
        assert usage["in_use"] == 1 and usage["limit"] == 1
        assert demo.delete(f"{V}/volumes/{vid}").status_code == 202
        wait_volume(demo, vid, "gone")
    finally:
        admin.put(f"{V}/os-quota-class-sets/default", json={"quota_class_set": {
            k: before[k] for k in KEYS}})
        admin.delete(f"{V}/types/{vtype['id']}")
    after = admin.get(f"{V}/os-quota-class-sets/default").json()["quota_class_set"]
    assert {k: after[k] for k in KEYS} == {k: before[k] for k in KEYS}


def test_quota_class_with_the_cli_and_bad_input(cloud: LiveCloud, admin: httpx.Client,
                                                demo: httpx.Client) -> None:
    name = unique("gold")
    cloud.osc("quota", "set", "--class", "--volumes", "33", "--snapshots", "44", name,
              as_json=False)
    shown = admin.get(f"{V}/os-quota-class-sets/{name}").json()["quota_class_set"]
    assert (shown["volumes"], shown["snapshots"]) == (33, 44)
    url = f"{V}/os-quota-class-sets/{name}"
    assert admin.put(url, json={"quota_class_set": {"volumes": -2}}).status_code == 400
    assert admin.put(url, json={"quota_class_set": {"nonsense": 1}}).status_code == 400
    assert admin.put(url, json={"quota_class_set": {"volumes": "x"}}).status_code == 400
    assert admin.put(url, json={"quota": {}}).status_code == 400
    assert admin.get(url).json()["quota_class_set"]["volumes"] == 33
    assert demo.get(url).status_code == 403
    assert demo.put(url, json={"quota_class_set": {"volumes": 1}}).status_code == 403
