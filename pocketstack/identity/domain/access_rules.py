"""Access rules: the (service, path, method) triples an application credential is limited to.

Rules belong to the user and are shared: a credential naming a rule identical to one the user
already has (or naming it by id) reuses it. They outlive the credentials that used them and can
only be deleted when no credential uses them any more.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from pocketstack.common import exceptions
from pocketstack.identity import tables as t
from pocketstack.identity.domain.common import new_id

FIELDS = ("service", "path", "method")


def view_fields(row: dict[str, Any]) -> dict[str, Any]:
    return {"id": row["id"], "service": row["service"], "path": row["path"],
            "method": row["method"]}


def get_for_user(conn: Connection, user_id: str, rule_id: str) -> dict[str, Any]:
    row = conn.execute(sa.select(t.access_rules).where(
        t.access_rules.c.id == rule_id, t.access_rules.c.user_id == user_id)).mappings().first()
    if row is None:
        raise exceptions.NotFound(f"Could not find Access Rule: {rule_id}.")
    return dict(row)


def list_for_user(conn: Connection, user_id: str,
                  filters: dict[str, str | None] | None = None) -> list[dict[str, Any]]:
    q = sa.select(t.access_rules).where(t.access_rules.c.user_id == user_id).order_by(
        t.access_rules.c.service, t.access_rules.c.path, t.access_rules.c.method)
    for key, value in (filters or {}).items():
        if value is not None:
            q = q.where(t.access_rules.c[key] == value)
    return [dict(r) for r in conn.execute(q).mappings()]


def resolve(conn: Connection, user_id: str, wanted: list[dict[str, Any]]) -> list[str]:
    """Ids of the user's rules matching ``wanted`` (by id, or by value), creating new ones."""
    out: list[str] = []
    for spec in wanted:
        if "id" in spec and not any(k in spec for k in FIELDS):
            out.append(get_for_user(conn, user_id, spec["id"])["id"])
            continue
        missing = [k for k in FIELDS if not spec.get(k)]
        if missing:
            raise exceptions.ValidationError(
                f"Invalid input for field 'access_rules': '{missing[0]}' is a required "
                "property.")
        existing = conn.execute(sa.select(t.access_rules.c.id).where(
            t.access_rules.c.user_id == user_id,
            *(t.access_rules.c[k] == spec[k] for k in FIELDS))).scalar()
        if existing is None:
            existing = spec.get("id") or new_id()
            if conn.execute(sa.select(t.access_rules.c.id).where(
                    t.access_rules.c.id == existing)).first():
                raise exceptions.Conflict(
                    f"Conflict occurred attempting to store access_rule - Duplicate ID, "
                    f"{existing}.")
            conn.execute(sa.insert(t.access_rules).values(
                id=existing, user_id=user_id, generation=0, **{k: spec[k] for k in FIELDS}))
        if existing not in out:
            out.append(existing)
    return out


def link(conn: Connection, cred_id: str, rule_ids: list[str]) -> None:
    for position, rule_id in enumerate(rule_ids):
        conn.execute(sa.insert(t.app_cred_access_rules).values(
            application_credential_id=cred_id, access_rule_id=rule_id, position=position))


def for_credentials(conn: Connection, cred_ids: Iterable[str]) -> dict[str, list[dict[str, Any]]]:
    """Each credential's rules, in the order they were given."""
    ids = list(cred_ids)
    out: dict[str, list[dict[str, Any]]] = {i: [] for i in ids}
    if not ids:
        return out
    link_t, rules = t.app_cred_access_rules, t.access_rules
    q = (sa.select(link_t.c.application_credential_id, rules)
         .join(rules, rules.c.id == link_t.c.access_rule_id)
         .where(link_t.c.application_credential_id.in_(ids))
         .order_by(link_t.c.application_credential_id, link_t.c.position))
    for row in conn.execute(q).mappings():
        out[row["application_credential_id"]].append(view_fields(dict(row)))
    return out


def delete(conn: Connection, user_id: str, rule_id: str) -> None:
    get_for_user(conn, user_id, rule_id)
    used = conn.execute(sa.select(t.app_cred_access_rules.c.application_credential_id).where(
        t.app_cred_access_rules.c.access_rule_id == rule_id)).first()
    if used is not None:
        raise exceptions.Forbidden("May not delete access rule in use.")
    conn.execute(sa.delete(t.access_rules).where(t.access_rules.c.id == rule_id))
