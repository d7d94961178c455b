"""Application credentials: a user's delegated, project-bound secrets (shown once)."""

from __future__ import annotations

import base64
import secrets
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from pocketstack.common import exceptions
from pocketstack.common.db import is_duplicate_error
from pocketstack.identity import tables as t
from pocketstack.identity.domain import access_rules, revocations
from pocketstack.identity.domain.common import get_row, new_id, utcnow


def new_secret() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(64)).decode().rstrip("=")


def _with_rules(conn: Connection, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rules = access_rules.for_credentials(conn, (r["id"] for r in rows))
    for row in rows:
        row["access_rules"] = rules[row["id"]]
    return rows


def get(conn: Connection, cred_id: str) -> dict[str, Any]:
    row = get_row(conn, t.application_credentials, cred_id, "application credential")
    return _with_rules(conn, [row])[0]


def get_for_user(conn: Connection, user_id: str, cred_id: str) -> dict[str, Any]:
    cred = get(conn, cred_id)
    if cred["user_id"] != user_id:
        raise exceptions.NotFound(f"Could not find Application Credential: {cred_id}.")
    return cred


def get_by_name(conn: Connection, user_id: str, name: str) -> dict[str, Any]:
    row = conn.execute(sa.select(t.application_credentials).where(
        t.application_credentials.c.user_id == user_id,
        t.application_credentials.c.name == name)).mappings().first()
    if row is None:
        raise exceptions.NotFound(f"Could not find Application Credential: {name}.")
    return _with_rules(conn, [dict(row)])[0]


def list_(conn: Connection, user_id: str, name: str | None = None) -> list[dict[str, Any]]:
    q = sa.select(t.application_credentials).where(
        t.application_credentials.c.user_id == user_id).order_by(
        t.application_credentials.c.name)
    if name is not None:
        q = q.where(t.application_credentials.c.name == name)
    return _with_rules(conn, [dict(r) for r in conn.execute(q).mappings()])


def create(conn: Connection, values: dict[str, Any], secret_hash: str) -> dict[str, Any]:
    """``values`` is already checked: user_id, project_id, roles (resolved {id,name,domain_id})."""
    row = {
        "id": new_id(),
        "name": values["name"],
        "user_id": values["user_id"],
        "project_id": values["project_id"],
        "secret_hash": secret_hash,
        "description": values.get("description"),
        "expires_at": values.get("expires_at"),
        "unrestricted": values.get("unrestricted", False),
        "roles": values["roles"],
        "access_rules": [],
        "created_at": utcnow(),
    }
    try:
        with conn.begin_nested():
            conn.execute(sa.insert(t.application_credentials).values(**row))
    except IntegrityError as exc:
        if is_duplicate_error(exc):
            raise exceptions.Conflict(
                "Conflict occurred attempting to store application_credential - Duplicate "
                f"entry found with name {values['name']}.") from None
        raise
    rule_ids = access_rules.resolve(conn, values["user_id"], values.get("access_rules") or [])
    access_rules.link(conn, row["id"], rule_ids)
    return get(conn, row["id"])


def delete(conn: Connection, user_id: str, cred_id: str) -> None:
    get_for_user(conn, user_id, cred_id)
    conn.execute(sa.delete(t.application_credentials)
                 .where(t.application_credentials.c.id == cred_id))
    revocations.add_event(conn, application_credential_id=cred_id)
