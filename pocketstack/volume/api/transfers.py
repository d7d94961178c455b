"""Volume transfers at ``/v3/os-volume-transfer`` and (3.55+) ``/v3/volume-transfers``:
create (the auth key is in this answer only), list/detail, show, accept, delete."""

from __future__ import annotations

import uuid
from typing import Any

from starlette.responses import Response

from pocketstack.common import exceptions
from pocketstack.common.api.app import ApiRequest, empty_response, json_response
from pocketstack.volume import errors
from pocketstack.volume.api import views
from pocketstack.volume.api.common import body, ctx, svc, text, to_bool, version_at_least
from pocketstack.volume.domain import transfers


def _collection(req: ApiRequest) -> str:
    if "/volume-transfers" in req.path:
        if not version_at_least(req, "3.55"):
            raise exceptions.NotFound("The resource could not be found.")
        return "volume-transfers"
    return "os-volume-transfer"


def view(req: ApiRequest, row: dict[str, Any], detail: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"id": row["id"], "name": row["name"], "volume_id": row["volume_id"],
                           "links": views.links(req, _collection(req), row["id"])}
    if detail:
        out["created_at"] = views.when(row["created_at"])
        if version_at_least(req, "3.55"):
            out["no_snapshots"] = bool(row["no_snapshots"])
        if version_at_least(req, "3.57"):
            out["destination_project_id"] = None
            out["source_project_id"] = row["project_id"]
            out["accepted"] = False
    return out


def _list(req: ApiRequest, detail: bool) -> Response:
    c = ctx(req)
    s = svc(req)
    _collection(req)
    s.enforce(c, "volume:get_all_transfers", {"project_id": c.project_id or ""})
    project: str | None = c.project_id or ""
    if req.query.get("all_tenants") and to_bool(req.query["all_tenants"], "all_tenants"):
        s.enforce(c, "volume:get_all_tenants", {"project_id": c.project_id or ""})
        project = None
    rows = s.db.read(transfers.list_transfers, project, dict(req.query))
    return json_response({"transfers": [view(req, r, detail) for r in rows]})


def list_transfers(req: ApiRequest) -> Response:
    return _list(req, False)


def list_detail(req: ApiRequest) -> Response:
    return _list(req, True)


def show(req: ApiRequest) -> Response:
    c = ctx(req)
    _collection(req)
    row = svc(req).db.read(transfers.get, req.path_params["transfer_id"], c.project_id,
                           c.is_admin)
    svc(req).enforce(c, "volume:get_transfer", {"project_id": row["project_id"]})
    return json_response({"transfer": view(req, row, True)})


def _uuid_like(value: str) -> bool:
    """oslo.utils' ``is_uuid_like``: a UUID, with or without dashes, braces or ``urn:uuid:``."""
    try:
        parsed = uuid.UUID(value)
    except ValueError:
        return False
    plain = value.lower().replace("urn:", "").replace("uuid:", "").strip("{}").replace("-", "")
    return parsed.hex == plain


def create(req: ApiRequest) -> Response:
    c = ctx(req)
    s = svc(req)
    _collection(req)
    data = body(req, "transfer")
    volume_id = text(data.get("volume_id"), "volume_id", 36)
    if not volume_id:
        raise errors.bad("'volume_id' is a required property")
    if not _uuid_like(volume_id):  # Cinder's schema: volume_id has the uuid format
        raise errors.bad(f"Invalid input for field/attribute volume_id. Value: {volume_id}. "
                         f"'{volume_id}' is not a 'uuid'")
    name = text(data.get("name", data.get("display_name")), "name")
    no_snapshots = False
    if "no_snapshots" in data:
        if not version_at_least(req, "3.55"):
            raise errors.bad("Additional properties are not allowed ('no_snapshots').")
        no_snapshots = to_bool(data["no_snapshots"], "no_snapshots")
    if c.project_id is None:
        raise errors.bad("a project-scoped token is needed to transfer volumes.")
    project = c.project_id

    def write(conn: Any) -> dict[str, Any]:
        from pocketstack.volume.domain import volumes

        vol = volumes.get(conn, volume_id, project, c.is_admin)
        s.enforce(c, "volume:create_transfer", {"project_id": vol["project_id"]})
        return transfers.create(conn, volume_id=volume_id, project_id=project,
                                admin=c.is_admin, name=name, no_snapshots=no_snapshots,
                                allow_encrypted=version_at_least(req, "3.70"))

    row = s.db.write(write)
    out = view(req, row, True)
    out["auth_key"] = row["auth_key"]
    return json_response({"transfer": out}, 202)


def accept(req: ApiRequest) -> Response:
    c = ctx(req)
    s = svc(req)
    _collection(req)
    data = body(req, "accept")
    key = text(data.get("auth_key"), "auth_key")
    if not key:
        raise errors.bad("'auth_key' is a required property")
    if c.project_id is None:
        raise errors.bad("a project-scoped token is needed to accept transfers.")
    project = c.project_id
    s.enforce(c, "volume:accept_transfer", {"project_id": project})
    row = s.db.write(transfers.accept, req.path_params["transfer_id"], key,
                     project_id=project, user_id=c.user_id,
                     quota_defaults=s.quota_limits(project))
    return json_response({"transfer": view(req, row, False)}, 202)


def delete(req: ApiRequest) -> Response:
    c = ctx(req)
    s = svc(req)
    _collection(req)

    def write(conn: Any) -> None:
        row = transfers.get(conn, req.path_params["transfer_id"], c.project_id, c.is_admin)
        s.enforce(c, "volume:delete_transfer", {"project_id": row["project_id"]})
        transfers.delete(conn, row)

    s.db.write(write)
    return empty_response(202)
