"""Migration records of cold migrations, resizes and live migrations (``os-migrations``).

The API writes one row when it accepts a ``resize`` or ``migrate`` (source host and node, the
flavors, who asked). What happened next is not copied into the row: it is read from the records
the conductor already keeps — the move's instance action (finished? failed?), the scheduling
record the move produced (the destination) and the ``confirmResize``/``revertResize`` action that
settled it — so the status can never disagree with them. A live migration's phase is read from
its action's events, which the conductor opens as it goes (:data:`LIVE_PHASES`): ``accepted``
(not scheduled yet), ``queued`` (a destination claimed), ``preparing``, ``running``,
``post-migrating``, then ``completed`` or ``error`` — or ``cancelled`` when an abort
(a ``live_migration_abort`` action) ended it.
"""

from __future__ import annotations

import datetime as dt
import uuid as uuidlib
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from pocketstack.compute import tables as t
from pocketstack.compute.domain.common import utcnow

# instance action -> migration_type
MOVES = {"resize": "resize", "migrate": "migration", "live-migration": "live-migration"}
SETTLES = ("confirmResize", "revertResize")
ABORT = "live_migration_abort"  # the action an abort of a live migration records
#: a live migration's action events, in order -> the status each one starts
LIVE_PHASES = {"compute_pre_live_migration": "preparing", "compute_live_migration": "running",
               "compute_post_live_migration_at_destination": "post-migrating"}
#: the statuses of a live migration under way (``/servers/{id}/migrations`` lists these)
LIVE_IN_PROGRESS = ("queued", "preparing", "running", "post-migrating")


def _flavor_db_id(conn: Connection, flavorid: str | None) -> int | None:
    if flavorid is None:
        return None
    row = conn.execute(sa.select(t.flavors.c.id).where(t.flavors.c.flavorid == flavorid)).first()
    return None if row is None else int(row[0])


def record(conn: Connection, instance: dict[str, Any], action_id: int, action: str,
           new_flavorid: str | None, project_id: str, user_id: str) -> None:
    """Record the migration a ``resize``/``migrate`` action starts (same transaction)."""
    mark = conn.execute(sa.select(sa.func.max(t.scheduling_records.c.id)).where(
        t.scheduling_records.c.instance_uuid == instance["uuid"])).scalar()
    old = _flavor_db_id(conn, instance["flavor"].get("id"))
    conn.execute(sa.insert(t.migrations).values(
        uuid=str(uuidlib.uuid4()), instance_uuid=instance["uuid"], action_id=action_id,
        migration_type=MOVES[action], source_compute=instance["host"],
        source_node=instance["node"], old_instance_type_id=old,
        new_instance_type_id=_flavor_db_id(conn, new_flavorid) if new_flavorid else old,
        sched_mark=int(mark or 0), project_id=project_id, user_id=user_id,
        created_at=utcnow()))


def _status(move: dict[str, Any], dest: str | None, settle: dict[str, Any] | None,
            deleted: bool) -> str:
    if move["finish_time"] is None:
        if move["message"] == "Error" or deleted:
            return "error"
        return "migrating" if dest else "pre-migrating"
    if move["message"] == "Error":
        return "error"
    if settle is None:
        # a server deleted while waiting for confirmation is confirmed, as Nova does
        return "confirmed" if deleted else "finished"
    confirm = settle["action"] == "confirmResize"
    if settle["finish_time"] is None:
        return "confirming" if confirm else "reverting"
    if settle["message"] == "Error":
        return "error"
    return "confirmed" if confirm else "reverted"


def _live_status(move: dict[str, Any], dest: str | None, events: list[str],
                 deleted: bool, aborted: bool) -> str:
    if move["finish_time"] is not None:
        if move["message"] == "Error":
            return "cancelled" if aborted else "error"
        return "completed"
    if move["message"] == "Error" or deleted:
        return "error"
    for event in reversed(LIVE_PHASES):
        if event in events:
            return LIVE_PHASES[event]
    return "queued" if dest else "accepted"


def _newest(*times: dt.datetime | None) -> dt.datetime | None:
    present = [x for x in times if x is not None]
    return max(present) if present else None


def list_(conn: Connection, instance_uuids: list[str] | None = None) -> list[dict[str, Any]]:
    """Every migration (of some instances), with its current destination and status; newest
    first (``created_at``, then ``id``, descending, as Nova sorts them)."""
    m = t.migrations
    q = sa.select(m).order_by(m.c.created_at.desc(), m.c.id.desc())
    if instance_uuids is not None:
        q = q.where(m.c.instance_uuid.in_(instance_uuids))
    rows = [dict(r) for r in conn.execute(q).mappings()]
    if not rows:
        return []
    uuids = sorted({r["instance_uuid"] for r in rows})
    a = t.instance_actions
    actions = [dict(r) for r in conn.execute(
        sa.select(a).where(a.c.instance_uuid.in_(uuids),
                           a.c.action.in_([*MOVES, *SETTLES, ABORT])).order_by(a.c.id)).mappings()]
    by_id = {x["id"]: x for x in actions}
    live = [x["id"] for x in actions if x["action"] == "live-migration"]
    events: dict[int, list[str]] = {}
    if live:
        e = t.instance_action_events
        for action_id, event in conn.execute(sa.select(e.c.action_id, e.c.event).where(
                e.c.action_id.in_(live))):
            events.setdefault(action_id, []).append(event)
    s = t.scheduling_records
    records = conn.execute(sa.select(s.c.id, s.c.instance_uuid, s.c.chosen_host,
                                     s.c.created_at).where(
        s.c.instance_uuid.in_(uuids)).order_by(s.c.id)).all()
    deleted = {r[0]: bool(r[1]) for r in conn.execute(sa.select(
        t.instances.c.uuid, t.instances.c.deleted).where(t.instances.c.uuid.in_(uuids)))}
    nodes: dict[str, tuple[str, str | None]] = {}
    for host, name, ip in conn.execute(sa.select(
            t.compute_nodes.c.host, t.compute_nodes.c.hypervisor_hostname,
            t.compute_nodes.c.host_ip).order_by(t.compute_nodes.c.id)):
        nodes.setdefault(host, (name, ip))
    out = []
    for row in rows:
        move = by_id.get(row["action_id"])
        if move is None:
            continue
        later = [x for x in actions if x["instance_uuid"] == row["instance_uuid"]
                 and x["id"] > move["id"]]
        settle = None
        aborted = False
        for x in later:
            if x["action"] in MOVES:
                break  # the next move: nothing settled this one
            if x["action"] == ABORT:
                aborted = True
            elif x["action"] in SETTLES:
                settle = x
                break
        # the move's scheduling record: the first made after the request and before the
        # move finished (a move that found no host has none)
        dest = None
        for rec_id, rec_uuid, chosen, created in records:
            if (rec_uuid == row["instance_uuid"] and rec_id > row["sched_mark"]
                    and (move["finish_time"] is None or created <= move["finish_time"])):
                dest = chosen
                break
        gone = deleted.get(row["instance_uuid"], False)
        if row["migration_type"] == "live-migration":
            status = _live_status(move, dest, events.get(move["id"], []), gone, aborted)
        else:
            status = _status(move, dest, settle, gone)
        node = nodes.get(dest or "", (None, None))
        out.append({
            **row, "dest_compute": dest, "dest_node": node[0] if dest else None,
            "dest_host": node[1] if dest else None, "status": status,
            "updated_at": None if status in ("pre-migrating", "accepted") else _newest(
                move["updated_at"], settle["updated_at"] if settle else None),
        })
    return out
