"""The image story with the stock `openstack` CLI against a live `pocketstack up`."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from tests.conftest import LiveCloud, unique
from tests.image.conftest import store_files

pytestmark = pytest.mark.cli


def test_default_image_is_registered(cloud: LiveCloud) -> None:
    image = cloud.osc("image", "show", "pocketstack-empty-qcow2", cloud="pocketstack")
    assert image["status"] == "active"
    assert image["visibility"] == "public"
    assert image["disk_format"] == "qcow2"
    assert image["virtual_size"] == 1 << 30
    assert image["size"] < 1 << 20


def test_image_lifecycle(cloud: LiveCloud, qcow2_path: Path, tmp_path: Path) -> None:
    name = unique("cli-img")
    data = qcow2_path.read_bytes()
    created = cloud.osc("image", "create", "--file", str(qcow2_path), "--disk-format", "qcow2",
                        "--tag", "smoke", name, cloud="pocketstack")
    image_id = created["id"]
    assert created["status"] == "active"
    assert created["checksum"] == hashlib.md5(data).hexdigest()
    assert created["virtual_size"] == 64 << 20
    assert created["size"] == len(data)

    shown = cloud.osc("image", "show", name, cloud="pocketstack")
    assert shown["id"] == image_id
    assert shown["properties"]["os_hash_algo"] == "sha512"
    assert shown["properties"]["os_hash_value"] == hashlib.sha512(data).hexdigest()

    # list with filters
    by_name = cloud.osc("image", "list", "--name", name, cloud="pocketstack")
    assert [i["ID"] for i in by_name] == [image_id]
    by_tag = cloud.osc("image", "list", "--tag", "smoke", "--status", "active",
                       cloud="pocketstack")
    assert image_id in [i["ID"] for i in by_tag]
    raw_only = cloud.osc("image", "list", "--property", "disk_format=raw", cloud="pocketstack")
    assert image_id not in [i["ID"] for i in raw_only]
    shared = cloud.osc("image", "list", "--shared", cloud="pocketstack")
    assert image_id in [i["ID"] for i in shared]

    # custom properties
    cloud.osc("image", "set", "--property", "os_distro=pocketlinux", "--property", "hw_x=1",
              "--min-disk", "2", name, cloud="pocketstack", as_json=False)
    shown = cloud.osc("image", "show", name, cloud="pocketstack")
    assert shown["properties"]["os_distro"] == "pocketlinux"
    assert shown["properties"]["hw_x"] == "1"
    assert shown["min_disk"] == 2
    filtered = cloud.osc("image", "list", "--property", "os_distro=pocketlinux",
                         cloud="pocketstack")
    assert [i["ID"] for i in filtered] == [image_id]
    cloud.osc("image", "unset", "--property", "hw_x", name, cloud="pocketstack", as_json=False)
    assert "hw_x" not in cloud.osc("image", "show", name, cloud="pocketstack")["properties"]

    # download: same bytes
    out = tmp_path / "saved.qcow2"
    cloud.osc("image", "save", "--file", str(out), name, cloud="pocketstack", as_json=False)
    assert hashlib.md5(out.read_bytes()).hexdigest() == created["checksum"]

    # share with the alt project, which accepts
    alt = cloud.osc("token", "issue", cloud="pocketstack-alt")["project_id"]
    assert image_id not in [i["ID"] for i in cloud.osc("image", "list",
                                                       cloud="pocketstack-alt")]
    member = cloud.osc("image", "add", "project", name, alt, cloud="pocketstack")
    assert member["status"] == "pending"
    cloud.osc("image", "set", "--accept", image_id, cloud="pocketstack-alt", as_json=False)
    assert image_id in [i["ID"] for i in cloud.osc("image", "list", cloud="pocketstack-alt")]
    members = cloud.osc("image", "member", "list", name, cloud="pocketstack")
    assert [(m["Member ID"], m["Status"]) for m in members] == [(alt, "accepted")]
    # the member may read but not delete it
    denied = cloud.osc("image", "delete", image_id, cloud="pocketstack-alt", check=False)
    assert denied.returncode != 0

    cloud.osc("image", "delete", name, cloud="pocketstack", as_json=False)
    gone = cloud.osc("image", "show", image_id, cloud="pocketstack", check=False)
    assert gone.returncode != 0
    assert image_id not in store_files(cloud)


def test_raw_upload_that_is_qcow2_is_refused(cloud: LiveCloud, qcow2_path: Path) -> None:
    name = unique("liar")
    proc = cloud.osc("image", "create", "--file", str(qcow2_path), "--disk-format", "raw",
                     name, cloud="pocketstack", check=False)
    assert proc.returncode != 0
    assert "does not match disk_format" in proc.stderr
    # nothing of the upload stays in the store
    assert not [f for f in store_files(cloud) if f.endswith(".part")]
