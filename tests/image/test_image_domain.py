"""Image domain functions without a server: upload grants and their roll-back, restarts,
the format-match switch."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from pocketstack.common import exceptions, migrate
from pocketstack.common.context import RequestContext
from pocketstack.common.db import Database
from pocketstack.image.builder import empty_qcow2
from pocketstack.image.domain import images
from pocketstack.image.domain.data import UploadPipeline
from pocketstack.image.store import FileStore

QUOTAS = images.Quotas()


@pytest.fixture()
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(f"sqlite:///{tmp_path / 'img.db'}")
    migrate.upgrade(database)
    yield database
    database.dispose()


def _image(db: Database, **values: object) -> dict:
    base = {"name": "d", "disk_format": "raw", "container_format": "bare", "owner": "p1"}
    base.update(values)
    return db.write(images.create, base, {}, [], QUOTAS)  # type: ignore[no-any-return]


def test_grant_abort_and_restart_reset(db: Database) -> None:
    image = _image(db)
    grant = db.write(images.begin_upload, image["id"], False, QUOTAS)
    assert db.read(images.get, image["id"])["status"] == "saving"
    with pytest.raises(exceptions.Conflict):
        db.write(images.begin_upload, image["id"], False, QUOTAS)
    db.write(images.abort_upload, grant)
    assert db.read(images.get, image["id"])["status"] == "queued"
    # an upload, a stage in flight, and an import cut short by a restart all go back
    db.write(images.begin_upload, image["id"], False, QUOTAS)
    staging = _image(db)
    db.write(images.begin_upload, staging["id"], True, QUOTAS)
    assert db.write(images.reset_interrupted) == 2
    assert {db.read(images.get, i)["status"] for i in (image["id"], staging["id"])} == {
        "queued"}


def test_finish_after_delete_is_gone(db: Database) -> None:
    image = _image(db)
    grant = db.write(images.begin_upload, image["id"], False, QUOTAS)
    db.write(images.delete, image["id"])
    with pytest.raises(exceptions.Gone):
        db.write(images.finish_upload, grant, "file:///x", {}, QUOTAS, False)


@pytest.mark.parametrize("require,ok", [(True, False), (False, True)])
def test_format_match_switch(db: Database, tmp_path: Path, require: bool, ok: bool) -> None:
    image = _image(db, disk_format="raw")
    grant = db.write(images.begin_upload, image["id"], False, QUOTAS)
    store = FileStore(tmp_path / "images")
    pipeline = UploadPipeline(grant, store.writer(image["id"]), require)
    pipeline.feed_batch([empty_qcow2(1 << 20)])
    if ok:
        location, facts = pipeline.commit()
        assert facts["detected_format"] == "qcow2" and facts["virtual_size"] == 1 << 20
        assert store.size(location) == 256 << 10
    else:
        with pytest.raises(exceptions.BadRequest):
            pipeline.commit()
        pipeline.abort()
    # an unsafe image is refused either way
    other = _image(db, disk_format="raw")
    grant = db.write(images.begin_upload, other["id"], False, QUOTAS)
    pipeline = UploadPipeline(grant, store.writer(other["id"]), require)
    pipeline.feed(empty_qcow2(1 << 20, backing_file="/etc/passwd"))
    with pytest.raises(exceptions.BadRequest):
        pipeline.commit()
    pipeline.abort()


def test_images_made_in_one_second_list_in_the_order_they_were_made(db: Database) -> None:
    """created_at keeps sub-second precision (as Glance's oslo utcnow does), so a list sorted
    by created_at — and Nova's backup rotation — never falls back to the random id for images
    made within the same second."""
    made = [_image(db, name=f"same-second-{i}", owner="p-order") for i in range(8)]
    stored = [db.read(images.get, m["id"])["created_at"] for m in made]
    assert stored == sorted(stored) and len(set(stored)) == len(stored)
    ctx = RequestContext(user_id="u", project_id="p-order", roles=["member"])
    for direction, expected in (("asc", made), ("desc", made[::-1])):
        q = images.ListQuery(filters={"owner": ["p-order"]}, properties={}, tags=[], limit=20,
                             sort=[("created_at", direction)])
        listed, _ = db.read(images.list_images, ctx, q)
        assert [i["name"] for i in listed] == [m["name"] for m in expected]
