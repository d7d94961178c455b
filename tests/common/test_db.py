"""The storage layer on SQLite, PostgreSQL and MariaDB: migrations, generations, hammering."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa

from pocketstack.common import exceptions, migrate
from pocketstack.common.db import Database, update_generation
from pocketstack.identity import tables as t
from pocketstack.identity.domain import domains, projects


@pytest.fixture
def db(database_url: str):  # type: ignore[no-untyped-def]
    database = Database(database_url)
    migrate.upgrade(database)
    yield database
    database.dispose()


def _default_domain(db: Database) -> None:
    db.write(domains.create, {"name": "Default"}, "default")


def test_migrations_reach_head_and_are_idempotent(db: Database) -> None:
    assert migrate.current_revision(db) == migrate.head_revision()
    migrate.upgrade(db)
    with db.reader() as conn:
        names = set(sa.inspect(conn).get_table_names())
    assert {"identity_users", "identity_projects", "identity_assignments"} <= names


def test_generation_conflict(db: Database) -> None:
    _default_domain(db)
    row = db.write(projects.create, {"name": "p1"})
    db.write(lambda c: update_generation(c, t.projects, row["id"], 0, {"description": "a"}))
    with pytest.raises(exceptions.ConcurrentUpdate):
        db.write(lambda c: update_generation(c, t.projects, row["id"], 0, {"description": "b"}))
    assert db.read(projects.get, row["id"])["description"] == "a"


def test_failed_write_leaves_nothing(db: Database) -> None:
    _default_domain(db)

    def half(conn):  # type: ignore[no-untyped-def]
        projects.create(conn, {"name": "half"})
        raise exceptions.BadRequest("stop")

    with pytest.raises(exceptions.BadRequest):
        db.write(half)
    assert db.read(projects.list_, {"name": "half"}) == []


def test_a_value_the_database_cannot_hold_is_a_400_and_nothing_is_written(db: Database) -> None:
    """An integer beyond what the backend holds (SQLite's driver raises OverflowError,
    PostgreSQL a DataError) is the caller's bad input on every backend, never a 500."""
    huge = sa.text("SELECT CAST(:x AS INTEGER)").bindparams(x=10**30)
    if db.engine.dialect.name == "mysql":
        # MariaDB clamps instead of refusing: there is nothing to turn into a 400 there
        assert db.read(lambda conn: conn.execute(huge).scalar()) == 2**63 - 1
        return
    _default_domain(db)

    def write(conn):  # type: ignore[no-untyped-def]
        projects.create(conn, {"name": "overflow"})
        conn.execute(huge)

    with pytest.raises(exceptions.BadRequest, match="Invalid input"):
        db.write(write)
    assert db.read(projects.list_, {"name": "overflow"}) == []
    with pytest.raises(exceptions.BadRequest, match="Invalid input"):
        db.read(lambda conn: conn.execute(huge).all())


def test_an_escaped_duplicate_key_is_a_409(db: Database) -> None:
    """Found by the fuzz test: POST /v3/services with the id of an existing service was a 500.
    A unique-key violation that reaches the transaction's edge is a Conflict on every backend;
    nothing of the transaction is kept."""
    _default_domain(db)
    made = db.write(projects.create, {"name": "original"})
    row = db.read(lambda c: dict(c.execute(
        sa.select(t.projects).where(t.projects.c.id == made["id"])).mappings().one()))

    def again(conn):  # type: ignore[no-untyped-def]
        projects.create(conn, {"name": "kept-nothing"})
        conn.execute(sa.insert(t.projects).values(**{**row, "name": "other-name"}))

    with pytest.raises(exceptions.Conflict, match="duplicate"):
        db.write(again)
    assert db.read(projects.list_, {"name": "kept-nothing"}) == []


def test_concurrent_duplicate_creates_yield_one_row(db: Database) -> None:
    _default_domain(db)
    barrier = threading.Barrier(8)

    def create(_: int) -> str:
        barrier.wait()
        try:
            db.write(projects.create, {"name": "contended"})
            return "created"
        except exceptions.Conflict:
            return "conflict"

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(create, range(8)))
    assert results.count("created") == 1 and results.count("conflict") == 7
    assert len(db.read(projects.list_, {"name": "contended"})) == 1


def test_concurrent_generation_updates_never_lose_a_write(db: Database) -> None:
    _default_domain(db)
    row = db.write(projects.create, {"name": "counter", "tags": []})

    def bump(i: int) -> None:
        while True:
            try:
                def add(conn):  # type: ignore[no-untyped-def]
                    cur = projects.get(conn, row["id"])
                    update_generation(conn, t.projects, row["id"], cur["generation"],
                                      {"tags": [*cur["tags"], f"t{i}"]})
                db.write(add)
                return
            except exceptions.ConcurrentUpdate:
                continue

    with ThreadPoolExecutor(6) as pool:
        list(pool.map(bump, range(24)))
    final = db.read(projects.get, row["id"])
    assert sorted(final["tags"]) == sorted(f"t{i}" for i in range(24))
    assert final["generation"] == 24
