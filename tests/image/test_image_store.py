"""The file store and the pure-Python qcow2 builder, without a server."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from pocketstack.common import exceptions
from pocketstack.image.builder import empty_qcow2
from pocketstack.image.inspect import inspect_file
from pocketstack.image.store import FileStore
from tests.image.disk_images import need_tool


def test_put_get_ranges_delete(tmp_path: Path) -> None:
    store = FileStore(tmp_path / "images")
    data = bytes(range(256)) * 5000
    location = store.put("img-1", (data[i:i + 7000] for i in range(0, len(data), 7000)))
    assert location.startswith("file://")
    assert store.size(location) == len(data)
    assert b"".join(store.get(location)) == data
    assert b"".join(store.get(location, 1000, 5, chunk_size=2)) == data[1000:1005]
    assert b"".join(store.get(location, len(data) - 3)) == data[-3:]
    store.delete(location)
    store.delete(location)  # idempotent
    with pytest.raises(exceptions.NotFound):
        store.get(location)


def test_abort_and_failed_put_leave_nothing(tmp_path: Path) -> None:
    store = FileStore(tmp_path / "images")
    writer = store.writer("img-2")
    writer.write(b"partial")
    writer.abort()
    writer.abort()

    def boom():  # type: ignore[no-untyped-def]
        yield b"first"
        raise RuntimeError("client went away")

    with pytest.raises(RuntimeError):
        store.put("img-3", boom())
    assert [p for p in (tmp_path / "images").rglob("*") if p.is_file()] == []


def test_stage_promote_and_scrub(tmp_path: Path) -> None:
    store = FileStore(tmp_path / "images")
    staged = store.put("img-4", [b"abc"], staging=True)
    assert "/staging/" in staged
    final = store.promote(staged, "img-4")
    assert b"".join(store.get(final)) == b"abc"
    (tmp_path / "images" / ".img-5.1234.part").write_bytes(b"left by a crash")
    (tmp_path / "images" / "orphan").write_bytes(b"no row")
    store.put("img-6", [b"staged"], staging=True)
    store.put("img-7", [b"staged, import cut short"], staging=True)
    assert store.scrub({"img-4", "img-6", "img-7"}, {"img-6"}) == 3
    assert sorted(p.name for p in (tmp_path / "images").iterdir()) == ["img-4", "staging"]
    assert [p.name for p in (tmp_path / "images" / "staging").iterdir()] == ["img-6"]


def test_locations_outside_the_store_are_refused(tmp_path: Path) -> None:
    store = FileStore(tmp_path / "images")
    with pytest.raises(exceptions.NotFound):
        store.get("file:///etc/passwd")
    with pytest.raises(exceptions.NotFound):
        store.get("http://example.com/x")
    with pytest.raises(ValueError):
        store.writer("../escape")


@pytest.mark.parametrize("size", [1 << 20, 1 << 30, 100 << 30])
def test_empty_qcow2_is_valid(tmp_path: Path, size: int) -> None:
    path = tmp_path / "e.qcow2"
    path.write_bytes(empty_qcow2(size))
    found = inspect_file(path)
    assert (found.format, found.virtual_size, found.findings) == ("qcow2", size, ())


@pytest.mark.parametrize("size", [1 << 20, 1 << 30, 100 << 30])
def test_qemu_img_finds_the_empty_qcow2_sound(tmp_path: Path, size: int) -> None:
    need_tool("qemu-img")
    path = tmp_path / "e.qcow2"
    path.write_bytes(empty_qcow2(size))
    subprocess.run(["qemu-img", "check", str(path)], check=True, capture_output=True)


def test_qcow2_with_backing_file_is_unsafe(tmp_path: Path) -> None:
    path = tmp_path / "b.qcow2"
    path.write_bytes(empty_qcow2(1 << 20, backing_file="base.img"))
    assert [f.code.value for f in inspect_file(path).findings] == ["backing_file"]
