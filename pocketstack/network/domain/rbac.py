"""RBAC policies on networks: share a network (``access_as_shared``) or expose it as
external (``access_as_external``) to one project or to all (``*``)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.elements import ColumnElement

from pocketstack.common.context import RequestContext
from pocketstack.network import errors
from pocketstack.network import tables as t
from pocketstack.network.domain import common, quotas
from pocketstack.network.domain.common import ListQuery

KIND = "RbacPolicy"
ACTIONS = ("access_as_shared", "access_as_external")


def visible_clause(ctx: RequestContext) -> ColumnElement[bool] | None:
    if ctx.is_admin:
        return None
    return t.rbac_policies.c.project_id == (ctx.project_id or "")


def get_visible(conn: Connection, ctx: RequestContext, policy_id: str) -> dict[str, Any]:
    query = sa.select(t.rbac_policies).where(t.rbac_policies.c.id == policy_id)
    clause = visible_clause(ctx)
    if clause is not None:
        query = query.where(clause)
    row = conn.execute(query).mappings().first()
    if row is None:
        raise errors.not_found(KIND, policy_id, f"RBAC policy with type network and id "
                               f"{policy_id} not found")
    return dict(row)


def list_policies(conn: Connection, ctx: RequestContext,
                  q: ListQuery) -> tuple[list[dict[str, Any]], bool]:
    clause = visible_clause(ctx)
    return common.list_rows(conn, t.rbac_policies, "rbac-policies", q,
                            [] if clause is None else [clause], KIND)


def create(conn: Connection, ctx: RequestContext, values: dict[str, Any],
           quota_defaults: dict[str, int]) -> dict[str, Any]:
    if values.get("object_type") != "network":
        raise errors.InvalidInput(f"'{values.get('object_type')}' is not in ['network']")
    if values.get("action") not in ACTIONS:
        raise errors.InvalidInput(f"'{values.get('action')}' is not in {list(ACTIONS)}")
    target = values.get("target_tenant") or values.get("target_project")
    if not target:
        raise errors.InvalidInput("target_tenant is required")
    object_id = str(values.get("object_id") or "")
    network = conn.execute(sa.select(t.networks.c.project_id)
                           .where(t.networks.c.id == object_id)).first()
    if network is None or (not ctx.is_admin and network.project_id != ctx.project_id):
        raise errors.not_found("Network", object_id)
    if values["action"] == "access_as_external" and not ctx.is_admin:
        raise errors.PolicyNotAuthorized("(rule:create_rbac_policy and "
                                         "rule:create_rbac_policy:target_tenant) is "
                                         "disallowed by policy")
    quotas.check(conn, values["project_id"], "rbac_policy", quota_defaults)
    policy_id = common.new_id()
    try:
        with conn.begin_nested():
            conn.execute(sa.insert(t.rbac_policies).values(
                id=policy_id, project_id=values["project_id"], object_type="network",
                object_id=object_id, action=values["action"], target_project=target))
    except IntegrityError:
        raise errors.conflict("DuplicateRbacPolicy", "An RBAC policy already exists with "
                              "those values.") from None
    if values["action"] == "access_as_external" and target == "*":
        conn.execute(sa.update(t.networks).where(t.networks.c.id == object_id)
                     .values(external=True))
    return get_visible(conn, ctx, policy_id)


def _check_unused(conn: Connection, policy: dict[str, Any]) -> None:
    owner = conn.execute(sa.select(t.networks.c.project_id)
                         .where(t.networks.c.id == policy["object_id"])).scalar()
    query = sa.select(t.ports.c.id).where(t.ports.c.network_id == policy["object_id"],
                                          t.ports.c.project_id != (owner or ""),
                                          t.ports.c.project_id != "")
    if policy["target_project"] != "*":
        query = query.where(t.ports.c.project_id == policy["target_project"])
    if conn.execute(query).first() is not None:
        raise errors.conflict("RbacPolicyInUse", f"RBAC policy on object "
                              f"{policy['object_id']} cannot be removed because other objects "
                              "depend on it.")


def update(conn: Connection, ctx: RequestContext, policy_id: str,
           values: dict[str, Any]) -> dict[str, Any]:
    policy = get_visible(conn, ctx, policy_id)
    target = values.get("target_tenant") or values.get("target_project")
    if target and target != policy["target_project"]:
        _check_unused(conn, policy)
        conn.execute(sa.update(t.rbac_policies).where(t.rbac_policies.c.id == policy_id)
                     .values(target_project=target))
    return get_visible(conn, ctx, policy_id)


def delete(conn: Connection, ctx: RequestContext, policy_id: str) -> None:
    policy = get_visible(conn, ctx, policy_id)
    _check_unused(conn, policy)
    conn.execute(sa.delete(t.rbac_policies).where(t.rbac_policies.c.id == policy_id))
