"""Per-project quotas: limits (defaults from settings, overrides in ``cinder_quotas``), usage
counted from the volume and snapshot tables, and the race-free check under the project lock.

``gigabytes`` counts volumes and snapshots, as Cinder's default does; ``backups`` and
``backup_gigabytes`` count backups; groups are a limit only (usage 0). Every volume type adds
``volumes_<type>``, ``snapshots_<type>`` and ``gigabytes_<type>`` (unlimited unless set),
counting the volumes of that type and their snapshots, enforced with the others.

A limit comes from the project's own row, else the ``default`` quota class
(``os-quota-class-sets``), else the settings."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from pocketstack.volume import errors
from pocketstack.volume import tables as t
from pocketstack.volume.domain.common import lock_project

RESOURCES = ("volumes", "gigabytes", "snapshots", "per_volume_gigabytes", "backups",
             "backup_gigabytes", "groups")


class Fixed(dict[str, int]):
    """A project's limits that are final (keystone's unified limits, read before the write):
    no ``cinder_quotas`` row overrides them."""


PER_TYPE = ("volumes", "gigabytes", "snapshots")
DEFAULT_CLASS = "default"


def type_resources(conn: Connection) -> list[str]:
    names = sorted(r[0] for r in conn.execute(sa.select(t.volume_types.c.name)))
    return [f"{res}_{name}" for name in names for res in PER_TYPE]


def resources(conn: Connection) -> list[str]:
    """Every quota resource: the fixed ones and three per volume type."""
    return [*RESOURCES, *type_resources(conn)]


def class_limits(conn: Connection, class_name: str, defaults: dict[str, int],
                 every_type: bool = True) -> dict[str, int]:
    """A quota class's limits: the settings' defaults under what the class sets. Per-type
    limits not set are unlimited: listed with -1 when ``every_type``, else left out (a quota
    check reads a missing one as -1, and saves the query)."""
    out = {**dict.fromkeys(type_resources(conn), -1), **defaults} if every_type \
        else dict(defaults)
    qc = t.quota_classes
    for row in conn.execute(sa.select(qc).where(qc.c.class_name == class_name)):
        if row.resource in out or (not every_type and row.resource not in RESOURCES):
            out[row.resource] = int(row.hard_limit)
    return out


def update_class(conn: Connection, class_name: str, values: dict[str, int]) -> None:
    qc = t.quota_classes
    for resource, limit in values.items():
        conn.execute(sa.delete(qc).where(qc.c.class_name == class_name,
                                         qc.c.resource == resource))
        conn.execute(sa.insert(qc).values(class_name=class_name, resource=resource,
                                          hard_limit=limit))


def limits(conn: Connection, project_id: str, defaults: dict[str, int],
           every_type: bool = True) -> dict[str, int]:
    if isinstance(defaults, Fixed):  # keystone's limits are final: no class or project row
        return {**dict.fromkeys(type_resources(conn), -1), **defaults} if every_type \
            else dict(defaults)
    if not every_type:  # a quota check: the class's and the project's rows in one statement
        out = dict(defaults)
        qc, q = t.quota_classes, t.quotas
        rows = conn.execute(sa.union_all(
            sa.select(sa.literal_column("0").label("tier"), qc.c.resource, qc.c.hard_limit)
            .where(qc.c.class_name == DEFAULT_CLASS),
            sa.select(sa.literal_column("1").label("tier"), q.c.resource, q.c.hard_limit)
            .where(q.c.project_id == project_id)))
        for _tier, resource, hard_limit in sorted(rows, key=lambda r: r[0]):
            out[resource] = int(hard_limit)  # the project's own rows over the class's
        return out
    out = class_limits(conn, DEFAULT_CLASS, defaults, every_type)
    for row in conn.execute(sa.select(t.quotas).where(t.quotas.c.project_id == project_id)):
        out[row.resource] = int(row.hard_limit)
    return out


def type_usage(conn: Connection, project_id: str) -> dict[str, int]:
    """``volumes_<type>``, ``snapshots_<type>``, ``gigabytes_<type>`` in use."""
    v, s, vt = t.volumes, t.snapshots, t.volume_types
    out = dict.fromkeys(type_resources(conn), 0)
    for name, count, gb in conn.execute(
            sa.select(vt.c.name, sa.func.count(), sa.func.coalesce(sa.func.sum(v.c.size), 0))
            .join(vt, vt.c.id == v.c.volume_type_id).where(v.c.project_id == project_id)
            .group_by(vt.c.name)):
        out[f"volumes_{name}"] = int(count)
        out[f"gigabytes_{name}"] = int(gb)
    for name, count, gb in conn.execute(
            sa.select(vt.c.name, sa.func.count(), sa.func.coalesce(sa.func.sum(s.c.size), 0))
            .join(v, v.c.id == s.c.volume_id).join(vt, vt.c.id == v.c.volume_type_id)
            .where(s.c.project_id == project_id).group_by(vt.c.name)):
        out[f"snapshots_{name}"] = int(count)
        out[f"gigabytes_{name}"] = out.get(f"gigabytes_{name}", 0) + int(gb)
    return out


def usage(conn: Connection, project_id: str) -> dict[str, int]:
    """Counted in one statement (it runs under the project lock: every round trip counts)."""
    def counted(table: sa.Table) -> tuple[Any, Any]:
        where = table.c.project_id == project_id
        return (sa.select(sa.func.count()).where(where).scalar_subquery(),
                sa.select(sa.func.coalesce(sa.func.sum(table.c.size), 0)).where(where)
                .scalar_subquery())

    nvol, vgb, nsnap, sgb, nback, bgb = conn.execute(sa.select(
        *counted(t.volumes), *counted(t.snapshots), *counted(t.backups))).one()
    return {"volumes": int(nvol), "snapshots": int(nsnap), "gigabytes": int(vgb) + int(sgb),
            "per_volume_gigabytes": 0, "backups": int(nback), "backup_gigabytes": int(bgb),
            "groups": 0}


def check(conn: Connection, project_id: str, defaults: dict[str, int], *, volumes: int = 0,
          snapshots: int = 0, gigabytes: int = 0, volume_size: int | None = None,
          backups: int = 0, backup_gigabytes: int = 0,
          volume_type_id: str | None = None) -> None:
    """Refuse (413 overLimit) what would pass a limit. Holds the project's lock until the
    caller's transaction ends, so two creates cannot both take the last unit."""
    lock_project(conn, project_id)
    lim = limits(conn, project_id, defaults, every_type=False)
    per = lim["per_volume_gigabytes"]
    if volume_size is not None and per >= 0 and volume_size > per:
        raise errors.OverQuota(f"Volume size {volume_size}G exceeded the quota "
                               f"per_volume_gigabytes of {per}G.")
    used = usage(conn, project_id)
    for name, adding in (("volumes", volumes), ("snapshots", snapshots), ("backups", backups)):
        if adding and 0 <= lim[name] < used[name] + adding:
            raise errors.OverQuota(f"Maximum number of {name} allowed ({lim[name]}) exceeded "
                                   f"for quota '{name}'.")
    if gigabytes and 0 <= lim["gigabytes"] < used["gigabytes"] + gigabytes:
        raise errors.OverQuota(
            f"Requested volume or snapshot exceeds allowed gigabytes quota. Requested "
            f"{gigabytes}G, quota is {lim['gigabytes']}G and {used['gigabytes']}G has been "
            "consumed.")
    if volume_type_id is not None and len(lim) > len(RESOURCES):  # some per-type limit set
        _check_type(conn, project_id, lim, volume_type_id, volumes, snapshots, gigabytes)
    if backup_gigabytes and 0 <= lim["backup_gigabytes"] < (used["backup_gigabytes"]
                                                             + backup_gigabytes):
        raise errors.OverQuota(
            f"Requested backup exceeds allowed Backup gigabytes quota. Requested "
            f"{backup_gigabytes}G, quota is {lim['backup_gigabytes']}G and "
            f"{used['backup_gigabytes']}G has been consumed.")


def _check_type(conn: Connection, project_id: str, lim: dict[str, int], type_id: str,
                volumes: int, snapshots: int, gigabytes: int) -> None:
    name = conn.execute(sa.select(t.volume_types.c.name)
                        .where(t.volume_types.c.id == type_id)).scalar()
    if name is None or all(lim.get(f"{res}_{name}", -1) < 0 for res in PER_TYPE):
        return
    used = type_usage(conn, project_id)
    for res, adding in (("volumes", volumes), ("snapshots", snapshots),
                        ("gigabytes", gigabytes)):
        key = f"{res}_{name}"
        if adding and 0 <= lim.get(key, -1) < used.get(key, 0) + adding:
            raise errors.OverQuota(f"Quota exceeded for resources: ['{key}']: requested "
                                   f"{adding}, limit {lim[key]}, {used.get(key, 0)} in use.")


def update(conn: Connection, project_id: str, values: dict[str, int]) -> None:
    lock_project(conn, project_id)
    used = {**usage(conn, project_id), **type_usage(conn, project_id)}
    for resource, limit in values.items():
        if 0 <= limit < used.get(resource, 0):
            raise errors.bad(f"Quota limit {limit} for {resource} must be greater than or "
                             f"equal to already used and reserved {used[resource]}.")
        conn.execute(sa.delete(t.quotas).where(t.quotas.c.project_id == project_id,
                                               t.quotas.c.resource == resource))
        conn.execute(sa.insert(t.quotas).values(project_id=project_id, resource=resource,
                                                hard_limit=limit))


def reset(conn: Connection, project_id: str) -> None:
    conn.execute(sa.delete(t.quotas).where(t.quotas.c.project_id == project_id))


def details(conn: Connection, project_id: str, defaults: dict[str, int]) -> dict[str, Any]:
    lim = limits(conn, project_id, defaults)
    used = {**usage(conn, project_id), **type_usage(conn, project_id)}
    return {name: {"limit": lim[name], "in_use": used.get(name, 0), "reserved": 0,
                   "allocated": 0} for name in resources(conn)}
