"""Plain DB-API statements inside a SQLAlchemy transaction, for the hottest write path.

A claim (``PUT /allocations``) runs about nine small statements; through SQLAlchemy each costs
some 20 µs of Python before the driver sees it, more than SQLite spends running it. Here the
SQL is a fixed string per dialect (``?`` or ``%s`` placeholders, ``FOR UPDATE`` where rows can
be locked), run on the connection's own DB-API cursor -- the same transaction -- and driver
errors are re-raised as SQLAlchemy's (``OperationalError``, ``IntegrityError``...), so the
write retries of :meth:`Database.write` and duplicate detection behave as with
``conn.execute``.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Dialect


@functools.lru_cache(maxsize=16)
def _setup(dialect: Dialect) -> tuple[str, str, type[Exception], Any]:
    return ("?" if dialect.paramstyle == "qmark" else "%s",
            "" if dialect.name == "sqlite" else " FOR UPDATE",
            dialect.loaded_dbapi.Error,
            sa.DateTime().dialect_impl(dialect).bind_processor(dialect))


class Cursor:
    def __init__(self, conn: Connection) -> None:
        self.dialect = conn.dialect
        self.mark, self.for_update, self._dbapi_error, self._stamp = _setup(conn.dialect)
        self._cur = conn.connection.cursor()
        self.touched = False  # set by callers that changed provider data

    def marks(self, n: int) -> str:
        """``?, ?, ?`` (n placeholders) for an ``IN (...)`` list."""
        return ", ".join([self.mark] * n)

    def stamp(self, when: dt.datetime) -> Any:
        """A DateTime parameter as SQLAlchemy would bind it (SQLite: its text format)."""
        return self._stamp(when) if self._stamp is not None else when

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        try:
            self._cur.execute(sql, params)
        except self._dbapi_error as exc:
            raise self._wrap(sql, params, exc) from exc
        return self._cur

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        rows = list(rows)
        try:
            self._cur.executemany(sql, rows)
        except self._dbapi_error as exc:
            raise self._wrap(sql, rows, exc) from exc

    def all(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        return list(self.execute(sql, params).fetchall())

    def rowcount(self, sql: str, params: Sequence[Any] = ()) -> int:
        return int(self.execute(sql, params).rowcount)

    def _wrap(self, sql: str, params: Any, exc: Exception) -> BaseException:
        return sa.exc.DBAPIError.instance(sql, params, exc, self._dbapi_error,
                                          dialect=self.dialect)

    def close(self) -> None:
        self._cur.close()
