"""Instance actions and their events: the audit trail of what happened to a server.

The API records an action when it accepts a request (``start``); the conductor and agents add
events (``event_start``/``event_finish``) and close it (``finish``). The first failed event
marks the action's ``message`` "Error", as Nova does.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from pocketstack.common import exceptions
from pocketstack.common.db import time_compare
from pocketstack.compute import tables as t
from pocketstack.compute.domain.common import utcnow


def start(conn: Connection, instance_uuid: str, action: str, request_id: str,
          project_id: str, user_id: str) -> int:
    """Record that ``action`` began on the instance; returns the action id."""
    now = utcnow()
    result = conn.execute(t.instance_actions.insert(), {
        "instance_uuid": instance_uuid, "request_id": request_id, "action": action,
        "project_id": project_id or "", "user_id": user_id or "", "start_time": now,
        "updated_at": now})
    return int(result.inserted_primary_key[0])  # type: ignore[index]


def _touch(conn: Connection, action_id: int, now: dt.datetime,
           **values: Any) -> None:
    result = conn.execute(
        t.instance_actions.update().where(t.instance_actions.c.id == sa.bindparam("a_id")),
        {"a_id": action_id, "updated_at": now, **values})
    if result.rowcount != 1:
        raise exceptions.NotFound(f"Instance action {action_id} could not be found.")


def event_start(conn: Connection, action_id: int, event: str, host: str | None) -> int:
    """Open an event of the action (e.g. ``compute_start_instance`` on a host)."""
    now = utcnow()
    _touch(conn, action_id, now)
    result = conn.execute(t.instance_action_events.insert(), {
        "action_id": action_id, "event": event, "start_time": now, "host": host})
    return int(result.inserted_primary_key[0])  # type: ignore[index]


def event_finish(conn: Connection, action_id: int, event: str, result: str,
                 traceback: str | None = None, details: str | None = None) -> None:
    """Close the latest open event named ``event`` with ``result`` ("Success"/"Error").

    An event that was never started is recorded as started now. An error marks the action's
    message "Error"."""
    now = utcnow()
    row = conn.execute(_OPEN_EVENT, {"action_id": action_id, "event": event}).first()
    if row is None:
        event_id = event_start(conn, action_id, event, None)
    else:
        event_id = row[0]
    conn.execute(sa.update(t.instance_action_events)
                 .where(t.instance_action_events.c.id == event_id)
                 .values(finish_time=now, result=result, traceback=traceback,
                         details=details))
    extra: dict[str, Any] = {}
    if result.lower() == "error":
        extra["message"] = "Error"
    _touch(conn, action_id, now, **extra)


def finish(conn: Connection, action_id: int, message: str | None = None) -> None:
    """Mark the action finished (``message`` is kept, or set when given)."""
    now = utcnow()
    extra: dict[str, Any] = {"finish_time": now}
    if message is not None:
        extra["message"] = message
    _touch(conn, action_id, now, **extra)


_A = t.instance_actions.c
_LATEST = (sa.select(t.instance_actions).where(_A.instance_uuid == sa.bindparam("uuid"))
           .order_by(_A.start_time.desc(), _A.id.desc()).limit(1))
_LATEST_OF = _LATEST.where(_A.action == sa.bindparam("action"))  # built once: hot path
_E = t.instance_action_events.c
_OPEN_EVENT = (sa.select(_E.id).where(_E.action_id == sa.bindparam("action_id"),
                                      _E.event == sa.bindparam("event"),
                                      _E.finish_time.is_(None))
               .order_by(_E.id.desc()).limit(1))


def latest(conn: Connection, instance_uuid: str, action: str | None = None
           ) -> dict[str, Any] | None:
    """The newest action of an instance (optionally of one kind)."""
    if action:
        found = conn.execute(_LATEST_OF, {"uuid": instance_uuid, "action": action})
    else:
        found = conn.execute(_LATEST, {"uuid": instance_uuid})
    row = found.mappings().first()
    return None if row is None else dict(row)


def list_(conn: Connection, instance_uuid: str, changes_since: dt.datetime | None = None,
          changes_before: dt.datetime | None = None) -> list[dict[str, Any]]:
    """Newest first."""
    c = t.instance_actions.c
    q = (sa.select(t.instance_actions).where(c.instance_uuid == instance_uuid)
         .order_by(c.start_time.desc(), c.id.desc()))
    if changes_since is not None:
        q = q.where(time_compare(c.updated_at, "gte", changes_since))
    if changes_before is not None:
        q = q.where(time_compare(c.updated_at, "lte", changes_before))
    return [dict(r) for r in conn.execute(q).mappings()]


def get_by_request_id(conn: Connection, instance_uuid: str, request_id: str
                      ) -> dict[str, Any]:
    row = conn.execute(
        sa.select(t.instance_actions)
        .where(t.instance_actions.c.instance_uuid == instance_uuid,
               t.instance_actions.c.request_id == request_id)
        .order_by(t.instance_actions.c.id.desc())).mappings().first()
    if row is None:
        raise exceptions.NotFound(
            f"Action for request_id {request_id} on instance {instance_uuid} not found")
    return dict(row)


def events(conn: Connection, action_id: int) -> list[dict[str, Any]]:
    q = (sa.select(t.instance_action_events)
         .where(t.instance_action_events.c.action_id == action_id)
         .order_by(t.instance_action_events.c.start_time.desc(),
                   t.instance_action_events.c.id.desc()))
    return [dict(r) for r in conn.execute(q).mappings()]
