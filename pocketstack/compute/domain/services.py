"""Compute services (nova-conductor, nova-scheduler, nova-compute per host) and liveness."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from pocketstack.compute import tables as t
from pocketstack.compute.domain.common import one, utcnow


def record_heartbeat(conn: Connection, host: str, binary: str,
                     availability_zone: str | None = None) -> dict[str, Any]:
    """Create the service on first report; otherwise note it is alive."""
    now = utcnow()
    row = conn.execute(sa.select(t.services).where(
        t.services.c.host == host, t.services.c.binary == binary)).mappings().first()
    if row is None:
        conn.execute(sa.insert(t.services).values(
            uuid=str(uuid.uuid4()), host=host, binary=binary, topic=binary.removeprefix("nova-"),
            availability_zone=availability_zone, disabled=False, forced_down=False,
            last_seen_up=now, report_count=1, created_at=now, updated_at=now, generation=0))
    else:
        conn.execute(sa.update(t.services).where(t.services.c.id == row["id"]).values(
            last_seen_up=now, report_count=t.services.c.report_count + 1, updated_at=now))
    return one(conn, sa.select(t.services).where(
        t.services.c.host == host, t.services.c.binary == binary), "service")


def is_up(service: dict[str, Any], now: dt.datetime, down_time: int) -> bool:
    if service["forced_down"]:
        return False
    seen = service["last_seen_up"] or service["updated_at"] or service["created_at"]
    return bool(seen and (now - seen).total_seconds() <= down_time)


def list_(conn: Connection, binary: str | None = None,
          host: str | None = None) -> list[dict[str, Any]]:
    q = sa.select(t.services).order_by(t.services.c.id)
    if binary:
        q = q.where(t.services.c.binary == binary)
    if host:
        q = q.where(t.services.c.host == host)
    return [dict(r) for r in conn.execute(q).mappings()]


def compute_services_by_host(conn: Connection) -> dict[str, dict[str, Any]]:
    return {s["host"]: s for s in list_(conn, binary="nova-compute")}


def compute_service_of(conn: Connection, host: str | None) -> dict[str, Any] | None:
    """The nova-compute service of one host (None without a host or service): one indexed
    read, for views of a single server."""
    if not host:
        return None
    row = conn.execute(sa.select(t.services).where(
        t.services.c.host == host, t.services.c.binary == "nova-compute")).mappings().first()
    return None if row is None else dict(row)


# -- administration (os-services API) ------------------------------------------------------------
def get(conn: Connection, ident: str, by_uuid: bool) -> dict[str, Any]:
    """A service by uuid (2.53+) or by integer id (404 when missing or malformed)."""
    from pocketstack.common import exceptions

    if by_uuid:
        q = sa.select(t.services).where(t.services.c.uuid == ident)
    else:
        try:
            q = sa.select(t.services).where(t.services.c.id == int(ident))
        except ValueError:
            raise exceptions.NotFound(f"Service {ident} could not be found.") from None
    row = conn.execute(q).mappings().first()
    if row is None:
        raise exceptions.NotFound(f"Service {ident} could not be found.")
    return dict(row)


def find(conn: Connection, host: str, binary: str) -> dict[str, Any]:
    from pocketstack.common import exceptions

    row = conn.execute(sa.select(t.services).where(
        t.services.c.host == host, t.services.c.binary == binary)).mappings().first()
    if row is None:
        raise exceptions.NotFound(f"Service {binary} on host {host} could not be found.")
    return dict(row)


def update(conn: Connection, service_id: int, values: dict[str, Any]) -> dict[str, Any]:
    """Set ``disabled``/``disabled_reason``/``forced_down`` of a service."""
    row = conn.execute(sa.select(t.services).where(t.services.c.id == service_id)
                       ).mappings().one()
    conn.execute(sa.update(t.services).where(t.services.c.id == service_id).values(
        updated_at=utcnow(), generation=row["generation"] + 1, **values))
    return dict(conn.execute(sa.select(t.services).where(t.services.c.id == service_id)
                             ).mappings().one())


def delete(conn: Connection, service_id: int) -> None:
    """Remove a service; a compute service also takes its node(s) and aggregate memberships."""
    from pocketstack.common import exceptions

    row = conn.execute(sa.select(t.services).where(t.services.c.id == service_id)
                       ).mappings().one()
    if row["binary"] == "nova-compute":
        busy = conn.execute(sa.select(sa.func.count()).select_from(t.instances).where(
            t.instances.c.host == row["host"], t.instances.c.deleted.is_(False))).scalar_one()
        if busy:
            raise exceptions.Conflict(
                f"Unable to delete compute service that is hosting instances. Migrate or "
                f"delete the instances first and try again. ({busy} on {row['host']})")
        conn.execute(sa.delete(t.compute_nodes).where(t.compute_nodes.c.host == row["host"]))
        conn.execute(sa.delete(t.aggregate_hosts).where(
            t.aggregate_hosts.c.host == row["host"]))
    conn.execute(sa.delete(t.services).where(t.services.c.id == service_id))
