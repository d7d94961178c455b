"""The metadata API (``/metadata``) of a live cloud, as a metadata proxy calls it: a server
booted with a key pair and user data, its OpenStack and EC2 trees, and requests with a wrong
signature, another project or an unknown instance refused."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import httpx
import pytest

from pocketstack.common.metadata_secret import sign
from tests.conftest import LiveCloud, unique

IMAGE = "pocketstack-empty-qcow2"
PUBLIC_KEY = ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBYn3VTcbAI5eHcZdO6sOCO0MRDQ9eynw6Aw3r7bLpVJ"
              " meta@test")
USER_DATA = b"#cloud-config\nhostname: from-user-data\n"


@pytest.fixture(scope="module")
def booted(cloud: LiveCloud) -> Any:
    token, _ = cloud.token("demo", project="demo")
    with cloud.client(token) as c:
        key = unique("key")
        r = c.post("/compute/v2.1/os-keypairs",
                   json={"keypair": {"name": key, "public_key": PUBLIC_KEY}})
        assert r.status_code == 200, r.text  # no microversion asked: 2.1 answers 200
        image = c.get("/image/v2/images", params={"name": IMAGE}).json()["images"][0]["id"]
        flavor = next(f["id"] for f in c.get("/compute/v2.1/flavors").json()["flavors"]
                      if f["name"] == "m1.tiny")
        private = c.get("/networking/v2.0/networks",
                        params={"name": "private"}).json()["networks"][0]["id"]
        server: dict[str, Any] = {
            "name": unique("Meta Server"), "imageRef": image, "flavorRef": flavor,
            "key_name": key, "networks": [{"uuid": private}],
            "user_data": base64.b64encode(USER_DATA).decode(), "metadata": {"role": "web"}}
        r = c.post("/compute/v2.1/servers", json={"server": server})
        assert r.status_code == 202, r.text
        sid = r.json()["server"]["id"]
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            shown = c.get(f"/compute/v2.1/servers/{sid}").json()["server"]
            if shown["status"] in ("ACTIVE", "ERROR"):
                break
            time.sleep(0.2)
        assert shown["status"] == "ACTIVE", shown
        yield {"id": sid, "key": key, "server": shown, "network": private,
               "project": shown["tenant_id"], "name": server["name"]}
        c.delete(f"/compute/v2.1/servers/{sid}")
        c.delete(f"/compute/v2.1/os-keypairs/{key}")


def _secret(cloud: LiveCloud) -> str:
    return (cloud.state_dir / "metadata_secret").read_text().strip()


def _get(cloud: LiveCloud, path: str, instance: str, project: str,
         signature: str | None = None) -> httpx.Response:
    headers = {"X-Instance-ID": instance, "X-Tenant-ID": project,
               "X-Forwarded-For": "10.0.0.9",
               "X-Instance-ID-Signature": signature or sign(_secret(cloud), instance)}
    return httpx.get(cloud.url + "/metadata" + path, headers=headers, timeout=30)


def test_openstack_tree(cloud: LiveCloud, booted: dict[str, Any]) -> None:
    sid, project = booted["id"], booted["project"]
    versions = _get(cloud, "/openstack", sid, project)
    assert versions.status_code == 200
    lines = versions.text.split("\n")
    assert {"2012-08-10", "2013-04-04", "2016-06-30", "2018-08-27"} <= set(lines)
    assert lines[-1] == "latest"
    listing = _get(cloud, "/openstack/latest/", sid, project).text.split("\n")
    assert {"meta_data.json", "user_data", "network_data.json", "vendor_data.json",
            "vendor_data2.json"} <= set(listing)
    md = _get(cloud, "/openstack/latest/meta_data.json", sid, project)
    assert md.headers["content-type"].startswith("application/json")
    data = md.json()
    assert data["uuid"] == sid and data["name"] == booted["name"]
    assert data["hostname"].startswith(booted["name"].lower().replace(" ", "-") + ".")
    assert data["project_id"] == project and data["launch_index"] == 0
    assert data["availability_zone"] == "nova"
    assert data["public_keys"] == {booted["key"]: PUBLIC_KEY}
    assert data["keys"] == [{"name": booted["key"], "type": "ssh", "data": PUBLIC_KEY}]
    assert data["meta"] == {"role": "web"} and data["devices"] == []
    # an older version has less: no project_id (Liberty) nor devices (Newton)
    old = _get(cloud, "/openstack/2013-04-04/meta_data.json", sid, project).json()
    assert "project_id" not in old and "devices" not in old and "keys" not in old
    assert old["public_keys"] == {booted["key"]: PUBLIC_KEY}
    assert "network_data.json" not in _get(cloud, "/openstack/2013-04-04", sid, project).text
    dated = _get(cloud, "/openstack/2018-08-27/meta_data.json", sid, project).json()
    assert dated["uuid"] == sid and "devices" in dated
    assert _get(cloud, "/openstack/2016-06-30/meta_data.json", sid, project).status_code == 200
    # user data is served decoded
    ud = _get(cloud, "/openstack/latest/user_data", sid, project)
    assert ud.status_code == 200 and ud.content == USER_DATA
    assert _get(cloud, "/openstack/latest/vendor_data.json", sid, project).json() == {}
    assert _get(cloud, "/openstack/latest/vendor_data2.json", sid, project).json() == {}
    assert _get(cloud, "/openstack/1999-01-01/meta_data.json", sid, project).status_code == 404
    assert _get(cloud, "/openstack/latest/nothing", sid, project).status_code == 404


def test_network_data_from_the_ports(cloud: LiveCloud, booted: dict[str, Any]) -> None:
    data = _get(cloud, "/openstack/latest/network_data.json", booted["id"],
                booted["project"]).json()
    fixed = [a for a in booted["server"]["addresses"]["private"] if a["version"] == 4]
    assert len(data["links"]) == 1
    link = data["links"][0]
    assert link["ethernet_mac_address"] == fixed[0]["OS-EXT-IPS-MAC:mac_addr"]
    assert link["id"] == "tap" + link["vif_id"][:11] and link["mtu"] > 0
    # private's IPv4 subnet has DHCP: the guest asks for its address (as with Nova)
    v4 = [n for n in data["networks"] if n["type"] == "ipv4_dhcp"]
    assert v4 == [{"id": v4[0]["id"], "type": "ipv4_dhcp", "link": link["id"],
                   "network_id": booted["network"]}]
    assert isinstance(data["services"], list)


def test_ec2_tree(cloud: LiveCloud, booted: dict[str, Any]) -> None:
    sid, project = booted["id"], booted["project"]
    for version in ("latest", "2009-04-04"):
        listing = _get(cloud, f"/{version}/meta-data/", sid, project)
        assert listing.status_code == 200
        names = listing.text.split("\n")
        assert {"instance-id", "hostname", "local-hostname", "local-ipv4", "public-ipv4",
                "public-keys/", "ami-id", "instance-type", "placement/", "reservation-id",
                "security-groups"} <= set(names)
        assert names == sorted(names)

    def text(path: str) -> str:
        r = _get(cloud, "/latest/meta-data/" + path, sid, project)
        assert r.status_code == 200, (path, r.status_code, r.text)
        return r.text

    assert text("instance-id").startswith("i-") and len(text("instance-id")) == 10
    fixed = next(a["addr"] for a in booted["server"]["addresses"]["private"]
                 if a["version"] == 4)
    assert text("local-ipv4") == fixed
    assert text("public-ipv4") == ""
    assert text("hostname") == text("local-hostname")
    assert text("public-keys/") == f"0={booted['key']}"
    assert text("public-keys/0") == "openssh-key"
    assert text("public-keys/0/openssh-key") == PUBLIC_KEY
    assert text("ami-id").startswith("ami-")
    assert text("instance-type") == "m1.tiny"
    assert text("placement/") == "availability-zone"
    assert text("placement/availability-zone") == "nova"
    assert text("reservation-id").startswith("r-")
    assert text("security-groups") == "default"
    assert _get(cloud, "/latest", sid, project).text == "meta-data/\nuser-data"
    assert _get(cloud, "/latest/user-data", sid, project).content == USER_DATA
    assert "latest" in _get(cloud, "/", sid, project).text.split("\n")
    assert _get(cloud, "/latest/meta-data/nothing", sid, project).status_code == 404
    assert _get(cloud, "/2031-01-01/meta-data/", sid, project).status_code == 404


def test_refusals(cloud: LiveCloud, booted: dict[str, Any]) -> None:
    sid, project = booted["id"], booted["project"]
    path = "/openstack/latest/meta_data.json"
    bad = _get(cloud, path, sid, project, signature="0" * 64)
    assert bad.status_code == 403 and "signature" in bad.text
    # a signature made with another secret
    assert _get(cloud, path, sid, project,
                signature=sign("not-the-secret", sid)).status_code == 403
    missing = httpx.get(cloud.url + "/metadata" + path,
                        headers={"X-Instance-ID": sid, "X-Tenant-ID": project}, timeout=30)
    assert missing.status_code == 403
    assert httpx.get(cloud.url + "/metadata" + path, timeout=30).status_code == 400
    # another project's view of the instance, an unknown instance
    assert _get(cloud, path, sid, "someone-else").status_code == 404
    other = "00000000-0000-4000-8000-000000000000"
    assert _get(cloud, path, other, project).status_code == 404
    # the secret file is the cloud's own, private
    assert (cloud.state_dir / "metadata_secret").stat().st_mode & 0o777 == 0o600
    # no user data: 404 (a server without it)
    token, _ = cloud.token("demo", project="demo")
    with cloud.client(token) as c:
        image = c.get("/image/v2/images", params={"name": IMAGE}).json()["images"][0]["id"]
        r = c.post("/compute/v2.1/servers", json={"server": {
            "name": unique("plain"), "imageRef": image, "flavorRef": "1",
            "networks": "none"}})
        assert r.status_code == 202, r.text
        plain = r.json()["server"]["id"]
        try:
            assert _get(cloud, "/openstack/latest/user_data", plain,
                        project).status_code == 404
            assert "user_data" not in _get(cloud, "/openstack/latest", plain, project).text
            assert _get(cloud, "/latest/user-data", plain, project).status_code == 404
            md = json.loads(_get(cloud, path, plain, project).text)
            assert "public_keys" not in md and "keys" not in md
        finally:
            c.delete(f"/compute/v2.1/servers/{plain}")


def _post(cloud: LiveCloud, path: str, instance: str, project: str,
          data: bytes) -> httpx.Response:
    headers = {"X-Instance-ID": instance, "X-Tenant-ID": project,
               "X-Forwarded-For": "10.0.0.9",
               "X-Instance-ID-Signature": sign(_secret(cloud), instance)}
    return httpx.post(cloud.url + "/metadata" + path, headers=headers, content=data,
                      timeout=30)


def test_guest_posts_its_password_once_and_the_owner_reads_and_clears_it(
        cloud: LiveCloud, booted: dict[str, Any]) -> None:
    """Tempest's test_server_basic_ops: ``curl -X POST -d PW .../openstack/2013-10-17/password``
    in the guest, then ``GET /servers/{id}/os-server-password`` answers it."""
    sid, project = booted["id"], booted["project"]
    token, _ = cloud.token("demo", project="demo")
    pw_url = f"/compute/v2.1/servers/{sid}/os-server-password"
    with cloud.client(token) as c:
        assert c.get(pw_url).json() == {"password": ""}
        assert _get(cloud, "/openstack/latest/password", sid, project).text == ""
        assert _post(cloud, "/openstack/2013-10-17/password", sid, project,
                     b"x" * 256).status_code == 400  # too large
        assert _post(cloud, "/openstack/2012-08-10/password", sid, project,
                     b"pw").status_code == 405  # not in that version
        assert _post(cloud, "/openstack/latest/meta_data.json", sid, project,
                     b"pw").status_code == 405
        secret = "s3cr3t-" + unique("pw")
        posted = _post(cloud, "/openstack/2013-10-17/password", sid, project, secret.encode())
        assert posted.status_code == 200, posted.text
        assert c.get(pw_url).json() == {"password": secret}
        assert _get(cloud, "/openstack/latest/password", sid, project).text == secret
        again = _post(cloud, "/openstack/latest/password", sid, project, b"another")
        assert again.status_code == 409  # set once, until the owner clears it
        assert c.get(pw_url).json() == {"password": secret}
        assert c.delete(pw_url).status_code == 204
        assert c.get(pw_url).json() == {"password": ""}
        assert _post(cloud, "/openstack/latest/password", sid, project,
                     b"another").status_code == 200
        assert c.get(pw_url).json() == {"password": "another"}
        assert c.delete(pw_url).status_code == 204
    assert _post(cloud, "/openstack/latest/password", sid, "someone-else",
                 b"pw").status_code == 404
