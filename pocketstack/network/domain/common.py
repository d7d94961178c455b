"""What every Neutron resource shares: ids, times, revision numbers with compare-and-swap,
tags, per-project locks and the generic list query (filters, tags, sort, keyset pages)."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.elements import ColumnElement

from pocketstack.common import exceptions
from pocketstack.common.timeutils import utcnow
from pocketstack.network import errors
from pocketstack.network import tables as t


def now() -> dt.datetime:
    return utcnow().replace(microsecond=0)


def new_id() -> str:
    return str(uuid.uuid4())


def standard(description: str | None = None) -> dict[str, Any]:
    """Standard attribute values of a new row."""
    stamp = now()
    return {"description": description or "", "created_at": stamp, "updated_at": stamp,
            "revision_number": 0}


def get_row(conn: Connection, table: sa.Table, object_id: str, kind: str,
            for_update: bool = False) -> dict[str, Any]:
    query = sa.select(table).where(table.c.id == object_id)
    if for_update:
        query = query.with_for_update()
    row = conn.execute(query).mappings().first()
    if row is None:
        raise errors.not_found(kind, object_id)
    return dict(row)


def update_row(conn: Connection, table: sa.Table, object_id: str, values: dict[str, Any],
               kind: str, if_match: int | None = None) -> dict[str, Any]:
    """Apply ``values`` and bump the revision; ``if_match`` is the revision the caller saw
    (412 when the row moved on). Returns the updated row."""
    current = get_row(conn, table, object_id, kind)
    revision = current["revision_number"]
    if if_match is not None and if_match != revision:
        raise errors.RevisionNumberConstraintFailed(
            f"Constrained to {if_match}, but current revision is {revision}")
    result = conn.execute(
        sa.update(table).where(table.c.id == object_id, table.c.revision_number == revision)
        .values(revision_number=revision + 1, updated_at=now(), **values))
    if result.rowcount != 1:
        raise exceptions.ConcurrentUpdate(f"{kind} {object_id} was changed by another request.")
    return {**current, **values, "revision_number": revision + 1}


def bump(conn: Connection, table: sa.Table, object_id: str) -> None:
    """A change that the row does not hold itself (tags, rules, fixed IPs) still moves its
    revision."""
    conn.execute(sa.update(table).where(table.c.id == object_id).values(
        revision_number=table.c.revision_number + 1, updated_at=now()))


# -- tags ----------------------------------------------------------------------------------
#: past this many ids, a decoration reads the whole table once instead of IN-lists
BULK = 2000


def tags_of(conn: Connection, resource_type: str, ids: Sequence[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {i: [] for i in ids}
    if len(ids) > BULK:
        for row in conn.execute(sa.select(t.tags.c.resource_id, t.tags.c.tag)
                                .where(t.tags.c.resource_type == resource_type)
                                .order_by(t.tags.c.tag)):
            if row.resource_id in out:
                out[row.resource_id].append(row.tag)
        return out
    for start in range(0, len(ids), 500):
        chunk = list(ids[start:start + 500])
        for row in conn.execute(sa.select(t.tags.c.resource_id, t.tags.c.tag)
                                .where(t.tags.c.resource_type == resource_type,
                                       t.tags.c.resource_id.in_(chunk))
                                .order_by(t.tags.c.tag)):
            out[row.resource_id].append(row.tag)
    return out


def replace_tags(conn: Connection, resource_type: str, resource_id: str,
                 new_tags: Iterable[str]) -> list[str]:
    conn.execute(sa.delete(t.tags).where(t.tags.c.resource_type == resource_type,
                                         t.tags.c.resource_id == resource_id))
    wanted = sorted(set(new_tags))
    if wanted:
        conn.execute(sa.insert(t.tags), [
            {"resource_type": resource_type, "resource_id": resource_id, "tag": tag}
            for tag in wanted])
    return wanted


def add_tag(conn: Connection, resource_type: str, resource_id: str, tag: str) -> None:
    exists = conn.execute(sa.select(t.tags.c.tag).where(
        t.tags.c.resource_type == resource_type, t.tags.c.resource_id == resource_id,
        t.tags.c.tag == tag)).first()
    if exists is None:
        conn.execute(sa.insert(t.tags).values(resource_type=resource_type,
                                              resource_id=resource_id, tag=tag))


def remove_tag(conn: Connection, resource_type: str, resource_id: str, tag: str) -> bool:
    result = conn.execute(sa.delete(t.tags).where(
        t.tags.c.resource_type == resource_type, t.tags.c.resource_id == resource_id,
        t.tags.c.tag == tag))
    return bool(result.rowcount)


def drop_tags(conn: Connection, resource_type: str, resource_id: str) -> None:
    conn.execute(sa.delete(t.tags).where(t.tags.c.resource_type == resource_type,
                                         t.tags.c.resource_id == resource_id))


# -- per-project serialisation -----------------------------------------------------------------
def lock_project(conn: Connection, project_id: str) -> None:
    """Hold the project's lock row until the transaction ends, so counting checks (quotas,
    duplicate rules, the default group) cannot interleave on PostgreSQL/MariaDB either (SQLite
    writers are serial already)."""
    lock = t.project_locks
    found = conn.execute(sa.select(lock.c.counter).where(lock.c.project_id == project_id)
                         .with_for_update()).first()
    if found is None:
        try:
            with conn.begin_nested():
                conn.execute(sa.insert(lock).values(project_id=project_id, counter=0))
        except IntegrityError:
            pass
        conn.execute(sa.select(lock.c.counter).where(lock.c.project_id == project_id)
                     .with_for_update()).first()


# -- listing -----------------------------------------------------------------------------------
@dataclass
class ListQuery:
    """A collection request, already parsed: column filters (any of the values matches),
    tag filters, sort keys and the page."""

    filters: dict[str, list[Any]] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
    tags_any: list[str] = field(default_factory=list)
    not_tags: list[str] = field(default_factory=list)
    not_tags_any: list[str] = field(default_factory=list)
    sort: list[tuple[str, str]] = field(default_factory=list)
    limit: int | None = None
    marker: str | None = None
    page_reverse: bool = False


def _tag_clauses(table: sa.Table, resource_type: str, q: ListQuery) -> list[ColumnElement[bool]]:
    def having(tag_list: list[str]) -> Any:
        return sa.select(t.tags.c.resource_id).where(t.tags.c.resource_type == resource_type,
                                                     t.tags.c.tag.in_(tag_list))

    def having_all(tag_list: list[str]) -> Any:
        return (sa.select(t.tags.c.resource_id)
                .where(t.tags.c.resource_type == resource_type, t.tags.c.tag.in_(tag_list))
                .group_by(t.tags.c.resource_id)
                .having(sa.func.count(sa.distinct(t.tags.c.tag)) == len(set(tag_list))))

    out: list[ColumnElement[bool]] = []
    if q.tags:
        out.append(table.c.id.in_(having_all(q.tags)))
    if q.tags_any:
        out.append(table.c.id.in_(having(q.tags_any)))
    if q.not_tags:
        out.append(table.c.id.not_in(having_all(q.not_tags)))
    if q.not_tags_any:
        out.append(table.c.id.not_in(having(q.not_tags_any)))
    return out


def _sort_value(column: sa.Column[Any]) -> Any:
    if column.nullable and isinstance(column.type, sa.String):
        return sa.func.coalesce(column, "")
    return column


_EMPTY_JSON: dict[str, Any] = {"{}": dict, "[]": list}


def _json_value(value: Any) -> Any:
    """A JSON column read as text: most are ``{}``/``[]``, which need no parser (drivers
    that decode JSON themselves hand back objects, kept as they are)."""
    if isinstance(value, str):
        empty = _EMPTY_JSON.get(value)
        return empty() if empty is not None else json.loads(value)
    return value


def select_rows(conn: Connection, query: Any, table: sa.Table,
                columns: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """Execute a select of ``table``'s columns (or ``columns`` of it), JSON columns fetched
    raw and decoded here (SQLAlchemy's per-value JSON processing is most of the cost of a
    long list)."""
    cols = [table.c[name] for name in columns] if columns else list(table.columns)
    names = [c.name for c in cols]
    json_names = [c.name for c in cols if isinstance(c.type, sa.JSON)]
    time_names = [c.name for c in cols if isinstance(c.type, sa.DateTime)]
    rows = [dict(zip(names, row, strict=True)) for row in conn.execute(query).all()]
    for row in rows:
        for name in json_names:
            row[name] = _json_value(row[name])
        for name in time_names:
            value = row[name]
            if isinstance(value, str):
                row[name] = dt.datetime.fromisoformat(value)
    return rows


def raw_columns(table: sa.Table, columns: Sequence[str] | None = None) -> list[Any]:
    """The table's columns, JSON and timestamps as the driver returns them (decoded by
    :func:`select_rows`, much faster than SQLAlchemy's per-value processors)."""
    cols = [table.c[name] for name in columns] if columns else list(table.columns)
    return [sa.type_coerce(c, sa.Text).label(c.name)
            if isinstance(c.type, (sa.JSON, sa.DateTime)) else c for c in cols]


def rows_by_id(conn: Connection, table: sa.Table, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for start in range(0, len(ids), 500):
        chunk = list(ids[start:start + 500])
        query = sa.select(*raw_columns(table)).where(table.c.id.in_(chunk))
        out.update((row["id"], row) for row in select_rows(conn, query, table))
    return out


def list_rows(conn: Connection, table: sa.Table, resource_type: str, q: ListQuery,
              where: Sequence[ColumnElement[bool]] = (), kind: str = "",
              columns: Sequence[str] | None = None) -> tuple[list[dict[str, Any]], bool]:
    """Rows matching the query, in order, at most ``limit`` of them after the marker (before
    it with ``page_reverse``), and whether more lie beyond."""
    clauses: list[ColumnElement[bool]] = list(where)
    for name, values in q.filters.items():
        column = table.c[name]
        non_null = [v for v in values if v is not None]
        parts: list[ColumnElement[bool]] = []
        if non_null:
            parts.append(column.in_(non_null))
        if len(non_null) != len(values):
            parts.append(column.is_(None))
        clauses.append(sa.or_(*parts))
    clauses += _tag_clauses(table, resource_type, q)
    keys = [(table.c[name], direction) for name, direction in q.sort]
    if not any(col.name == "id" for col, _ in keys):
        keys.append((table.c.id, keys[-1][1] if keys else "asc"))
    reverse = q.page_reverse
    if q.marker is not None:
        marker = conn.execute(sa.select(table).where(table.c.id == q.marker)).mappings().first()
        if marker is None:
            raise errors.not_found(kind or "Resource", q.marker)
        # keyset: rows strictly after the marker in (key1, key2, ..., id) order
        ors: list[ColumnElement[bool]] = []
        for index, (col, direction) in enumerate(keys):
            ascending = (direction == "asc") != reverse
            value = marker[col.name]
            if value is None and isinstance(col.type, sa.String):
                value = ""
            equal = [_sort_value(c) == (marker[c.name] if marker[c.name] is not None or not
                                        isinstance(c.type, sa.String) else "")
                     for c, _ in keys[:index]]
            sv = _sort_value(col)
            step = sv > value if ascending else sv < value
            ors.append(sa.and_(*equal, step))
        clauses.append(sa.or_(*ors))
    order = []
    for col, direction in keys:
        ascending = (direction == "asc") != reverse
        order.append(_sort_value(col).asc() if ascending else _sort_value(col).desc())
    query = sa.select(*raw_columns(table, columns)).where(*clauses).order_by(*order)
    if q.limit is not None:
        query = query.limit(q.limit + 1)
    rows = select_rows(conn, query, table, columns)
    more = q.limit is not None and len(rows) > q.limit
    if more:
        rows = rows[:q.limit]
    if reverse:
        rows.reverse()
    return rows, more


#: every listable collection's table, by the name the API uses for it
TABLES: dict[str, sa.Table] = {
    "networks": t.networks, "subnets": t.subnets, "ports": t.ports,
    "security-groups": t.security_groups, "security-group-rules": t.security_group_rules,
    "routers": t.routers, "floatingips": t.floatingips, "subnetpools": t.subnetpools,
    "rbac-policies": t.rbac_policies, "agents": t.agents,
}


def column_kinds(resource: str) -> dict[str, str]:
    """``bool``, ``int``, ``datetime`` or ``str`` per column of a collection (how a filter
    value parses)."""
    out = {}
    for column in TABLES[resource].columns:
        if isinstance(column.type, sa.Boolean):
            out[column.name] = "bool"
        elif isinstance(column.type, sa.DateTime):
            out[column.name] = "datetime"
        elif isinstance(column.type, sa.Integer):
            out[column.name] = "int"
        else:
            out[column.name] = "str"
    return out


def bump_resource(conn: Connection, resource: str, object_id: str) -> None:
    bump(conn, TABLES[resource], object_id)


def count(conn: Connection, table: sa.Table, *where: ColumnElement[bool]) -> int:
    return int(conn.execute(sa.select(sa.func.count()).select_from(table).where(*where))
               .scalar() or 0)
