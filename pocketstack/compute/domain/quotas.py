"""Nova quotas: per-project limits (with optional per-user overrides), usage counted from the
rows themselves (no reservations), and enforcement inside the caller's write transaction.

``enforce`` first bumps the project's ``compute_project_usage`` row, so concurrent writers of
one project queue on that row lock and each counts what the others committed: checks are
race-free on every backend.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from pocketstack.common import exceptions
from pocketstack.compute import tables as t

# Nova's [quota] defaults; -1 = unlimited.
DEFAULTS: dict[str, int] = {
    "instances": 10,
    "cores": 20,
    "ram": 51200,
    "metadata_items": 128,
    "injected_files": 5,
    "injected_file_content_bytes": 10240,
    "injected_file_path_bytes": 255,
    "key_pairs": 100,
    "server_groups": 10,
    "server_group_members": 10,
    # nova-network era resources: shown before 2.36, never counted (neutron owns them).
    "floating_ips": 10,
    "fixed_ips": -1,
    "security_groups": 10,
    "security_group_rules": 20,
}

NETWORK_RESOURCES = ("floating_ips", "fixed_ips", "security_groups", "security_group_rules")
FILE_RESOURCES = ("injected_files", "injected_file_content_bytes", "injected_file_path_bytes")
COUNTED = ("instances", "cores", "ram", "key_pairs", "server_groups", "server_group_members")
UNITS = {"ram": "MB"}


class QuotaExceeded(exceptions.Forbidden):
    """A request would take a project (or user) over one of its limits."""

    def __init__(self, message: str, overs: list[str] | None = None) -> None:
        super().__init__(message)
        self.overs = overs or []


def resources_for(version_at_least: Any) -> list[str]:
    """Resource names shown at a microversion (``version_at_least("2.36")`` → bool)."""
    names = list(DEFAULTS)
    if version_at_least("2.36"):
        names = [n for n in names if n not in NETWORK_RESOURCES]
    if version_at_least("2.57"):
        names = [n for n in names if n not in FILE_RESOURCES]
    return names


def _rows(conn: Connection, project_id: str, user_id: str) -> dict[str, int]:
    q = sa.select(t.quotas.c.resource, t.quotas.c.hard_limit).where(
        t.quotas.c.project_id == project_id, t.quotas.c.user_id == user_id)
    return {r[0]: int(r[1]) for r in conn.execute(q)}


DEFAULT_CLASS = "default"


def class_resources_for(version_at_least: Any) -> list[str]:
    """Resource names of a quota class at a microversion: server groups appear at 2.50, which
    drops the network resources; 2.57 drops the injected-file ones."""
    names = list(DEFAULTS)
    if not version_at_least("2.50"):
        return [n for n in names if n not in ("server_groups", "server_group_members")]
    names = [n for n in names if n not in NETWORK_RESOURCES]
    if version_at_least("2.57"):
        names = [n for n in names if n not in FILE_RESOURCES]
    return names


def _class_rows(conn: Connection, class_name: str) -> dict[str, int]:
    q = sa.select(t.quota_classes.c.resource, t.quota_classes.c.hard_limit).where(
        t.quota_classes.c.class_name == class_name)
    return {r[0]: int(r[1]) for r in conn.execute(q)}


def get_class_limits(conn: Connection, class_name: str) -> dict[str, int]:
    """A quota class's limits: the built-in defaults overridden by the class's own rows."""
    limits = dict(DEFAULTS)
    limits.update(_class_rows(conn, class_name))
    return limits


def set_class_limits(conn: Connection, class_name: str,
                     values: dict[str, int]) -> dict[str, int]:
    for resource, limit in values.items():
        where = (t.quota_classes.c.class_name == class_name,
                 t.quota_classes.c.resource == resource)
        done = conn.execute(sa.update(t.quota_classes).where(*where).values(hard_limit=limit))
        if not done.rowcount:
            conn.execute(sa.insert(t.quota_classes).values(
                class_name=class_name, resource=resource, hard_limit=limit))
    return get_class_limits(conn, class_name)


def get_defaults(conn: Connection) -> dict[str, int]:
    """What a project without limits of its own gets: the ``default`` quota class."""
    return get_class_limits(conn, DEFAULT_CLASS)


def get_limits(conn: Connection, project_id: str, user_id: str | None = None
               ) -> dict[str, int]:
    """The effective limits of a project, or of a user in it (-1 = unlimited).

    A user's own limits override the project's; without any they inherit the project's, and
    the project's fall back to the ``default`` quota class."""
    limits = get_defaults(conn)
    limits.update(_rows(conn, project_id, ""))
    if user_id:
        limits.update(_rows(conn, project_id, user_id))
    return limits


def _instance_usage(conn: Connection, project_id: str, user_id: str | None) -> dict[str, int]:
    q = sa.select(t.instances.c.flavor).where(
        t.instances.c.project_id == project_id, t.instances.c.deleted.is_(False))
    if user_id:
        q = q.where(t.instances.c.user_id == user_id)
    instances = cores = ram = 0
    for (flavor,) in conn.execute(q):
        flavor = flavor or {}
        instances += 1
        cores += int(flavor.get("vcpus", 0))
        ram += int(flavor.get("ram", flavor.get("memory_mb", 0)))
    return {"instances": instances, "cores": cores, "ram": ram}


def count_usage(conn: Connection, project_id: str, user_id: str | None = None
                ) -> dict[str, int]:
    """What a project uses now. Instances, cores and ram count the project's (or, with
    ``user_id``, that user's) live instances; key pairs are always the user's own (0 without a
    user); server groups and their members are the project's."""
    usage = _instance_usage(conn, project_id, user_id)
    key_pairs = 0
    if user_id:
        key_pairs = int(conn.execute(sa.select(sa.func.count()).select_from(t.keypairs).where(
            t.keypairs.c.user_id == user_id)).scalar_one())
    groups_q = sa.select(sa.func.count()).select_from(t.server_groups).where(
        t.server_groups.c.project_id == project_id)
    members_q = (sa.select(sa.func.count()).select_from(
        t.server_group_members.join(
            t.server_groups,
            t.server_groups.c.uuid == t.server_group_members.c.group_uuid))
        .where(t.server_groups.c.project_id == project_id))
    if user_id:
        groups_q = groups_q.where(t.server_groups.c.user_id == user_id)
    usage["key_pairs"] = key_pairs
    usage["server_groups"] = int(conn.execute(groups_q).scalar_one())
    usage["server_group_members"] = int(conn.execute(members_q).scalar_one())
    return usage


def group_member_count(conn: Connection, group_uuid: str) -> int:
    return int(conn.execute(sa.select(sa.func.count()).select_from(t.server_group_members)
                            .where(t.server_group_members.c.group_uuid == group_uuid)
                            ).scalar_one())


def lock_project(conn: Connection, project_id: str) -> None:
    """Serialise usage-changing writers of a project on its usage row."""
    bumped = conn.execute(sa.update(t.project_usage)
                          .where(t.project_usage.c.project_id == project_id)
                          .values(generation=t.project_usage.c.generation + 1))
    if bumped.rowcount:
        return
    try:
        with conn.begin_nested():
            conn.execute(sa.insert(t.project_usage).values(project_id=project_id, generation=1))
    except IntegrityError:  # another writer created it first: take its lock instead
        conn.execute(sa.update(t.project_usage)
                     .where(t.project_usage.c.project_id == project_id)
                     .values(generation=t.project_usage.c.generation + 1))


def _over(resource: str, requested: int, used: int, allowed: int) -> bool:
    return allowed >= 0 and used + requested > allowed


def enforce(conn: Connection, project_id: str, user_id: str | None,
            deltas: dict[str, int]) -> None:
    """Raise :class:`QuotaExceeded` if adding ``deltas`` (positive = more) to the current
    usage passes a project limit or one of the user's own limits.

    Call it in the same write transaction that creates the rows being counted."""
    wanted = {k: int(v) for k, v in deltas.items() if int(v) > 0}
    if not wanted:
        return
    lock_project(conn, project_id)
    project_limits = get_limits(conn, project_id)
    usage = count_usage(conn, project_id, user_id)
    overs: list[tuple[str, int, int, int]] = []
    for resource, requested in wanted.items():
        if resource == "key_pairs" or resource == "server_group_members":
            continue  # per-user / per-group: checked below
        allowed = project_limits.get(resource, -1)
        used = usage.get(resource, 0)
        if _over(resource, requested, used, allowed):
            overs.append((resource, requested, used, allowed))
    if user_id:
        user_rows = _rows(conn, project_id, user_id)
        user_usage: dict[str, int] | None = None
        for resource, requested in wanted.items():
            if resource == "key_pairs":
                allowed = user_rows.get(resource, project_limits.get(resource, -1))
                if _over(resource, requested, usage["key_pairs"], allowed):
                    overs.append((resource, requested, usage["key_pairs"], allowed))
                continue
            if resource in user_rows and resource in ("instances", "cores", "ram"):
                if user_usage is None:
                    user_usage = _instance_usage(conn, project_id, user_id)
                used = user_usage.get(resource, 0)
                if _over(resource, requested, used, user_rows[resource]):
                    overs.append((resource, requested, used, user_rows[resource]))
    if overs:
        raise QuotaExceeded(_message(overs), [o[0] for o in overs])


def _message(overs: list[tuple[str, int, int, int]]) -> str:
    names = ", ".join(o[0] for o in overs)
    requested = ", ".join(str(o[1]) for o in overs)
    used = ", ".join(str(o[2]) for o in overs)
    allowed = ", ".join(str(o[3]) for o in overs)
    return (f"Quota exceeded for {names}: Requested {requested}, but already used {used} "
            f"of {allowed} {names}")


def check_group_members(conn: Connection, project_id: str, group_uuid: str,
                        adding: int = 1) -> None:
    """Raise :class:`QuotaExceeded` if a server group would get more members than allowed."""
    allowed = get_limits(conn, project_id).get("server_group_members", -1)
    used = group_member_count(conn, group_uuid)
    if _over("server_group_members", adding, used, allowed):
        raise QuotaExceeded(
            "Quota exceeded, too many servers in group", ["server_group_members"])


def check_metadata(conn: Connection, project_id: str, count: int) -> None:
    """Raise :class:`QuotaExceeded` if a server would carry more metadata items than allowed."""
    check_metadata_count(get_limits(conn, project_id).get("metadata_items", -1), count)


def check_metadata_count(allowed: int, count: int) -> None:
    """Raise :class:`QuotaExceeded` if ``count`` metadata items exceed ``allowed`` (-1: any)."""
    if allowed >= 0 and count > allowed:
        raise QuotaExceeded(f"Quota exceeded for metadata_items: Maximum number of metadata "
                            f"items exceeds {allowed}", ["metadata_items"])


# -- administration ------------------------------------------------------------------------
def set_limits(conn: Connection, project_id: str, user_id: str | None,
               values: dict[str, int], force: bool = False) -> dict[str, int]:
    """Set hard limits; without ``force`` a limit below current usage is a 400."""
    uid = user_id or ""
    if not force:
        usage = count_usage(conn, project_id, user_id)
        if not user_id:
            usage["key_pairs"] = 0  # per user: any project limit is acceptable
        for resource, limit in values.items():
            used = usage.get(resource, 0)
            if limit != -1 and limit < used:
                raise exceptions.BadRequest(
                    f"Quota limit {limit} for {resource} must be greater than or equal to "
                    f"already used and reserved {used}.")
    if user_id:
        project = get_limits(conn, project_id)
        for resource, limit in values.items():
            top = project.get(resource, -1)
            if top != -1 and (limit == -1 or limit > top):
                raise exceptions.BadRequest(
                    f"Quota limit {limit} for {resource} must be less than or equal to "
                    f"{top}.")
    for resource, limit in values.items():
        where = (t.quotas.c.project_id == project_id, t.quotas.c.user_id == uid,
                 t.quotas.c.resource == resource)
        done = conn.execute(sa.update(t.quotas).where(*where).values(hard_limit=limit))
        if not done.rowcount:
            conn.execute(sa.insert(t.quotas).values(project_id=project_id, user_id=uid,
                                                    resource=resource, hard_limit=limit))
    return get_limits(conn, project_id, user_id)


def delete_limits(conn: Connection, project_id: str, user_id: str | None = None) -> None:
    """Revert to defaults (a project's delete also drops its users' overrides)."""
    q = sa.delete(t.quotas).where(t.quotas.c.project_id == project_id)
    if user_id:
        q = q.where(t.quotas.c.user_id == user_id)
    conn.execute(q)


def detail(conn: Connection, project_id: str, user_id: str | None = None
           ) -> dict[str, dict[str, int]]:
    limits = get_limits(conn, project_id, user_id)
    usage = count_usage(conn, project_id, user_id)
    return {name: {"limit": limit, "in_use": usage.get(name, 0), "reserved": 0}
            for name, limit in limits.items()}
