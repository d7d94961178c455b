"""Servers with the stock CLI against a live cloud: boot, inspect, act, delete."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import LiveCloud, unique

IMAGE = "pocketstack-empty-qcow2"


def _boot(cloud: LiveCloud, name: str, flavor: str = "m1.tiny", os_cloud: str =
          "pocketstack-admin") -> dict:
    return cloud.osc("server", "create", "--flavor", flavor, "--image", IMAGE, "--nic", "none",
                     "--wait", name, cloud=os_cloud)


def test_boot_show_list_and_delete(cloud: LiveCloud) -> None:
    name = unique("srv")
    server = _boot(cloud, name)
    assert server["status"] == "ACTIVE"
    shown = cloud.osc("server", "show", name)
    assert shown["OS-EXT-SRV-ATTR:host"] == "compute1"
    assert shown["OS-EXT-SRV-ATTR:instance_name"].startswith("instance-")
    assert shown["OS-EXT-AZ:availability_zone"] == "nova"
    assert shown["OS-DCF:diskConfig"] == "MANUAL"
    assert "m1.tiny" in str(shown["flavor"])
    rows = cloud.osc("server", "list", "--long")
    row = next(r for r in rows if r["Name"] == name)
    assert row["Status"] == "ACTIVE" and row["Host"] == "compute1"
    assert row["Power State"] == 1  # -f json shows the raw power state
    cloud.osc("server", "delete", "--wait", name, as_json=False)
    assert all(r["Name"] != name for r in cloud.osc("server", "list"))


def test_member_does_not_see_admin_attributes_or_other_projects(cloud: LiveCloud) -> None:
    name = unique("mine")
    _boot(cloud, name, os_cloud="pocketstack")
    shown = cloud.osc("server", "show", name, cloud="pocketstack")
    assert shown.get("OS-EXT-SRV-ATTR:host") is None  # the key is not sent to members
    assert shown["status"] == "ACTIVE"
    proc = cloud.osc("server", "show", name, cloud="pocketstack-alt", check=False)
    assert proc.returncode != 0 and "No Server found" in proc.stderr
    assert all(r["Name"] != name for r in cloud.osc("server", "list", cloud="pocketstack-alt"))
    cloud.osc("server", "delete", "--wait", name, cloud="pocketstack", as_json=False)


def wait_status(cloud: LiveCloud, name: str, status: str, timeout: float = 20) -> dict:
    """Poll over HTTP (cheaper than the CLI), then show the server with the CLI once."""
    import time

    token, _ = cloud.token()
    with cloud.client(token) as c:
        c.headers["OpenStack-API-Version"] = "compute 2.96"
        found = c.get("/compute/v2.1/servers/detail", params={"name": name}).json()["servers"]
        url = f"/compute/v2.1/servers/{found[0]['id']}"
        deadline = time.monotonic() + timeout
        while True:
            server = c.get(url).json()["server"]
            if server["status"] == status and not server["OS-EXT-STS:task_state"]:
                break
            assert time.monotonic() < deadline, f"{name} stuck in {server['status']}"
            time.sleep(0.05)
    return server


def test_power_actions(cloud: LiveCloud) -> None:
    name = unique("pwr")
    _boot(cloud, name)
    for verb, status in (("stop", "SHUTOFF"), ("start", "ACTIVE"), ("pause", "PAUSED"),
                         ("unpause", "ACTIVE"), ("suspend", "SUSPENDED"), ("resume", "ACTIVE")):
        cloud.osc("server", verb, name, as_json=False)
        wait_status(cloud, name, status)
    cloud.osc("server", "reboot", "--hard", "--wait", name, as_json=False)
    shown = cloud.osc("server", "show", name)
    assert shown["status"] == "ACTIVE" and shown["OS-EXT-STS:power_state"] == 1
    log = cloud.osc("console", "log", "show", name, as_json=False)
    assert "Booting" in log and "(hard reboot)" in log
    cloud.osc("server", "delete", "--wait", name, as_json=False)


def test_resize_confirm_and_revert(cloud: LiveCloud) -> None:
    name = unique("rsz")
    _boot(cloud, name)
    cloud.osc("server", "resize", "--flavor", "m1.small", "--wait", name, as_json=False)
    shown = cloud.osc("server", "show", name)
    assert shown["status"] == "VERIFY_RESIZE"
    cloud.osc("server", "resize", "confirm", name, as_json=False)
    shown = cloud.osc("server", "show", name)
    assert shown["status"] == "ACTIVE" and "m1.small" in str(shown["flavor"])
    cloud.osc("server", "resize", "--flavor", "m1.medium", "--wait", name, as_json=False)
    cloud.osc("server", "resize", "revert", name, as_json=False)
    shown = wait_status(cloud, name, "ACTIVE")
    assert shown["flavor"]["original_name"] == "m1.small"
    cloud.osc("server", "delete", "--wait", name, as_json=False)


def test_create_bad_input(cloud: LiveCloud, admin: httpx.Client) -> None:
    images = admin.get("/image/v2/images", params={"name": IMAGE}).json()["images"]
    image = images[0]["id"]
    h = {"OpenStack-API-Version": "compute 2.96"}

    def post(server: dict) -> httpx.Response:
        return admin.post("/compute/v2.1/servers", json={"server": server}, headers=h)

    base = {"name": "x", "imageRef": image, "flavorRef": "1", "networks": "none"}
    cases = [
        ({**base, "flavorRef": "nope"}, 400, "badRequest"),
        ({**base, "imageRef": "00000000-0000-0000-0000-000000000000"}, 400, "badRequest"),
        ({**base, "key_name": "no-such-key"}, 400, "badRequest"),
        ({k: v for k, v in base.items() if k != "networks"}, 400, "badRequest"),
        ({**base, "name": ""}, 400, "badRequest"),
        ({**base, "min_count": 3, "max_count": 2}, 400, "badRequest"),
        ({**base, "availability_zone": "nowhere"}, 400, "badRequest"),
        ({**base, "user_data": "not base64!"}, 400, "badRequest"),
    ]
    for server, status, key in cases:
        r = post(server)
        assert r.status_code == status, (server, r.text)
        assert key in r.json(), r.text
    r = admin.post("/compute/v2.1/servers", content=b"{", headers={
        **h, "Content-Type": "application/json"})
    assert r.status_code == 400
    r = admin.get("/compute/v2.1/servers/does-not-exist", headers=h)
    assert r.status_code == 404 and "itemNotFound" in r.json()
    r = admin.get("/compute/v2.1/servers", headers={"OpenStack-API-Version": "compute 9.0"})
    assert r.status_code == 406
    r = admin.get("/compute/v2.1/servers", headers={"OpenStack-API-Version": "compute x"})
    assert r.status_code == 400


NAME_RULE = ("An invalid 'name' value was provided. The name must be: printable characters. "
             "Can not start or end with whitespace.")


@pytest.mark.parametrize("name", ["a\x01b", "tab\there", "line\nbreak", "del\x7f",
                                  "sep\u2028x", " leading", "trailing ", "nbsp\u00a0",
                                  "astral\U0001F600"])
def test_server_name_is_printable_without_edge_spaces(admin: httpx.Client, name: str) -> None:
    """Nova's name rule, on create, rename and rebuild: printable BMP characters, spaces
    inside only."""
    image = _image_id(admin)
    h = {"OpenStack-API-Version": "compute 2.96"}
    base = {"imageRef": image, "flavorRef": "1", "networks": "none"}
    r = admin.post("/compute/v2.1/servers", json={"server": {**base, "name": name}}, headers=h)
    assert r.status_code == 400, r.text
    assert r.json()["badRequest"]["message"] == \
        f"Invalid input for field 'server.name': {NAME_RULE}"
    r = admin.post("/compute/v2.1/flavors", json={"flavor": {
        "name": name, "ram": 64, "vcpus": 1, "disk": 0}})
    assert r.status_code == 400 and NAME_RULE in r.json()["badRequest"]["message"], r.text


def _image_id(admin: httpx.Client) -> str:
    return str(admin.get("/image/v2/images", params={"name": IMAGE}).json()["images"][0]["id"])


@pytest.mark.parametrize(("name", "hostname"), [
    ("My Server_1.example.com", "my-server-1-example-com"),  # an FQDN name: one label
    ("émoji € 日本 x", "émoji---x"),  # outside Latin-1 dropped, Latin-1 letters kept
    ("--a!b@c#--", "abc"),
    (".dot.", "dot"),
    ("x" * 70, "x" * 63),
    ("!!!", None),  # nothing left: Server-<uuid>
])
def test_hostname_derived_from_name_as_nova(admin: httpx.Client, name: str,
                                            hostname: str | None) -> None:
    h = {"OpenStack-API-Version": "compute 2.96"}
    r = admin.post("/compute/v2.1/servers", headers=h, json={"server": {
        "name": name, "imageRef": _image_id(admin), "flavorRef": "1", "networks": "none"}})
    assert r.status_code == 202, r.text
    sid = r.json()["server"]["id"]
    try:
        shown = admin.get(f"/compute/v2.1/servers/{sid}", headers=h).json()["server"]
        assert shown["name"] == name
        assert shown["OS-EXT-SRV-ATTR:hostname"] == (hostname or f"Server-{sid}")
    finally:
        admin.delete(f"/compute/v2.1/servers/{sid}")


def test_invalid_state_transition_is_409(cloud: LiveCloud, admin: httpx.Client) -> None:
    name = unique("st")
    server = _boot(cloud, name)
    url = f"/compute/v2.1/servers/{server['id']}/action"
    r = admin.post(url, json={"os-start": None})
    assert r.status_code == 409 and "conflictingRequest" in r.json()
    r = admin.post(url, json={"resume": None})
    assert r.status_code == 409
    r = admin.post(url, json={"noSuchAction": None})
    assert r.status_code == 400
    assert admin.post(url, json={"lock": None}).status_code == 202
    token, _ = cloud.token("demo", project="demo")
    cloud.osc("server", "delete", "--wait", name, as_json=False)


def test_versions(cloud: LiveCloud) -> None:
    r = httpx.get(cloud.url + "/compute/")
    assert r.status_code == 200
    v20, v = r.json()["versions"]  # Nova lists the legacy v2.0 first (Tempest checks it)
    assert v20["id"] == "v2.0" and v20["version"] == ""
    assert v["id"] == "v2.1" and v["version"] == "2.96" and v["min_version"] == "2.1"
    r = httpx.get(cloud.url + "/compute/v2.1")
    assert r.status_code == 200 and r.json()["version"]["status"] == "CURRENT"
    # every version's self link is followable and answers the same self link
    for listed in (v20, v):
        href = listed["links"][0]["href"]
        shown = httpx.get(href).json()["version"]
        assert [x for x in shown["links"] if x["rel"] == "self"] == listed["links"]


@pytest.mark.parametrize("version,has_embedded", [("2.1", False), ("2.47", True)])
def test_flavor_shape_per_microversion(cloud: LiveCloud, admin: httpx.Client, version: str,
                                       has_embedded: bool) -> None:
    name = unique("mv")
    server = _boot(cloud, name)
    r = admin.get(f"/compute/v2.1/servers/{server['id']}",
                  headers={"OpenStack-API-Version": f"compute {version}"})
    assert r.headers["OpenStack-API-Version"] == f"compute {version}"
    assert r.headers["X-OpenStack-Nova-API-Version"] == version
    flavor = r.json()["server"]["flavor"]
    assert ("original_name" in flavor) is has_embedded
    assert ("id" in flavor) is not has_embedded
    cloud.osc("server", "delete", "--wait", name, as_json=False)


def test_flavor_disk_smaller_than_image_is_refused(cloud: LiveCloud, admin: httpx.Client) -> None:
    """The seed's rule: the flavor's root disk must hold the image (virtual size, min_disk)."""
    r = admin.post("/image/v2/images", json={"name": unique("big"), "disk_format": "qcow2",
                                             "container_format": "bare", "min_disk": 5})
    image = r.json()
    # a real qcow2 header with a 10 GiB virtual size
    header = bytearray(512)
    header[0:4] = b"QFI\xfb"
    header[4:8] = (3).to_bytes(4, "big")
    header[20:24] = (16).to_bytes(4, "big")  # cluster_bits
    header[24:32] = (10 << 30).to_bytes(8, "big")  # virtual size
    header[100:104] = (104).to_bytes(4, "big")  # header length (v3)
    put = admin.put(f"/image/v2/images/{image['id']}/file", content=bytes(header),
                    headers={"Content-Type": "application/octet-stream"})
    assert put.status_code == 204, put.text
    h = {"OpenStack-API-Version": "compute 2.96"}
    for flavor in ("1", "3"):  # m1.tiny (1 GB) and m1.medium (40 GB, but min_disk is fine)
        r = admin.post("/compute/v2.1/servers", headers=h, json={"server": {
            "name": "too-small", "imageRef": image["id"], "flavorRef": flavor,
            "networks": "none"}})
        if flavor == "1":
            assert r.status_code == 400 and "too small" in r.json()["badRequest"]["message"]
        else:
            assert r.status_code == 202, r.text
            admin.delete(f"/compute/v2.1/servers/{r.json()['server']['id']}")


@pytest.mark.parametrize("text", ["line\nbreak", "bell\x07", "tab\there"])
def test_descriptions_are_printable(admin: httpx.Client, text: str) -> None:
    """Nova's description rule: printable characters (spaces allowed anywhere)."""
    rule = ("An invalid 'description' value was provided. The description must be: printable "
            "characters with whitespace.")
    r = admin.post("/compute/v2.1/servers", headers={"OpenStack-API-Version": "compute 2.19"},
                   json={"server": {"name": "d", "imageRef": _image_id(admin), "flavorRef": "1",
                                    "networks": "none", "description": text}})
    assert r.status_code == 400 and rule in r.json()["badRequest"]["message"], r.text
    r = admin.post("/compute/v2.1/flavors", headers={"OpenStack-API-Version": "compute 2.55"},
                   json={"flavor": {"name": unique("d"), "ram": 64, "vcpus": 1, "disk": 0,
                                    "description": text}})
    assert r.status_code == 400 and rule in r.json()["badRequest"]["message"], r.text
    r = admin.post("/compute/v2.1/flavors", headers={"OpenStack-API-Version": "compute 2.55"},
                   json={"flavor": {"name": unique("d"), "ram": 64, "vcpus": 1, "disk": 0,
                                    "description": "  spaced  out  "}})
    assert r.status_code == 200, r.text
    assert admin.delete(f"/compute/v2.1/flavors/{r.json()['flavor']['id']}").status_code == 202
