"""Glance's image cache on the API node (``image_cache = true``): full copies of active images
in ``STATE/image-cache/``, recorded in a node-local SQLite database as Glance's default
``sqlite`` cache driver keeps them (size, hits, last accessed and modified times), and a queue
of images waiting to be cached.

``PUT /v2/cache/{id}`` queues an image; the prefetcher (:class:`Prefetcher`, a role of the
image service, like Glance's cache worker) copies it from the store, checking its checksum,
and the download API then serves it from here, counting the hit. Every API process of the node
shares the directory and database; the prefetcher runs in the main one and also polls the queue,
so images queued through another process are cached too.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

LOG = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS cached_images (
    image_id TEXT PRIMARY KEY, last_accessed REAL NOT NULL, last_modified REAL NOT NULL,
    size INTEGER NOT NULL, hits INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS queued_images (image_id TEXT PRIMARY KEY, queued_at REAL NOT NULL);
"""
CHUNK = 1 << 16


class ImageCache:
    """The cached copies and the queue of one node."""

    def __init__(self, root: Path) -> None:
        self.root = root
        (root / "incomplete").mkdir(parents=True, exist_ok=True)
        self.db_path = root / "cache.db"
        with closing(self._connect()) as db:
            db.executescript(_SCHEMA)
            db.execute("PRAGMA journal_mode=WAL")

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.db_path, timeout=30, isolation_level=None)

    def _run(self, sql: str, args: tuple[Any, ...] = ()) -> None:
        with closing(self._connect()) as db:
            db.execute(sql, args)

    def _rows(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with closing(self._connect()) as db:
            return list(db.execute(sql, args))

    def _path(self, image_id: str) -> Path:
        if not image_id or "/" in image_id or image_id.startswith("."):
            raise ValueError(f"not an image id: {image_id!r}")
        return self.root / image_id

    # -- state -------------------------------------------------------------------------------
    def cached_images(self) -> list[dict[str, Any]]:
        return [{"image_id": r[0], "last_accessed": r[1], "last_modified": r[2],
                 "size": r[3], "hits": r[4]}
                for r in self._rows("SELECT image_id, last_accessed, last_modified, size, hits "
                                    "FROM cached_images ORDER BY image_id")]

    def queued_images(self) -> list[str]:
        return [r[0] for r in self._rows("SELECT image_id FROM queued_images "
                                         "ORDER BY queued_at, image_id")]

    def is_cached(self, image_id: str) -> bool:
        return bool(self._rows("SELECT 1 FROM cached_images WHERE image_id = ?", (image_id,)))

    def is_queued(self, image_id: str) -> bool:
        return bool(self._rows("SELECT 1 FROM queued_images WHERE image_id = ?", (image_id,)))

    # -- queue -------------------------------------------------------------------------------
    def queue(self, image_id: str) -> bool:
        """Queue an image for caching (False: it is cached already, as Glance answers)."""
        self._path(image_id)
        if self.is_cached(image_id):
            return False
        self._run("INSERT OR IGNORE INTO queued_images (image_id, queued_at) VALUES (?, ?)",
                  (image_id, time.time()))
        return True

    def dequeue(self, image_id: str) -> None:
        self._run("DELETE FROM queued_images WHERE image_id = ?", (image_id,))

    # -- data --------------------------------------------------------------------------------
    def fill(self, image_id: str, chunks: Iterable[bytes], checksum: str | None) -> int:
        """Copy an image into the cache (and off the queue); the data must match ``checksum``
        (the image's MD5) or nothing is kept. Returns the size cached."""
        final = self._path(image_id)
        part = self.root / "incomplete" / f"{image_id}.{os.getpid()}.{threading.get_ident()}"
        md5 = hashlib.md5(usedforsecurity=False)
        size = 0
        try:
            with open(part, "wb") as fh:
                for chunk in chunks:
                    fh.write(chunk)
                    md5.update(chunk)
                    size += len(chunk)
                fh.flush()
                os.fsync(fh.fileno())
            if checksum and md5.hexdigest() != checksum:
                raise ValueError(f"image {image_id}: data does not match its checksum")
            os.replace(part, final)
        finally:
            part.unlink(missing_ok=True)
        now = time.time()
        self._run("INSERT OR REPLACE INTO cached_images (image_id, last_accessed, "
                  "last_modified, size, hits) VALUES (?, ?, ?, ?, 0)",
                  (image_id, now, now, size))
        self.dequeue(image_id)
        return size

    def read(self, image_id: str, offset: int = 0,
             length: int | None = None) -> Iterator[bytes] | None:
        """The cached data (from ``offset``, ``length`` bytes), counting a hit; None when the
        image is not cached."""
        try:
            fh = open(self._path(image_id), "rb")  # noqa: SIM115 - closed by the generator
        except (FileNotFoundError, ValueError):
            return None
        self._run("UPDATE cached_images SET hits = hits + 1, last_accessed = ? "
                  "WHERE image_id = ?", (time.time(), image_id))
        return _chunks(fh, offset, length)

    def size(self, image_id: str) -> int | None:
        try:
            return self._path(image_id).stat().st_size
        except (FileNotFoundError, ValueError):
            return None

    def delete(self, image_id: str) -> bool:
        """Drop an image from the cache and the queue (True: it was in either)."""
        try:
            path = self._path(image_id)
        except ValueError:
            return False
        was = self.is_cached(image_id) or self.is_queued(image_id)
        self._run("DELETE FROM cached_images WHERE image_id = ?", (image_id,))
        self.dequeue(image_id)
        path.unlink(missing_ok=True)
        return was

    def clear_cache(self) -> int:
        ids = [r["image_id"] for r in self.cached_images()]
        for image_id in ids:
            self._run("DELETE FROM cached_images WHERE image_id = ?", (image_id,))
            self._path(image_id).unlink(missing_ok=True)
        return len(ids)

    def clear_queue(self) -> int:
        ids = self.queued_images()
        for image_id in ids:
            self.dequeue(image_id)
        return len(ids)


def _chunks(fh: Any, offset: int, length: int | None) -> Iterator[bytes]:
    with fh:
        fh.seek(offset)
        left = length
        while left is None or left > 0:
            data = fh.read(CHUNK if left is None else min(CHUNK, left))
            if not data:
                return
            if left is not None:
                left -= len(data)
            yield data


class Prefetcher:
    """Caches queued images: at once when this process queues one, and every ``interval``
    seconds for images queued by other API processes (Glance's cache worker and prefetcher)."""

    name = "image-cache-prefetcher"

    def __init__(self, cache: ImageCache, source: Callable[[str], tuple[Iterable[bytes],
                                                                         str | None] | None],
                 interval: float = 1.0) -> None:
        self.cache = cache
        self.source = source  # image id -> (its data, its checksum), None: not active
        self.interval = interval
        self.wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    async def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
        self._thread.start()

    async def stop(self) -> None:
        self._stop.set()
        self.wake.set()
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join, 30)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.run_once()
            self.wake.wait(self.interval)
            self.wake.clear()

    def run_once(self) -> int:
        """Cache every queued image; returns how many were cached."""
        done = 0
        for image_id in self.cache.queued_images():
            if self._stop.is_set():
                break
            try:
                found = self.source(image_id)
                if found is None:  # deleted or no longer active: Glance's prefetcher skips it
                    self.cache.dequeue(image_id)
                    continue
                data, checksum = found
                size = self.cache.fill(image_id, data, checksum)
                LOG.info("image cache: cached %s (%d bytes)", image_id, size)
                done += 1
            except Exception:  # noqa: BLE001 - one bad image must not stop the others
                LOG.exception("image cache: caching %s failed; dropped from the queue",
                              image_id)
                self.cache.dequeue(image_id)
        return done
