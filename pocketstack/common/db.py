"""Database access: one engine per cloud, explicit reader and writer transactions.

The same SQLAlchemy Core code runs on SQLite (default, WAL), PostgreSQL and MariaDB. Writers on
SQLite take the write lock up front (``BEGIN IMMEDIATE``) so concurrent writers queue on the busy
timeout instead of failing half-way with "database is locked". Optimistic concurrency on mutable
rows uses their ``generation`` column (see :func:`update_generation`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, OperationalError

from pocketstack.common import exceptions

LOG = logging.getLogger(__name__)

_RETRYABLE_MARKERS = (
    "database is locked",
    "deadlock",
    "lock wait timeout",
    "could not serialize",
    "serialization failure",
)


def _is_retryable(exc: BaseException) -> bool:
    text = str(exc).lower()
    return any(marker in text for marker in _RETRYABLE_MARKERS)


class Database:
    """Owns the engine and hands out transactions."""

    def __init__(self, url: str, echo: bool = False) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        kwargs: dict[str, Any] = {"echo": echo, "future": True}
        if self.is_sqlite:
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
            kwargs["pool_size"] = 16
            kwargs["max_overflow"] = 16
        else:
            kwargs["pool_size"] = 10
            kwargs["max_overflow"] = 20
            kwargs["pool_pre_ping"] = True
            kwargs["pool_recycle"] = 3600
        if url.startswith("mysql"):
            kwargs["isolation_level"] = "READ COMMITTED"
        self.engine: Engine = sa.create_engine(url, **kwargs)
        # SQLite has one writer at a time, and its busy handler waits in coarse sleeps (up to
        # 100 ms) instead of being woken when the lock frees: queue this process's writers on
        # a lock of our own, so a write starts the moment the previous one commits.
        self._write_lock = threading.RLock() if url.startswith("sqlite") else None
        self._caches: dict[str, Any] = {}
        self._caches_lock = threading.Lock()
        if self.is_sqlite:
            self._configure_sqlite(self.engine)

    @staticmethod
    def _configure_sqlite(engine: Engine) -> None:
        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Connection) -> None:
            if conn.get_execution_options().get("pocketstack_write"):
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            else:
                conn.exec_driver_sql("BEGIN")

    @contextlib.contextmanager
    def reader(self) -> Iterator[Connection]:
        """A read transaction."""
        with _refused_values(), self.engine.connect() as conn:
            with conn.begin():
                yield conn

    @contextlib.contextmanager
    def writer(self) -> Iterator[Connection]:
        """A write transaction: all or nothing."""
        with contextlib.ExitStack() as stack:
            stack.enter_context(_refused_values())
            if self._write_lock is not None:
                stack.enter_context(self._write_lock)
            conn = stack.enter_context(self.engine.connect())
            conn = conn.execution_options(pocketstack_write=True)
            with conn.begin():
                yield conn

    def write(self, fn: Any, *args: Any, attempts: int = 5, **kwargs: Any) -> Any:
        """Run ``fn(conn, *args, **kwargs)`` in a write transaction, retrying lock conflicts.

        ``fn`` must be idempotent up to its own transaction (it is re-run from scratch).
        """
        delay = 0.01
        for attempt in range(attempts):
            try:
                with self.writer() as conn:
                    return fn(conn, *args, **kwargs)
            except (OperationalError, DBAPIError) as exc:
                if attempt + 1 < attempts and _is_retryable(exc):
                    LOG.debug("retrying write after %s", exc)
                    time.sleep(delay)
                    delay *= 2
                    continue
                raise
        raise AssertionError("unreachable")

    def read(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        with self.reader() as conn:
            return fn(conn, *args, **kwargs)

    def cache(self, key: str, factory: Any) -> Any:
        """A cache that lives as long as this database handle (e.g. placement's snapshot),
        shared by every service of the process that uses this handle."""
        found = self._caches.get(key)
        if found is None:
            with self._caches_lock:
                found = self._caches.get(key)
                if found is None:
                    found = self._caches[key] = factory()
        return found

    def scalar_fast(self, sql: str) -> Any:
        """One constant SELECT on a pooled DBAPI connection, skipping SQLAlchemy's per-call
        overhead (~35x faster on SQLite); for hot reads such as the identity revision."""
        raw = self.engine.raw_connection()
        try:
            cur = raw.cursor()
            try:
                cur.execute(sql)
                row = cur.fetchone()
            finally:
                cur.close()
            if not self.is_sqlite:
                raw.rollback()  # end the implicit transaction the driver opened
            return None if row is None else row[0]
        finally:
            raw.close()

    def dispose(self) -> None:
        self.engine.dispose()


@contextlib.contextmanager
def _refused_values() -> Iterator[None]:
    """A value the database cannot hold (an integer beyond its column or its driver, a string
    the backend refuses) is the caller's bad input: a 400 naming the problem, after the
    transaction has been rolled back, never a 500; a row whose key is taken (a client-chosen
    id that exists) is a 409. Every backend answers alike. Domain code that expects a
    duplicate catches it itself (in a savepoint) and says more."""
    try:
        yield
    except IntegrityError as exc:
        if not is_duplicate_error(exc):
            raise
        LOG.info("database refused a duplicate: %s", exc.orig)
        raise exceptions.Conflict(
            "Conflict occurred attempting to store the resource: duplicate entry.") from None
    except DataError as exc:
        LOG.info("database refused a value: %s", exc.orig)
        raise exceptions.BadRequest(
            f"Invalid input: a value is not acceptable to the database "
            f"({_first_line(exc.orig)}).") from None
    except OverflowError as exc:  # raised by the driver before the value reaches SQL
        LOG.info("database driver refused a value: %s", exc)
        raise exceptions.BadRequest(
            f"Invalid input: a number is out of range ({exc}).") from None


def _first_line(exc: BaseException | None) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def update_generation(
    conn: Connection,
    table: sa.Table,
    row_id: Any,
    generation: int,
    values: dict[str, Any],
    id_column: str = "id",
) -> int:
    """Update a row only if its generation is unchanged; returns the new generation.

    Raises :class:`exceptions.Conflict` when another writer got there first.
    """
    new_generation = generation + 1
    result = conn.execute(
        sa.update(table)
        .where(table.c[id_column] == row_id, table.c.generation == generation)
        .values(generation=new_generation, **values)
    )
    if result.rowcount != 1:
        raise exceptions.ConcurrentUpdate(
            f"{table.name} {row_id} was changed by another request; retry."
        )
    return new_generation


def is_duplicate_error(exc: BaseException) -> bool:
    text = str(getattr(exc, "orig", exc)).lower()
    return (
        "unique constraint" in text
        or "duplicate entry" in text
        or "duplicate key" in text
        or "unique violation" in text
    )


def time_compare(column: Any, op: str, when: dt.datetime) -> Any:
    """``column OP when`` as the caller means it, for every time filter of every service.

    Stored times carry microseconds but APIs show most of them to the second, so a caller's
    timestamp is compared at its own precision: a whole-second ``when`` matches every stored
    time inside that second (a server's own ``updated`` is both ``changes-since`` and
    ``changes-before`` it), one with a fraction is compared to the microsecond.
    ``op``: gt, gte, lt, lte, eq, neq.
    """
    step = dt.timedelta(seconds=1) if when.microsecond == 0 else dt.timedelta(microseconds=1)
    end = when + step  # first instant after the caller's ``when``, at its precision
    if op == "gte":
        return column >= when
    if op == "gt":
        return column >= end
    if op == "lt":
        return column < when
    if op == "lte":
        return column < end
    inside = sa.and_(column >= when, column < end)
    if op == "eq":
        return inside
    if op == "neq":
        return sa.not_(inside)
    raise ValueError(f"unknown time comparison {op!r}")
