"""The placement revision: one counter bumped by every placement write transaction.

Whatever allocation candidates read (providers and their tree, inventories and their usage,
traits, aggregates, custom resource classes and traits) changes only in a transaction that
also calls :func:`touch`, so a cache tagged with the revision it was read at is current exactly
while the counter still has that value -- in this process and in every other one sharing the
database. The writers call :func:`touch` last (after their provider row locks), so on
PostgreSQL and MariaDB the counter row is held only from there to commit and lock order stays
providers → counter.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from pocketstack.common.db import Database
from pocketstack.placement import tables as t

R = t.revision
REVISION_SQL = "SELECT revision FROM placement_revision WHERE id = 1"
_BUMP = sa.update(R).where(R.c.id == 1).values(revision=R.c.revision + 1)
_READ = sa.select(R.c.revision).where(R.c.id == 1)
_KEY = "pocketstack.placement.revision_tx"


def touch(conn: Connection) -> None:
    """Bump the revision once in this transaction (later calls in it are free)."""
    tx = conn.get_transaction()
    if tx is not None and conn.info.get(_KEY) is tx:
        return
    if conn.execute(_BUMP).rowcount == 0:  # the row is missing (tables made without migrations)
        conn.execute(sa.insert(R).values(id=1, revision=1))
    conn.info[_KEY] = tx


def read(conn: Connection) -> int:
    """The revision as this transaction sees it."""
    return int(conn.execute(_READ).scalar() or 0)


def current(db: Database) -> int:
    """The latest committed revision, read outside any transaction (tens of microseconds)."""
    return int(db.scalar_fast(REVISION_SQL) or 0)
