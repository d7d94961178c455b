"""Server groups: named sets of servers with an (anti-)affinity policy the scheduler honours."""

from __future__ import annotations

import uuid as uuidlib
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from pocketstack.common import exceptions
from pocketstack.compute import tables as t
from pocketstack.compute.domain import quotas
from pocketstack.compute.domain.common import utcnow

POLICIES = ("affinity", "anti-affinity", "soft-affinity", "soft-anti-affinity")


def get(conn: Connection, uuid: str) -> dict[str, Any]:
    """The group row (``policy``, ``rules``, ``project_id``, ...) or 404."""
    row = conn.execute(sa.select(t.server_groups).where(t.server_groups.c.uuid == uuid)
                       ).mappings().first()
    if row is None:
        raise exceptions.NotFound(f"Instance group {uuid} could not be found.")
    return dict(row)


def members(conn: Connection, uuid: str) -> list[str]:
    """Uuids of the group's members that are not deleted, in the order they joined."""
    m = t.server_group_members
    i = t.instances
    q = (sa.select(m.c.instance_uuid)
         .select_from(m.outerjoin(i, i.c.uuid == m.c.instance_uuid))
         .where(m.c.group_uuid == uuid, sa.or_(i.c.id.is_(None), i.c.deleted.is_(False)))
         .order_by(m.c.instance_uuid))
    return [r[0] for r in conn.execute(q)]


def members_by_group(conn: Connection, uuids: list[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {u: [] for u in uuids}
    if not uuids:
        return out
    m = t.server_group_members
    i = t.instances
    q = (sa.select(m.c.group_uuid, m.c.instance_uuid)
         .select_from(m.outerjoin(i, i.c.uuid == m.c.instance_uuid))
         .where(m.c.group_uuid.in_(uuids), sa.or_(i.c.id.is_(None), i.c.deleted.is_(False)))
         .order_by(m.c.instance_uuid))
    for group_uuid, instance_uuid in conn.execute(q):
        out[group_uuid].append(instance_uuid)
    return out


def add_member(conn: Connection, group_uuid: str, instance_uuid: str,
               unified: quotas.Unified | None = None) -> None:
    """Add an instance to a group, within the group's ``server_group_members`` quota
    (raises ``quotas.QuotaExceeded``, a 403)."""
    group = get(conn, group_uuid)
    exists = conn.execute(sa.select(t.server_group_members).where(
        t.server_group_members.c.group_uuid == group_uuid,
        t.server_group_members.c.instance_uuid == instance_uuid)).first()
    if exists is not None:
        return
    quotas.check_group_members(conn, group["project_id"], group_uuid, unified=unified)
    conn.execute(sa.insert(t.server_group_members).values(
        group_uuid=group_uuid, instance_uuid=instance_uuid))


def remove_member(conn: Connection, instance_uuid: str) -> None:
    """Drop an instance from whatever group it is in (on delete)."""
    conn.execute(sa.delete(t.server_group_members).where(
        t.server_group_members.c.instance_uuid == instance_uuid))


def group_of(conn: Connection, instance_uuid: str) -> str | None:
    row = conn.execute(sa.select(t.server_group_members.c.group_uuid).where(
        t.server_group_members.c.instance_uuid == instance_uuid)).first()
    return None if row is None else str(row[0])


def hosts(conn: Connection, uuid: str) -> list[str]:
    """Hosts the group's live members run on (for affinity checks)."""
    m = t.server_group_members
    i = t.instances
    q = (sa.select(i.c.host).select_from(m.join(i, i.c.uuid == m.c.instance_uuid))
         .where(m.c.group_uuid == uuid, i.c.deleted.is_(False), i.c.host.is_not(None)))
    return sorted({r[0] for r in conn.execute(q)})


def placements(conn: Connection, uuid: str) -> dict[str, tuple[str | None, str]]:
    """Each live member's (host or None, vm_state), by instance uuid."""
    m = t.server_group_members
    i = t.instances
    q = (sa.select(i.c.uuid, i.c.host, i.c.vm_state)
         .select_from(m.join(i, i.c.uuid == m.c.instance_uuid))
         .where(m.c.group_uuid == uuid, i.c.deleted.is_(False)))
    return {r[0]: (r[1], r[2]) for r in conn.execute(q)}


class PolicyViolation(exceptions.Conflict):
    """Placing an instance on a host would break its group's hard policy."""


def policy_violation(policy: str, rules: dict[str, Any], others: list[str],
                     host: str) -> str | None:
    """Why ``host`` breaks a hard ``policy`` given the hosts of the group's other members
    (one entry per member), or None when it does not."""
    if policy == "anti-affinity":
        limit = int((rules or {}).get("max_server_per_host", 1))
        here = others.count(host)
        if here >= limit:
            return (f"anti-affinity policy of the server group: {here} member(s) already on "
                    f"{host}")
    elif policy == "affinity" and others and host not in others:
        return (f"affinity policy of the server group: members run on "
                f"{', '.join(sorted(set(others)))}")
    return None


def check_placement(conn: Connection, group_uuid: str, instance_uuid: str, host: str) -> None:
    """Nova's late check, inside the transaction that places the instance: with the group's
    row locked (writers of one group queue here, across processes), raise PolicyViolation if
    ``host`` breaks the group's hard policy given where the other members already are."""
    row = conn.execute(sa.select(t.server_groups).where(t.server_groups.c.uuid == group_uuid)
                       .with_for_update()).mappings().first()
    if row is None:
        return  # the group is gone: nothing to honour
    others = [h for uuid, (h, _) in placements(conn, group_uuid).items()
              if uuid != instance_uuid and h is not None]
    reason = policy_violation(row["policy"], row["rules"] or {}, others, host)
    if reason is not None:
        raise PolicyViolation(reason)


def create(conn: Connection, project_id: str, user_id: str, name: str, policy: str,
           rules: dict[str, Any] | None = None,
           unified: quotas.Unified | None = None) -> dict[str, Any]:
    if policy not in POLICIES:
        raise exceptions.ValidationError(f"Invalid policy {policy!r}.")
    quotas.enforce(conn, project_id, user_id, {"server_groups": 1}, unified)
    uuid = str(uuidlib.uuid4())
    conn.execute(sa.insert(t.server_groups).values(
        uuid=uuid, name=name, project_id=project_id, user_id=user_id, policy=policy,
        rules=rules or {}, created_at=utcnow()))
    return get(conn, uuid)


def delete(conn: Connection, uuid: str) -> None:
    get(conn, uuid)
    conn.execute(sa.delete(t.server_group_members).where(
        t.server_group_members.c.group_uuid == uuid))
    conn.execute(sa.delete(t.server_groups).where(t.server_groups.c.uuid == uuid))


def list_(conn: Connection, project_id: str | None) -> list[dict[str, Any]]:
    """A project's groups (all projects' with ``project_id=None``), oldest first."""
    q = sa.select(t.server_groups).order_by(t.server_groups.c.id)
    if project_id is not None:
        q = q.where(t.server_groups.c.project_id == project_id)
    return [dict(r) for r in conn.execute(q).mappings()]


def groups_of(conn: Connection, instance_uuids: list[str]) -> dict[str, str]:
    """instance uuid → its server group's uuid, for many instances in one query."""
    if not instance_uuids:
        return {}
    m = t.server_group_members
    return {r.instance_uuid: r.group_uuid for r in conn.execute(
        sa.select(m.c.instance_uuid, m.c.group_uuid).where(
            m.c.instance_uuid.in_(instance_uuids)))}
