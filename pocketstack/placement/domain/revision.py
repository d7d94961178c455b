"""The placement revision: counters bumped by every placement write transaction.

Row 1 counts every write. Whatever allocation candidates read (providers and their tree,
inventories and their usage, traits, aggregates, custom resource classes and traits) changes
only in a transaction that also calls :func:`touch`, so a cache tagged with the revision it was
read at is current exactly while the counter still has that value -- in this process and in
every other one sharing the database.

Row 2 counts only the writes whose effect a provider's generation does not show: providers
created, deleted, renamed or moved in the tree; aggregates (set without a generation bump
before 1.19); custom resource classes and traits defined or removed. While it stands, a cache
may refresh just the providers whose generation moved (claims, inventories, provider traits
all bump it) instead of reading everything again (:mod:`.snapshot`).

The writers call :func:`touch` last (after their provider row locks), so on PostgreSQL and
MariaDB the counter rows are held only from there to commit and lock order stays providers →
counters.
"""

from __future__ import annotations

from sqlalchemy.engine import Connection

from pocketstack.common.db import Database
from pocketstack.placement.domain import rawsql

ALL, STRUCTURE = 1, 2
REVISION_SQL = "SELECT revision FROM placement_revision WHERE id = 1"
_READ_SQL = "SELECT id, revision FROM placement_revision WHERE id IN (1, 2)"
_BUMP_SQL = "UPDATE placement_revision SET revision = revision + 1 WHERE id = {m}"
_INSERT_SQL = "INSERT INTO placement_revision (id, revision) VALUES ({m}, 1)"
_KEY = "pocketstack.placement.revision_tx"


def touch(conn: Connection, structure: bool = False) -> None:
    """Bump the revision (and with ``structure`` the structure revision) once in this
    transaction; later calls in it are free."""
    tx = conn.get_transaction()
    done = conn.info.get(_KEY)
    if done is None or done[0] is not tx:
        done = (tx, set[int]())
        conn.info[_KEY] = done
    wanted = [ALL, STRUCTURE] if structure else [ALL]
    todo = [row for row in wanted if row not in done[1]]
    if not todo:
        return
    cur = rawsql.Cursor(conn)
    try:
        for row in todo:
            bump = _BUMP_SQL.format(m=cur.mark)
            if cur.rowcount(bump, (row,)) == 0:  # missing (tables made without migrations)
                cur.execute(_INSERT_SQL.format(m=cur.mark), (row,))
            done[1].add(row)
    finally:
        cur.close()


def read(conn: Connection) -> tuple[int, int]:
    """(revision, structure revision) as this transaction sees them."""
    cur = rawsql.Cursor(conn)
    try:
        rows = dict(cur.all(_READ_SQL))
    finally:
        cur.close()
    return int(rows.get(ALL) or 0), int(rows.get(STRUCTURE) or 0)


def current(db: Database) -> int:
    """The latest committed revision, read outside any transaction (tens of microseconds)."""
    return int(db.scalar_fast(REVISION_SQL) or 0)
