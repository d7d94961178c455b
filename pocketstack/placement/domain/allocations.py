"""Allocations: what each consumer holds, claimed atomically against capacity.

One transaction per request (one or many consumers): lock the consumers, then every provider
touched (old and new allocations) in id order; check capacity and unit constraints with the
locked rows; replace the allocation rows; adjust ``inventories.used``; bump every touched
provider's generation and each consumer's generation. No window in which two claims can both
see the same free capacity.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from pocketstack.common import exceptions
from pocketstack.common.db import is_duplicate_error
from pocketstack.placement import errors
from pocketstack.placement import tables as t
from pocketstack.placement.domain import inventories, providers, rawsql, revision
from pocketstack.placement.domain.inventories import capacity
from pocketstack.placement.domain.providers import now

A = t.allocations
C = t.consumers
I = t.inventories  # noqa: E741
P = t.providers

UNCHECKED: Any = object()  # consumer generation not checked (before 1.28, in-process client)


@dataclass
class ConsumerAllocations:
    """The complete new allocations of one consumer (replacing what it holds now)."""

    consumer_uuid: str
    allocations: dict[str, dict[str, int]]  # provider uuid -> {resource class: amount}
    project_id: str
    user_id: str
    consumer_generation: Any = UNCHECKED  # None: must be a new consumer; int: must match
    consumer_type: str | None = None
    provider_generations: dict[str, int] = field(default_factory=dict)  # checked when given


_CONSUMER = sa.select(C).where(C.c.uuid == sa.bindparam("uuid"))
_CONSUMER_LOCKED = _CONSUMER.with_for_update()

# The claim path's statements, as plain SQL (see :mod:`.rawsql`); {in} is a placeholder list,
# {lock} ``FOR UPDATE`` where the database locks rows.
_SQL_CONSUMERS = ("SELECT uuid, generation FROM placement_consumers WHERE uuid IN ({in}) "
                  "ORDER BY uuid{lock}")
_SQL_HELD = ("SELECT consumer_uuid, provider_id, resource_class, used FROM placement_allocations "
             "WHERE consumer_uuid IN ({in})")
_SQL_LOCK = ("SELECT id, uuid, name, generation FROM placement_providers WHERE {where} "
             "ORDER BY id{lock}")
_SQL_INVENTORY = ("SELECT provider_id, resource_class, total, reserved, allocation_ratio, used, "
                  "min_unit, max_unit, step_size FROM placement_inventories "
                  "WHERE provider_id IN ({in})")
_SQL_DELETE_HELD = "DELETE FROM placement_allocations WHERE consumer_uuid IN ({in})"
_SQL_INSERT = ("INSERT INTO placement_allocations (consumer_uuid, provider_id, resource_class, "
               "used, created_at) VALUES ({m}, {m}, {m}, {m}, {m})")
_SQL_ADD_USED = ("UPDATE placement_inventories SET used = used + {m} "
                 "WHERE provider_id = {m} AND resource_class = {m}")
_SQL_BUMP = ("UPDATE placement_providers SET generation = {m}, updated_at = {m} "
             "WHERE id = {m} AND generation = {m}")
_SQL_NEW_CONSUMER = ("INSERT INTO placement_consumers (uuid, project_id, user_id, consumer_type, "
                     "generation, created_at, updated_at) VALUES ({m}, {m}, {m}, {m}, {m}, {m}, "
                     "{m})")
_SQL_SAVE_CONSUMER = ("UPDATE placement_consumers SET project_id = {m}, user_id = {m}, "
                      "generation = {m}, updated_at = {m}{extra} WHERE uuid = {m} "
                      "AND generation = {m}")
_SQL_DROP_CONSUMER = "DELETE FROM placement_consumers WHERE uuid = {m}"


def _consumer(conn: Connection, uuid: str, lock: bool) -> dict[str, Any] | None:
    row = conn.execute(_CONSUMER_LOCKED if lock else _CONSUMER, {"uuid": uuid}).mappings().first()
    return None if row is None else dict(row)


def _check_consumer_generation(uuid: str, consumer: dict[str, Any] | None,
                               expected: Any) -> None:
    if expected is UNCHECKED:
        return
    have = None if consumer is None else consumer["generation"]
    if have != expected:
        raise errors.ConcurrentUpdate(
            f"consumer generation conflict - expected {expected!r} but got {have!r} "
            f"for consumer {uuid}")


def replace(conn: Connection, requests: list[ConsumerAllocations]) -> None:
    """Replace the allocations of each consumer in ``requests``, all or nothing."""
    cur = rawsql.Cursor(conn)
    try:
        _replace(cur, requests)
    finally:
        cur.close()
    if cur.touched:
        revision.touch(conn)


def _replace(cur: rawsql.Cursor, requests: list[ConsumerAllocations]) -> None:
    m, lock = cur.mark, cur.for_update
    requests = sorted(requests, key=lambda r: r.consumer_uuid)
    uuids = [r.consumer_uuid for r in requests]
    marks = cur.marks(len(uuids))
    # lock the consumers (uuid order), then every provider they hold now or will (id order)
    generations = dict(cur.all(_SQL_CONSUMERS.format(**{"in": marks, "lock": lock}), uuids))
    consumers: dict[str, dict[str, Any] | None] = {}
    for req in requests:
        gen = generations.get(req.consumer_uuid)
        consumer = None if gen is None else {"generation": gen}
        _check_consumer_generation(req.consumer_uuid, consumer, req.consumer_generation)
        consumers[req.consumer_uuid] = consumer
    old_rows = cur.all(_SQL_HELD.format(**{"in": marks}), uuids)

    wanted_uuids = sorted({p for r in requests for p in r.allocations})
    old_ids = sorted({r[1] for r in old_rows})
    where = []
    if wanted_uuids:
        where.append(f"uuid IN ({cur.marks(len(wanted_uuids))})")
    if old_ids:
        where.append(f"id IN ({cur.marks(len(old_ids))})")
    locked: dict[int, dict[str, Any]] = {}
    if where:
        for pid, puuid, name, gen in cur.all(
                _SQL_LOCK.format(where=" OR ".join(where), lock=lock), wanted_uuids + old_ids):
            locked[pid] = {"id": pid, "uuid": puuid, "name": name, "generation": gen}
    by_uuid = {row["uuid"]: pid for pid, row in locked.items()}
    missing = [u for u in wanted_uuids if u not in by_uuid]
    if missing:
        raise exceptions.BadRequest(
            f"Allocation for resource provider '{missing[0]}' that does not exist.")
    touched = sorted(locked)
    for req in requests:
        for puuid, gen in req.provider_generations.items():
            if puuid in by_uuid:
                providers.check_generation(locked[by_uuid[puuid]], gen)
    inventory = {(r[0], r[1]): {"total": r[2], "reserved": r[3], "allocation_ratio": r[4],
                                "used": r[5], "min_unit": r[6], "max_unit": r[7],
                                "step_size": r[8]}
                 for r in cur.all(_SQL_INVENTORY.format(**{"in": cur.marks(len(touched))}),
                                  touched)} if touched else {}

    # delta per (provider, class): new amounts minus what these consumers hold now
    old: dict[tuple[int, str], int] = {}
    for r in old_rows:
        key = (r[1], r[2])
        old[key] = old.get(key, 0) + r[3]
    new: dict[tuple[int, str], int] = {}
    new_rows = []
    stamp = now()
    stamp_param = cur.stamp(stamp)
    for req in requests:
        for puuid, resources in req.allocations.items():
            pid = by_uuid[puuid]
            for rc, amount in resources.items():
                key = (pid, rc)
                inv = inventory.get(key)
                name = locked[pid]["name"]
                if inv is None:
                    raise errors.CapacityExceeded(
                        f"{name}: no inventory of {rc} (provider {puuid})")
                _check_units(name, rc, amount, inv)
                new[key] = new.get(key, 0) + amount
                new_rows.append((req.consumer_uuid, pid, rc, amount, stamp_param))
    for key, amount in sorted(new.items()):
        inv = inventory[key]
        delta = amount - old.get(key, 0)
        if delta > 0 and inv["used"] + delta > capacity(inv):
            free = max(capacity(inv) - inv["used"] + old.get(key, 0), 0)
            raise errors.CapacityExceeded(
                f"{locked[key[0]]['name']}: not enough {key[1]} ({free} free, {amount} asked)")

    if old_rows:
        cur.execute(_SQL_DELETE_HELD.format(**{"in": marks}), uuids)
    if new_rows:
        cur.executemany(_SQL_INSERT.format(m=m), new_rows)
    deltas = [(new.get(key, 0) - old.get(key, 0), key[0], key[1])
              for key in sorted(set(old) | set(new)) if key in inventory]
    deltas = [d for d in deltas if d[0]]
    if deltas:
        cur.executemany(_SQL_ADD_USED.format(m=m), deltas)
    if touched:
        # the rows are locked, so the generations read above are still current
        cur.executemany(_SQL_BUMP.format(m=m), [
            (locked[pid]["generation"] + 1, stamp_param, pid, locked[pid]["generation"])
            for pid in touched])
        cur.touched = True
    for req in requests:
        _save_consumer(cur, req, consumers[req.consumer_uuid], stamp_param)


def _check_units(name: str, rc: str, amount: int, inv: dict[str, Any]) -> None:
    if amount < inv["min_unit"] or amount > inv["max_unit"] or \
            amount % inv["step_size"] != 0:
        raise errors.AllocationConstraint(
            f"Unable to allocate inventory: {name}: {amount} {rc} violates min_unit "
            f"{inv['min_unit']}, max_unit {inv['max_unit']} or step_size {inv['step_size']}.")


def _save_consumer(cur: rawsql.Cursor, req: ConsumerAllocations,
                   consumer: dict[str, Any] | None, stamp: Any) -> None:
    m = cur.mark
    empty = not any(req.allocations.values())
    if consumer is None:
        if empty:
            return
        try:  # no savepoint needed: a duplicate fails the whole request
            cur.execute(_SQL_NEW_CONSUMER.format(m=m), (
                req.consumer_uuid, req.project_id, req.user_id, req.consumer_type, 1, stamp,
                stamp))
        except IntegrityError as exc:
            if is_duplicate_error(exc):
                raise errors.ConcurrentUpdate(
                    f"consumer generation conflict: consumer {req.consumer_uuid} was created "
                    "by another request.") from None
            raise
        return
    if empty:
        cur.execute(_SQL_DROP_CONSUMER.format(m=m), (req.consumer_uuid,))
        return
    params: list[Any] = [req.project_id, req.user_id, consumer["generation"] + 1, stamp]
    extra = ""
    if req.consumer_type is not None:
        extra = f", consumer_type = {m}"
        params.append(req.consumer_type)
    params += [req.consumer_uuid, consumer["generation"]]
    if cur.rowcount(_SQL_SAVE_CONSUMER.format(m=m, extra=extra), params) != 1:
        raise errors.ConcurrentUpdate(
            f"consumer generation conflict for consumer {req.consumer_uuid}")


def for_consumer(conn: Connection, uuid: str
                 ) -> tuple[dict[str, dict[str, Any]], dict[str, Any] | None]:
    """({provider uuid: {"generation", "resources"}}, consumer row or None)."""
    out: dict[str, dict[str, Any]] = {}
    rows = conn.execute(
        sa.select(P.c.uuid, P.c.generation, A.c.resource_class, A.c.used)
        .select_from(A.join(P, A.c.provider_id == P.c.id))
        .where(A.c.consumer_uuid == uuid)).all()
    for puuid, gen, rc, used in rows:
        entry = out.setdefault(puuid, {"generation": gen, "resources": {}})
        entry["resources"][rc] = used
    return out, _consumer(conn, uuid, lock=False)


def for_provider(conn: Connection, provider_id: int) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for consumer, rc, used in conn.execute(
            sa.select(A.c.consumer_uuid, A.c.resource_class, A.c.used)
            .where(A.c.provider_id == provider_id)):
        out.setdefault(consumer, {})[rc] = used
    return out


def delete_consumer(conn: Connection, uuid: str) -> None:
    """Drop all of a consumer's allocations; NotFound when it has none."""
    consumer = _consumer(conn, uuid, lock=True)
    has = conn.execute(sa.select(A.c.provider_id).where(A.c.consumer_uuid == uuid)
                       .limit(1)).first()
    if not has:
        raise exceptions.NotFound(f"No allocations for consumer '{uuid}'")
    replace(conn, [ConsumerAllocations(uuid, {}, consumer["project_id"] if consumer else "",
                                       consumer["user_id"] if consumer else "")])


def reshape(conn: Connection, new_inventories: dict[str, dict[str, Any]],
            requests: list[ConsumerAllocations]) -> None:
    """``POST /reshaper``: move inventory and the allocations against it at once.

    ``new_inventories`` maps provider uuid -> {"inventories", "resource_provider_generation"};
    ``requests`` are the consumers' complete new allocations. Every provider generation and
    consumer generation is checked first; then the consumers' old allocations are released,
    the inventories replaced and the new allocations claimed, all in the caller's transaction.
    """
    for puuid, item in new_inventories.items():
        providers.check_generation(providers.lock_one(conn, puuid),
                                   item["resource_provider_generation"])
    for r in requests:
        _found, consumer = for_consumer(conn, r.consumer_uuid)
        _check_consumer_generation(r.consumer_uuid, consumer, r.consumer_generation)
        if consumer is not None:
            replace(conn, [ConsumerAllocations(
                r.consumer_uuid, {}, consumer["project_id"], consumer["user_id"])])
    for puuid, item in new_inventories.items():
        inventories.replace_all(conn, puuid, item["inventories"], None)
    replace(conn, [ConsumerAllocations(
        r.consumer_uuid, r.allocations, r.project_id, r.user_id, UNCHECKED, r.consumer_type)
        for r in requests])


def provider_usages(conn: Connection, provider_id: int) -> dict[str, int]:
    return {rc: used for rc, used in conn.execute(
        sa.select(I.c.resource_class, I.c.used).where(I.c.provider_id == provider_id))}


def project_usages(conn: Connection, project_id: str, user_id: str | None = None,
                   consumer_type: str | None = None) -> dict[str, int]:
    q = (sa.select(A.c.resource_class, sa.func.sum(A.c.used))
         .select_from(A.join(C, A.c.consumer_uuid == C.c.uuid))
         .where(C.c.project_id == project_id).group_by(A.c.resource_class))
    if user_id is not None:
        q = q.where(C.c.user_id == user_id)
    if consumer_type is not None:
        q = _type_filter(q, consumer_type)
    return {rc: int(total) for rc, total in conn.execute(q)}


def _type_filter(q: Any, consumer_type: str) -> Any:
    if consumer_type == "unknown":
        return q.where(C.c.consumer_type.is_(None))
    return q.where(C.c.consumer_type == consumer_type)


def project_usages_by_type(conn: Connection, project_id: str, user_id: str | None = None,
                           consumer_type: str | None = None) -> dict[str, dict[str, int]]:
    """1.38 shape: {consumer_type or "unknown": {"consumer_count": n, rc: amount}}."""
    q = (sa.select(C.c.consumer_type, A.c.resource_class, sa.func.sum(A.c.used),
                   sa.func.count(sa.distinct(C.c.uuid)))
         .select_from(A.join(C, A.c.consumer_uuid == C.c.uuid))
         .where(C.c.project_id == project_id)
         .group_by(C.c.consumer_type, A.c.resource_class))
    if user_id is not None:
        q = q.where(C.c.user_id == user_id)
    if consumer_type is not None and consumer_type != "all":
        q = _type_filter(q, consumer_type)
    out: dict[str, dict[str, int]] = {}
    counts: dict[str, int] = {}
    for ctype, rc, total, count in conn.execute(q):
        key = ctype or "unknown"
        out.setdefault(key, {})[rc] = int(total)
        counts[key] = max(counts.get(key, 0), int(count))
    cq = (sa.select(C.c.consumer_type, sa.func.count()).where(C.c.project_id == project_id)
          .group_by(C.c.consumer_type))
    if user_id is not None:
        cq = cq.where(C.c.user_id == user_id)
    for ctype, count in conn.execute(cq):
        key = ctype or "unknown"
        if key in out:
            out[key]["consumer_count"] = int(count)
    if consumer_type == "all" and out:
        merged: dict[str, int] = {"consumer_count": 0}
        for per in out.values():
            for k, v in per.items():
                merged[k] = merged.get(k, 0) + v
        return {"all": merged}
    return out


def consumers_of(conn: Connection, uuids: Iterable[str]) -> dict[str, dict[str, Any]]:
    return {r["uuid"]: dict(r) for r in conn.execute(
        sa.select(C).where(C.c.uuid.in_(list(uuids)))).mappings()}
