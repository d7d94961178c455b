"""Events other services send about servers (``os-server-external-events``): which of them a
server can take, and the instance actions Nova records for some of them.

Networking sends ``network-*`` events, block storage ``volume-extended``/``volume-reimaged``,
Ironic-like drivers ``power-update``. An event is accepted for a live server that has a host;
``volume-extended`` and ``power-update`` also open an instance action (``extend_volume``,
``start``/``stop``) so users can follow the operation, as Nova does.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from pocketstack.compute import tables as t
from pocketstack.compute.domain import instance_actions

TAG_REQUIRED = ("volume-extended", "power-update", "accelerator-request-bound")
POWER_ACTIONS = {"POWER_ON": "start", "POWER_OFF": "stop"}


def _hosts(conn: Connection, uuids: set[str]) -> dict[str, str | None]:
    """uuid -> host of the live (not deleted) servers among ``uuids``."""
    if not uuids:
        return {}
    q = sa.select(t.instances.c.uuid, t.instances.c.host).where(
        t.instances.c.uuid.in_(sorted(uuids)), t.instances.c.deleted.is_(False))
    return {r[0]: r[1] for r in conn.execute(q)}


def accept(conn: Connection, events: list[dict[str, Any]], request_id: str,
           project_id: str, user_id: str) -> tuple[list[dict[str, Any]], int]:
    """Give each event its ``status`` and ``code``; return them and the overall status (200
    when every event was accepted, 207 otherwise)."""
    hosts = _hosts(conn, {e["server_uuid"] for e in events})
    overall = 200
    out = []
    for event in events:
        result = dict(event)
        uuid = event["server_uuid"]
        if uuid not in hosts:
            result.update(status="failed", code=404)
        elif event["name"] in TAG_REQUIRED and event.get("tag") is None:
            result.update(status="failed", code=400)
        elif not hosts[uuid]:
            result.update(status="failed", code=422)
        else:
            result.update(status="completed", code=200)
            action = None
            if event["name"] == "volume-extended":
                action = "extend_volume"
            elif event["name"] == "power-update":
                action = POWER_ACTIONS.get(event.get("tag") or "")
            if action is not None:
                instance_actions.start(conn, uuid, action, request_id, project_id, user_id)
        if result["code"] != 200:
            overall = 207
        out.append(result)
    return out, overall
