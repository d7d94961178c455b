"""``/os-keypairs``: a user's key pairs (admins may name another user from 2.10)."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from pocketstack.common.api.app import ApiRequest, empty_response, json_response
from pocketstack.compute.api.admin_common import page_params, paginate
from pocketstack.compute.api.common import body, enforce, svc, unified_limits, version_at_least
from pocketstack.compute.domain import keypairs
from pocketstack.compute.domain.common import isotime_us
from pocketstack.compute.schemas import admin as schemas


def _user(req: ApiRequest, explicit: str | None = None) -> str:
    if version_at_least(req, "2.10"):
        wanted = explicit or req.query.get("user_id")
        if wanted:
            return wanted
    return req.ctx.user_id or ""


def _brief(req: ApiRequest, k: dict[str, Any]) -> dict[str, Any]:
    view = {"name": k["name"], "public_key": k["public_key"], "fingerprint": k["fingerprint"]}
    if version_at_least(req, "2.2"):
        view["type"] = k["type"]
    return view


def list_keypairs(req: ApiRequest) -> Response:
    user_id = _user(req)
    enforce(req, "os_compute_api:os-keypairs:index", {"user_id": user_id})
    rows = svc(req).db.read(keypairs.list_, user_id)
    out: dict[str, Any] = {}
    if version_at_least(req, "2.35"):
        rows, links = paginate(req, rows, page_params(req), lambda k: k["name"])
        if links:
            out["keypairs_links"] = links
    out["keypairs"] = [{"keypair": _brief(req, k)} for k in rows]
    return json_response(out)


def show_keypair(req: ApiRequest) -> Response:
    user_id = _user(req)
    enforce(req, "os_compute_api:os-keypairs:show", {"user_id": user_id})
    k = svc(req).db.read(keypairs.get, user_id, req.path_params["name"])
    view = {"public_key": k["public_key"], "name": k["name"], "fingerprint": k["fingerprint"],
            "user_id": k["user_id"], "deleted": False, "created_at": isotime_us(k["created_at"]),
            "updated_at": None, "deleted_at": None, "id": k["id"]}
    if version_at_least(req, "2.2"):
        view["type"] = k["type"]
    return json_response({"keypair": view})


def create_keypair(req: ApiRequest) -> Response:
    data = body(req, schemas.keypair_create(lambda v: version_at_least(req, v)))["keypair"]
    user_id = _user(req, data.get("user_id"))
    enforce(req, "os_compute_api:os-keypairs:create", {"user_id": user_id})
    key_type = data.get("type", "ssh")
    public_key = data.get("public_key")
    private_key = None
    if public_key is None:
        private_key, public_key = keypairs.generate(key_type, user_id)
    row = svc(req).db.write(keypairs.create, req.ctx.project_id or "", user_id,
                            data["name"], public_key, key_type, unified_limits(req))
    view: dict[str, Any] = {"name": row["name"], "public_key": row["public_key"],
                            "fingerprint": row["fingerprint"], "user_id": row["user_id"]}
    if version_at_least(req, "2.2"):
        view["type"] = row["type"]
    if private_key is not None:
        view["private_key"] = private_key
    return json_response({"keypair": view}, 201 if version_at_least(req, "2.2") else 200)


def delete_keypair(req: ApiRequest) -> Response:
    user_id = _user(req)
    enforce(req, "os_compute_api:os-keypairs:delete", {"user_id": user_id})
    svc(req).db.write(keypairs.delete, user_id, req.path_params["name"])
    return empty_response(204 if version_at_least(req, "2.2") else 202)
