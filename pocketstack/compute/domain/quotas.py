"""Nova quotas: per-project limits (with optional per-user overrides), usage counted from the
rows themselves (no reservations), and enforcement inside the caller's write transaction.

With ``quota_driver = unified_limits`` the limits are keystone's unified limits instead (Nova's
``UnifiedLimitsDriver``): the API reads them through identity's public interface before the
write and hands them in as :class:`Unified`; usage is counted and checked exactly as below.

``enforce`` first bumps the project's ``compute_project_usage`` row, so concurrent writers of
one project queue on that row lock and each counts what the others committed: checks are
race-free on every backend.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
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


class OverLimit(QuotaExceeded):
    """Over a unified limit: the message is oslo.limit's (``Project … is over a limit for
    [Resource … is over limit of … due to current usage … and delta …]``), which Nova passes
    on unchanged for every resource."""


# -- unified limits (Nova's UnifiedLimitsDriver) -----------------------------------------------
# keystone resource name of the compute service → the legacy quota name it stands for
UNIFIED_NAMES: dict[str, str] = {
    "servers": "instances",
    "class:VCPU": "cores",
    "class:MEMORY_MB": "ram",
    "class:DISK_GB": "disk",
    "server_metadata_items": "metadata_items",
    "server_injected_files": "injected_files",
    "server_injected_file_content_bytes": "injected_file_content_bytes",
    "server_injected_file_path_bytes": "injected_file_path_bytes",
    "server_key_pairs": "key_pairs",
    "server_groups": "server_groups",
    "server_group_members": "server_group_members",
}
LEGACY_TO_UNIFIED = {legacy: name for name, legacy in UNIFIED_NAMES.items()}
# Nova's defaults ([quota] unified_limits_resource_strategy = require,
# unified_limits_resource_list = [servers]): a required resource with no registered limit has
# the limit 0; any other unregistered resource is not limited.
REQUIRED = ("servers",)


@dataclass(frozen=True)
class Unified:
    """A project's compute limits from keystone, by legacy name (-1: unlimited)."""

    project_id: str
    limits: Mapping[str, int]

    @classmethod
    def from_keystone(cls, project_id: str, found: Mapping[str, int]) -> Unified:
        limits = {}
        for name, legacy in UNIFIED_NAMES.items():
            if name in found:
                limits[legacy] = int(found[name])
            else:
                limits[legacy] = 0 if name in REQUIRED else -1
        return cls(project_id, limits)

    def quota_set(self) -> dict[str, int]:
        """The limits by os-quota-sets name (what keystone does not hold is -1)."""
        return {name: self.limits.get(name, -1) for name in DEFAULTS}


def _unlimited(limit: int) -> bool:
    return limit < 0  # keystone documents -1 as "no limit"; Nova treats any negative so


def _over_limit(project_id: str, infos: list[tuple[str, int, int, int]]) -> OverLimit:
    described = ", ".join(
        f"Resource {LEGACY_TO_UNIFIED.get(name, name)} is over limit of {limit} due to "
        f"current usage {used} and delta {delta}" for name, delta, used, limit in infos)
    return OverLimit(f"Project {project_id} is over a limit for [{described}]",
                     [i[0] for i in infos])


def disk_gb(flavor: Mapping[str, Any], boot_from_volume: bool) -> int:
    """Placement's DISK_GB of a flavor: root (not when booted from a volume) + ephemeral +
    swap rounded up to GiB."""
    root = 0 if boot_from_volume else int(flavor.get("disk", 0) or 0)
    swap_mb = int(flavor.get("swap", 0) or 0)
    return root + int(flavor.get("ephemeral", 0) or 0) + math.ceil(swap_mb / 1024)


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


def get_limits(conn: Connection, project_id: str, user_id: str | None = None,
               unified: Unified | None = None) -> dict[str, int]:
    """The effective limits of a project, or of a user in it (-1 = unlimited).

    A user's own limits override the project's; without any they inherit the project's, and
    the project's fall back to the ``default`` quota class. With unified limits the project's
    limits are keystone's (no user limits; resources keystone does not hold are -1)."""
    if unified is not None:
        return unified.quota_set()
    limits = get_defaults(conn)
    limits.update(_rows(conn, project_id, ""))
    if user_id:
        limits.update(_rows(conn, project_id, user_id))
    return limits


def _instance_usage(conn: Connection, project_id: str, user_id: str | None) -> dict[str, int]:
    q = sa.select(t.instances.c.flavor, t.instances.c.image_ref).where(
        t.instances.c.project_id == project_id, t.instances.c.deleted.is_(False))
    if user_id:
        q = q.where(t.instances.c.user_id == user_id)
    instances = cores = ram = disk = 0
    for flavor, image_ref in conn.execute(q):
        flavor = flavor or {}
        instances += 1
        cores += int(flavor.get("vcpus", 0))
        ram += int(flavor.get("ram", flavor.get("memory_mb", 0)))
        disk += disk_gb(flavor, not image_ref)
    return {"instances": instances, "cores": cores, "ram": ram, "disk": disk}


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
            deltas: dict[str, int], unified: Unified | None = None) -> None:
    """Raise :class:`QuotaExceeded` if adding ``deltas`` (positive = more) to the current
    usage passes a project limit or one of the user's own limits (with ``unified``: a unified
    limit, :class:`OverLimit`).

    Call it in the same write transaction that creates the rows being counted."""
    wanted = {k: int(v) for k, v in deltas.items() if int(v) > 0}
    if not wanted:
        return
    lock_project(conn, project_id)
    if unified is not None:
        _enforce_unified(conn, project_id, user_id, wanted, unified)
        return
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


def _enforce_unified(conn: Connection, project_id: str, user_id: str | None,
                     wanted: dict[str, int], unified: Unified) -> None:
    """Usage as Nova counts it for unified limits: servers, vCPUs, RAM, disk and server
    groups of the whole project; key pairs of the requesting user."""
    usage = count_usage(conn, project_id)
    if "key_pairs" in wanted:
        usage["key_pairs"] = count_usage(conn, project_id, user_id)["key_pairs"] if user_id \
            else 0
    infos = []
    for resource, requested in wanted.items():
        if resource == "server_group_members":
            continue  # per group: check_group_members
        allowed = unified.limits.get(resource, -1)
        used = usage.get(resource, 0)
        if not _unlimited(allowed) and used + requested > allowed:
            infos.append((resource, requested, used, allowed))
    if infos:
        raise _over_limit(project_id, infos)


def _message(overs: list[tuple[str, int, int, int]]) -> str:
    names = ", ".join(o[0] for o in overs)
    requested = ", ".join(str(o[1]) for o in overs)
    used = ", ".join(str(o[2]) for o in overs)
    allowed = ", ".join(str(o[3]) for o in overs)
    return (f"Quota exceeded for {names}: Requested {requested}, but already used {used} "
            f"of {allowed} {names}")


def check_group_members(conn: Connection, project_id: str, group_uuid: str,
                        adding: int = 1, unified: Unified | None = None) -> None:
    """Raise :class:`QuotaExceeded` if a server group would get more members than allowed."""
    allowed = get_limits(conn, project_id, unified=unified).get("server_group_members", -1)
    used = group_member_count(conn, group_uuid)
    if unified is not None and not _unlimited(allowed) and used + adding > allowed:
        raise _over_limit(project_id, [("server_group_members", adding, used, allowed)])
    if _over("server_group_members", adding, used, allowed):
        raise QuotaExceeded(
            "Quota exceeded, too many servers in group", ["server_group_members"])


def check_metadata(conn: Connection, project_id: str, count: int,
                   unified: Unified | None = None) -> None:
    """Raise :class:`QuotaExceeded` if a server would carry more metadata items than allowed."""
    allowed = get_limits(conn, project_id, unified=unified).get("metadata_items", -1)
    check_metadata_count(allowed, count, unified)


def check_metadata_count(allowed: int, count: int, unified: Unified | None = None) -> None:
    """Raise :class:`QuotaExceeded` if ``count`` metadata items exceed ``allowed`` (-1: any)."""
    if unified is not None and not _unlimited(allowed) and count > allowed:
        raise _over_limit(unified.project_id, [("metadata_items", count, 0, allowed)])
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


def detail(conn: Connection, project_id: str, user_id: str | None = None,
           unified: Unified | None = None) -> dict[str, dict[str, int]]:
    limits = get_limits(conn, project_id, user_id, unified)
    usage = count_usage(conn, project_id, None if unified is not None else user_id)
    return {name: {"limit": limit, "in_use": usage.get(name, 0), "reserved": 0}
            for name, limit in limits.items()}
