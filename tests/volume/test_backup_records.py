"""Backup ``export_record``/``import_record`` with the directory backend, through the stock CLI
(``openstack volume backup record export``) and HTTP: an imported record under a new id
restores the original's bytes, the shared data outlives the first backup deleted and goes with
the last, a record whose data is missing ends in ``error``, bad records are 400s."""

from __future__ import annotations

import base64
import json
import uuid
from pathlib import Path

import httpx

from tests.conftest import LiveCloud
from tests.volume.conftest import volume_dir, wait_status, wait_volume

V = "/volume/v3"


def _wait_backup(client: httpx.Client, bid: str, *statuses: str) -> dict[str, object]:
    return wait_status(client, f"{V}/backups/{bid}", "backup", set(statuses or ("available",)))


def _recode(url: str, **changes: object) -> str:
    record = json.loads(base64.b64decode(url))
    record.update(changes)
    return base64.b64encode(json.dumps(record).encode()).decode()


def test_export_import_restore(cloud: LiveCloud, admin: httpx.Client) -> None:
    vid = admin.post(f"{V}/volumes", json={"volume": {"size": 1}}).json()["volume"]["id"]
    wait_volume(admin, vid)
    with open(volume_dir(cloud) / f"volume-{vid}", "r+b") as f:
        f.seek(4096)
        f.write(b"exported bytes")
    bid = admin.post(f"{V}/backups", json={"backup": {"volume_id": vid}}).json()["backup"]["id"]
    _wait_backup(admin, bid)
    record = cloud.osc("volume", "backup", "record", "export", bid)
    assert record["backup_service"].startswith("cinder.backup.drivers.")
    new_id = str(uuid.uuid4())
    # (``volume backup record import`` cannot be used: openstacksdk posts it to
    # ``/backups/export_record`` with the URL path as the record, against any Cinder)
    r = admin.post(f"{V}/backups/import_record", json={"backup-record": {
        "backup_service": record["backup_service"],
        "backup_url": _recode(record["backup_url"], id=new_id)}})
    assert r.status_code == 201, r.text
    assert r.json()["backup"]["id"] == new_id
    shown = _wait_backup(admin, new_id)
    assert shown["size"] == 1 and shown["volume_id"] == vid
    assert new_id in {b["id"] for b in admin.get(f"{V}/backups").json()["backups"]}
    # importing the same id again is refused
    again = admin.post(f"{V}/backups/import_record", json={"backup-record": {
        "backup_service": record["backup_service"],
        "backup_url": _recode(record["backup_url"], id=new_id)}})
    assert again.status_code == 400, again.text
    backups_dir = cloud.state_dir / "backups"
    files = {p.name for p in backups_dir.iterdir()}
    assert f"backup-{bid}" in files and f"backup-{new_id}" not in files  # one copy of the data
    # the original goes; its data stays for the import, which restores the original's bytes
    assert admin.delete(f"{V}/backups/{bid}").status_code == 202
    _wait_backup(admin, bid, "gone")
    assert (backups_dir / f"backup-{bid}").exists()
    r = admin.post(f"{V}/backups/{new_id}/restore", json={"restore": {}})
    assert r.status_code == 202, r.text
    target = r.json()["restore"]["volume_id"]
    wait_volume(admin, target)
    _wait_backup(admin, new_id)
    with open(volume_dir(cloud) / f"volume-{target}", "rb") as f:
        f.seek(4096)
        assert f.read(14) == b"exported bytes"
    # the last backup of the data takes the file with it
    assert admin.delete(f"{V}/backups/{new_id}").status_code == 202
    _wait_backup(admin, new_id, "gone")
    assert not (backups_dir / f"backup-{bid}").exists()
    for v in (vid, target):
        assert admin.delete(f"{V}/volumes/{v}").status_code == 202
        wait_volume(admin, v, "gone")


def test_import_without_data_and_bad_records(cloud: LiveCloud, admin: httpx.Client,
                                             demo: httpx.Client) -> None:
    vid = admin.post(f"{V}/volumes", json={"volume": {"size": 1}}).json()["volume"]["id"]
    wait_volume(admin, vid)
    bid = admin.post(f"{V}/backups", json={"backup": {"volume_id": vid}}).json()["backup"]["id"]
    _wait_backup(admin, bid)
    rec = admin.get(f"{V}/backups/{bid}/export_record").json()["backup-record"]
    assert demo.get(f"{V}/backups/{bid}/export_record").status_code == 403
    # a record naming data that is not in the backup directory: the agent says so
    lost = str(uuid.uuid4())
    r = admin.post(f"{V}/backups/import_record", json={"backup-record": {
        "backup_service": rec["backup_service"],
        "backup_url": _recode(rec["backup_url"], id=lost, service_metadata=lost)}})
    assert r.status_code == 201, r.text
    failed = _wait_backup(admin, lost, "error")
    assert "no data" in str(failed["fail_reason"])
    assert admin.delete(f"{V}/backups/{lost}").status_code == 202
    _wait_backup(admin, lost, "gone")
    assert Path(cloud.state_dir / "backups" / f"backup-{bid}").exists()
    before = len(admin.get(f"{V}/backups").json()["backups"])
    for bad in ({"backup_service": "cinder.backup.drivers.swift.SwiftBackupDriver",
                 "backup_url": rec["backup_url"]},
                {"backup_service": rec["backup_service"], "backup_url": "%%%"},
                {"backup_service": rec["backup_service"],
                 "backup_url": base64.b64encode(b"[1, 2]").decode()},
                {"backup_service": rec["backup_service"],
                 "backup_url": _recode(rec["backup_url"], id="not-a-uuid")},
                {"backup_service": rec["backup_service"],
                 "backup_url": _recode(rec["backup_url"], id=str(uuid.uuid4()), size=0)}):
        r = admin.post(f"{V}/backups/import_record", json={"backup-record": bad})
        assert r.status_code == 400 and "badRequest" in r.json(), (bad, r.text)
    assert len(admin.get(f"{V}/backups").json()["backups"]) == before
    assert demo.post(f"{V}/backups/import_record", json={"backup-record": rec}).status_code \
        == 403
    # a backup not available cannot be exported
    admin.post(f"{V}/backups/{bid}/action", json={"os-reset_status": {"status": "error"}})
    assert admin.get(f"{V}/backups/{bid}/export_record").status_code == 400
    assert admin.delete(f"{V}/backups/{bid}").status_code == 202
    _wait_backup(admin, bid, "gone")
    assert admin.delete(f"{V}/volumes/{vid}").status_code == 202
    wait_volume(admin, vid, "gone")
