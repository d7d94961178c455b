"""The in-process Placement client the scheduler and compute agents use (no HTTP): the
placement service's implementation of :class:`pocketstack.placement.interface.PlacementAPI`.

Every call is one transaction over the same domain functions as the REST API, so the REST
view and the scheduler's view never disagree. Writes that have no caller-supplied generation
(this client never has one) retry generation conflicts themselves.

A caller on the same database can make placement writes part of its own transaction: inside
``with client.joining(conn):`` every write this thread makes through the client (a claim, a
release) runs on ``conn`` in a savepoint, and commits or rolls back with the caller's own
writes — the compute conductor claims a host and records the instance on it in one commit.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy.engine import Connection

from pocketstack.common import exceptions
from pocketstack.common.db import Database
from pocketstack.placement import errors, standard
from pocketstack.placement.domain import (
    aggregates,
    allocations,
    candidates,
    inventories,
    providers,
    resource_classes,
    snapshot,
    traits,
)
from pocketstack.placement.errors import CapacityExceeded, ConcurrentUpdate

__all__ = ["Candidate", "PlacementClient", "CapacityExceeded", "ConcurrentUpdate"]

LOG = logging.getLogger(__name__)
T = TypeVar("T")
RETRIES = 10


@dataclass
class Candidate:
    provider_uuid: str
    allocations: dict[str, int]
    summary: dict[str, dict[str, int]]  # rc -> {"capacity": usable, "used": used}


def _retry(db: Database, fn: Callable[..., T], *args: Any) -> T:
    for attempt in range(RETRIES):
        try:
            return db.write(fn, *args)  # type: ignore[no-any-return]
        except exceptions.ConcurrentUpdate:
            if attempt + 1 == RETRIES:
                raise
            LOG.debug("placement: generation conflict, retrying %s", fn.__name__)
    raise AssertionError("unreachable")


class PlacementClient:
    """Synchronous; call from a worker thread (``anyio.to_thread``) in async code."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._joined = threading.local()  # .conn: the caller's transaction, per thread

    @contextlib.contextmanager
    def joining(self, conn: Connection) -> Iterator[None]:
        """Inside the block, this thread's writes through the client join ``conn``'s
        transaction (a connection to this same database) instead of committing on their own."""
        previous = getattr(self._joined, "conn", None)
        self._joined.conn = conn
        try:
            yield
        finally:
            self._joined.conn = previous

    def _write(self, fn: Callable[..., T], *args: Any) -> T:
        conn: Connection | None = getattr(self._joined, "conn", None)
        if conn is None:
            return _retry(self.db, fn, *args)
        for attempt in range(RETRIES):
            try:
                with conn.begin_nested():  # a failed write leaves the caller's work intact
                    return fn(conn, *args)
            except exceptions.ConcurrentUpdate:
                if attempt + 1 == RETRIES:
                    raise
        raise AssertionError("unreachable")

    # -- providers ----------------------------------------------------------------------------
    def ensure_provider(self, uuid: str, name: str, parent_uuid: str | None = None) -> None:
        """Create the provider, or bring its name and parent to these values."""

        def run(conn: Connection) -> None:
            current = providers.find(conn, uuid)
            if current is None:
                providers.create(conn, name, uuid, parent_uuid)
            elif current["name"] != name or current["parent_uuid"] != parent_uuid:
                providers.update(conn, uuid, name=name, parent_uuid=parent_uuid,
                                 allow_reparent=True)

        self._write(run)

    def delete_provider(self, uuid: str) -> None:
        """Delete the provider (a no-op if absent); Conflict if it has allocations."""

        def run(conn: Connection) -> None:
            if providers.find(conn, uuid) is not None:
                providers.delete(conn, uuid)

        self._write(run)

    def set_inventory(self, uuid: str, inventories_: dict[str, dict[str, Any]]) -> None:
        """Replace the provider's inventory; custom classes are created on the way.
        Refuses (InventoryInUse, a Conflict) to remove a class that is allocated."""

        def run(conn: Connection) -> None:
            for rc in inventories_:
                if rc not in standard.RESOURCE_CLASS_SET:
                    resource_classes.ensure(conn, rc)
            inventories.replace_all(conn, uuid, inventories_, None)

        self._write(run)

    def set_traits(self, uuid: str, traits_: list[str]) -> None:
        """Replace the provider's traits; CUSTOM_* traits are created on the way."""

        def run(conn: Connection) -> None:
            for name in traits_:
                if name not in standard.TRAIT_SET:
                    traits.ensure(conn, name)
            traits.set_for_provider(conn, uuid, list(traits_))

        self._write(run)

    def set_aggregates(self, uuid: str, aggregates_: list[str]) -> None:
        self._write(aggregates.set_for_provider, uuid, list(aggregates_))

    # -- reads --------------------------------------------------------------------------------
    def allocation_candidates(self, resources: dict[str, int],
                              required_traits: Sequence[str] = (),
                              forbidden_traits: Sequence[str] = (),
                              member_of: Sequence[Sequence[str]] = (),
                              limit: int | None = None) -> list[Candidate]:
        """Providers that alone can take ``resources`` now (each inner list of ``member_of``
        is any-of; the lists are all-of)."""
        group = candidates.RequestGroup(
            resources={k: int(v) for k, v in resources.items() if v},
            required=[frozenset([n]) for n in required_traits],
            forbidden=set(forbidden_traits),
            member_of=[frozenset(m) for m in member_of])
        query = candidates.Query([group], limit=limit, single_provider=True)
        result = candidates.search(snapshot.cache_for(self.db).get(), query)
        out = []
        for cand in result.candidates:
            (pid, alloc), = cand.allocations.items() if cand.allocations else \
                ((cand.mappings[""][0], {}),)
            out.append(Candidate(result.uuid(pid), dict(alloc), _summary(result, pid)))
        return out

    def provider_summaries(self, uuids: list[str] | None = None
                           ) -> dict[str, dict[str, dict[str, int]]]:
        """{provider uuid: {rc: {"capacity", "used"}}} for every provider (or these)."""

        return self.db.read(inventories.summaries, uuids)  # type: ignore[no-any-return]

    def get_allocations(self, consumer_uuid: str) -> dict[str, dict[str, int]]:
        found, _consumer = self.db.read(allocations.for_consumer, consumer_uuid)
        return {p: dict(v["resources"]) for p, v in found.items()}

    def usages(self, project_id: str, user_id: str | None = None) -> dict[str, int]:
        return self.db.read(  # type: ignore[no-any-return]
            allocations.project_usages, project_id, user_id)

    # -- claims -------------------------------------------------------------------------------
    def claim(self, consumer_uuid: str, allocations_: dict[str, dict[str, int]],
              project_id: str, user_id: str) -> None:
        """Atomically replace the consumer's allocations with ``allocations_``
        ({provider uuid: {rc: amount}}). Raises CapacityExceeded (a Conflict) naming the
        provider and class, AllocationConstraint (BadRequest) for min/max/step violations,
        ConcurrentUpdate only if conflicts persist after retries."""
        request = allocations.ConsumerAllocations(
            consumer_uuid, {p: {rc: int(n) for rc, n in res.items() if n}
                            for p, res in allocations_.items()},
            project_id, user_id)
        request.allocations = {p: r for p, r in request.allocations.items() if r}
        try:
            self._write(allocations.replace, [request])
        except exceptions.BadRequest as exc:
            if "does not exist" in exc.message:
                raise errors.CapacityExceeded(exc.message) from None
            raise

    def delete_allocations(self, consumer_uuid: str) -> None:
        """Drop everything the consumer holds (a no-op when it holds nothing)."""
        try:
            self._write(allocations.delete_consumer, consumer_uuid)
        except exceptions.NotFound:
            pass


def _summary(result: candidates.Result, pid: int) -> dict[str, dict[str, int]]:
    return {rc: {"capacity": inv.capacity, "used": inv.used}
            for rc, inv in result.inventories.get(pid, {}).items()}
