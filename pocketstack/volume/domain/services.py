"""``os-services``: cinder-volume rows from the storage agents' heartbeats and the
cinder-scheduler row of the cloud itself; up/down from the last heartbeat."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from pocketstack.volume import tables as t
from pocketstack.volume.domain.common import now, row_dict


def heartbeat(conn: Connection, binary: str, host: str, availability_zone: str,
              capabilities: dict[str, Any]) -> None:
    s = t.services
    stamp = now()
    done = conn.execute(sa.update(s).where(s.c.binary == binary, s.c.host == host).values(
        heartbeat_at=stamp, capabilities=capabilities,
        availability_zone=availability_zone)).rowcount
    if not done:
        conn.execute(sa.insert(s).values(
            binary=binary, host=host, availability_zone=availability_zone, disabled=False,
            capabilities=capabilities, created_at=stamp, heartbeat_at=stamp))


def list_services(conn: Connection, binary: str | None = None,
                  host: str | None = None) -> list[dict[str, Any]]:
    s = t.services
    q = sa.select(s).order_by(s.c.binary, s.c.host)
    if binary:
        q = q.where(s.c.binary == binary)
    if host:
        q = q.where(host_matches(s.c.host, host))
    return [row_dict(r) for r in conn.execute(q)]


def host_matches(column: Any, host: str) -> Any:
    """Cinder's host filter: ``node`` matches ``node``, ``node@backend`` and
    ``node@backend#pool``; ``node@backend`` also its pools; ``…#pool`` only itself."""
    if "#" in host:
        return column == host
    cond = sa.or_(column == host, column.like(_like(host) + "#%", escape="\\"))
    if "@" not in host:
        cond = sa.or_(cond, column.like(_like(host) + "@%", escape="\\"))
    return cond


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def set_disabled(conn: Connection, binary: str, host: str, disabled: bool,
                 reason: str | None) -> int:
    s = t.services
    return int(conn.execute(sa.update(s).where(s.c.binary == binary, s.c.host == host)
                            .values(disabled=disabled, disabled_reason=reason)).rowcount)


def pick_host(conn: Connection, down_time: int, availability_zone: str | None
              ) -> str | None:
    """The scheduler: the enabled cinder-volume host heard from most recently (up only)."""
    s = t.services
    since = now() - dt.timedelta(seconds=down_time)
    q = (sa.select(s.c.host).where(s.c.binary == "cinder-volume", s.c.disabled.is_(False),
                                   s.c.heartbeat_at >= since)
         .order_by(s.c.heartbeat_at.desc()))
    if availability_zone:
        q = q.where(s.c.availability_zone == availability_zone)
    found = conn.execute(q).first()
    return None if found is None else str(found[0])


def capabilities(conn: Connection, host: str) -> dict[str, Any]:
    """What the cinder-volume ``host`` reported in its last heartbeat."""
    s = t.services
    row = conn.execute(sa.select(s.c.capabilities).where(
        s.c.binary == "cinder-volume", s.c.host == host)).first()
    return {} if row is None else dict(row[0] or {})


_ISCSI = ("iSCSI", "iscsi")
_NVMEOF = ("NVMe-oF", "NVMeOF", "nvmeof", "NVMe-RoCE", "NVMe-FC", "NVMe-TCP")


def shares_targets(capabilities: dict[str, Any]) -> bool | None:
    """Whether a backend's volumes share targets (a volume's ``shared_targets``), by Cinder's
    rule: False when the backend says so, None (forced locking) for NVMe-oF, else whether it
    speaks iSCSI. The file backend (``local``) does not."""
    if capabilities.get("shared_targets", True) is False:
        return False
    protocol = capabilities.get("storage_protocol")
    if protocol in _NVMEOF:
        return None
    return protocol in _ISCSI


def volume_hosts(conn: Connection, down_time: int) -> list[dict[str, Any]]:
    """The cinder-volume rows heard from within ``down_time`` (the scheduler's view)."""
    s = t.services
    since = now() - dt.timedelta(seconds=down_time)
    q = sa.select(s).where(s.c.binary == "cinder-volume", s.c.heartbeat_at >= since)
    return [row_dict(r) for r in conn.execute(q.order_by(s.c.host))]


def find_volume_host(conn: Connection, name: str) -> dict[str, Any] | None:
    """The cinder-volume row ``name`` designates (``node``, ``node@backend`` or
    ``node@backend#pool``): Cinder's ``host_or_cluster`` lookup."""
    s = t.services
    host = name.partition("#")[0]
    row = conn.execute(sa.select(s).where(s.c.binary == "cinder-volume",
                                          host_matches(s.c.host, host))
                       .order_by(s.c.host)).first()
    return None if row is None else row_dict(row)


def usage_on_host(conn: Connection, host: str) -> list[dict[str, Any]]:
    """Volumes and snapshots on a storage host, per project: (project, volume_count,
    total_volume_gb, snapshot_count, total_snapshot_gb)."""
    v, sn = t.volumes, t.snapshots
    out: dict[str, dict[str, Any]] = {}
    for project, count, gb in conn.execute(
            sa.select(v.c.project_id, sa.func.count(), sa.func.coalesce(sa.func.sum(v.c.size), 0))
            .where(v.c.host == host).group_by(v.c.project_id)):
        out[project] = {"project": project, "volume_count": int(count),
                        "total_volume_gb": int(gb), "snapshot_count": 0, "total_snapshot_gb": 0}
    for project, count, gb in conn.execute(
            sa.select(sn.c.project_id, sa.func.count(),
                      sa.func.coalesce(sa.func.sum(sn.c.size), 0))
            .join(v, v.c.id == sn.c.volume_id).where(v.c.host == host)
            .group_by(sn.c.project_id)):
        entry = out.setdefault(project, {"project": project, "volume_count": 0,
                                         "total_volume_gb": 0})
        entry.update(snapshot_count=int(count), total_snapshot_gb=int(gb))
    return [out[k] for k in sorted(out)]
