"""Storage backends behind a small driver interface, and the default: files in a directory.

:class:`FileBackend` keeps each volume as a sparse raw file ``volume-<id>`` in its directory
(``STATE/volumes/<host>/``), sized with ``truncate``. Snapshots are full copies
``snapshot-<id>`` made with ``cp --reflink=auto --sparse=always``: copy-on-write where the
filesystem can (btrfs, XFS), a sparse copy elsewhere. Volumes from a snapshot or another volume
are copies the same way, then grown. Every write goes to a ``.part`` file renamed into place at
the end, so a failed operation leaves no half-written volume behind (and :meth:`scrub`
removes the scratch files of an agent killed mid-copy when it starts again).

Backups are sparse copies ``backup-<id>`` in a separate directory (``STATE/backups/``, the
directory backup backend); a restore copies one back over (or into) a volume file, grown to the
volume's size.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any, Protocol

GIB = 1 << 30
Progress = Callable[[float], None]  # told the percentage copied so far (0-100)
POLL = 0.25  # seconds between looks at a copy's size (cp prints no progress)
_QEMU_PROGRESS = re.compile(rb"\((\d+(?:\.\d+)?)/100%\)")


class BackendError(Exception):
    """An operation the backend could not do (the task goes to error with this message)."""


class Backend(Protocol):
    name: str

    def create(self, volume_id: str, size_gb: int) -> None: ...

    def create_from_image(self, volume_id: str, size_gb: int, image_path: Path,
                          disk_format: str | None, progress: Progress | None = None) -> None: ...

    def reimage(self, volume_id: str, size_gb: int, image_path: Path, disk_format: str | None,
                progress: Progress | None = None) -> None: ...

    def has_volume(self, volume_id: str) -> bool: ...

    def create_from_snapshot(self, volume_id: str, snapshot_id: str, size_gb: int,
                             progress: Progress | None = None) -> None: ...

    def clone(self, volume_id: str, source_id: str, size_gb: int,
              progress: Progress | None = None) -> None: ...

    def extend(self, volume_id: str, size_gb: int) -> None: ...

    def delete(self, volume_id: str) -> None: ...

    def snapshot(self, snapshot_id: str, volume_id: str) -> None: ...

    def delete_snapshot(self, snapshot_id: str) -> None: ...

    def connection_info(self, volume_id: str) -> dict[str, Any]: ...

    def backup(self, backup_id: str, volume_id: str, snapshot_id: str | None) -> None: ...

    def restore(self, backup_id: str, volume_id: str, size_gb: int,
                progress: Progress | None = None) -> None: ...

    def delete_backup(self, backup_id: str) -> None: ...

    def check_backup(self, backup_id: str) -> None: ...

    def capabilities(self) -> dict[str, Any]: ...


_FORMATS = {"raw", "qcow2", "vmdk", "vdi", "vhd", "vhdx", "qed", "iso"}


class FileBackend:
    """Volumes as sparse raw files (see module docstring)."""

    def __init__(self, root: Path, name: str = "file", backup_root: Path | None = None,
                 copy_bps_limit: int = 0) -> None:
        self.root = root
        self.name = name
        self.copy_bps_limit = copy_bps_limit  # image copies (qemu-img -r); 0: unlimited
        self.backup_root = backup_root or root / "backups"
        root.mkdir(parents=True, exist_ok=True)

    def volume_path(self, volume_id: str) -> Path:
        return self.root / f"volume-{_safe(volume_id)}"

    def snapshot_path(self, snapshot_id: str) -> Path:
        return self.root / f"snapshot-{_safe(snapshot_id)}"

    # -- volumes -------------------------------------------------------------------------------
    def create(self, volume_id: str, size_gb: int) -> None:
        final = self.volume_path(volume_id)
        if final.exists():
            return  # a retried task
        part = _part(final)
        try:
            with open(part, "wb") as f:
                f.truncate(size_gb * GIB)
            os.replace(part, final)
        finally:
            part.unlink(missing_ok=True)

    def create_from_image(self, volume_id: str, size_gb: int, image_path: Path,
                          disk_format: str | None, progress: Progress | None = None) -> None:
        final = self.volume_path(volume_id)
        part = _part(final)
        fmt = disk_format if disk_format in _FORMATS and disk_format != "iso" else "raw"
        shown = ["-p"] if progress is not None else []
        if self.copy_bps_limit > 0:
            shown += ["-r", str(self.copy_bps_limit)]
        try:
            _run(["qemu-img", "convert", *shown, "-f", fmt, "-O", "raw", "-t", "none", "-T",
                  "none", str(image_path), str(part)], fallback=[
                  "qemu-img", "convert", *shown, "-f", fmt, "-O", "raw", str(image_path),
                  str(part)], progress=progress)
            if part.stat().st_size > size_gb * GIB:
                raise BackendError(f"image is larger ({part.stat().st_size} bytes) than the "
                                   f"volume ({size_gb} GiB)")
            with open(part, "r+b") as f:
                f.truncate(size_gb * GIB)
            os.replace(part, final)
        finally:
            part.unlink(missing_ok=True)

    def reimage(self, volume_id: str, size_gb: int, image_path: Path, disk_format: str | None,
                progress: Progress | None = None) -> None:
        """The volume's content again from an image (Cinder's ``os-reimage``): converted into
        a scratch file renamed over the volume's once complete, so a failure (an image too
        large, a conversion error) leaves the old content. A retried task writes it again."""
        if not self.has_volume(volume_id):
            raise BackendError(f"volume {volume_id} has no file")
        self.create_from_image(volume_id, size_gb, image_path, disk_format, progress)

    def has_volume(self, volume_id: str) -> bool:
        return self.volume_path(volume_id).exists()

    def create_from_snapshot(self, volume_id: str, snapshot_id: str, size_gb: int,
                             progress: Progress | None = None) -> None:
        self._copy(self.snapshot_path(snapshot_id), self.volume_path(volume_id), size_gb,
                   progress)

    def clone(self, volume_id: str, source_id: str, size_gb: int,
              progress: Progress | None = None) -> None:
        self._copy(self.volume_path(source_id), self.volume_path(volume_id), size_gb, progress)

    def extend(self, volume_id: str, size_gb: int) -> None:
        path = self.volume_path(volume_id)
        if not path.exists():
            raise BackendError(f"volume {volume_id} has no file")
        if path.stat().st_size < size_gb * GIB:
            with open(path, "r+b") as f:
                f.truncate(size_gb * GIB)

    def delete(self, volume_id: str) -> None:
        self.volume_path(volume_id).unlink(missing_ok=True)

    def scrub(self) -> int:
        """Remove scratch files a killed agent left behind (at start: none is in use)."""
        count = 0
        for root in (self.root, self.backup_root):
            for part in root.glob("*.part"):
                part.unlink(missing_ok=True)
                count += 1
        return count

    # -- snapshots -----------------------------------------------------------------------------
    def snapshot(self, snapshot_id: str, volume_id: str) -> None:
        source = self.volume_path(volume_id)
        self._copy(source, self.snapshot_path(snapshot_id), None)

    def delete_snapshot(self, snapshot_id: str) -> None:
        self.snapshot_path(snapshot_id).unlink(missing_ok=True)

    # -- backups (the directory backup backend) -------------------------------------------------
    def backup_path(self, backup_id: str) -> Path:
        return self.backup_root / f"backup-{_safe(backup_id)}"

    def backup(self, backup_id: str, volume_id: str, snapshot_id: str | None) -> None:
        final = self.backup_path(backup_id)
        if final.exists():
            return  # a retried task
        self.backup_root.mkdir(parents=True, exist_ok=True)
        source = self.snapshot_path(snapshot_id) if snapshot_id else self.volume_path(volume_id)
        self._copy(source, final, None)

    def restore(self, backup_id: str, volume_id: str, size_gb: int,
                progress: Progress | None = None) -> None:
        source = self.backup_path(backup_id)
        if not source.exists():
            raise BackendError(f"backup {backup_id} has no file")
        if source.stat().st_size > size_gb * GIB:
            raise BackendError(f"backup {backup_id} is larger than the volume ({size_gb} GiB)")
        self._copy(source, self.volume_path(volume_id), size_gb, progress)

    def delete_backup(self, backup_id: str) -> None:
        self.backup_path(backup_id).unlink(missing_ok=True)

    def check_backup(self, backup_id: str) -> None:
        """An imported backup record's data must be here (``import_record``)."""
        if not self.backup_path(backup_id).is_file():
            raise BackendError(f"backup {backup_id} has no data in {self.backup_root}")

    # -- attach --------------------------------------------------------------------------------
    def connection_info(self, volume_id: str) -> dict[str, Any]:
        path = self.volume_path(volume_id)
        if not path.exists():
            raise BackendError(f"volume {volume_id} has no file")
        return {"driver_volume_type": "local", "data": {"device_path": str(path)}}

    def capabilities(self) -> dict[str, Any]:
        usage = shutil.disk_usage(self.root)
        return {"volume_backend_name": self.name, "storage_protocol": "local",
                "vendor_name": "Open Source", "driver_version": "1.0",
                "total_capacity_gb": usage.total // GIB, "free_capacity_gb": usage.free // GIB,
                "thin_provisioning_support": True, "backup": True}

    def _copy(self, source: Path, final: Path, size_gb: int | None,
              progress: Progress | None = None) -> None:
        if not source.exists():
            raise BackendError(f"{source.name} does not exist")
        part = _part(final)
        try:
            _run(["cp", "--reflink=auto", "--sparse=always", str(source), str(part)],
                 progress=progress, watch=(part, source.stat().st_size))
            if size_gb is not None and part.stat().st_size < size_gb * GIB:
                with open(part, "r+b") as f:
                    f.truncate(size_gb * GIB)
            os.replace(part, final)
        finally:
            part.unlink(missing_ok=True)


def _safe(ident: str) -> str:
    if not ident or "/" in ident or ident.startswith("."):
        raise BackendError(f"bad id {ident!r}")
    return ident


def _part(path: Path) -> Path:
    """A private scratch name next to ``path``: two runs of one task (a re-sent cast) never
    write the same file."""
    return path.with_name(f"{path.name}.{uuid.uuid4().hex[:8]}.part")


def _run(cmd: list[str], fallback: list[str] | None = None, progress: Progress | None = None,
         watch: tuple[Path, int] | None = None) -> None:
    """Run a copy; with ``progress``, tell it how far the copy is: from the command's own
    ``(NN.NN/100%)`` lines (``qemu-img -p``), or from the size of the file it writes
    (``watch``: the file and the size it will reach)."""
    code, err = _execute(cmd, progress, watch)
    if code != 0 and fallback is not None:
        code, err = _execute(fallback, progress, watch)
    if code != 0:
        raise BackendError(f"{cmd[0]} failed: {err.strip()[:200]}")


def _execute(cmd: list[str], progress: Progress | None,
             watch: tuple[Path, int] | None) -> tuple[int, str]:
    if progress is None:
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        return proc.returncode, proc.stderr
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as child:
        assert child.stdout is not None and child.stderr is not None
        if watch is None:
            _follow(child.stdout, progress)
        else:
            path, total = watch
            while True:
                try:
                    child.wait(timeout=POLL)
                    break
                except subprocess.TimeoutExpired:
                    try:
                        done = path.stat().st_size
                    except FileNotFoundError:
                        done = 0
                    if total > 0:
                        progress(min(100.0, 100.0 * done / total))
        err = child.stderr.read().decode(errors="replace")
        return child.wait(), err


def _follow(stream: IO[bytes], progress: Progress) -> None:
    """Read ``qemu-img -p`` output (``\r``-separated ``(NN.NN/100%)``) as it comes."""
    pending = b""
    while True:
        chunk = stream.read1(4096) if hasattr(stream, "read1") else stream.read(4096)
        if not chunk:
            return
        pending += chunk
        *complete, pending = re.split(rb"[\r\n]", pending)
        for line in complete:
            found = _QEMU_PROGRESS.search(line)
            if found:
                progress(float(found.group(1)))
