"""Volume backups: the directory backend on its own (sparse copies, restore grows, nothing
half-written), then ``/v3/backups`` over HTTP (create, incremental, restore into an existing
and a new volume, quotas, status transitions, bad input, isolation) and the stock CLI."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from pocketstack.agents.volume.backend import GIB, BackendError, FileBackend
from tests.conftest import LiveCloud, unique
from tests.volume.conftest import volume_dir, wait_status, wait_volume

V = "/volume/v3"


def test_backend_backup_restore_sparse(tmp_path: Path) -> None:
    b = FileBackend(tmp_path / "vols", backup_root=tmp_path / "backups")
    b.create("v1", 1)
    with open(b.volume_path("v1"), "r+b") as f:
        f.seek(GIB // 2)
        f.write(b"backed up")
    b.backup("b1", "v1", None)
    path = b.backup_path("b1")
    assert path.parent == tmp_path / "backups"
    assert path.stat().st_size == GIB and path.stat().st_blocks * 512 < 1 << 20
    with open(b.volume_path("v1"), "r+b") as f:
        f.seek(GIB // 2)
        f.write(b"changed!!")
    b.restore("b1", "v1", 1)
    with open(b.volume_path("v1"), "rb") as f:
        f.seek(GIB // 2)
        assert f.read(9) == b"backed up"
    b.restore("b1", "v2", 2)  # a new, bigger volume
    assert b.volume_path("v2").stat().st_size == 2 * GIB
    b.create("small", 1)
    b.backup("b2", "v2", None)
    with pytest.raises(BackendError):
        b.restore("b2", "small", 1)
    with pytest.raises(BackendError):
        b.backup("b3", "missing", None)
    assert not [p for p in (tmp_path / "backups").iterdir() if p.name.endswith(".part")]
    assert not b.backup_path("b3").exists()
    b.delete_backup("b1")
    b.delete_backup("b1")  # idempotent
    assert not path.exists()


def _backup(client: httpx.Client, **body: Any) -> str:
    r = client.post(f"{V}/backups", json={"backup": body})
    assert r.status_code == 202, r.text
    return str(r.json()["backup"]["id"])


def _wait_backup(client: httpx.Client, bid: str, *statuses: str) -> dict[str, Any]:
    return wait_status(client, f"{V}/backups/{bid}", "backup", set(statuses or ("available",)))


def test_backup_restore_over_http(cloud: LiveCloud, demo: httpx.Client,
                                  alt: httpx.Client) -> None:
    r = demo.post(f"{V}/volumes", json={"volume": {"size": 1, "metadata": {"k": "v"}}})
    vid = r.json()["volume"]["id"]
    wait_volume(demo, vid)
    vfile = volume_dir(cloud) / f"volume-{vid}"
    with vfile.open("r+b") as f:
        f.write(b"version one")
    # incremental with no full backup yet: refused, nothing written
    r = demo.post(f"{V}/backups", json={"backup": {"volume_id": vid, "incremental": True}})
    assert r.status_code == 400, r.text
    bid = _backup(demo, volume_id=vid, name="full")
    assert demo.get(f"{V}/volumes/{vid}").json()["volume"]["status"] in (
        "backing-up", "available")
    shown = _wait_backup(demo, bid)
    assert shown["size"] == 1 and shown["is_incremental"] is False
    assert wait_volume(demo, vid)["status"] == "available"
    assert (cloud.state_dir / "backups" / f"backup-{bid}").exists()
    inc = _backup(demo, volume_id=vid, incremental=True)
    assert _wait_backup(demo, inc)["is_incremental"] is True
    assert demo.get(f"{V}/backups/{bid}").json()["backup"]["has_dependent_backups"] is True
    # a parent with dependents cannot go first
    assert demo.delete(f"{V}/backups/{bid}").status_code == 400
    # lists, isolation, bad input
    ids = {b["id"] for b in demo.get(f"{V}/backups").json()["backups"]}
    assert {bid, inc} <= ids
    detail = demo.get(f"{V}/backups/detail", params={"volume_id": vid}).json()["backups"]
    assert {b["id"] for b in detail} == {bid, inc}
    assert alt.get(f"{V}/backups/{bid}").status_code == 404
    assert bid not in {b["id"] for b in alt.get(f"{V}/backups").json()["backups"]}
    assert alt.post(f"{V}/backups/{bid}/restore", json={"restore": {}}).status_code == 404
    assert alt.post(f"{V}/backups", json={"backup": {"volume_id": vid}}).status_code == 404
    for bad in ({}, {"volume_id": 5}, {"volume_id": vid, "incremental": "maybe"},
                {"volume_id": vid, "name": "x" * 300}):
        r = demo.post(f"{V}/backups", json={"backup": bad})
        assert r.status_code == 400, (bad, r.text)
    assert demo.post(f"{V}/backups", json=[]).status_code == 400
    assert demo.post(f"{V}/backups/{bid}/action",
                     json={"os-reset_status": {"status": "error"}}).status_code == 403
    # restore into the existing volume
    with vfile.open("r+b") as f:
        f.write(b"version two")
    r = demo.post(f"{V}/backups/{bid}/restore", json={"restore": {"volume_id": vid}})
    assert r.status_code == 202, r.text
    assert r.json()["restore"] == {"backup_id": bid, "volume_id": vid,
                                   "volume_name": None}
    _wait_backup(demo, bid)
    wait_volume(demo, vid)
    with vfile.open("rb") as f:
        assert f.read(11) == b"version one"
    # restore into a new volume
    r = demo.post(f"{V}/backups/{bid}/restore", json={"restore": {"name": "restored"}})
    assert r.status_code == 202, r.text
    new = r.json()["restore"]["volume_id"]
    assert r.json()["restore"]["volume_name"] == "restored"
    restored = wait_volume(demo, new)
    assert restored["size"] == 1 and restored["metadata"] == {"k": "v"}
    with (volume_dir(cloud) / f"volume-{new}").open("rb") as f:
        assert f.read(11) == b"version one"
    # a busy volume cannot be a restore target
    r = demo.post(f"{V}/volumes", json={"volume": {"size": 1}})
    busy = r.json()["volume"]["id"]
    wait_volume(demo, busy)
    demo_admin_reset = {"os-reset_status": {"status": "error"}}
    token, _ = cloud.token()
    with cloud.client(token) as admin:
        assert admin.post(f"{V}/volumes/{busy}/action", json=demo_admin_reset
                          ).status_code == 202
        r = demo.post(f"{V}/backups/{bid}/restore", json={"restore": {"volume_id": busy}})
        assert r.status_code == 400, r.text
        # admin reset-status of a backup
        assert admin.post(f"{V}/backups/{inc}/action",
                          json={"os-reset_status": {"status": "error"}}).status_code == 202
        assert demo.get(f"{V}/backups/{inc}").json()["backup"]["status"] == "error"
        assert admin.post(f"{V}/backups/{inc}/action",
                          json={"os-reset_status": {"status": "bogus"}}).status_code == 400
        svcs = admin.get(f"{V}/os-services", params={"binary": "cinder-backup"}).json()
        assert [s["host"] for s in svcs["services"]] == ["compute1"]
    for b in (inc, bid):
        assert demo.delete(f"{V}/backups/{b}").status_code == 202
        _wait_backup(demo, b, "gone")
    assert not list((cloud.state_dir / "backups").glob(f"*{bid}*"))
    for v in (vid, new, busy):
        assert demo.delete(f"{V}/volumes/{v}").status_code == 202
        wait_volume(demo, v, "gone")


def test_backup_quotas(cloud: LiveCloud, admin: httpx.Client, alt: httpx.Client) -> None:
    _, token = cloud.token("alt_demo", project="alt_demo")
    project = token["project"]["id"]
    r = alt.post(f"{V}/volumes", json={"volume": {"size": 1}})
    vid = r.json()["volume"]["id"]
    wait_volume(alt, vid)
    admin.put(f"{V}/os-quota-sets/{project}", json={"quota_set": {"backups": 1}})
    try:
        bid = _backup(alt, volume_id=vid)
        _wait_backup(alt, bid)
        r = alt.post(f"{V}/backups", json={"backup": {"volume_id": vid}})
        assert r.status_code == 413, r.text
        q = admin.get(f"{V}/os-quota-sets/{project}", params={"usage": "true"}).json()
        assert q["quota_set"]["backups"]["in_use"] == 1
        assert q["quota_set"]["backup_gigabytes"]["in_use"] == 1
        admin.put(f"{V}/os-quota-sets/{project}",
                  json={"quota_set": {"backups": 5, "backup_gigabytes": 1}})
        r = alt.post(f"{V}/backups", json={"backup": {"volume_id": vid}})
        assert r.status_code == 413, r.text
        assert wait_volume(alt, vid)["status"] == "available"
        assert alt.delete(f"{V}/backups/{bid}").status_code == 202
        _wait_backup(alt, bid, "gone")
    finally:
        admin.delete(f"{V}/os-quota-sets/{project}")
    assert alt.delete(f"{V}/volumes/{vid}").status_code == 202
    wait_volume(alt, vid, "gone")


def test_backup_cli(cloud: LiveCloud) -> None:
    name = unique("bvol")
    vid = cloud.osc("volume", "create", "--size", "1", name)["id"]
    token, _ = cloud.token()
    with cloud.client(token) as client:
        wait_volume(client, vid)
        bk = cloud.osc("volume", "backup", "create", "--name", name + "-b", vid)
        _wait_backup(client, bk["id"])
        assert bk["id"] in {b["ID"] for b in cloud.osc("volume", "backup", "list")}
        shown = cloud.osc("volume", "backup", "show", bk["id"])
        assert shown["volume_id"] == vid and shown["status"] == "available"
        cloud.osc("volume", "backup", "restore", "--force", bk["id"], vid, as_json=False)
        _wait_backup(client, bk["id"])
        wait_volume(client, vid)
        cloud.osc("volume", "backup", "delete", bk["id"], as_json=False)
        _wait_backup(client, bk["id"], "gone")
        cloud.osc("volume", "delete", vid, as_json=False)
        wait_volume(client, vid, "gone")


def test_volume_summary_and_missing_markers(alt: httpx.Client) -> None:
    """3.12 summary (3.36 metadata); an unknown marker is a 404 like Cinder's."""
    mv = {"OpenStack-API-Version": "volume 3.36"}
    before = alt.get(f"{V}/volumes/summary", headers=mv).json()["volume-summary"]
    r = alt.post(f"{V}/volumes", json={"volume": {"size": 1, "metadata": {"tier": "x"}}})
    vid = r.json()["volume"]["id"]
    after = alt.get(f"{V}/volumes/summary", headers=mv).json()["volume-summary"]
    assert after["total_count"] == before["total_count"] + 1
    assert after["total_size"] == before["total_size"] + 1
    assert "x" in after["metadata"]["tier"]
    assert alt.get(f"{V}/volumes/summary").status_code == 404  # below 3.12
    for path in ("volumes", "snapshots", "backups"):
        assert alt.get(f"{V}/{path}", params={"marker": "nope"}).status_code == 404
    wait_volume(alt, vid)
    assert alt.delete(f"{V}/volumes/{vid}").status_code == 202
    wait_volume(alt, vid, "gone")


def test_type_pinned_to_another_backend_goes_to_error(admin: httpx.Client) -> None:
    """A type whose ``storage_protocol`` (or ``volume_backend_name``, ``vendor_name``) no
    storage host has: the volume is ``error`` at once (Cinder's "No valid backend"), no file."""
    name = unique("pinned")
    r = admin.post(f"{V}/types", json={"volume_type": {
        "name": name, "extra_specs": {"storage_protocol": "nonexistent"}}})
    assert r.status_code == 200, r.text
    tid = r.json()["volume_type"]["id"]
    r = admin.post(f"{V}/volumes", json={"volume": {"size": 1, "volume_type": name}})
    assert r.status_code == 202 and r.json()["volume"]["status"] == "error", r.text
    vid = r.json()["volume"]["id"]
    assert admin.delete(f"{V}/volumes/{vid}").status_code == 202
    wait_volume(admin, vid, "gone")
    assert admin.delete(f"{V}/types/{tid}").status_code == 202


def test_empty_ids_are_404(demo: httpx.Client) -> None:
    for path in ("volumes/", "snapshots/", "backups/"):
        assert demo.get(f"{V}/{path}").status_code == 404
        assert demo.delete(f"{V}/{path}").status_code == 404
        assert demo.put(f"{V}/{path}", json={}).status_code == 404
