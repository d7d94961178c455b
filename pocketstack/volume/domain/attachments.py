"""Cinder's attachments (3.27+): one record per (volume, server), kept in the volume row's
``attachments`` list with its own status — ``reserved`` (made without a connector),
``attaching`` (a connector given: the connection info is recorded), ``attached``
(``os-complete``) — and the volume's status following: ``reserved`` → ``attaching`` →
``in-use``; deleting the last attachment returns it ``available``.

Attachments made by the legacy flow (Nova's ``os-volume_attachments`` through ``VolumeAPI``)
carry no status and count as ``attached``.
"""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from pocketstack.common import exceptions
from pocketstack.volume import errors
from pocketstack.volume import tables as t
from pocketstack.volume.domain import volumes
from pocketstack.volume.domain.common import now, row_dict

RESERVABLE = ("available", "downloading")


def status_of(att: dict[str, Any]) -> str:
    return str(att.get("attach_status") or "attached")


class AttachmentNotFound(exceptions.NotFound):
    def __init__(self, ident: str) -> None:
        super().__init__(f"Volume attachment {ident} could not be found.")


def find(conn: Connection, ident: str, project_id: str | None,
         admin: bool) -> tuple[dict[str, Any], dict[str, Any]]:
    """The volume row and the attachment ``ident`` in it (404 unless visible)."""
    v = t.volumes
    q = sa.select(v)
    if not admin:
        q = q.where(v.c.project_id == (project_id or ""))
    for r in conn.execute(q):
        row = row_dict(r)
        for att in row["attachments"]:
            if att.get("id") == ident:
                return row, att
    raise AttachmentNotFound(ident)


def list_all(conn: Connection, project_id: str | None,
             filters: dict[str, str]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    v = t.volumes
    q = sa.select(v).order_by(v.c.created_at.desc(), v.c.id)
    if project_id is not None:
        q = q.where(v.c.project_id == project_id)
    if filters.get("volume_id"):
        q = q.where(v.c.id == filters["volume_id"])
    out = []
    for r in conn.execute(q):
        row = row_dict(r)
        for att in row["attachments"]:
            if filters.get("instance_id") and att.get("server_id") != filters["instance_id"]:
                continue
            if filters.get("status") and status_of(att) != filters["status"]:
                continue
            out.append((row, att))
    return out


def _volume_status(atts: list[dict[str, Any]]) -> tuple[str, str]:
    """The volume's (status, attach_status) for its attachments."""
    states = {status_of(a) for a in atts}
    if "attached" in states:
        return "in-use", "attached"
    if "attaching" in states:
        return "attaching", "attaching"
    if "reserved" in states:
        return "reserved", "reserved"
    return "available", "detached"


def create(conn: Connection, row: dict[str, Any], instance_uuid: str | None, mode: str,
           connection_info: dict[str, Any] | None,
           connector: dict[str, Any] | None) -> dict[str, Any]:
    """A new attachment (``reserved``, or ``attaching`` with a connector)."""
    atts = list(row["attachments"])
    if atts and not row["multiattach"]:
        raise errors.InvalidState(f"Invalid volume: Volume {row['id']} status must be "
                                  f"available or downloading to reserve, but the current "
                                  f"status is {row['status']}.")
    if not atts and row["status"] not in RESERVABLE:
        raise errors.InvalidState(f"Invalid volume: Volume {row['id']} status must be "
                                  f"available or downloading to reserve, but the current "
                                  f"status is {row['status']}.")
    if row["multiattach"] and row["status"] not in (*RESERVABLE, "in-use", "reserved",
                                                    "attaching"):
        raise errors.InvalidState(f"Invalid volume: Volume {row['id']} is {row['status']}.")
    att: dict[str, Any] = {
        "id": str(uuid.uuid4()), "volume_id": row["id"], "server_id": instance_uuid,
        "host_name": None, "device": None, "attached_at": None, "detached_at": None,
        "attach_status": "reserved", "attach_mode": mode, "connection_info": None,
        "connector": None}
    att["attachment_id"] = att["id"]
    if connector is not None:
        _connect(att, connector, connection_info or {}, mode)
    atts.append(att)
    _save(conn, row, atts)
    return att


def _connect(att: dict[str, Any], connector: dict[str, Any], info: dict[str, Any],
             mode: str) -> None:
    att["attach_status"] = "attaching"
    att["connector"] = connector
    att["host_name"] = connector.get("host")
    att["device"] = connector.get("mountpoint") or att.get("device")
    data = dict(info.get("data") or {})
    data["access_mode"] = mode
    att["connection_info"] = {**info, "data": data, "attachment_id": att["id"],
                              "driver_volume_type": info.get("driver_volume_type") or "local"}


def _save(conn: Connection, row: dict[str, Any], atts: list[dict[str, Any]]) -> dict[str, Any]:
    status, attach_status = _volume_status(atts)
    meta = dict(row["admin_metadata"])
    if attach_status == "detached":
        meta.pop("attached_mode", None)
    else:
        modes = {a.get("attach_mode") for a in atts if a.get("attach_mode")}
        meta["attached_mode"] = "ro" if modes == {"ro"} else "rw"
    return volumes.update(conn, row, {"attachments": atts, "status": status,
                                      "attach_status": attach_status, "admin_metadata": meta})


def update(conn: Connection, row: dict[str, Any], ident: str, connector: dict[str, Any],
           info: dict[str, Any]) -> dict[str, Any]:
    atts = [dict(a) for a in row["attachments"]]
    att = next(a for a in atts if a.get("id") == ident)
    if status_of(att) == "attached":
        raise errors.InvalidState(f"Invalid volume: attachment {ident} is already attached; "
                                  "create a new one to change the connector.")
    _connect(att, connector, info, str(att.get("attach_mode") or "rw"))
    _save(conn, row, atts)
    return att


def complete(conn: Connection, row: dict[str, Any], ident: str) -> None:
    atts = [dict(a) for a in row["attachments"]]
    att = next(a for a in atts if a.get("id") == ident)
    if status_of(att) == "reserved":
        raise errors.InvalidState(f"Invalid volume: attachment {ident} has no connector yet "
                                  "(update it first).")
    att["attach_status"] = "attached"
    att["attached_at"] = att.get("attached_at") or now().isoformat()
    _save(conn, row, atts)


def delete(conn: Connection, row: dict[str, Any], ident: str) -> list[dict[str, Any]]:
    """Drop the attachment; the volume's remaining ones."""
    atts = [a for a in row["attachments"] if a.get("id") != ident]
    _save(conn, row, atts)
    return atts
