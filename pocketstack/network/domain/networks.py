"""Networks: create with segments, visibility (owner, shared, external, RBAC), read with
subnets/segments/tags, update, delete (refused while user ports remain)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from pocketstack.common.context import RequestContext
from pocketstack.network import errors
from pocketstack.network import tables as t
from pocketstack.network.domain import common, quotas, segments
from pocketstack.network.domain.common import ListQuery

KIND = "Network"
RESOURCE = "networks"
#: ports the service made itself; they do not keep a network "in use"
SERVICE_OWNERS = ("network:dhcp", "network:distributed")
#: ports deleted with their network (floating IPs go with their external network)
AUTO_DELETED = SERVICE_OWNERS + ("network:floatingip",)


def rbac_targets(ctx: RequestContext) -> list[str]:
    return ["*", ctx.project_id or ""]


def visible_clause(ctx: RequestContext,
                   with_external: bool = True) -> ColumnElement[bool] | None:
    """Networks the caller sees: its own, shared ones (flag or RBAC) and, unless
    ``with_external`` is false (subnets of an external network stay hidden), external ones."""
    if ctx.is_admin:
        return None
    n = t.networks
    rbac = sa.select(t.rbac_policies.c.object_id).where(
        t.rbac_policies.c.object_type == "network",
        t.rbac_policies.c.action == "access_as_shared",
        t.rbac_policies.c.target_project.in_(rbac_targets(ctx)))
    external = sa.select(t.rbac_policies.c.object_id).where(
        t.rbac_policies.c.object_type == "network",
        t.rbac_policies.c.action == "access_as_external",
        t.rbac_policies.c.target_project.in_(rbac_targets(ctx)))
    if not with_external:
        return sa.or_(n.c.project_id == (ctx.project_id or ""), n.c.shared.is_(True),
                      n.c.id.in_(rbac))
    return sa.or_(n.c.project_id == (ctx.project_id or ""), n.c.shared.is_(True),
                  n.c.external.is_(True), n.c.id.in_(rbac), n.c.id.in_(external))


def get_visible(conn: Connection, ctx: RequestContext, network_id: str) -> dict[str, Any]:
    query = sa.select(t.networks).where(t.networks.c.id == network_id)
    clause = visible_clause(ctx)
    if clause is not None:
        query = query.where(clause)
    row = conn.execute(query).mappings().first()
    if row is None:
        raise errors.not_found(KIND, network_id)
    return decorate(conn, ctx, [dict(row)])[0]


def decorate(conn: Connection, ctx: RequestContext,
             rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Add subnets, segments, tags and the caller's view of ``shared``."""
    ids = [r["id"] for r in rows]
    if not ids:
        return []
    subnet_ids: dict[str, list[str]] = {i: [] for i in ids}
    shared_to_me: set[str] = set()
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        for row in conn.execute(sa.select(t.subnets.c.network_id, t.subnets.c.id)
                                .where(t.subnets.c.network_id.in_(chunk))
                                .order_by(t.subnets.c.created_at, t.subnets.c.id)):
            subnet_ids[row.network_id].append(row.id)
        shared_to_me.update(r[0] for r in conn.execute(
            sa.select(t.rbac_policies.c.object_id).where(
                t.rbac_policies.c.object_type == "network",
                t.rbac_policies.c.action == "access_as_shared",
                t.rbac_policies.c.object_id.in_(chunk),
                t.rbac_policies.c.target_project.in_(rbac_targets(ctx)))))
    segs = segments.of_networks(conn, ids)
    tags = common.tags_of(conn, RESOURCE, ids)
    return [dict(r, subnets=subnet_ids[r["id"]], segments=segs[r["id"]], tags=tags[r["id"]],
                 shared=bool(r["shared"]) or r["id"] in shared_to_me) for r in rows]


def list_networks(conn: Connection, ctx: RequestContext, q: ListQuery,
                  provider: dict[str, list[Any]]) -> tuple[list[dict[str, Any]], bool]:
    where: list[ColumnElement[bool]] = []
    clause = visible_clause(ctx)
    if clause is not None:
        where.append(clause)
    for column, values in provider.items():
        where.append(t.networks.c.id.in_(sa.select(t.segments.c.network_id).where(
            t.segments.c[column].in_(values))))
    rows, more = common.list_rows(conn, t.networks, RESOURCE, q, where, KIND)
    return decorate(conn, ctx, rows), more


def create(conn: Connection, ctx: RequestContext, values: dict[str, Any],
           requested_segments: list[dict[str, Any]], config: segments.SegmentConfig,
           quota_defaults: dict[str, int], tags: list[str] | None = None) -> dict[str, Any]:
    project_id = values["project_id"]
    quotas.check(conn, project_id, "network", quota_defaults)
    network_id = common.new_id()
    row = {
        "id": network_id, "name": values.get("name") or "",
        "project_id": project_id,
        "admin_state_up": values.get("admin_state_up", True), "status": "ACTIVE",
        "shared": bool(values.get("shared", False)),
        "external": bool(values.get("router:external", False)),
        "is_default": bool(values.get("is_default", False)),
        "port_security_enabled": values.get("port_security_enabled", True),
        "availability_zone_hints": list(values.get("availability_zone_hints") or []),
        "mtu": 0,
        **common.standard(values.get("description")),
    }
    conn.execute(sa.insert(t.networks).values(**row))
    made = segments.create(conn, config, network_id, requested_segments)
    max_mtu = config.mtu_of([s["network_type"] for s in made])
    mtu = values.get("mtu") or max_mtu
    if mtu > max_mtu:
        raise errors.InvalidInput(f"Requested MTU is too big, maximum is {max_mtu}")
    if mtu < 68:
        raise errors.InvalidInput("Invalid MTU, minimum is 68")
    conn.execute(sa.update(t.networks).where(t.networks.c.id == network_id).values(mtu=mtu))
    if row["is_default"]:
        _only_default(conn, network_id)
    if tags:
        common.replace_tags(conn, RESOURCE, network_id, tags)
    return get_visible(conn, ctx, network_id)


def _only_default(conn: Connection, network_id: str) -> None:
    conn.execute(sa.update(t.networks).where(t.networks.c.id != network_id,
                                             t.networks.c.is_default.is_(True))
                 .values(is_default=False))


def update(conn: Connection, ctx: RequestContext, network_id: str, values: dict[str, Any],
           if_match: int | None, config: segments.SegmentConfig) -> dict[str, Any]:
    current = get_visible(conn, ctx, network_id)
    columns = {}
    for key, column in (("name", "name"), ("description", "description"),
                        ("admin_state_up", "admin_state_up"), ("shared", "shared"),
                        ("router:external", "external"), ("is_default", "is_default"),
                        ("port_security_enabled", "port_security_enabled"), ("mtu", "mtu")):
        if key in values:
            columns[column] = values[key]
    if "mtu" in columns:
        max_mtu = config.mtu_of([s["network_type"] for s in current["segments"]])
        if columns["mtu"] is None or columns["mtu"] > max_mtu:
            raise errors.InvalidInput(f"Requested MTU is too big, maximum is {max_mtu}")
        if columns["mtu"] < 68:
            raise errors.InvalidInput("Invalid MTU, minimum is 68")
    if columns.get("shared") is False and current["shared"]:
        _check_unshare(conn, current)
    if columns.get("external") is False and current["external"]:
        in_use = conn.execute(sa.select(t.ports.c.id).where(
            t.ports.c.network_id == network_id,
            t.ports.c.device_owner.in_(("network:router_gateway", "network:floatingip"))
        )).first()
        if in_use is not None:
            raise errors.conflict("ExternalNetworkInUse", f"External network {network_id} "
                                  "cannot be updated to be made non-external, since it has "
                                  "existing gateway ports.")
    common.update_row(conn, t.networks, network_id, columns, KIND, if_match)
    if columns.get("is_default"):
        _only_default(conn, network_id)
    return get_visible(conn, ctx, network_id)


def _check_unshare(conn: Connection, network: dict[str, Any]) -> None:
    other = conn.execute(sa.select(t.ports.c.id).where(
        t.ports.c.network_id == network["id"], t.ports.c.project_id != network["project_id"],
        t.ports.c.device_owner.not_in(SERVICE_OWNERS + ("network:router_gateway",
                                                         "network:floatingip")))).first()
    if other is not None:
        raise errors.conflict("InvalidSharedSetting", f"Unable to reconfigure sharing "
                              f"settings for network {network['id']}. Multiple tenants are "
                              "using it.")


def delete(conn: Connection, ctx: RequestContext, network_id: str) -> None:
    get_visible(conn, ctx, network_id)
    busy = conn.execute(sa.select(t.ports.c.id).where(
        t.ports.c.network_id == network_id,
        t.ports.c.device_owner.not_in(AUTO_DELETED))).first()
    if busy is not None:
        raise errors.conflict("NetworkInUse", f"Unable to complete operation on network "
                              f"{network_id}. There are one or more ports still in use on "
                              "the network.")
    # floating IPs on an external network go with it (their ports are the service's)
    fip_ports = [r[0] for r in conn.execute(sa.select(t.floatingips.c.floating_port_id).where(
        t.floatingips.c.floating_network_id == network_id))]
    if fip_ports:
        conn.execute(sa.delete(t.tags).where(
            t.tags.c.resource_type == "floatingips", t.tags.c.resource_id.in_(
                sa.select(t.floatingips.c.id).where(
                    t.floatingips.c.floating_network_id == network_id))))
        conn.execute(sa.delete(t.floatingips).where(
            t.floatingips.c.floating_network_id == network_id))
    conn.execute(sa.delete(t.ip_allocations).where(t.ip_allocations.c.network_id == network_id))
    conn.execute(sa.delete(t.ports).where(t.ports.c.network_id == network_id))
    subnet_ids = [r[0] for r in conn.execute(sa.select(t.subnets.c.id)
                                             .where(t.subnets.c.network_id == network_id))]
    if subnet_ids:
        conn.execute(sa.delete(t.ip_allocations)
                     .where(t.ip_allocations.c.subnet_id.in_(subnet_ids)))
        conn.execute(sa.delete(t.tags).where(t.tags.c.resource_type == "subnets",
                                             t.tags.c.resource_id.in_(subnet_ids)))
        conn.execute(sa.delete(t.subnets).where(t.subnets.c.id.in_(subnet_ids)))
    segments.delete_for(conn, network_id)
    conn.execute(sa.delete(t.rbac_policies).where(t.rbac_policies.c.object_id == network_id))
    common.drop_tags(conn, RESOURCE, network_id)
    conn.execute(sa.delete(t.networks).where(t.networks.c.id == network_id))
