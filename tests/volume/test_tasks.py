"""Task bookkeeping on its own database: reports finish tasks, deadlines move stuck volumes
and snapshots to error states, and a restarted conductor re-sends what is in flight."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from pocketstack.common.db import Database
from pocketstack.volume import tables as t
from pocketstack.volume.domain import tasks
from pocketstack.volume.domain.common import now


@pytest.fixture
def db(tmp_path: Path) -> Database:
    database = Database(f"sqlite:///{tmp_path / 'v.db'}")
    tables = [t.volume_types, t.type_access, t.volumes, t.snapshots, t.quotas,
              t.project_locks, t.services, t.backups, t.messages, t.backup_data]
    t.volumes.metadata.create_all(database.engine, tables=tables)
    return database


def _volume(conn: Any, ident: str, **values: Any) -> None:
    row = {"id": ident, "project_id": "p", "size": 1, "status": "creating",
           "attach_status": "detached", "availability_zone": "nova", "host": "h@file",
           "bootable": False, "readonly": False, "multiattach": False, "encrypted": False,
           "metadata": {}, "image_metadata": {}, "admin_metadata": {}, "attachments": [],
           "task": "create", "task_deadline": now() + dt.timedelta(seconds=60),
           "created_at": now()}
    row.update(values)
    conn.execute(sa.insert(t.volumes).values(**row))


def _status(db: Database, ident: str) -> Any:
    return db.read(lambda c: c.execute(sa.select(t.volumes.c.status, t.volumes.c.task,
                                                 t.volumes.c.size, t.volumes.c.status_reason)
                                       .where(t.volumes.c.id == ident)).first())


def test_reports_finish_tasks(db: Database) -> None:
    db.write(_volume, "a")
    db.write(_volume, "b")
    db.write(_volume, "c", status="extending", task="extend",
             admin_metadata={"extend_from": "in-use", "extend_to": "3"})
    assert db.write(tasks.finish, "volume", "a", "create", True, None)
    assert db.write(tasks.finish, "volume", "b", "create", False, "disk full", "req-1")
    assert db.write(tasks.finish, "volume", "c", "extend", True, None)
    assert tuple(_status(db, "a")) == ("available", None, 1, None)
    assert tuple(_status(db, "b")) == ("error", None, 1, "disk full")
    assert tuple(_status(db, "c")) == ("in-use", None, 3, None)
    assert not db.write(tasks.finish, "volume", "a", "create", True, None)  # a late repeat
    # the failure left the project a user message; the successes none
    m = t.messages
    rows = db.read(lambda c: c.execute(sa.select(
        m.c.project_id, m.c.resource_uuid, m.c.action_id, m.c.detail_id, m.c.request_id)).all())
    assert [tuple(r) for r in rows] == [("p", "b", "008", "012", "req-1")]


def test_deadlines_move_stuck_work_to_error(db: Database) -> None:
    past = now() - dt.timedelta(seconds=1)
    db.write(_volume, "a", task_deadline=past)
    db.write(_volume, "b", status="deleting", task="delete", task_deadline=past)
    db.write(_volume, "c")  # still within its deadline
    assert db.write(tasks.reconcile) == 2
    assert _status(db, "a")[:2] == ("error", None)
    assert "deadline" in _status(db, "a")[3]
    assert _status(db, "b")[:2] == ("error_deleting", None)
    assert _status(db, "c")[:2] == ("creating", "create")


def test_pending_work_is_resent(db: Database) -> None:
    db.write(_volume, "blank")
    db.write(_volume, "img", image_id="i1", image_metadata={"disk_format": "qcow2"})
    db.write(_volume, "gone", status="deleting", task="delete")
    db.write(_volume, "done", status="available", task=None, task_deadline=None)

    def snap(conn: Any) -> None:
        conn.execute(sa.insert(t.snapshots).values(
            id="s1", project_id="p", volume_id="done", size=1, status="creating",
            progress="0%", metadata={}, task="create", created_at=now()))

    db.write(snap)
    msgs = {m["id"]: m for m in db.read(tasks.pending)}
    assert set(msgs) == {"blank", "img", "gone", "s1"}
    assert msgs["blank"]["source"] == {} and msgs["blank"]["host"] == "h@file"
    assert msgs["img"]["source"] == {"type": "image", "id": "i1", "path": None,
                                     "disk_format": "qcow2"}
    assert msgs["gone"]["op"] == "delete"
    assert (msgs["s1"]["op"], msgs["s1"]["volume_id"], msgs["s1"]["host"]) == (
        "snapshot", "done", "h@file")


def _backup(conn: Any, ident: str, **values: Any) -> None:
    row = {"id": ident, "project_id": "p", "volume_id": "v", "size": 1, "status": "creating",
           "availability_zone": "nova", "host": "h@file", "is_incremental": False,
           "object_count": 0, "metadata": {}, "task": "create",
           "task_deadline": now() + dt.timedelta(seconds=60), "data_timestamp": now(),
           "created_at": now()}
    row.update(values)
    conn.execute(sa.insert(t.backups).values(**row))


def _backup_status(db: Database, ident: str) -> Any:
    return db.read(lambda c: c.execute(sa.select(t.backups.c.status, t.backups.c.task)
                                       .where(t.backups.c.id == ident)).first())


def test_backup_tasks_finish_expire_and_resend(db: Database) -> None:
    """A backup's volume goes back to its status; a stuck restore leaves the target in
    error_restoring and the backup available; a restarted conductor re-sends them."""
    past = now() - dt.timedelta(seconds=1)
    db.write(_volume, "v", status="backing-up", task=None, task_deadline=None,
             admin_metadata={"backup_from": "in-use"})
    db.write(_volume, "r", status="restoring-backup", task=None, task_deadline=None)
    db.write(_backup, "b1")
    db.write(_backup, "b2", status="restoring", task="restore", restore_volume_id="r",
             task_deadline=past)
    db.write(_backup, "b3", status="deleting", task="delete")
    msgs = {m["id"]: m for m in db.read(tasks.pending)}
    assert msgs["b1"]["op"] == "backup" and msgs["b2"]["op"] == "restore"
    assert msgs["b2"]["volume_id"] == "r" and msgs["b3"]["op"] == "delete_backup"
    assert db.write(tasks.finish, "backup", "b1", "backup", True, None)
    assert tuple(_backup_status(db, "b1")) == ("available", None)
    assert _status(db, "v")[0] == "in-use"
    assert db.write(tasks.reconcile) == 1
    assert tuple(_backup_status(db, "b2")) == ("available", None)
    assert _status(db, "r")[0] == "error_restoring"
    assert db.write(tasks.finish, "backup", "b3", "delete_backup", True, None)
    assert _backup_status(db, "b3") is None


def test_compute_reservations_are_computes_to_roll_back(db: Database) -> None:
    """An attach or detach reserved by compute past its deadline stays as it is for the volume
    reconciler (compute's reconciler rolls it back and fixes the server's mapping) and is
    listed as overdue; rolling back puts the volume where it was."""
    from pocketstack.volume.domain import volumes

    past = now() - dt.timedelta(seconds=1)
    db.write(_volume, "att", status="available", task=None, task_deadline=None)
    db.write(_volume, "det", status="in-use", task=None, task_deadline=None,
             attach_status="attached", attachments=[{"server_id": "s2", "id": "x"}])
    db.write(lambda c: volumes.reserve(c, volumes.get(c, "att", None, True), "s1", past))
    db.write(lambda c: volumes.begin_detaching(c, volumes.get(c, "det", None, True), "s2",
                                               past))
    assert db.write(tasks.reconcile) == 0
    assert _status(db, "att")[:2] == ("attaching", "attach")
    assert sorted(db.read(volumes.overdue_reservations, now())) == [
        ("att", "s1", "attach"), ("det", "s2", "detach")]
    # unreserving for another server changes nothing; for its own, back to available
    db.write(lambda c: volumes.unreserve(c, volumes.get(c, "att", None, True), "s9"))
    assert _status(db, "att")[:2] == ("attaching", "attach")
    db.write(lambda c: volumes.unreserve(c, volumes.get(c, "att", None, True), "s1"))
    db.write(lambda c: volumes.roll_detaching(c, volumes.get(c, "det", None, True)))
    assert _status(db, "att")[:2] == ("available", None)
    assert _status(db, "det")[:2] == ("in-use", None)
    assert db.read(volumes.overdue_reservations, now()) == []
    # an attach that comes too late (its reservation was rolled back) is refused
    with pytest.raises(Exception, match="no longer reserved"):
        db.write(lambda c: volumes.attach(c, volumes.get(c, "att", None, True), "s1", "h",
                                          "/dev/vdb", None, True))


def test_progress_is_shown_while_copying_and_removed_after(db: Database) -> None:
    db.write(_volume, "img", image_id="i1", metadata={"a": "b"})
    assert db.write(tasks.progress, "img", 40)
    vol = db.read(lambda c: c.execute(sa.select(t.volumes).where(t.volumes.c.id == "img"))
                  .first())
    assert vol.status == "downloading" and vol.metadata == {"a": "b", "progress": "40%"}
    assert db.write(tasks.finish, "volume", "img", "create", True, None)
    vol = db.read(lambda c: c.execute(sa.select(t.volumes).where(t.volumes.c.id == "img"))
                  .first())
    assert vol.status == "available" and vol.metadata == {"a": "b"}
    assert not db.write(tasks.progress, "img", 90)  # a late report after the copy


def _image(**values: Any) -> Any:
    from pocketstack.volume.domain import reimage

    fields: dict[str, Any] = {"id": "img-b", "status": "active", "size": 1 << 20,
                              "virtual_size": 1 << 20, "min_disk": 0, "disk_format": "raw",
                              "path": "/images/b", "metadata": {"image_id": "img-b"}}
    fields.update(values)
    return reimage.Image(**fields)


def test_reimage_task_finishes_fails_expires_and_is_resent(db: Database) -> None:
    """A re-image goes back to the status it came from with the new image metadata (its
    progress key gone); a failed one is ``error`` with a user message (action 016, Cinder's
    ``reimage volume``); one past its deadline is ``error`` too; a restarted conductor re-sends
    it; a late report of a re-image overtaken by a delete changes nothing."""
    from pocketstack.volume.domain import reimage, volumes

    for ident in ("ok", "bad", "late", "gone"):
        db.write(_volume, ident, status="available", task=None, task_deadline=None,
                 image_metadata={"image_id": "img-a"})
    soon = now() + dt.timedelta(seconds=60)
    msgs = {}
    for ident in ("ok", "bad", "late", "gone"):
        msgs[ident] = db.write(lambda c, i=ident: reimage.begin(
            c, volumes.get(c, i, None, True), _image(), False, soon))
    assert msgs["ok"] == {"op": "reimage", "kind": "volume", "id": "ok", "host": "h@file",
                          "size": 1, "source": {"type": "image", "id": "img-b",
                                                "path": "/images/b", "disk_format": "raw"}}
    assert _status(db, "ok")[:2] == ("downloading", "reimage")
    assert db.write(tasks.progress, "ok", 40)
    resent = {m["id"]: m for m in db.read(tasks.pending)}
    assert resent["ok"]["op"] == "reimage" and resent["ok"]["source"]["id"] == "img-b"
    assert db.write(tasks.finish, "volume", "ok", "reimage", True, None)
    row = db.read(lambda c: volumes.get(c, "ok", None, True))
    assert (row["status"], row["task"], row["image_metadata"]) == (
        "available", None, {"image_id": "img-b"})
    assert "progress" not in row["metadata"]
    assert not any(k.startswith("reimage") for k in row["admin_metadata"])
    assert db.write(tasks.finish, "volume", "bad", "reimage", False, "qemu-img failed", "r-2")
    assert tuple(_status(db, "bad")) == ("error", None, 1, "qemu-img failed")
    bad = db.read(lambda c: volumes.get(c, "bad", None, True))
    assert bad["image_metadata"] == {"image_id": "img-a"}  # the old image is still there
    m = t.messages
    rows = db.read(lambda c: c.execute(sa.select(m.c.resource_uuid, m.c.action_id,
                                                 m.c.detail_id, m.c.request_id)).all())
    assert [tuple(r) for r in rows] == [("bad", "016", "001", "r-2")]
    db.write(lambda c: c.execute(sa.update(t.volumes).where(t.volumes.c.id == "late").values(
        task_deadline=now() - dt.timedelta(seconds=1))))
    assert db.write(tasks.reconcile) == 1
    assert _status(db, "late")[:2] == ("error", None)
    db.write(lambda c: volumes.update(c, volumes.get(c, "gone", None, True),
                                      {"status": "deleting", "task": "delete"}))
    assert not db.write(tasks.finish, "volume", "gone", "reimage", True, None)
    assert _status(db, "gone")[:2] == ("deleting", "delete")


def test_reimage_checks_and_hold(db: Database) -> None:
    """Cinder's order and answers: more than one attachment 409, the status 400, the image
    400 (size, min_disk, virtual size), a Nova snapshot image's boot snapshot 404; compute's
    hold and release of a server's root volume."""
    from pocketstack.common import exceptions
    from pocketstack.volume import errors
    from pocketstack.volume.domain import reimage, volumes

    soon = now() + dt.timedelta(seconds=60)
    two = [{"server_id": "s1"}, {"server_id": "s2"}]
    db.write(_volume, "two", status="in-use", task=None, attachments=two)
    db.write(_volume, "one", status="in-use", task=None, attachments=[{"server_id": "s1"}])

    def begin(ident: str, image: Any, reserved: bool = False) -> Any:
        return db.write(lambda c: reimage.begin(c, volumes.get(c, ident, None, True), image,
                                                reserved, soon, "p", False))

    with pytest.raises(errors.Busy):
        begin("two", _image(), True)
    with pytest.raises(errors.InvalidState, match="must be available or error, but current "
                       "status is in-use"):
        begin("one", _image())
    db.write(lambda c: reimage.hold(c, volumes.get(c, "one", None, True), "s1"))
    assert _status(db, "one")[0] == "reserved"
    with pytest.raises(errors.InvalidState, match="must be in-use by server s1"):
        db.write(lambda c: reimage.hold(c, volumes.get(c, "one", None, True), "s1"))
    for image, text in ((_image(size=3 << 30), "Size of specified image 3GB"),
                        (_image(min_disk=2), "minDisk size 2GB"),
                        (_image(virtual_size=5 << 30), "virtual size is 5GB"),
                        (_image(status="queued"), "is not active")):
        with pytest.raises(errors.InvalidInput, match=text):
            begin("one", image, True)
    nova = _image(size=0, properties={"block_device_mapping": json.dumps([
        {"source_type": "snapshot", "boot_index": 0, "snapshot_id": "snap-x",
         "volume_size": 1}])})
    with pytest.raises(exceptions.NotFound, match="snapshot id:snap-x not found"):
        begin("one", nova, True)
    too_big = _image(size=0, properties={"block_device_mapping": [
        {"source_type": "snapshot", "boot_index": "0", "snapshot_id": "snap-x",
         "volume_size": 4}]})
    with pytest.raises(errors.InvalidInput, match=r"\(Image: 4, Volume: 1\)"):
        begin("one", too_big, True)
    assert _status(db, "one")[0] == "reserved"  # none of these changed it
    msg = begin("one", _image(), True)
    assert msg["op"] == "reimage"
    assert db.write(tasks.finish, "volume", "one", "reimage", True, None)
    assert _status(db, "one")[0] == "reserved"
    db.write(lambda c: reimage.release(c, volumes.get(c, "one", None, True), "other"))
    assert _status(db, "one")[0] == "reserved"  # held for another server: left alone
    db.write(lambda c: reimage.release(c, volumes.get(c, "one", None, True), "s1"))
    row = db.read(lambda c: volumes.get(c, "one", None, True))
    assert (row["status"], row["attachments"]) == ("in-use", [{"server_id": "s1"}])
    assert not any(k.startswith("reimage") for k in row["admin_metadata"])


def test_shared_targets_rule_and_view() -> None:
    """Cinder's ``_driver_shares_targets`` and the 3.69 view: ``null`` only from 3.69."""
    from types import SimpleNamespace

    from pocketstack.common.api.microversion import Version
    from pocketstack.volume.api import views
    from pocketstack.volume.domain.services import shares_targets

    assert shares_targets({"storage_protocol": "local"}) is False
    assert shares_targets({"storage_protocol": "iSCSI"}) is True
    assert shares_targets({"storage_protocol": "iSCSI", "shared_targets": False}) is False
    assert shares_targets({"storage_protocol": "NVMe-TCP"}) is None
    row = {"id": "v", "name": None, "description": None, "size": 1, "status": "available",
           "availability_zone": "nova", "created_at": None, "updated_at": None,
           "attachments": [], "bootable": False, "encrypted": False, "multiattach": False,
           "metadata": {}, "admin_metadata": {"shared_targets": None}, "snapshot_id": None,
           "source_volid": None, "user_id": None, "volume_type_id": None, "project_id": "p",
           "host": "h@file", "image_metadata": {}}
    for version, shown in (("3.48", True), ("3.68", True), ("3.69", None), ("3.70", None)):
        req: Any = SimpleNamespace(microversion=Version.parse(version), url_for=lambda p: p)
        assert views.volume(req, row, {}, False)["shared_targets"] is shown, version


def test_encrypted_volumes_transfer_from_3_70(db: Database) -> None:
    """Cinder's transfer API: an encrypted volume only with ``allow_encrypted`` (3.70) and
    only with its snapshots."""
    from pocketstack.volume import errors
    from pocketstack.volume.domain import transfers

    db.write(lambda c: t.transfers.metadata.create_all(c, tables=[t.transfers]))
    db.write(_volume, "enc", status="available", task=None, encrypted=True)

    def create(allow: bool, no_snapshots: bool = False) -> Any:
        return db.write(lambda c: transfers.create(
            c, volume_id="enc", project_id="p", admin=False, name=None,
            no_snapshots=no_snapshots, allow_encrypted=allow))

    with pytest.raises(errors.InvalidState, match="transferring encrypted volume is not "
                       "supported"):
        create(False)
    with pytest.raises(errors.InvalidState, match="without its snapshots"):
        create(True, no_snapshots=True)
    assert _status(db, "enc")[0] == "available"
    made = create(True)
    assert made["auth_key"] and _status(db, "enc")[0] == "awaiting-transfer"
