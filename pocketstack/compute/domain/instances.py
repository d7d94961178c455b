"""Instances: intent and observed state, written only with generation checks.

The API records intent here (a new instance in ``building/scheduling``, a task state with a
deadline for each action); the conductor records what happened. Nothing is ever half-created:
an instance row, its quota usage and its action record are written in one transaction.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
import uuid as uuidlib
from collections.abc import Callable
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from pocketstack.common import exceptions
from pocketstack.common.db import Database, time_compare, update_generation
from pocketstack.compute import tables as t
from pocketstack.compute.domain import instance_actions, quotas, states
from pocketstack.compute.domain.common import utcnow

T = t.instances
R = TypeVar("R")


def instance_name(row: dict[str, Any]) -> str:
    return f"instance-{row['id']:08x}"


# Built once: constructing a select of this wide table costs ~80 µs, more than running it.
_BY_UUID = sa.select(T).where(T.c.uuid == sa.bindparam("uuid"))
_LIVE_BY_UUID = _BY_UUID.where(T.c.deleted.is_(False))


def get(conn: Connection, uuid: str, include_deleted: bool = False) -> dict[str, Any]:
    q = _BY_UUID if include_deleted else _LIVE_BY_UUID
    row = conn.execute(q, {"uuid": uuid}).mappings().first()
    if row is None:
        raise exceptions.NotFound(f"Instance {uuid} could not be found.")
    return dict(row)


def create(conn: Connection, base: dict[str, Any], count: int,
           deadline_seconds: int) -> list[dict[str, Any]]:
    """Insert ``count`` instances built from ``base`` (validated by the caller, quota-checked
    with :func:`quotas.enforce` in this same transaction, which also serialises the project)."""
    now = utcnow()
    reservation = "r-" + secrets.token_hex(4)
    rows = []
    for index in range(count):
        name = base["display_name"]
        if count > 1:
            name = f"{name}-{index + 1}"
        row = dict(base)
        uuid = str(uuidlib.uuid4())
        row.update({
            "uuid": uuid, "display_name": name, "vm_state": states.BUILDING,
            "task_state": states.SCHEDULING, "power_state": 0, "reservation_id": reservation,
            "launch_index": index, "created_at": now, "updated_at": now, "deleted": False,
            "hostname": sanitize_hostname(name, f"Server-{uuid}"), "task_deadline":
                now + dt.timedelta(seconds=deadline_seconds), "task_attempts": 0,
            "generation": 0,
        })
        result = conn.execute(T.insert(), row)  # a constant statement: cheap to run
        key = result.inserted_primary_key
        assert key is not None
        row["id"] = key[0]
        rows.append(row)
    return rows


def sanitize_hostname(name: str, default: str) -> str:
    """The hostname Nova (since Wallaby) derives from a server name: Latin-1 only, at most 63
    characters, spaces, underscores and dots as hyphens, anything else that is not a word
    character or hyphen dropped, lower case, no leading or trailing hyphen; ``default``
    (``Server-<uuid>``) when nothing is left."""
    host = name.encode("latin-1", "ignore").decode("latin-1")[:63]
    host = re.sub(r"[ _.]", "-", host)
    host = re.sub(r"[^\w.-]+", "", host)
    host = host.lower().strip(".-")
    return host or default[:63]


def update(conn: Connection, row: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    """Write ``values`` if nobody changed the row since it was read (else ConcurrentUpdate)."""
    values = dict(values)
    values["updated_at"] = utcnow()
    update_generation(conn, T, row["id"], row["generation"], values)
    merged = dict(row)
    merged.update(values)
    merged["generation"] = row["generation"] + 1
    return merged


def set_metadata(conn: Connection, row: dict[str, Any], metadata: dict[str, str]) -> None:
    """Replace a server's metadata under its generation (else ConcurrentUpdate); unlike
    :func:`update`, ``updated_at`` is left alone."""
    update_generation(conn, T, row["id"], row["generation"], {"metadata": metadata})


def set_tags(conn: Connection, row: dict[str, Any], tags: list[str]) -> None:
    """Replace a server's tags under its generation (else ConcurrentUpdate); ``updated_at``
    is left alone."""
    update_generation(conn, T, row["id"], row["generation"], {"tags": tags})


# internal action -> the name Nova's API uses for it in a 409 ("Cannot 'reboot' instance ...")
API_NAMES = {"reboot_soft": "reboot", "reboot_hard": "reboot", "confirm_resize": "confirmResize",
             "revert_resize": "revertResize", "create_image": "createImage",
             "create_backup": "createBackup", "force_delete": "forceDelete",
             "shelve_offload": "shelveOffload", "live_migrate": "os-migrateLive"}


def start_task(conn: Connection, row: dict[str, Any], action: str, deadline_seconds: int,
               extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Move an instance into the task state of ``action``: one task in flight per instance.

    409 as Nova words it when the state forbids it (vm_state checked first, then any task in
    flight). The write is a compare-and-swap on the row's generation; run it with
    :func:`write_checked` so a request that loses a race re-reads and answers from the
    winner's state."""
    _, task_state = states.ACTIONS[action]
    replaced = check_task(row, action)
    if replaced is not None:  # the replaced task's action ends here, as failed
        record = instance_actions.latest(conn, row["uuid"], replaced)
        if record is not None and record["finish_time"] is None:
            instance_actions.finish(conn, record["id"], "Error")
    values = {"task_state": task_state,
              "task_deadline": utcnow() + dt.timedelta(seconds=deadline_seconds),
              "task_attempts": 0}
    values.update(extra or {})
    return update(conn, row, values)


def check_task(row: dict[str, Any], action: str) -> str | None:
    """409 unless ``action`` may start now (see :func:`start_task`); returns the name of the
    task it replaces, if any."""
    allowed = states.ACTIONS[action][0]
    name = API_NAMES.get(action, action)
    if row["locked"] and action not in ("unlock",):
        raise exceptions.Conflict(f"Instance {row['uuid']} is locked")
    if row["vm_state"] not in allowed:
        raise exceptions.Conflict(f"Cannot '{name}' instance {row['uuid']} while it is in "
                                  f"vm_state {row['vm_state']}")
    replaced = states.REPLACEABLE.get(action, {}).get(row["task_state"] or "")
    if row["task_state"] is not None and replaced is None:
        raise exceptions.Conflict(f"Cannot '{name}' instance {row['uuid']} while it is in "
                                  f"task_state {row['task_state']}")
    return replaced


def write_checked(db: Database, fn: Callable[..., R], *args: Any, attempts: int = 5) -> R:
    """Run ``fn(conn, *args)`` — read an instance, check its state, write it with its
    generation — in a write transaction, from a fresh read again when another writer changed
    the row first; the last loss surfaces as the 409 ConcurrentUpdate."""
    for attempt in range(attempts):
        try:
            return db.write(fn, *args)  # type: ignore[no-any-return]
        except exceptions.ConcurrentUpdate:
            if attempt + 1 == attempts:
                raise
    raise AssertionError("unreachable")


def mark_deleting(conn: Connection, row: dict[str, Any], deadline_seconds: int) -> dict[str, Any]:
    if row["task_state"] == states.DELETING:
        return row  # a repeated delete is accepted and changes nothing
    return update(conn, row, {
        "task_state": states.DELETING,
        "task_deadline": utcnow() + dt.timedelta(seconds=deadline_seconds),
        "task_attempts": 0})


def mark_soft_deleting(conn: Connection, row: dict[str, Any],
                       deadline_seconds: int) -> dict[str, Any]:
    """Start a deferred delete: ``deleted_at`` is when the reclaim interval starts."""
    hints = dict(row["scheduler_hints"] or {})
    hints[states.BEFORE_SOFT_DELETE_HINT] = row["vm_state"]
    now = utcnow()
    return update(conn, row, {
        "task_state": states.SOFT_DELETING, "deleted_at": now, "scheduler_hints": hints,
        "task_deadline": now + dt.timedelta(seconds=deadline_seconds), "task_attempts": 0})


def reclaimable(conn: Connection, before: dt.datetime) -> list[dict[str, Any]]:
    """Soft-deleted instances whose reclaim interval ended (``deleted_at`` before ``before``)."""
    return [dict(r) for r in conn.execute(sa.select(T).where(
        T.c.deleted.is_(False), T.c.vm_state == states.SOFT_DELETED,
        T.c.task_state.is_(None), T.c.deleted_at < before)).mappings()]


def finalize_delete(conn: Connection, row: dict[str, Any]) -> None:
    now = utcnow()
    update(conn, row, {"deleted": True, "deleted_at": now, "terminated_at": now,
                       "vm_state": states.DELETED, "task_state": None, "task_deadline": None,
                       "power_state": 0})
    conn.execute(sa.delete(t.server_group_members).where(
        t.server_group_members.c.instance_uuid == row["uuid"]))
    conn.execute(sa.delete(t.console_auth_tokens).where(  # as Nova: its consoles end with it
        t.console_auth_tokens.c.instance_uuid == row["uuid"]))
    quotas.lock_project(conn, row["project_id"])


def in_flight(conn: Connection) -> list[dict[str, Any]]:
    """Instances with a task under way (resumed after a restart, checked by the reconciler)."""
    return [dict(r) for r in conn.execute(sa.select(T).where(
        T.c.deleted.is_(False), T.c.task_state.is_not(None))).mappings()]


def overdue(conn: Connection, now: dt.datetime) -> list[dict[str, Any]]:
    return [dict(r) for r in conn.execute(sa.select(T).where(
        T.c.deleted.is_(False), T.c.task_deadline.is_not(None),
        T.c.task_deadline < now)).mappings()]


def on_host(conn: Connection, host: str) -> list[dict[str, Any]]:
    return [dict(r) for r in conn.execute(sa.select(T).where(
        T.c.deleted.is_(False), T.c.host == host)).mappings()]


def by_uuids(conn: Connection, uuids: list[str]) -> list[dict[str, Any]]:
    """Rows for these uuids, deleted ones included."""
    return [dict(r) for r in conn.execute(sa.select(T).where(T.c.uuid.in_(uuids))).mappings()]


def hosts_of(conn: Connection, uuids: list[str]) -> list[str]:
    if not uuids:
        return []
    return [r[0] for r in conn.execute(sa.select(T.c.host).where(
        T.c.uuid.in_(uuids), T.c.deleted.is_(False), T.c.host.is_not(None)))]


SORT_KEYS = {"created_at", "display_name", "updated_at", "uuid", "vm_state", "task_state",
             "power_state", "launched_at", "terminated_at", "host", "node", "project_id",
             "user_id", "availability_zone", "key_name", "image_ref", "hostname", "locked",
             "launch_index", "id"}


def list_(conn: Connection, *, project_id: str | None, filters: dict[str, Any],
          sort: list[tuple[str, str]], limit: int | None, marker: str | None,
          deleted: bool = False) -> list[dict[str, Any]]:
    q = sa.select(T)
    if project_id is not None:
        q = q.where(T.c.project_id == project_id)
    if not deleted:  # as Nova, soft-deleted servers are listed only with the deleted ones
        q = q.where(T.c.deleted.is_(False), T.c.vm_state != states.SOFT_DELETED)
    for key, value in filters.items():
        if key == "name":  # a regular expression, as Nova matches it
            try:
                re.compile(value)
            except re.error:
                raise exceptions.BadRequest(f"Invalid regular expression for name: {value}") \
                    from None
            q = q.where(T.c.display_name.regexp_match(value))
        elif key == "changes-since":
            q = q.where(time_compare(T.c.updated_at, "gte", value))
        elif key == "changes-before":
            q = q.where(time_compare(T.c.updated_at, "lte", value))
        elif key == "vm_state":
            q = q.where(T.c.vm_state.in_(value))
        elif key == "uuids":
            q = q.where(T.c.uuid.in_(value))
        elif key == "locked":
            q = q.where(T.c.locked.is_(bool(value)))
        elif key == "flavor_id":
            q = q.where(T.c.flavor["id"].as_string() == value)
        elif key in ("tags", "tags_any"):
            continue  # JSON arrays: filtered below, in Python
        elif key in T.c:
            q = q.where(T.c[key] == value)
    keys = [*sort, ("id", "desc")]
    q = q.order_by(*(T.c[k].desc() if d == "desc" else T.c[k].asc() for k, d in keys))
    in_python = bool(filters.get("tags") or filters.get("tags_any"))
    if marker is not None:
        after = _after_marker(conn, marker, keys)
        if after is None:
            in_python = True
        else:
            q = q.where(after)
    if limit is not None and not in_python:
        q = q.limit(limit + 1)
    rows = [dict(r) for r in conn.execute(q).mappings()]
    if not in_python:
        return rows
    wanted_all = set(filters.get("tags") or [])
    wanted_any = set(filters.get("tags_any") or [])
    rows = [r for r in rows if wanted_all <= set(r["tags"] or [])
            and (not wanted_any or wanted_any & set(r["tags"] or []))]
    if marker is not None and _after_marker(conn, marker, keys) is None:
        for index, row in enumerate(rows):
            if row["uuid"] == marker:
                rows = rows[index + 1:]
                break
    return rows if limit is None else rows[: limit + 1]


def _after_marker(conn: Connection, marker: str,
                  keys: list[tuple[str, str]]) -> sa.ColumnElement[bool] | None:
    """Keyset condition for "rows after the marker" in this order (None: marker values have
    NULLs, the caller pages in Python). 400 when the marker does not exist."""
    row = conn.execute(sa.select(*(T.c[k] for k, _ in keys)).where(
        T.c.uuid == marker)).first()
    if row is None:
        raise exceptions.BadRequest(f"marker [{marker}] not found")
    values = dict(zip((k for k, _ in keys), row, strict=True))
    if any(v is None for v in values.values()):
        return None
    clauses = []
    for index, (key, direction) in enumerate(keys):
        equal = [T.c[k] == values[k] for k, _ in keys[:index]]
        beyond = T.c[key] < values[key] if direction == "desc" else T.c[key] > values[key]
        clauses.append(sa.and_(*equal, beyond))
    return sa.or_(*clauses)


def record_scheduling(conn: Connection, uuid: str, attempt: int, chosen: str | None,
                      record: dict[str, Any]) -> None:
    conn.execute(sa.insert(t.scheduling_records).values(
        instance_uuid=uuid, attempt=attempt, created_at=utcnow(), chosen_host=chosen,
        record=record))


def set_scheduling_record(conn: Connection, record_id: int, record: dict[str, Any]) -> None:
    """Rewrite one attempt's record (e.g. to say why its host failed the build)."""
    conn.execute(sa.update(t.scheduling_records)
                 .where(t.scheduling_records.c.id == record_id).values(record=record))


def scheduling_records(conn: Connection, uuid: str) -> list[dict[str, Any]]:
    return [dict(r) for r in conn.execute(sa.select(t.scheduling_records).where(
        t.scheduling_records.c.instance_uuid == uuid).order_by(
        t.scheduling_records.c.id)).mappings()]
