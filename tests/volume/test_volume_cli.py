"""Block storage with the stock `openstack` CLI, as a user drives it: services, volumes blank
and from an image (the bytes read back from the volume file), snapshots, volumes from
snapshots, properties, types, quotas, delete."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import LiveCloud, unique
from tests.volume.conftest import volume_dir, wait_status


def _wait(cloud: LiveCloud, kind: list[str], ident: str, status: str = "available",
          timeout: float = 30.0) -> dict[str, Any]:
    """Poll over HTTP (a CLI call costs a second or two), then show it with the CLI."""
    key = "snapshot" if kind[-1] == "snapshot" else "volume"
    token, _ = cloud.token()
    with cloud.client(token) as client:
        wait_status(client, f"/volume/v3/{key}s/{ident}", key, {status}, timeout)
    shown: dict[str, Any] = cloud.osc(*kind, "show", ident)
    return shown


def _gone(cloud: LiveCloud, ident: str, timeout: float = 30.0) -> None:
    token, _ = cloud.token()
    with cloud.client(token) as client:
        wait_status(client, f"/volume/v3/volumes/{ident}", "volume", {"gone"}, timeout)


def test_volume_service_list(cloud: LiveCloud) -> None:
    services = {(s["Binary"], s["Host"]): s for s in cloud.osc("volume", "service", "list")}
    assert services[("cinder-volume", "compute1@file")]["State"] == "up"
    assert services[("cinder-scheduler", "compute1")]["State"] == "up"
    assert all(s["Status"] == "enabled" for s in services.values())


def test_blank_volume_lifecycle(cloud: LiveCloud) -> None:
    name = unique("vol")
    created = cloud.osc("volume", "create", "--size", "1", name)
    vid = created["id"]
    shown = _wait(cloud, ["volume"], vid)
    assert shown["size"] == 1 and shown["bootable"] in (False, "false")
    path = volume_dir(cloud) / f"volume-{vid}"
    assert path.stat().st_size == 1 << 30
    assert vid in {v["ID"] for v in cloud.osc("volume", "list")}
    cloud.osc("volume", "set", "--property", "tier=gold", "--name", name + "-x", vid,
              as_json=False)
    shown = cloud.osc("volume", "show", vid)
    assert shown["properties"] == {"tier": "gold"} and shown["name"] == name + "-x"
    cloud.osc("volume", "unset", "--property", "tier", vid, as_json=False)
    assert cloud.osc("volume", "show", vid)["properties"] == {}
    cloud.osc("volume", "set", "--size", "2", vid, as_json=False)
    _wait(cloud, ["volume"], vid)
    assert cloud.osc("volume", "show", vid)["size"] == 2
    assert path.stat().st_size == 2 << 30
    cloud.osc("volume", "delete", vid, as_json=False)
    _gone(cloud, vid)
    assert not path.exists()


@pytest.mark.skipif(shutil.which("qemu-img") is None, reason="qemu-img is not installed")
def test_volume_from_image_reads_back_identical(cloud: LiveCloud, tmp_path: Path) -> None:
    data = os.urandom(1 << 20) + b"pocketstack" * 1000
    raw = tmp_path / "disk.raw"
    raw.write_bytes(data)
    qcow = tmp_path / "disk.qcow2"
    subprocess.run(["qemu-img", "convert", "-f", "raw", "-O", "qcow2", str(raw), str(qcow)],
                   check=True)
    image = cloud.osc("image", "create", "--disk-format", "qcow2", "--container-format",
                      "bare", "--file", str(qcow), unique("img"))
    vol = cloud.osc("volume", "create", "--image", image["id"], "--size", "1",
                    unique("fromimg"))
    shown = _wait(cloud, ["volume"], vol["id"])
    assert shown["bootable"] in (True, "true")
    assert shown["volume_image_metadata"]["image_id"] == image["id"]
    with (volume_dir(cloud) / f"volume-{vol['id']}").open("rb") as f:
        got = f.read(len(data) + 65536)
    assert got[:len(data)] == data
    assert got[len(data):] == b"\x00" * 65536
    # upload it back (as qcow2: small): the new image holds the volume's bytes
    up = cloud.osc("image", "create", "--volume", vol["id"], "--disk-format", "qcow2",
                   unique("fromvol"))
    new_id = up["image_id"]
    token, _ = cloud.token()
    with cloud.client(token) as client:
        end = time.monotonic() + 60
        while client.get(f"/image/v2/images/{new_id}").json()["status"] != "active":
            assert time.monotonic() < end
            time.sleep(0.1)
    out = tmp_path / "back.qcow2"
    cloud.osc("image", "save", "--file", str(out), new_id, as_json=False)
    back = tmp_path / "back.raw"
    subprocess.run(["qemu-img", "convert", "-f", "qcow2", "-O", "raw", str(out), str(back)],
                   check=True)
    assert back.stat().st_size == 1 << 30
    with back.open("rb") as f:
        assert f.read(len(data)) == data
    _wait(cloud, ["volume"], vol["id"])
    cloud.osc("volume", "delete", vol["id"], as_json=False)
    cloud.osc("image", "delete", new_id, image["id"], as_json=False)


def test_snapshot_and_volume_from_snapshot(cloud: LiveCloud) -> None:
    vol = cloud.osc("volume", "create", "--size", "1", unique("src"))
    _wait(cloud, ["volume"], vol["id"])
    path = volume_dir(cloud) / f"volume-{vol['id']}"
    with path.open("r+b") as f:
        f.write(b"snapshot me")
    snap = cloud.osc("volume", "snapshot", "create", "--volume", vol["id"], unique("snap"))
    _wait(cloud, ["volume", "snapshot"], snap["id"])
    assert snap["id"] in {s["ID"] for s in cloud.osc("volume", "snapshot", "list")}
    child = cloud.osc("volume", "create", "--snapshot", snap["id"], unique("child"))
    shown = _wait(cloud, ["volume"], child["id"])
    assert shown["snapshot_id"] == snap["id"] and shown["size"] == 1
    with (volume_dir(cloud) / f"volume-{child['id']}").open("rb") as f:
        assert f.read(11) == b"snapshot me"
    # a volume with snapshots is not deleted without cascade
    proc = cloud.osc("volume", "delete", vol["id"], check=False, as_json=False)
    assert proc.returncode != 0 and "snapshots" in proc.stderr
    cloud.osc("volume", "delete", child["id"], as_json=False)
    cloud.osc("volume", "delete", "--purge", vol["id"], as_json=False)
    _gone(cloud, vol["id"])
    _gone(cloud, child["id"])
    assert not list(volume_dir(cloud).glob(f"*{snap['id']}*"))


def test_volume_types(cloud: LiveCloud) -> None:
    name = unique("type")
    created = cloud.osc("volume", "type", "create", "--property", "k=v", name)
    listed = {t["Name"] for t in cloud.osc("volume", "type", "list")}
    assert {name, "__DEFAULT__"} <= listed
    shown = cloud.osc("volume", "type", "show", created["id"])
    assert shown["properties"] == {"k": "v"}
    vol = cloud.osc("volume", "create", "--size", "1", "--type", name, unique("typed"))
    assert vol["type"] == name
    _wait(cloud, ["volume"], vol["id"])
    proc = cloud.osc("volume", "type", "delete", name, check=False, as_json=False)
    assert proc.returncode != 0  # in use
    cloud.osc("volume", "delete", vol["id"], as_json=False)
    _gone(cloud, vol["id"])
    cloud.osc("volume", "type", "delete", name, as_json=False)


def test_quota_show_and_set(cloud: LiveCloud) -> None:
    cloud.osc("quota", "set", "--volumes", "7", "--gigabytes", "77", "alt_demo",
              as_json=False)
    rows = {r["Resource"]: r["Limit"] for r in
            cloud.osc("quota", "show", "--volume", "alt_demo")}
    assert rows["volumes"] == 7 and rows["gigabytes"] == 77
    cloud.osc("quota", "set", "--volumes", "10", "--gigabytes", "1000", "alt_demo",
              as_json=False)
