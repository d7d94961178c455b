"""Task bookkeeping on its own database: reports finish tasks, deadlines move stuck volumes
and snapshots to error states, and a restarted conductor re-sends what is in flight."""

from __future__ import annotations

import datetime as dt
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
