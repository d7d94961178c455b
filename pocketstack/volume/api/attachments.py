"""Cinder's attachments API (3.27+): ``/attachments`` create (reserve, or connect at once
with a ``connector``), list/detail (filters ``volume_id``, ``instance_id``, ``status``;
``all_tenants`` for admins), show, update (the connector: the connection info comes from the
volume's storage host), ``os-complete`` (3.44) and delete. ``mode`` (``rw``/``ro``) from 3.54.
The records and the volume's status are :mod:`..domain.attachments`'.
"""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from pocketstack.common import exceptions
from pocketstack.common.api.app import ApiRequest, empty_response, json_response
from pocketstack.volume import errors
from pocketstack.volume.api.common import body, ctx, svc, to_bool, version_at_least
from pocketstack.volume.domain import attachments, volumes
from pocketstack.volume.public import connection_info

MIN = "3.27"


def _gate(req: ApiRequest, at_least: str = MIN) -> None:
    if not version_at_least(req, at_least):
        raise exceptions.NotFound("The resource could not be found.")


def _summary(att: dict[str, Any]) -> dict[str, Any]:
    return {"id": att["id"], "status": attachments.status_of(att),
            "instance": att.get("server_id"), "volume_id": att["volume_id"]}


def _detail(att: dict[str, Any]) -> dict[str, Any]:
    return {**_summary(att), "attached_at": att.get("attached_at"),
            "detached_at": att.get("detached_at"),
            "attach_mode": att.get("attach_mode") or "rw",
            "connection_info": att.get("connection_info") or {}}


def _list(req: ApiRequest, detail: bool) -> Response:
    _gate(req)
    c, s = ctx(req), svc(req)
    project: str | None = c.project_id or ""
    q = req.query
    if q.get("all_tenants") and to_bool(q["all_tenants"], "all_tenants"):
        s.enforce(c, "volume:get_all_tenants", {"project_id": c.project_id or ""})
        project = q.get("project_id") or None
    filters = {k: str(q[k]) for k in ("volume_id", "instance_id", "status") if q.get(k)}
    found = s.db.read(attachments.list_all, project, filters)
    show = _detail if detail else _summary
    return json_response({"attachments": [show(att) for _, att in found]})


def list_attachments(req: ApiRequest) -> Response:
    return _list(req, False)


def list_detail(req: ApiRequest) -> Response:
    return _list(req, True)


def show(req: ApiRequest) -> Response:
    _gate(req)
    c = ctx(req)
    _, att = svc(req).db.read(attachments.find, req.path_params["attachment_id"],
                              c.project_id, c.is_admin)
    return json_response({"attachment": _detail(att)})


def _connector(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise errors.bad("connector must be an object.")
    return value


def create(req: ApiRequest) -> Response:
    _gate(req)
    c, s = ctx(req), svc(req)
    data = body(req, "attachment")
    vid = data.get("volume_uuid")
    if not isinstance(vid, str) or not vid:
        raise errors.bad("'volume_uuid' is a required property")
    instance = data.get("instance_uuid")
    if instance is not None and not isinstance(instance, str):
        raise errors.bad("instance_uuid must be a string.")
    mode = "rw"
    if "mode" in data:
        if not version_at_least(req, "3.54"):
            raise errors.bad("Additional properties are not allowed ('mode' was unexpected)")
        if data["mode"] not in ("rw", "ro"):
            raise errors.bad(f"Invalid attachment mode: {data['mode']}")
        mode = data["mode"]
    connector = None if data.get("connector") is None else _connector(data["connector"])
    row = s.db.read(volumes.get, vid, c.project_id, c.is_admin)
    s.enforce(c, "volume:attachment_create", {"project_id": row["project_id"]})
    if row["readonly"] and mode == "rw" and "mode" in data:
        raise errors.bad(f"Invalid volume: Volume {vid} is read-only; attach it 'ro'.")
    if row["readonly"]:
        mode = "ro"
    info = connection_info(s, row) if connector is not None else None

    def write(conn: Any) -> dict[str, Any]:
        fresh = volumes.get(conn, vid, c.project_id, c.is_admin)
        return attachments.create(conn, fresh, instance, mode, info, connector)

    att = s.db.write(write)
    return json_response({"attachment": _detail(att)})


def update(req: ApiRequest) -> Response:
    _gate(req)
    c, s = ctx(req), svc(req)
    ident = req.path_params["attachment_id"]
    data = body(req, "attachment")
    connector = _connector(data.get("connector"))
    row, _ = s.db.read(attachments.find, ident, c.project_id, c.is_admin)
    s.enforce(c, "volume:attachment_update", {"project_id": row["project_id"]})
    info = connection_info(s, row)

    def write(conn: Any) -> dict[str, Any]:
        fresh, _ = attachments.find(conn, ident, c.project_id, c.is_admin)
        return attachments.update(conn, fresh, ident, connector, info)

    att = s.db.write(write)
    return json_response({"attachment": _detail(att)})


def action(req: ApiRequest) -> Response:
    _gate(req)
    data = req.json()
    if not isinstance(data, dict) or set(data) != {"os-complete"}:
        raise errors.bad("There is no such action: the body must be {'os-complete': null}.")
    _gate(req, "3.44")
    c, s = ctx(req), svc(req)
    ident = req.path_params["attachment_id"]

    def write(conn: Any) -> None:
        row, _ = attachments.find(conn, ident, c.project_id, c.is_admin)
        s.enforce(c, "volume:attachment_complete", {"project_id": row["project_id"]})
        attachments.complete(conn, row, ident)

    s.db.write(write)
    return empty_response(204)


def delete(req: ApiRequest) -> Response:
    _gate(req)
    c, s = ctx(req), svc(req)
    ident = req.path_params["attachment_id"]

    def write(conn: Any) -> list[dict[str, Any]]:
        row, _ = attachments.find(conn, ident, c.project_id, c.is_admin)
        s.enforce(c, "volume:attachment_delete", {"project_id": row["project_id"]})
        return attachments.delete(conn, row, ident)

    left = s.db.write(write)
    return json_response({"attachments": [_summary(a) for a in left]})
