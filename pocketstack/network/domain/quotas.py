"""Per-project quotas: limits (defaults from settings, overrides in ``neutron_quotas``), usage
counted from the resource tables, and the race-free check every create makes under the
project's lock."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from pocketstack.network import errors
from pocketstack.network import tables as t
from pocketstack.network.domain.common import count, lock_project

TABLES: dict[str, sa.Table] = {
    "network": t.networks,
    "subnet": t.subnets,
    "port": t.ports,
    "router": t.routers,
    "floatingip": t.floatingips,
    "security_group": t.security_groups,
    "security_group_rule": t.security_group_rules,
    "subnetpool": t.subnetpools,
    "rbac_policy": t.rbac_policies,
}
RESOURCES = tuple(TABLES)


def limits(conn: Connection, project_id: str, defaults: dict[str, int]) -> dict[str, int]:
    out = dict(defaults)
    for row in conn.execute(sa.select(t.quotas).where(t.quotas.c.project_id == project_id)):
        out[row.resource] = row.hard_limit
    return out


def usage(conn: Connection, project_id: str) -> dict[str, int]:
    return {name: count(conn, table, table.c.project_id == project_id)
            for name, table in TABLES.items()}


def check(conn: Connection, project_id: str, resource: str, defaults: dict[str, int],
          adding: int = 1) -> None:
    """Refuse (409 OverQuota) when ``adding`` more would pass the limit. Holds the project's
    lock until the caller's transaction ends, so two creates cannot both take the last one."""
    lock_project(conn, project_id)
    row = conn.execute(sa.select(t.quotas.c.hard_limit).where(
        t.quotas.c.project_id == project_id, t.quotas.c.resource == resource)).first()
    limit = defaults[resource] if row is None else row.hard_limit
    if limit < 0:
        return
    table = TABLES[resource]
    if count(conn, table, table.c.project_id == project_id) + adding > limit:
        raise errors.OverQuota(resource)


def update(conn: Connection, project_id: str, values: dict[str, int]) -> None:
    for resource, limit in values.items():
        if resource not in TABLES:
            raise errors.InvalidInput(f"Unrecognized attribute(s) '{resource}'")
        conn.execute(sa.delete(t.quotas).where(t.quotas.c.project_id == project_id,
                                               t.quotas.c.resource == resource))
        conn.execute(sa.insert(t.quotas).values(project_id=project_id, resource=resource,
                                                hard_limit=limit))


def check_not_below_usage(conn: Connection, project_id: str, values: dict[str, int]) -> None:
    """``check_limit``: refuse a limit below what the project already uses."""
    lock_project(conn, project_id)
    used = usage(conn, project_id)
    for resource, limit in values.items():
        if 0 <= limit < used.get(resource, 0):
            raise errors.bad_request(
                "InvalidQuotaValue", f"Quota limit {limit} for {resource} must be greater "
                f"than or equal to already used and reserved {used[resource]}.")


def reset(conn: Connection, project_id: str) -> None:
    conn.execute(sa.delete(t.quotas).where(t.quotas.c.project_id == project_id))


def projects_with_overrides(conn: Connection) -> list[str]:
    return [r[0] for r in conn.execute(sa.select(sa.distinct(t.quotas.c.project_id))
                                       .order_by(t.quotas.c.project_id))]


def details(conn: Connection, project_id: str, defaults: dict[str, int]) -> dict[str, Any]:
    lim = limits(conn, project_id, defaults)
    used = usage(conn, project_id)
    return {name: {"limit": lim[name], "used": used[name], "reserved": 0} for name in TABLES}
