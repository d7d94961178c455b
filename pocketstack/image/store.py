"""Where image data lives: the :class:`ImageStore` interface and the local :class:`FileStore`.

A store never holds an image in memory. Writers take chunks and either commit (the data
appears under its final location atomically) or abort (nothing is left behind). Readers stream
byte ranges. Another store (an object store, say) implements the same four operations.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urlparse

from pocketstack.common import exceptions

LOG = logging.getLogger(__name__)

READ_CHUNK = 1 << 20


class StoreWriter(Protocol):
    """One upload in progress."""

    def write(self, data: bytes | bytearray | memoryview) -> None: ...

    def commit(self) -> str:
        """Make the data durable under its final name; returns the location."""
        ...

    def abort(self) -> None:
        """Drop whatever was written (idempotent)."""
        ...


class ImageStore(Protocol):
    """The operations the image service needs of a store."""

    name: str

    def writer(self, image_id: str, staging: bool = False) -> StoreWriter: ...

    def put(self, image_id: str, chunks: Iterable[bytes], staging: bool = False) -> str: ...

    def get(self, location: str, offset: int = 0, length: int | None = None,
            chunk_size: int = READ_CHUNK) -> Iterator[bytes]: ...

    def size(self, location: str) -> int: ...

    def delete(self, location: str) -> None: ...

    def promote(self, location: str, image_id: str) -> str:
        """Turn a staged location into a stored one (glance-direct import)."""
        ...


class _FileWriter:
    def __init__(self, final: Path) -> None:
        self.final = final
        self.tmp = final.with_name(f".{final.name}.{uuid.uuid4().hex[:8]}.part")
        self._fh = open(self.tmp, "xb")  # noqa: SIM115 - closed in commit/abort
        self._done = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self._fh.write(data)

    def commit(self) -> str:
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self._fh.close()
        os.replace(self.tmp, self.final)
        self._done = True
        return self.final.as_uri()

    def abort(self) -> None:
        if self._done:
            return
        self._done = True
        try:
            self._fh.close()
        finally:
            try:
                self.tmp.unlink()
            except FileNotFoundError:
                pass


class FileStore:
    """Images as plain files under ``root`` (``STATE_DIR/images``), staging under ``staging/``."""

    name = "file"

    def __init__(self, root: Path) -> None:
        self.root = root
        self.staging = root / "staging"
        self.root.mkdir(parents=True, exist_ok=True)
        self.staging.mkdir(parents=True, exist_ok=True)

    # -- helpers ---------------------------------------------------------------------------
    def _path(self, location: str) -> Path:
        parsed = urlparse(location)
        if parsed.scheme != "file":
            raise exceptions.NotFound(f"Location {location!r} is not in the file store.")
        path = Path(unquote(parsed.path))
        if path.parent not in (self.root, self.staging):
            raise exceptions.NotFound(f"Location {location!r} is not in the file store.")
        return path

    @staticmethod
    def _check_id(image_id: str) -> None:
        if not image_id or "/" in image_id or image_id.startswith("."):
            raise ValueError(f"bad image id {image_id!r}")

    def local_path(self, location: str) -> Path:
        """The file behind a location of this store (for readers on the same host)."""
        return self._path(location)

    # -- ImageStore --------------------------------------------------------------------------
    def writer(self, image_id: str, staging: bool = False) -> _FileWriter:
        self._check_id(image_id)
        return _FileWriter((self.staging if staging else self.root) / image_id)

    def put(self, image_id: str, chunks: Iterable[bytes], staging: bool = False) -> str:
        w = self.writer(image_id, staging)
        try:
            for chunk in chunks:
                w.write(chunk)
            return w.commit()
        except BaseException:
            w.abort()
            raise

    def get(self, location: str, offset: int = 0, length: int | None = None,
            chunk_size: int = READ_CHUNK) -> Iterator[bytes]:
        path = self._path(location)
        try:
            fh = open(path, "rb")  # noqa: SIM115 - closed by the generator
        except FileNotFoundError:
            raise exceptions.NotFound("Image data is missing from the store.") from None
        return self._read(fh, offset, length, chunk_size)

    @staticmethod
    def _read(fh: object, offset: int, length: int | None, chunk_size: int) -> Iterator[bytes]:
        import io

        assert isinstance(fh, io.BufferedReader)
        with fh:
            fh.seek(offset)
            left = length
            while left is None or left > 0:
                want = chunk_size if left is None else min(chunk_size, left)
                block = fh.read(want)
                if not block:
                    return
                if left is not None:
                    left -= len(block)
                yield block

    def size(self, location: str) -> int:
        try:
            return self._path(location).stat().st_size
        except FileNotFoundError:
            raise exceptions.NotFound("Image data is missing from the store.") from None

    def delete(self, location: str) -> None:
        try:
            self._path(location).unlink()
        except FileNotFoundError:
            pass

    def promote(self, location: str, image_id: str) -> str:
        self._check_id(image_id)
        src = self._path(location)
        dst = self.root / image_id
        os.replace(src, dst)
        return dst.as_uri()

    # -- housekeeping ------------------------------------------------------------------------
    def scrub(self, known_ids: set[str], staged_ids: set[str] | None = None) -> int:
        """Remove partial writes and files no image row points at; returns how many."""
        removed = 0
        for folder, known in ((self.root, known_ids), (self.staging, staged_ids or set())):
            for entry in os.scandir(folder):
                if not entry.is_file():
                    continue
                if entry.name.endswith(".part") or entry.name not in known:
                    try:
                        os.unlink(entry.path)
                        removed += 1
                    except FileNotFoundError:
                        pass
        if removed:
            LOG.info("image store: removed %d orphaned or partial file(s)", removed)
        return removed
