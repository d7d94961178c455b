"""OS-TRUST: a trustor delegates some of their roles on a project to a trustee.

A trust-scoped token carries the trust's roles (as far as the trustor still holds them) on the
trust's project, for the trustee, or for the trustor when the trust allows impersonation. A
trust may expire and may be limited to a number of uses (each token issued is one). Trusts are
never redelegated.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from pocketstack.common import exceptions
from pocketstack.identity import tables as t
from pocketstack.identity.domain import assignments, projects, roles, users
from pocketstack.identity.domain.common import bump_revision, get_row, new_id, utcnow

FIELDS = ("trustor_user_id", "trustee_user_id", "project_id", "impersonation", "expires_at",
          "remaining_uses", "roles", "allow_redelegation", "redelegation_count", "id")


def _with_roles(conn: Connection, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    ids = [r["id"] for r in rows]
    held: dict[str, list[str]] = {i: [] for i in ids}
    if ids:
        for trust_id, role_id in conn.execute(sa.select(
                t.trust_roles.c.trust_id, t.trust_roles.c.role_id).where(
                t.trust_roles.c.trust_id.in_(ids))):
            held[trust_id].append(role_id)
    by_id = roles.by_ids(conn, {rid for rids in held.values() for rid in rids})
    for row in rows:
        row["roles"] = sorted((by_id[rid] for rid in held[row["id"]] if rid in by_id),
                              key=lambda r: r["name"])
    return rows


def get(conn: Connection, trust_id: str) -> dict[str, Any]:
    return _with_roles(conn, [get_row(conn, t.trusts, trust_id, "trust")])[0]


def list_(conn: Connection, trustor_user_id: str | None = None,
          trustee_user_id: str | None = None) -> list[dict[str, Any]]:
    q = sa.select(t.trusts).order_by(t.trusts.c.created_at, t.trusts.c.id)
    if trustor_user_id is not None:
        q = q.where(t.trusts.c.trustor_user_id == trustor_user_id)
    if trustee_user_id is not None:
        q = q.where(t.trusts.c.trustee_user_id == trustee_user_id)
    return _with_roles(conn, [dict(r) for r in conn.execute(q).mappings()])


def create(conn: Connection, values: dict[str, Any]) -> dict[str, Any]:
    """``values`` is schema-checked; ``expires_at`` already a naive UTC datetime."""
    if values.get("allow_redelegation") or values.get("redelegation_count"):
        raise exceptions.Forbidden("Redelegation of trusts is not allowed by this cloud.")
    trustor = users.get(conn, values["trustor_user_id"])
    try:
        users.get(conn, values["trustee_user_id"])
    except exceptions.NotFound:
        raise exceptions.NotFound(
            f"Could not find user: {values['trustee_user_id']}.") from None
    project_id = values.get("project_id")
    wanted = values.get("roles") or []
    if project_id is None and wanted:
        raise exceptions.ValidationError("A trust delegating roles needs a project_id.")
    if project_id is not None and not wanted:
        raise exceptions.ValidationError("At least one role should be specified.")
    role_ids: list[str] = []
    if project_id is not None:
        project = projects.get(conn, project_id)
        held = assignments.effective_project_role_ids(conn, trustor["id"], project)
        for ref in wanted:
            try:
                row = (roles.get(conn, ref["id"]) if "id" in ref
                       else roles.get_by_name(conn, ref["name"], ref.get("domain_id")))
            except exceptions.NotFound:
                raise exceptions.NotFound(f"Could not find role: {ref}.") from None
            if row["id"] not in held:
                raise exceptions.Forbidden(
                    f"The trustor does not hold role {row['name']} on project {project_id}.")
            if row["id"] not in role_ids:
                role_ids.append(row["id"])
    row = {
        "id": new_id(),
        "trustor_user_id": trustor["id"],
        "trustee_user_id": values["trustee_user_id"],
        "project_id": project_id,
        "impersonation": values["impersonation"],
        "expires_at": values.get("expires_at"),
        "remaining_uses": values.get("remaining_uses"),
        "extra": {k: v for k, v in values.items() if k not in FIELDS},
        "created_at": utcnow(),
        "generation": 0,
    }
    conn.execute(sa.insert(t.trusts).values(**row))
    for role_id in role_ids:
        conn.execute(sa.insert(t.trust_roles).values(trust_id=row["id"], role_id=role_id))
    return get(conn, row["id"])


def delete(conn: Connection, trust_id: str) -> None:
    get(conn, trust_id)
    conn.execute(sa.delete(t.trusts).where(t.trusts.c.id == trust_id))
    bump_revision(conn)  # tokens scoped to it stop validating (cached ones included)


def is_expired(trust: dict[str, Any]) -> bool:
    return trust["expires_at"] is not None and trust["expires_at"] <= utcnow()


def consume(conn: Connection, trust_id: str) -> None:
    """Count one use of a trust limited to a number of uses (issuing a token)."""
    trust = get(conn, trust_id)
    if trust["remaining_uses"] is None:
        return
    c = t.trusts.c
    result = conn.execute(sa.update(t.trusts).where(c.id == trust_id, c.remaining_uses > 0)
                          .values(remaining_uses=c.remaining_uses - 1,
                                  generation=c.generation + 1))
    if result.rowcount != 1:
        raise exceptions.Forbidden("The trust has no remaining uses.")
