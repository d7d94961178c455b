"""Subnet pools: prefixes a subnet's CIDR is carved from (the first free prefix of the
requested length, or a requested CIDR checked to lie inside the pool and be unused)."""

from __future__ import annotations

import ipaddress
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from pocketstack.common.context import RequestContext
from pocketstack.network import errors
from pocketstack.network import tables as t
from pocketstack.network.domain import common, quotas
from pocketstack.network.domain.common import ListQuery

KIND = "Subnetpool"
RESOURCE = "subnetpools"


def visible_clause(ctx: RequestContext) -> ColumnElement[bool] | None:
    if ctx.is_admin:
        return None
    return sa.or_(t.subnetpools.c.project_id == (ctx.project_id or ""),
                  t.subnetpools.c.shared.is_(True))


def get_visible(conn: Connection, ctx: RequestContext, pool_id: str) -> dict[str, Any]:
    query = sa.select(t.subnetpools).where(t.subnetpools.c.id == pool_id)
    clause = visible_clause(ctx)
    if clause is not None:
        query = query.where(clause)
    row = conn.execute(query).mappings().first()
    if row is None:
        raise errors.not_found(KIND, pool_id, f"Subnet pool {pool_id} could not be found.")
    return decorate(conn, [dict(row)])[0]


def decorate(conn: Connection, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    tags = common.tags_of(conn, RESOURCE, [r["id"] for r in rows])
    return [dict(r, tags=tags[r["id"]]) for r in rows]


def list_pools(conn: Connection, ctx: RequestContext,
               q: ListQuery) -> tuple[list[dict[str, Any]], bool]:
    clause = visible_clause(ctx)
    rows, more = common.list_rows(conn, t.subnetpools, RESOURCE, q,
                                  [] if clause is None else [clause], KIND)
    return decorate(conn, rows), more


def _prefixes(values: list[Any]) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    out = []
    for value in values:
        try:
            out.append(ipaddress.ip_network(str(value), strict=False))
        except ValueError:
            raise errors.InvalidInput(f"'{value}' is not a valid IP subnet") from None
    if not out:
        raise errors.InvalidInput("prefixes must not be empty")
    if len({p.version for p in out}) != 1:
        raise errors.InvalidInput("Prefixes of one subnet pool must share an IP version")
    collapsed = list(ipaddress.collapse_addresses(out))  # type: ignore[type-var]
    return collapsed  # type: ignore[return-value]


def create(conn: Connection, ctx: RequestContext, values: dict[str, Any],
           quota_defaults: dict[str, int], tags: list[str] | None = None) -> dict[str, Any]:
    quotas.check(conn, values["project_id"], "subnetpool", quota_defaults)
    prefixes = _prefixes(values.get("prefixes") or [])
    version = prefixes[0].version
    max_len = 32 if version == 4 else 128
    min_len = int(values.get("min_prefixlen") or min(p.prefixlen for p in prefixes))
    max_prefixlen = int(values.get("max_prefixlen") or max_len)
    default_len = int(values.get("default_prefixlen") or min_len)
    if not (0 <= min_len <= default_len <= max_prefixlen <= max_len):
        raise errors.InvalidInput("Illegal prefix bounds: min_prefixlen <= default_prefixlen "
                                  "<= max_prefixlen is required")
    pool_id = common.new_id()
    row = {"id": pool_id, "project_id": values["project_id"], "name": values.get("name") or "",
           "ip_version": version, "prefixes": [str(p) for p in prefixes],
           "default_prefixlen": default_len, "min_prefixlen": min_len,
           "max_prefixlen": max_prefixlen, "shared": bool(values.get("shared", False)),
           "is_default": bool(values.get("is_default", False)),
           "default_quota": values.get("default_quota"),
           **common.standard(values.get("description"))}
    if row["is_default"]:
        _only_default(conn, pool_id, version)
    conn.execute(sa.insert(t.subnetpools).values(**row))
    if tags:
        common.replace_tags(conn, RESOURCE, pool_id, tags)
    return get_visible(conn, ctx, pool_id)


def _only_default(conn: Connection, pool_id: str, version: int) -> None:
    conn.execute(sa.update(t.subnetpools).where(
        t.subnetpools.c.id != pool_id, t.subnetpools.c.ip_version == version,
        t.subnetpools.c.is_default.is_(True)).values(is_default=False))


def update(conn: Connection, ctx: RequestContext, pool_id: str, values: dict[str, Any],
           if_match: int | None) -> dict[str, Any]:
    current = get_visible(conn, ctx, pool_id)
    columns: dict[str, Any] = {k: values[k] for k in ("name", "description", "is_default",
                                                       "default_quota") if k in values}
    if "prefixes" in values:
        new = _prefixes(values["prefixes"])
        old = [ipaddress.ip_network(p) for p in current["prefixes"]]
        for prefix in old:
            if not any(prefix.subnet_of(n) for n in new):  # type: ignore[arg-type]
                raise errors.InvalidInput("Existing prefixes must be a subset of the new "
                                          "prefixes")
        columns["prefixes"] = [str(p) for p in new]
    for key in ("min_prefixlen", "max_prefixlen", "default_prefixlen"):
        if key in values:
            columns[key] = int(values[key])
    common.update_row(conn, t.subnetpools, pool_id, columns, KIND, if_match)
    if columns.get("is_default"):
        _only_default(conn, pool_id, current["ip_version"])
    return get_visible(conn, ctx, pool_id)


def delete(conn: Connection, ctx: RequestContext, pool_id: str) -> None:
    get_visible(conn, ctx, pool_id)
    used = conn.execute(sa.select(t.subnets.c.id).where(t.subnets.c.subnetpool_id == pool_id)
                        ).first()
    if used is not None:
        raise errors.conflict("SubnetPoolInUse", f"Subnet pool {pool_id} could not be "
                              "deleted: it has allocated subnets.")
    common.drop_tags(conn, RESOURCE, pool_id)
    conn.execute(sa.delete(t.subnetpools).where(t.subnetpools.c.id == pool_id))


def default_id(conn: Connection, version: int) -> str | None:
    found = conn.execute(sa.select(t.subnetpools.c.id).where(
        t.subnetpools.c.ip_version == version, t.subnetpools.c.is_default.is_(True))).first()
    return None if found is None else str(found[0])


def _used(conn: Connection, pool_id: str) -> list[Any]:
    return [ipaddress.ip_network(r[0]) for r in conn.execute(
        sa.select(t.subnets.c.cidr).where(t.subnets.c.subnetpool_id == pool_id))]


def allocate_prefix(conn: Connection, pool: dict[str, Any],
                    prefixlen: Any) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    length = int(prefixlen) if prefixlen is not None else pool["default_prefixlen"]
    if not pool["min_prefixlen"] <= length <= pool["max_prefixlen"]:
        raise errors.InvalidInput(f"Prefix length {length} is outside the subnet pool's "
                                  f"bounds {pool['min_prefixlen']}-{pool['max_prefixlen']}")
    used = _used(conn, pool["id"])
    for prefix in pool["prefixes"]:
        base = ipaddress.ip_network(prefix)
        if base.prefixlen > length:
            continue
        for candidate in base.subnets(new_prefix=length):
            if not any(candidate.overlaps(u) for u in used):
                return candidate
    raise errors.conflict("SubnetAllocationError", "Failed to allocate subnet: Insufficient "
                          "prefix space to allocate subnet size /" + str(length))


def claim_prefix(conn: Connection, pool: dict[str, Any], net: Any) -> None:
    if not any(net.subnet_of(ipaddress.ip_network(p)) for p in pool["prefixes"]
               if ipaddress.ip_network(p).version == net.version):
        raise errors.bad_request("SubnetAllocationError", "Failed to allocate subnet: Cidr "
                                 f"{net} is not within the prefixes of subnet pool "
                                 f"{pool['id']}.")
    if any(net.overlaps(u) for u in _used(conn, pool["id"])):
        raise errors.conflict("SubnetAllocationError", f"Failed to allocate subnet: Cidr "
                              f"{net} overlaps an allocated subnet of the pool.")
