"""Per-project quotas: limits (defaults from settings, overrides in ``cinder_quotas``), usage
counted from the volume and snapshot tables, and the race-free check under the project lock.

``gigabytes`` counts volumes and snapshots, as Cinder's default does; ``backups`` and
``backup_gigabytes`` count backups; groups are a limit only (usage 0)."""

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


def limits(conn: Connection, project_id: str, defaults: dict[str, int]) -> dict[str, int]:
    if isinstance(defaults, Fixed):
        return dict(defaults)
    out = dict(defaults)
    for row in conn.execute(sa.select(t.quotas).where(t.quotas.c.project_id == project_id)):
        out[row.resource] = int(row.hard_limit)
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
          backups: int = 0, backup_gigabytes: int = 0) -> None:
    """Refuse (413 overLimit) what would pass a limit. Holds the project's lock until the
    caller's transaction ends, so two creates cannot both take the last unit."""
    lock_project(conn, project_id)
    lim = limits(conn, project_id, defaults)
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
    if backup_gigabytes and 0 <= lim["backup_gigabytes"] < (used["backup_gigabytes"]
                                                             + backup_gigabytes):
        raise errors.OverQuota(
            f"Requested backup exceeds allowed Backup gigabytes quota. Requested "
            f"{backup_gigabytes}G, quota is {lim['backup_gigabytes']}G and "
            f"{used['backup_gigabytes']}G has been consumed.")


def update(conn: Connection, project_id: str, values: dict[str, int]) -> None:
    lock_project(conn, project_id)
    used = usage(conn, project_id)
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
    used = usage(conn, project_id)
    return {name: {"limit": lim[name], "in_use": used[name], "reserved": 0, "allocated": 0}
            for name in RESOURCES}
