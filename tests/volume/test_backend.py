"""The file backend on its own: sparse files, image conversion, snapshots, clones, extend,
and nothing half-written left behind when an operation fails."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from pocketstack.agents.volume.backend import GIB, BackendError, FileBackend

needs_qemu_img = pytest.mark.skipif(shutil.which("qemu-img") is None,
                                    reason="qemu-img is not installed")


def _leftovers(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir() if p.name.endswith(".part"))


def test_create_is_sparse_and_idempotent(tmp_path: Path) -> None:
    b = FileBackend(tmp_path)
    b.create("v1", 2)
    path = b.volume_path("v1")
    assert path.stat().st_size == 2 * GIB
    assert path.stat().st_blocks * 512 < 1 << 20  # sparse
    b.create("v1", 2)  # a retried task
    assert b.connection_info("v1") == {"driver_volume_type": "local",
                                       "data": {"device_path": str(path)}}


def test_snapshot_clone_extend_delete(tmp_path: Path) -> None:
    b = FileBackend(tmp_path)
    b.create("v1", 1)
    with open(b.volume_path("v1"), "r+b") as f:
        f.write(b"first")
    b.snapshot("s1", "v1")
    with open(b.volume_path("v1"), "r+b") as f:
        f.write(b"later")
    b.create_from_snapshot("v2", "s1", 2)
    assert b.volume_path("v2").open("rb").read(5) == b"first"
    assert b.volume_path("v2").stat().st_size == 2 * GIB
    b.clone("v3", "v1", 1)
    assert b.volume_path("v3").open("rb").read(5) == b"later"
    b.extend("v3", 3)
    assert b.volume_path("v3").stat().st_size == 3 * GIB
    for vid in ("v1", "v2", "v3"):
        b.delete(vid)
        b.delete(vid)  # gone already: fine
    b.delete_snapshot("s1")
    assert list(tmp_path.iterdir()) == []


def test_missing_sources_fail_cleanly(tmp_path: Path) -> None:
    b = FileBackend(tmp_path)
    with pytest.raises(BackendError):
        b.create_from_snapshot("v1", "nope", 1)
    with pytest.raises(BackendError):
        b.clone("v2", "nope", 1)
    with pytest.raises(BackendError):
        b.extend("nope", 2)
    with pytest.raises(BackendError):
        b.create("../escape", 1)
    assert list(tmp_path.iterdir()) == []


@needs_qemu_img
def test_image_is_converted_to_raw(tmp_path: Path) -> None:
    raw = tmp_path / "src.raw"
    data = os.urandom(300_000) + b"\x00" * 100 + b"end"
    raw.write_bytes(data)
    qcow = tmp_path / "src.qcow2"
    subprocess.run(["qemu-img", "convert", "-f", "raw", "-O", "qcow2", str(raw), str(qcow)],
                   check=True)
    b = FileBackend(tmp_path / "vols")
    b.create_from_image("v1", 1, qcow, "qcow2")
    assert b.volume_path("v1").stat().st_size == GIB
    with b.volume_path("v1").open("rb") as f:
        got = f.read(len(data) + 4096)
    assert got[:len(data)] == data
    assert got[len(data):].count(0) == 4096


@needs_qemu_img
def test_image_larger_than_volume_leaves_nothing(tmp_path: Path) -> None:
    big = tmp_path / "big.qcow2"
    subprocess.run(["qemu-img", "create", "-f", "qcow2", str(big), "2G"], check=True,
                   capture_output=True)
    b = FileBackend(tmp_path / "vols")
    with pytest.raises(BackendError):
        b.create_from_image("v1", 1, big, "qcow2")
    garbage = tmp_path / "garbage"
    garbage.write_bytes(b"not an image")
    with pytest.raises(BackendError):
        b.create_from_image("v2", 1, garbage, "qcow2")
    assert list((tmp_path / "vols").iterdir()) == []


def test_scrub_removes_scratch_files_only(tmp_path: Path) -> None:
    b = FileBackend(tmp_path)
    b.create("v1", 1)
    (tmp_path / "volume-v2.1234abcd.part").write_bytes(b"half")
    assert b.scrub() == 1
    assert [p.name for p in tmp_path.iterdir()] == ["volume-v1"]


@needs_qemu_img
def test_reimage_replaces_content_or_leaves_it(tmp_path: Path) -> None:
    """A re-image writes the image over the volume's content (size kept); one that fails (an
    image larger than the volume) leaves the old content and no scratch file; a volume with
    no file is refused."""
    b = FileBackend(tmp_path / "vols")
    b.create("v1", 1)
    with open(b.volume_path("v1"), "r+b") as f:
        f.write(b"old content")
    image = tmp_path / "new.raw"
    image.write_bytes(b"new image".ljust(1 << 20, b"\0"))
    b.reimage("v1", 1, image, "raw")
    with open(b.volume_path("v1"), "rb") as f:
        assert f.read(11) == b"new image\0\0"
    assert b.volume_path("v1").stat().st_size == GIB
    big = tmp_path / "big.raw"
    with open(big, "wb") as f:
        f.truncate(2 * GIB)
    with pytest.raises(BackendError, match="larger"):
        b.reimage("v1", 1, big, "raw")
    with open(b.volume_path("v1"), "rb") as f:
        assert f.read(9) == b"new image"
    assert _leftovers(b.root) == []
    with pytest.raises(BackendError, match="no file"):
        b.reimage("v2", 1, image, "raw")
    assert not b.volume_path("v2").exists()
