"""Roles (global and domain-specific) and role implications (admin ⇒ member ⇒ reader)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from pocketstack.common import exceptions
from pocketstack.common.db import is_duplicate_error, update_generation
from pocketstack.identity import tables as t
from pocketstack.identity.domain.common import bump_revision, get_row, new_id

FIELDS = ("name", "description", "options")
PROHIBITED_IMPLIED = ("admin",)


def domain_of(row: dict[str, Any]) -> str | None:
    """A role row's domain as the API shows it: None for a global role (stored as a marker)."""
    domain_id: str = row["domain_id"]
    return None if domain_id == t.NULL_DOMAIN else domain_id


def get(conn: Connection, role_id: str) -> dict[str, Any]:
    return get_row(conn, t.roles, role_id, "role")


def get_by_name(conn: Connection, name: str, domain_id: str | None = None) -> dict[str, Any]:
    row = conn.execute(sa.select(t.roles).where(
        t.roles.c.name == name, t.roles.c.domain_id == (domain_id or t.NULL_DOMAIN)
    )).mappings().first()
    if row is None:
        raise exceptions.NotFound(f"Could not find role: {name}.")
    return dict(row)


def list_(conn: Connection, name: str | None = None, domain_id: str | None = None,
          ids: set[str] | None = None) -> list[dict[str, Any]]:
    q = sa.select(t.roles).order_by(t.roles.c.name)
    q = q.where(t.roles.c.domain_id == (domain_id or t.NULL_DOMAIN))
    if name is not None:
        q = q.where(t.roles.c.name == name)
    if ids is not None:
        q = q.where(t.roles.c.id.in_(ids))
    return [dict(r) for r in conn.execute(q).mappings()]


def by_ids(conn: Connection, ids: set[str]) -> dict[str, dict[str, Any]]:
    if not ids:
        return {}
    return {r["id"]: dict(r) for r in conn.execute(
        sa.select(t.roles).where(t.roles.c.id.in_(ids))).mappings()}


def create(conn: Connection, values: dict[str, Any]) -> dict[str, Any]:
    domain_id = values.get("domain_id")
    if domain_id:
        from pocketstack.identity.domain import domains

        domains.get(conn, domain_id)
    row = {
        "id": values.get("id") or new_id(),
        "name": values["name"],
        "domain_id": domain_id or t.NULL_DOMAIN,
        "description": values.get("description"),
        "options": values.get("options", {}),
        "extra": {k: v for k, v in values.items() if k not in FIELDS
                  and k not in ("id", "domain_id")},
        "generation": 0,
    }
    try:
        with conn.begin_nested():
            conn.execute(sa.insert(t.roles).values(**row))
    except IntegrityError as exc:
        if is_duplicate_error(exc):
            raise exceptions.Conflict(
                f"Conflict occurred attempting to store role - Duplicate entry found with name "
                f"{values['name']}."
            ) from None
        raise
    return row


def update(conn: Connection, role_id: str, changes: dict[str, Any]) -> dict[str, Any]:
    current = get(conn, role_id)
    if "domain_id" in changes and (changes["domain_id"] or t.NULL_DOMAIN) != current["domain_id"]:
        raise exceptions.ValidationError("Update of `domain_id` is not allowed.")
    values = {k: v for k, v in changes.items() if k in FIELDS}
    if current["options"].get("immutable") and values and set(values) != {"options"}:
        raise exceptions.Forbidden(f"Role {role_id} is immutable.")
    try:
        with conn.begin_nested():
            update_generation(conn, t.roles, role_id, current["generation"], values)
    except IntegrityError as exc:
        if is_duplicate_error(exc):
            raise exceptions.Conflict(
                f"Conflict occurred attempting to store role - Duplicate entry found with name "
                f"{changes.get('name')}."
            ) from None
        raise
    bump_revision(conn)
    return get(conn, role_id)


def delete(conn: Connection, role_id: str) -> None:
    current = get(conn, role_id)
    if current["options"].get("immutable"):
        raise exceptions.Forbidden(f"Role {role_id} is immutable.")
    conn.execute(sa.delete(t.assignments).where(t.assignments.c.role_id == role_id))
    conn.execute(sa.delete(t.implied_roles).where(sa.or_(
        t.implied_roles.c.prior_role_id == role_id,
        t.implied_roles.c.implied_role_id == role_id)))
    conn.execute(sa.delete(t.roles).where(t.roles.c.id == role_id))
    from pocketstack.identity.domain import revocations

    revocations.add_event(conn, role_id=role_id)
    bump_revision(conn)


# -- implications -----------------------------------------------------------------------------
def implication_map(conn: Connection) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for prior, implied in conn.execute(
            sa.select(t.implied_roles.c.prior_role_id, t.implied_roles.c.implied_role_id)):
        out.setdefault(prior, set()).add(implied)
    return out


def expand(role_ids: set[str], implications: dict[str, set[str]]) -> set[str]:
    out = set(role_ids)
    frontier = list(role_ids)
    while frontier:
        for implied in implications.get(frontier.pop(), ()):
            if implied not in out:
                out.add(implied)
                frontier.append(implied)
    return out


def create_implication(conn: Connection, prior_id: str, implied_id: str) -> None:
    prior = get(conn, prior_id)
    implied = get(conn, implied_id)
    if implied["name"] in PROHIBITED_IMPLIED:
        raise exceptions.Forbidden(f"{implied['name']} role cannot be an implied role.")
    if implied["domain_id"] != t.NULL_DOMAIN and prior["domain_id"] == t.NULL_DOMAIN:
        raise exceptions.Forbidden("A global role cannot imply a domain-specific role.")
    if prior_id in expand({implied_id}, implication_map(conn)):
        raise exceptions.Conflict("Role implication would create a cycle.")
    try:
        with conn.begin_nested():
            conn.execute(sa.insert(t.implied_roles).values(
                prior_role_id=prior_id, implied_role_id=implied_id))
    except IntegrityError as exc:
        if not is_duplicate_error(exc):
            raise
    bump_revision(conn)


def get_implication(conn: Connection, prior_id: str, implied_id: str) -> None:
    get(conn, prior_id)
    get(conn, implied_id)
    found = conn.execute(sa.select(t.implied_roles).where(
        t.implied_roles.c.prior_role_id == prior_id,
        t.implied_roles.c.implied_role_id == implied_id)).first()
    if found is None:
        raise exceptions.NotFound(
            f"{prior_id} does not imply {implied_id}."
        )


def delete_implication(conn: Connection, prior_id: str, implied_id: str) -> None:
    get_implication(conn, prior_id, implied_id)
    conn.execute(sa.delete(t.implied_roles).where(
        t.implied_roles.c.prior_role_id == prior_id,
        t.implied_roles.c.implied_role_id == implied_id))
    bump_revision(conn)


def implied_by(conn: Connection, prior_id: str) -> list[str]:
    return [r[0] for r in conn.execute(sa.select(t.implied_roles.c.implied_role_id).where(
        t.implied_roles.c.prior_role_id == prior_id))]


def all_implications(conn: Connection) -> list[tuple[str, str]]:
    return [(r[0], r[1]) for r in conn.execute(
        sa.select(t.implied_roles.c.prior_role_id, t.implied_roles.c.implied_role_id))]


class RoleCatalog:
    """Every role and implication, read once: what token building needs about roles.

    Authenticator keeps one per identity revision (every role or implication change bumps it),
    saving two queries per token built."""

    def __init__(self, conn: Connection) -> None:
        self.roles = {r["id"]: dict(r) for r in conn.execute(sa.select(t.roles)).mappings()}
        self.implications = implication_map(conn)

    def visible(self, role_ids: set[str]) -> set[str]:
        """Expand implications and drop domain-specific roles (never in a token)."""
        expanded = expand(role_ids, self.implications)
        return {rid for rid in expanded
                if rid in self.roles and self.roles[rid]["domain_id"] == t.NULL_DOMAIN}

    def by_ids(self, ids: set[str]) -> dict[str, dict[str, Any]]:
        return {rid: self.roles[rid] for rid in ids if rid in self.roles}
