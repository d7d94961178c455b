"""Quotas from keystone's unified limits: compute (``quota_driver = unified_limits``, Nova's
UnifiedLimitsDriver), image (``use_keystone_limits``, Glance's) and block storage
(``volume_quota_driver = unified_limits``), set with the stock CLI's ``registered limit`` and
``limit`` commands and enforced race-free, with each service's own refusal."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from tests.conftest import LiveCloud, own_cloud, unique

IMAGE = "pocketstack-empty-qcow2"
NOVA = {"OpenStack-API-Version": "compute 2.96"}


@pytest.fixture(scope="module")
def ul(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveCloud]:
    yield from own_cloud(tmp_path_factory, "unified", {
        "POCKETSTACK_QUOTA_DRIVER": "unified_limits",
        "POCKETSTACK_USE_KEYSTONE_LIMITS": "true",
        "POCKETSTACK_VOLUME_QUOTA_DRIVER": "unified_limits"})


def _as(cloud: LiveCloud, user: str) -> tuple[httpx.Client, str]:
    token, body = cloud.token(user, project=user)
    return cloud.client(token), str(body["project"]["id"])


def _over(project: str, resource: str, limit: int, used: int, delta: int) -> str:
    return (f"Project {project} is over a limit for [Resource {resource} is over limit of "
            f"{limit} due to current usage {used} and delta {delta}]")


def _server_body(image: str, **extra: Any) -> dict[str, Any]:
    return {"server": {"name": unique("ul"), "imageRef": image, "flavorRef": "1",
                       "networks": "none", **extra}}


def test_servers_and_key_pairs(ul: LiveCloud) -> None:
    demo, demo_id = _as(ul, "demo")
    alt, alt_id = _as(ul, "alt_demo")
    # no registered limit for servers: Nova's default strategy requires one, so the limit is 0
    image = demo.get("/image/v2/images", params={"name": IMAGE}).json()["images"][0]["id"]
    r = demo.post("/compute/v2.1/servers", json=_server_body(image), headers=NOVA)
    assert r.status_code == 403, r.text
    assert r.json()["forbidden"]["message"] == _over(demo_id, "servers", 0, 0, 1)

    ul.osc("registered", "limit", "create", "--service", "compute", "--default-limit", "2",
           "servers")
    ul.osc("limit", "create", "--project", "demo", "--service", "compute",
           "--resource-limit", "3", "servers")
    ul.osc("registered", "limit", "create", "--service", "compute", "--default-limit", "1",
           "server_key_pairs")
    # os-quota-sets shows keystone's limits: the project's own, else the registered default;
    # a resource keystone does not hold is unlimited
    q = demo.get(f"/compute/v2.1/os-quota-sets/{demo_id}", headers=NOVA).json()["quota_set"]
    assert (q["instances"], q["key_pairs"], q["cores"]) == (3, 1, -1)
    d = demo.get(f"/compute/v2.1/os-quota-sets/{demo_id}/defaults",
                 headers=NOVA).json()["quota_set"]
    assert d["instances"] == 2

    # three servers in one request fit the project limit of 3; a fourth does not
    ul.osc("server", "create", "--flavor", "m1.tiny", "--image", IMAGE, "--nic", "none",
           "--min", "3", "--max", "3", unique("ul"), cloud="pocketstack")
    proc = ul.osc("server", "create", "--flavor", "m1.tiny", "--image", IMAGE, "--nic", "none",
                  unique("ul"), cloud="pocketstack", check=False)
    assert proc.returncode != 0
    assert _over(demo_id, "servers", 3, 3, 1) in proc.stderr and "403" in proc.stderr
    a = demo.get("/compute/v2.1/limits", headers=NOVA).json()["limits"]["absolute"]
    assert (a["maxTotalInstances"], a["totalInstancesUsed"]) == (3, 3)

    # concurrent creates of a project with the registered default of 2: exactly two pass
    with ThreadPoolExecutor(6) as pool:
        codes = sorted(pool.map(lambda _: alt.post(
            "/compute/v2.1/servers", json=_server_body(image), headers=NOVA).status_code,
            range(6)))
    assert codes == [202, 202, 403, 403, 403, 403]
    detail = alt.get(f"/compute/v2.1/os-quota-sets/{alt_id}/detail",
                     headers=NOVA).json()["quota_set"]
    assert detail["instances"] == {"limit": 2, "in_use": 2, "reserved": 0}

    # updates are accepted and change nothing (the limits are keystone's), as in Nova
    admin, _ = _as(ul, "admin")
    r = admin.put(f"/compute/v2.1/os-quota-sets/{alt_id}",
                  json={"quota_set": {"instances": 50}}, headers=NOVA)
    assert r.status_code == 200 and r.json()["quota_set"]["instances"] == 2
    assert alt.post("/compute/v2.1/servers", json=_server_body(image),
                    headers=NOVA).status_code == 403

    # key pairs: one per user from the registered default
    ul.osc("keypair", "create", unique("kp"), cloud="pocketstack", as_json=False)
    proc = ul.osc("keypair", "create", unique("kp"), cloud="pocketstack", check=False)
    assert proc.returncode != 0
    assert _over(demo_id, "server_key_pairs", 1, 1, 1) in proc.stderr


def test_cores_memory_and_disk(ul: LiveCloud) -> None:
    admin, admin_id = _as(ul, "admin")
    image = admin.get("/image/v2/images", params={"name": IMAGE}).json()["images"][0]["id"]
    for name, default in (("class:VCPU", 100), ("class:MEMORY_MB", 100000),
                          ("class:DISK_GB", 1000)):
        ul.osc("registered", "limit", "create", "--service", "compute", "--default-limit",
               str(default), name)
    ul.osc("limit", "create", "--project", "admin", "--service", "compute",
           "--resource-limit", "10", "servers")
    ul.osc("limit", "create", "--project", "admin", "--service", "compute",
           "--resource-limit", "3", "class:DISK_GB")
    # m1.tiny has a 1 GB root disk: 3 servers take 3 GB, a fourth is refused on DISK_GB
    r = admin.post("/compute/v2.1/servers", headers=NOVA, json=_server_body(
        image, min_count=4, max_count=4))
    assert r.status_code == 403
    assert r.json()["forbidden"]["message"] == _over(admin_id, "class:DISK_GB", 3, 0, 4)
    r = admin.post("/compute/v2.1/servers", headers=NOVA, json=_server_body(
        image, min_count=3, max_count=3))
    assert r.status_code == 202, r.text
    q = admin.get(f"/compute/v2.1/os-quota-sets/{admin_id}", headers=NOVA).json()["quota_set"]
    assert (q["instances"], q["cores"], q["ram"]) == (10, 100, 100000)


def test_images(ul: LiveCloud, tmp_path: Any) -> None:
    demo, demo_id = _as(ul, "demo")
    # Glance with keystone limits: a limit that is not registered is 0
    r = demo.post("/image/v2/images", json={"name": unique("img")})
    assert r.status_code == 413
    assert _over(demo_id, "image_count_total", 0, 0, 1) in r.text
    for name, default in (("image_count_total", 1), ("image_count_uploading", 2),
                          ("image_size_total", 1), ("image_stage_total", 1)):
        ul.osc("registered", "limit", "create", "--service", "image", "--default-limit",
               str(default), name)
    ul.osc("image", "create", "--disk-format", "raw", "--container-format", "bare",
           unique("img"), cloud="pocketstack")
    proc = ul.osc("image", "create", "--disk-format", "raw", "--container-format", "bare",
                  unique("img"), cloud="pocketstack", check=False)
    assert proc.returncode != 0 and "413" in proc.stderr
    assert _over(demo_id, "image_count_total", 1, 1, 1) in proc.stderr
    ul.osc("limit", "create", "--project", "demo", "--service", "image",
           "--resource-limit", "3", "image_count_total")
    # image_size_total is 1 MiB: 2 MiB of data is refused, half a MiB is taken
    big = tmp_path / "big.raw"
    big.write_bytes(b"\1" * (2 << 20))
    proc = ul.osc("image", "create", "--disk-format", "raw", "--container-format", "bare",
                  "--file", str(big), unique("img"), cloud="pocketstack", check=False)
    assert proc.returncode != 0 and "413" in proc.stderr
    small = tmp_path / "small.raw"
    small.write_bytes(b"\1" * (1 << 19))
    made = ul.osc("image", "create", "--disk-format", "raw", "--container-format", "bare",
                  "--file", str(small), unique("img"), cloud="pocketstack")
    assert made["status"] == "active"
    usage = demo.get("/image/v2/info/usage").json()["usage"]
    assert usage["image_count_total"]["limit"] == 3
    assert usage["image_size_total"] == {"limit": 1, "usage": 0}  # MiB, as Glance reports


def test_volumes(ul: LiveCloud) -> None:
    demo, demo_id = _as(ul, "demo")
    ul.osc("registered", "limit", "create", "--service", "block-storage", "--default-limit",
           "1", "volumes")
    ul.osc("volume", "create", "--size", "1", unique("vol"), cloud="pocketstack")
    proc = ul.osc("volume", "create", "--size", "1", unique("vol"), cloud="pocketstack",
                  check=False)
    assert proc.returncode != 0
    assert "Maximum number of volumes allowed (1) exceeded for quota 'volumes'." in proc.stderr
    ul.osc("limit", "create", "--project", "demo", "--service", "block-storage",
           "--resource-limit", "2", "volumes")
    ul.osc("volume", "create", "--size", "1", unique("vol"), cloud="pocketstack")
    q = demo.get(f"/volume/v3/{demo_id}/os-quota-sets/{demo_id}",
                 params={"usage": "true"}).json()["quota_set"]
    assert q["volumes"]["limit"] == 2 and q["volumes"]["in_use"] == 2
    assert q["gigabytes"]["limit"] == 1000  # not in keystone: the configured default
    admin, _ = _as(ul, "admin")
    r = admin.put(f"/volume/v3/{demo_id}/os-quota-sets/{demo_id}",
                  json={"quota_set": {"volumes": 9}})
    assert r.status_code == 200 and r.json()["quota_set"]["volumes"] == 2
    # extending is held to a registered gigabytes limit: 2 GB in use, +2 passes 3
    ul.osc("registered", "limit", "create", "--service", "block-storage", "--default-limit",
           "3", "gigabytes")
    vid = demo.get("/volume/v3/volumes").json()["volumes"][0]["id"]
    r = demo.post(f"/volume/v3/volumes/{vid}/action", json={"os-extend": {"new_size": 3}})
    assert r.status_code == 413
    assert "Requested 2G, quota is 3G and 2G has been consumed." in r.text


def test_region_metadata_and_server_groups(ul: LiveCloud) -> None:
    alt, alt_id = _as(ul, "alt_demo")
    # a registered limit of this cloud's region wins over one for any region
    ul.osc("registered", "limit", "create", "--service", "compute", "--default-limit", "0",
           "server_groups")
    ul.osc("registered", "limit", "create", "--service", "compute", "--region", "RegionOne",
           "--default-limit", "1", "server_groups")
    ul.osc("registered", "limit", "create", "--service", "compute", "--default-limit", "1",
           "server_metadata_items")
    q = alt.get(f"/compute/v2.1/os-quota-sets/{alt_id}", headers=NOVA).json()["quota_set"]
    assert (q["server_groups"], q["metadata_items"]) == (1, 1)
    group = {"server_group": {"name": unique("g"), "policy": "anti-affinity"}}
    assert alt.post("/compute/v2.1/os-server-groups", json=group,
                    headers=NOVA).status_code == 200
    r = alt.post("/compute/v2.1/os-server-groups", json=group, headers=NOVA)
    assert r.status_code == 403
    assert r.json()["forbidden"]["message"] == _over(alt_id, "server_groups", 1, 1, 1)
    # metadata items are checked per server against the limit (usage 0, delta the count)
    sid = next(s["id"] for s in alt.get("/compute/v2.1/servers",
                                        headers=NOVA).json()["servers"])
    r = alt.post(f"/compute/v2.1/servers/{sid}/metadata",
                 json={"metadata": {"a": "1", "b": "2"}}, headers=NOVA)
    assert r.status_code == 403
    assert r.json()["forbidden"]["message"] == _over(alt_id, "server_metadata_items", 1, 0, 2)
    assert alt.post(f"/compute/v2.1/servers/{sid}/metadata", json={"metadata": {"a": "1"}},
                    headers=NOVA).status_code == 200
