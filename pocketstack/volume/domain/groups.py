"""Generic volume groups (``/groups``, 3.13+) and group snapshots (``/group_snapshots``,
3.14+), as Cinder's generic group implementation has them: a group is a database grouping of
a project's volumes whose types are among the group's volume types; the backend does the work
volume by volume.

* A group is ``available`` when made empty; one made from another group or a group snapshot
  (``create-from-src``) clones each source volume (or snapshot) into a new volume of the new
  group and shows ``creating`` until none of them is (then ``available``, or ``error`` if one
  failed): its stored status is :data:`MAKING` until a reset.
* A group snapshot snapshots every volume of the group and is ``creating`` until all its
  snapshots are ``available`` (``error`` if one failed); deleting it deletes them.
* Deleting a group with volumes needs ``delete-volumes`` (they are deleted with it); a group
  with group snapshots cannot be deleted.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from pocketstack.common import exceptions
from pocketstack.volume import errors
from pocketstack.volume import tables as t
from pocketstack.volume.domain import group_types, snapshots, types, volumes
from pocketstack.volume.domain.common import now, row_dict

SORT_KEYS = {"id", "name", "status", "created_at", "availability_zone"}
STATUSES = ("available", "creating", "error", "deleting", "error_deleting", "updating")


class GroupNotFound(exceptions.NotFound):
    def __init__(self, ident: str) -> None:
        super().__init__(f"Group {ident} could not be found.")


class GroupSnapshotNotFound(exceptions.NotFound):
    def __init__(self, ident: str) -> None:
        super().__init__(f"GroupSnapshot {ident} could not be found.")


#: the stored status of a group (snapshot) whose members are being made: shown as
#: ``creating`` until they are done (a reset to ``creating`` is stored as such)
MAKING = "creating-members"


def _derived(status: str, member_statuses: list[str]) -> str:
    """A group (snapshot) whose members are being made is done when they are."""
    if status != MAKING:
        return status
    if not member_statuses:
        return "available"
    if any(s.startswith("error") for s in member_statuses):
        return "error"
    if all(s in ("available", "in-use") for s in member_statuses):
        return "available"
    return "creating"


def member_ids(conn: Connection, group_id: str) -> list[str]:
    gv = t.group_volumes
    return [r[0] for r in conn.execute(sa.select(gv.c.volume_id).where(gv.c.group_id == group_id)
                                       .order_by(gv.c.volume_id))]


def _with_status(conn: Connection, row: dict[str, Any]) -> dict[str, Any]:
    if row["status"] == MAKING:
        v, gv = t.volumes, t.group_volumes
        states = [r[0] for r in conn.execute(sa.select(v.c.status).join(
            gv, gv.c.volume_id == v.c.id).where(gv.c.group_id == row["id"]))]
        row["status"] = _derived(row["status"], states)
    return row


def get(conn: Connection, ident: str, project_id: str | None, admin: bool) -> dict[str, Any]:
    g = t.groups
    q = sa.select(g).where(g.c.id == ident)
    if not admin:
        q = q.where(g.c.project_id == (project_id or ""))
    row = conn.execute(q).first()
    if row is None:
        raise GroupNotFound(ident)
    return _with_status(conn, row_dict(row))


def list_groups(conn: Connection, project_id: str | None,
                sort: list[tuple[str, str]]) -> list[dict[str, Any]]:
    g = t.groups
    q = sa.select(g)
    if project_id is not None:
        q = q.where(g.c.project_id == project_id)
    order = [g.c[k].asc() if d == "asc" else g.c[k].desc() for k, d in sort]
    return [_with_status(conn, row_dict(r))
            for r in conn.execute(q.order_by(*order, g.c.id))]


def group_of(conn: Connection, volume_ids: list[str]) -> dict[str, str]:
    """volume id → its group id (for the volumes' ``group_id``)."""
    if not volume_ids:
        return {}
    gv = t.group_volumes
    return {r.volume_id: r.group_id for r in conn.execute(
        sa.select(gv).where(gv.c.volume_id.in_(volume_ids)))}


def _volume_types(conn: Connection, refs: Any, project_id: str,
                  admin: bool) -> list[str]:
    if isinstance(refs, str):
        refs = [r for r in refs.split(",") if r]
    if not isinstance(refs, list) or not refs or not all(isinstance(r, str) for r in refs):
        raise errors.bad("volume_types must be a non-empty list of volume types.")
    return [types.get(conn, r, project_id, admin)["id"] for r in refs]


def create(conn: Connection, *, project_id: str, user_id: str | None, name: str | None,
           description: str | None, group_type: str, volume_types: Any,
           availability_zone: str | None, default_az: str, admin: bool) -> dict[str, Any]:
    gtype = group_types.get(conn, group_type, admin)
    type_ids = _volume_types(conn, volume_types, project_id, admin)
    az = availability_zone or default_az
    if az != default_az:
        raise errors.bad(f"Availability zone '{az}' is invalid.")
    return _insert(conn, project_id=project_id, user_id=user_id, name=name,
                   description=description, status="available", az=az,
                   group_type_id=gtype["id"], type_ids=type_ids)


def _insert(conn: Connection, *, project_id: str, user_id: str | None, name: str | None,
            description: str | None, status: str, az: str, group_type_id: str,
            type_ids: list[str], group_snapshot_id: str | None = None,
            source_group_id: str | None = None) -> dict[str, Any]:
    ident = str(uuid.uuid4())
    stamp = now()
    conn.execute(sa.insert(t.groups).values(
        id=ident, project_id=project_id, user_id=user_id, name=name, description=description,
        status=status, availability_zone=az, group_type_id=group_type_id,
        volume_type_ids=type_ids, group_snapshot_id=group_snapshot_id,
        source_group_id=source_group_id, created_at=stamp, updated_at=stamp))
    return get(conn, ident, None, True)


def check_member(conn: Connection, group: dict[str, Any], volume: dict[str, Any]) -> None:
    """Whether ``volume`` may join ``group`` (same project, a type of the group's, free)."""
    if group["status"] != "available":
        raise errors.InvalidState(f"Invalid group: Group {group['id']} status must be "
                                  f"available, but current status is: {group['status']}.")
    if volume["project_id"] != group["project_id"]:
        raise errors.VolumeNotFound(volume["id"])
    if volume["volume_type_id"] not in group["volume_type_ids"]:
        raise errors.bad(f"Invalid volume: Volume {volume['id']} has a volume type that is "
                         f"not supported by group {group['id']}.")
    if group_of(conn, [volume["id"]]):
        raise errors.bad(f"Invalid volume: Volume {volume['id']} is already in a group.")


def add_member(conn: Connection, group_id: str, volume_id: str) -> None:
    conn.execute(sa.insert(t.group_volumes).values(volume_id=volume_id, group_id=group_id))


def update(conn: Connection, row: dict[str, Any], values: dict[str, Any],
           add: list[str], remove: list[str], project_id: str | None, admin: bool) -> None:
    if (add or remove) and row["status"] != "available":
        raise errors.InvalidState(f"Invalid group: Group {row['id']} status must be "
                                  f"available, but current status is: {row['status']}.")
    members = set(member_ids(conn, row["id"]))
    for vid in remove:
        if vid not in members:
            raise errors.bad(f"Invalid volume: Volume {vid} is not in group {row['id']}.")
    gv = t.group_volumes
    for vid in remove:
        conn.execute(sa.delete(gv).where(gv.c.volume_id == vid))
    for vid in add:
        volume = volumes.get(conn, vid, project_id, admin)
        if volume["status"] not in ("available", "in-use"):
            raise errors.InvalidState(f"Invalid volume: Volume {vid} must be available or "
                                      f"in-use to join a group, not {volume['status']}.")
        check_member(conn, row, volume)
        add_member(conn, row["id"], vid)
    if values:
        conn.execute(sa.update(t.groups).where(t.groups.c.id == row["id"])
                     .values(updated_at=now(), **values))


def begin_delete(conn: Connection, row: dict[str, Any], delete_volumes: bool,
                 task_deadline: dt.datetime) -> list[dict[str, Any]]:
    """Remove the group (and with ``delete_volumes`` start deleting its volumes)."""
    if row["status"] not in ("available", "error", "error_deleting"):
        raise errors.InvalidState(f"Invalid group: Group status must be available or error, "
                                  f"but current status is: {row['status']}.")
    gs = t.group_snapshots
    if conn.execute(sa.select(gs.c.id).where(gs.c.group_id == row["id"]).limit(1)).first():
        raise errors.InvalidState(f"Invalid group: Group {row['id']} still has group "
                                  "snapshots.")
    ids = member_ids(conn, row["id"])
    if ids and not delete_volumes:
        raise errors.InvalidState(f"Invalid group: Group {row['id']} still contains volumes. "
                                  "The delete-volumes flag is required to delete it.")
    msgs: list[dict[str, Any]] = []
    for vid in ids:
        volume = volumes.get(conn, vid, None, True)
        msgs += volumes.begin_delete(conn, volume, cascade=False, force=False,
                                     task_deadline=task_deadline)
    conn.execute(sa.delete(t.group_volumes).where(t.group_volumes.c.group_id == row["id"]))
    conn.execute(sa.delete(t.groups).where(t.groups.c.id == row["id"]))
    return msgs


def reset_status(conn: Connection, row: dict[str, Any], status: str) -> None:
    conn.execute(sa.update(t.groups).where(t.groups.c.id == row["id"])
                 .values(status=status, updated_at=now()))


# -- group snapshots -----------------------------------------------------------------------------
def get_snapshot(conn: Connection, ident: str, project_id: str | None,
                 admin: bool) -> dict[str, Any]:
    gs = t.group_snapshots
    q = sa.select(gs).where(gs.c.id == ident)
    if not admin:
        q = q.where(gs.c.project_id == (project_id or ""))
    row = conn.execute(q).first()
    if row is None:
        raise GroupSnapshotNotFound(ident)
    out = row_dict(row)
    if out["status"] == MAKING:
        out["status"] = _derived(MAKING, [s["status"] for s in snapshot_members(conn, ident)])
    return out


def snapshot_members(conn: Connection, ident: str) -> list[dict[str, Any]]:
    s, m = t.snapshots, t.gsnap_members
    return [row_dict(r) for r in conn.execute(sa.select(s).join(m, m.c.snapshot_id == s.c.id)
                                              .where(m.c.gsnap_id == ident).order_by(s.c.id))]


def list_snapshots(conn: Connection, project_id: str | None,
                   sort: list[tuple[str, str]]) -> list[dict[str, Any]]:
    gs = t.group_snapshots
    q = sa.select(gs.c.id)
    if project_id is not None:
        q = q.where(gs.c.project_id == project_id)
    order = [gs.c[k].asc() if d == "asc" else gs.c[k].desc() for k, d in sort]
    return [get_snapshot(conn, r[0], None, True)
            for r in conn.execute(q.order_by(*order, gs.c.id))]


def create_snapshot(conn: Connection, *, group: dict[str, Any], user_id: str | None,
                    name: str | None, description: str | None, quota_defaults: dict[str, int],
                    task_deadline: dt.datetime) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    if group["status"] != "available":
        raise errors.InvalidState(f"Invalid group: Group {group['id']} status must be "
                                  f"available, but current status is: {group['status']}.")
    ident = str(uuid.uuid4())
    stamp = now()
    conn.execute(sa.insert(t.group_snapshots).values(
        id=ident, project_id=group["project_id"], user_id=user_id, group_id=group["id"],
        group_type_id=group["group_type_id"], name=name, description=description,
        status=MAKING, created_at=stamp, updated_at=stamp))
    msgs: list[dict[str, Any]] = []
    for vid in member_ids(conn, group["id"]):
        volume = volumes.get(conn, vid, None, True)
        snap, msg = snapshots.create(
            conn, volume, project_id=group["project_id"], user_id=user_id,
            name=f"group-snapshot-{ident}", description=None, metadata={}, force=True,
            quota_defaults=quota_defaults, task_deadline=task_deadline)
        conn.execute(sa.insert(t.gsnap_members).values(snapshot_id=snap["id"], gsnap_id=ident))
        msgs.append(msg)
    return get_snapshot(conn, ident, None, True), msgs


def delete_snapshot(conn: Connection, row: dict[str, Any],
                    task_deadline: dt.datetime) -> list[dict[str, Any]]:
    if row["status"] not in ("available", "error"):
        raise errors.InvalidState(f"Invalid group snapshot: Group snapshot status must be "
                                  f"available or error, not {row['status']}.")
    msgs = []
    for snap in snapshot_members(conn, row["id"]):
        host = volumes.get(conn, snap["volume_id"], None, True)["host"]
        msg = snapshots.begin_delete(conn, snap, host, True, task_deadline)
        if msg is not None:
            msgs.append(msg)
    conn.execute(sa.delete(t.gsnap_members).where(t.gsnap_members.c.gsnap_id == row["id"]))
    conn.execute(sa.delete(t.group_snapshots).where(t.group_snapshots.c.id == row["id"]))
    return msgs


def reset_snapshot_status(conn: Connection, row: dict[str, Any], status: str) -> None:
    conn.execute(sa.update(t.group_snapshots).where(t.group_snapshots.c.id == row["id"])
                 .values(status=status, updated_at=now()))


def create_from_source(conn: Connection, *, project_id: str, user_id: str | None,
                       name: str | None, description: str | None,
                       source_group_id: str | None, group_snapshot_id: str | None,
                       admin: bool, quota_defaults: dict[str, int], default_az: str,
                       task_deadline: dt.datetime
                       ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A new group holding a clone of each volume of a group, or a volume from each snapshot
    of a group snapshot; ``creating`` until they are made."""
    sources: list[volumes.Source] = []
    if group_snapshot_id is not None:
        gsnap = get_snapshot(conn, group_snapshot_id, project_id, admin)
        if gsnap["status"] != "available":
            raise errors.InvalidState(f"Invalid group snapshot: Group snapshot "
                                      f"{gsnap['id']} must be available, not "
                                      f"{gsnap['status']}.")
        origin = get(conn, gsnap["group_id"], None, True)
        sources = [volumes.Source("snapshot", s["id"])
                   for s in snapshot_members(conn, gsnap["id"])]
    else:
        origin = get(conn, str(source_group_id), project_id, admin)
        if origin["status"] != "available":
            raise errors.InvalidState(f"Invalid group: Source group {origin['id']} must be "
                                      f"available, not {origin['status']}.")
        sources = [volumes.Source("volume", vid) for vid in member_ids(conn, origin["id"])]
    group = _insert(conn, project_id=project_id, user_id=user_id, name=name,
                    description=description, status=MAKING,
                    az=origin["availability_zone"], group_type_id=origin["group_type_id"],
                    type_ids=list(origin["volume_type_ids"]),
                    group_snapshot_id=group_snapshot_id,
                    source_group_id=None if group_snapshot_id else origin["id"])
    msgs: list[dict[str, Any]] = []
    for source in sources:
        row, msg = volumes.create(
            conn, project_id=project_id, user_id=user_id, name=None, description=None,
            size=None, availability_zone=None, volume_type=None, metadata={}, source=source,
            host=None, default_az=default_az, quota_defaults=quota_defaults, admin=admin,
            task_deadline=task_deadline)
        add_member(conn, group["id"], row["id"])
        if msg is not None:
            msgs.append(msg)
    return get(conn, group["id"], None, True), msgs


def with_group_ids(conn: Connection, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The volume rows with their ``group_id``."""
    found = group_of(conn, [r["id"] for r in rows])
    for r in rows:
        r["group_id"] = found.get(r["id"])
    return rows


def with_group_snapshot_ids(conn: Connection, rows: list[dict[str, Any]]
                            ) -> list[dict[str, Any]]:
    """The snapshot rows with their ``group_snapshot_id``."""
    ids = [r["id"] for r in rows]
    m = t.gsnap_members
    found = {r.snapshot_id: r.gsnap_id for r in conn.execute(
        sa.select(m).where(m.c.snapshot_id.in_(ids)))} if ids else {}
    for r in rows:
        r["group_snapshot_id"] = found.get(r["id"])
    return rows
