"""The block storage hot paths clients hammer while volumes are made: ``GET /volumes/{id}`` in
one statement (same row, group and type name as the long way), the quota check's limits in
one statement (a project's rows over the default class's over the settings), and the API's
bounded worker threads (at most ``volume_api_threads`` handlers at once, the rest in turn)."""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
import sqlalchemy as sa

from pocketstack.common.api.app import ApiRequest, Route, ServiceApp, json_response
from pocketstack.common.api.errors import cinder_error
from pocketstack.common.bus import make_bus
from pocketstack.common.db import Database
from pocketstack.common.service import Runtime
from pocketstack.config import load_settings
from pocketstack.volume import errors
from pocketstack.volume import tables as t
from pocketstack.volume.domain import groups, quotas, volumes
from pocketstack.volume.domain.common import now
from pocketstack.volume.service import VolumeService
from pocketstack.volume.settings import VolumeSettings


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    """SQLite, PostgreSQL and MariaDB (the last two skipped when unreachable)."""
    database = Database(database_url)
    t.volumes.metadata.create_all(database.engine, tables=[
        t.volume_types, t.volumes, t.group_types, t.groups, t.group_volumes, t.quotas,
        t.quota_classes, t.project_locks, t.snapshots, t.backups])
    yield database
    database.dispose()


def _volume(conn: Any, ident: str, project: str, type_id: str | None) -> None:
    conn.execute(sa.insert(t.volumes).values(
        id=ident, project_id=project, size=1, status="available", attach_status="detached",
        availability_zone="nova", host="h@file", bootable=False, readonly=False,
        multiattach=False, encrypted=False, metadata={"k": "v"}, image_metadata={},
        admin_metadata={}, attachments=[], volume_type_id=type_id, created_at=now()))


def _seed(conn: Any) -> None:
    conn.execute(sa.insert(t.volume_types).values(id="t1", name="fast", is_public=True,
                                                  extra_specs={}, created_at=now()))
    conn.execute(sa.insert(t.volume_types).values(id="t2", name="slow", is_public=True,
                                                  extra_specs={}, created_at=now()))
    _volume(conn, "v-grouped", "p", "t1")
    _volume(conn, "v-plain", "p", None)
    conn.execute(sa.insert(t.group_types).values(id="gt", name="gt", is_public=True,
                                                 group_specs={}, created_at=now()))
    conn.execute(sa.insert(t.groups).values(
        id="g1", project_id="p", name="g", status="available", group_type_id="gt",
        volume_type_ids=["t1"], availability_zone="nova", created_at=now()))
    conn.execute(sa.insert(t.group_volumes).values(volume_id="v-grouped", group_id="g1"))


def _the_long_way(conn: Any, ident: str, project: str | None, admin: bool
                  ) -> tuple[dict[str, Any], dict[str, str]]:
    row = volumes.get(conn, ident, project, admin)
    groups.with_group_ids(conn, [row])
    return row, volumes.type_names(conn)


@pytest.mark.parametrize("ident", ["v-grouped", "v-plain"])
@pytest.mark.parametrize(("project", "admin"), [("p", False), (None, True)])
def test_show_reads_what_the_long_way_reads(db: Database, ident: str, project: str | None,
                                            admin: bool) -> None:
    db.write(_seed)
    row, names = db.read(volumes.get_shown, ident, project, admin)
    long_row, all_names = db.read(_the_long_way, ident, project, admin)
    assert row == long_row
    assert row["group_id"] == ("g1" if ident == "v-grouped" else None)
    # the view only looks up the volume's own type
    key = row["volume_type_id"] or ""
    assert names.get(key) == all_names.get(key)
    assert names == ({"t1": "fast"} if ident == "v-grouped" else {})


def test_show_hides_other_projects_volumes(db: Database) -> None:
    db.write(_seed)
    with pytest.raises(errors.VolumeNotFound):
        db.read(volumes.get_shown, "v-plain", "other", False)
    with pytest.raises(errors.VolumeNotFound):
        db.read(volumes.get_shown, "nope", None, True)


def test_check_limits_project_over_class_over_settings(db: Database) -> None:
    defaults = {"volumes": 10, "gigabytes": 1000, "snapshots": 10, "per_volume_gigabytes": -1,
                "backups": 10, "backup_gigabytes": 1000, "groups": 10}

    def rows(conn: Any) -> None:
        qc, q = t.quota_classes, t.quotas
        conn.execute(sa.insert(qc).values(class_name="default", resource="volumes",
                                          hard_limit=5))
        conn.execute(sa.insert(qc).values(class_name="default", resource="gigabytes",
                                          hard_limit=50))
        conn.execute(sa.insert(qc).values(class_name="default", resource="volumes_fast",
                                          hard_limit=2))
        conn.execute(sa.insert(qc).values(class_name="other", resource="snapshots",
                                          hard_limit=1))
        conn.execute(sa.insert(q).values(project_id="p", resource="gigabytes",
                                         hard_limit=7))
        conn.execute(sa.insert(q).values(project_id="q", resource="volumes", hard_limit=1))

    db.write(_seed)  # the types "fast" and "slow"
    db.write(rows)
    got = db.read(quotas.limits, "p", defaults, False)
    assert got == {**defaults, "volumes": 5, "gigabytes": 7, "volumes_fast": 2}
    # the same answer as the listing path (every type) for what both hold
    full = db.read(quotas.limits, "p", defaults, True)
    assert {k: full[k] for k in got} == got
    # and the check enforces the project's own 7 GiB over the class's 50 (2 GiB in use)
    with pytest.raises(errors.OverQuota):
        db.write(quotas.check, "p", defaults, volumes=1, gigabytes=6, volume_size=6)
    db.write(quotas.check, "p", defaults, volumes=1, gigabytes=5, volume_size=5)


def test_volume_api_runs_at_most_its_threads_at_once(tmp_path: Path) -> None:
    settings = load_settings(environ={}, overrides={"state_dir": str(tmp_path),
                                                    "volume_api_threads": 3},
                             sections=[VolumeSettings])
    runtime = Runtime(settings=settings, db=Database(f"sqlite:///{tmp_path / 'v.db'}"),
                      bus=make_bus(None), state=tmp_path)
    app = VolumeService(runtime).app()
    limiter = app.app.thread_limiter  # type: ignore[attr-defined]
    assert limiter is not None and limiter.total_tokens == 3


def test_the_kit_bounds_handler_threads_and_serves_in_turn() -> None:
    running = 0
    peak = 0
    order: list[int] = []
    lock = threading.Lock()

    def slow(req: ApiRequest) -> Any:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
            order.append(int(req.query["n"]))
        time.sleep(0.05)
        with lock:
            running -= 1
        return json_response({})

    app = ServiceApp("x", [Route("GET", "/slow", slow, public=True)], cinder_error,
                     thread_limiter=anyio.CapacityLimiter(2))

    async def main() -> None:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://x") as client:
            tasks = []
            for n in range(8):
                tasks.append(asyncio.create_task(client.get("/slow", params={"n": n})))
                await asyncio.sleep(0.005)  # arrive in order
            answers = await asyncio.gather(*tasks)
        assert [a.status_code for a in answers] == [200] * 8

    started = dt.datetime.now()
    asyncio.run(main())
    assert peak == 2
    assert order == list(range(8))  # first come, first served
    assert (dt.datetime.now() - started).total_seconds() >= 0.05 * 8 / 2
