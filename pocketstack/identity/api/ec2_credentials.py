"""``/v3/users/{user_id}/credentials/OS-EC2``: EC2-style access/secret pairs.

They are ordinary ``ec2`` credentials (``/v3/credentials``) keyed by the SHA-256 of the access
key, shown in the OS-EC2 shape (``access``, ``secret``, ``tenant_id``).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any

from starlette.responses import Response

from pocketstack.common import exceptions
from pocketstack.common.api.app import ApiRequest, empty_response
from pocketstack.identity.api.common import collection, enforce, link, one, svc
from pocketstack.identity.domain import credentials, projects, users


def _view(req: ApiRequest, row: dict[str, Any]) -> dict[str, Any]:
    try:
        blob = json.loads(row["blob"])
    except (TypeError, ValueError):
        blob = {}
    out = {"user_id": row["user_id"], "tenant_id": row["project_id"],
           "access": blob.get("access"), "secret": blob.get("secret"),
           "trust_id": blob.get("trust_id")}
    out["links"] = link(req, f"/v3/users/{row['user_id']}/credentials/OS-EC2/{out['access']}")
    return out


def _visible(req: ApiRequest, project_id: str | None) -> bool:
    """A delegated (application credential) token only reaches its own project's keys."""
    return not req.ctx.application_credential_id or project_id == req.ctx.project_id


def _get(req: ApiRequest, user_id: str, access: str) -> dict[str, Any]:
    cred_id = hashlib.sha256(access.encode()).hexdigest()

    def read(conn):  # type: ignore[no-untyped-def]
        users.get(conn, user_id)
        return credentials.get(conn, cred_id)

    row: dict[str, Any] = svc(req).db.read(read)
    if row["user_id"] != user_id:
        raise exceptions.NotFound(f"Could not find credential: {cred_id}.")
    if row["type"] != "ec2":
        raise exceptions.Unauthorized("EC2 access key not found.")
    if not _visible(req, row["project_id"]):
        raise exceptions.Forbidden("EC2 credential project does not match the project scope "
                                   "of the delegated token.")
    return row


def list_ec2(req: ApiRequest) -> Response:
    user_id = req.path_params["user_id"]
    enforce(req, "identity:ec2_list_credentials", {"target.user_id": user_id})

    def read(conn):  # type: ignore[no-untyped-def]
        users.get(conn, user_id)
        return credentials.list_(conn, user_id, "ec2")

    rows = [r for r in svc(req).db.read(read) if _visible(req, r["project_id"])]
    return collection(req, "credentials", (_view(req, r) for r in rows))


def create_ec2(req: ApiRequest) -> Response:
    user_id = req.path_params["user_id"]
    enforce(req, "identity:ec2_create_credential", {"target.user_id": user_id})
    if req.ctx.application_credential_id and req.ctx.application_credential_restricted:
        raise exceptions.Forbidden(
            "Using method 'application_credential' is not allowed for managing additional "
            "application credentials.")
    data = req.json()
    tenant_id = data.get("tenant_id") if isinstance(data, dict) else None
    if not isinstance(tenant_id, str) or not tenant_id:
        raise exceptions.ValidationError("Invalid input: 'tenant_id' is a required property.")
    if not _visible(req, tenant_id):
        raise exceptions.Forbidden("EC2 credential project does not match the project scope "
                                   "of the delegated token.")
    blob = {"access": uuid.uuid4().hex, "secret": uuid.uuid4().hex, "trust_id": None}

    def write(conn):  # type: ignore[no-untyped-def]
        users.get(conn, user_id)
        projects.get(conn, tenant_id)
        return credentials.create(conn, {"user_id": user_id, "project_id": tenant_id,
                                         "type": "ec2", "blob": json.dumps(blob)})

    return one("credential", _view(req, svc(req).db.write(write)), 201)


def get_ec2(req: ApiRequest) -> Response:
    user_id = req.path_params["user_id"]
    enforce(req, "identity:ec2_get_credential", {"target.user_id": user_id})
    return one("credential", _view(req, _get(req, user_id, req.path_params["access"])))


def delete_ec2(req: ApiRequest) -> Response:
    user_id = req.path_params["user_id"]
    enforce(req, "identity:ec2_delete_credential", {"target.user_id": user_id})
    row = _get(req, user_id, req.path_params["access"])
    svc(req).db.write(credentials.delete, row["id"])
    return empty_response()
