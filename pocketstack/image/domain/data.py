"""The upload pipeline: every chunk is counted, hashed (md5 and sha512), inspected and written
to the store; nothing is held beyond the current chunk and the inspector's bounded regions.

:class:`UploadPipeline` is synchronous (it runs in a worker thread, batch by batch);
:func:`finish` checks the inspection result against the declared ``disk_format`` and commits.
Any failure aborts the store writer, so no partial file survives.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from pocketstack.common import exceptions
from pocketstack.image import inspect
from pocketstack.image.domain.common import ImageDataTooLarge
from pocketstack.image.domain.images import UploadGrant
from pocketstack.image.store import StoreWriter

HASH_ALGO = "sha512"
#: declared disk formats the inspector has no header for; their content is not checked
UNCHECKED_FORMATS = frozenset({"ami", "aki", "ari", "ploop", "vdi"})
#: md5 runs here, beside sha512 + inspection + the write (hashlib releases the GIL)
_MD5_POOL = ThreadPoolExecutor(max_workers=4, thread_name_prefix="image-md5")


def _md5_all(md5: Any, chunks: Sequence[bytes]) -> None:
    for chunk in chunks:
        md5.update(chunk)


class UploadPipeline:
    """Counts, hashes, inspects and stores one upload."""

    def __init__(self, grant: UploadGrant, writer: StoreWriter,
                 require_format_match: bool = True) -> None:
        self.grant = grant
        self.writer = writer
        self.require_format_match = require_format_match
        self.size = 0
        self._md5 = hashlib.md5(usedforsecurity=False)
        self._sha = hashlib.new(HASH_ALGO)
        self._inspector = inspect.ImageInspector()

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        n = len(data)
        if not n:
            return
        if 0 <= self.grant.max_bytes < self.size + n:
            raise ImageDataTooLarge(self.grant.limit_reason)
        self.size += n
        self._md5.update(data)
        self._sha.update(data)
        self._inspector.feed(data)
        self.writer.write(data)

    def feed_batch(self, chunks: Sequence[bytes]) -> None:
        """Like :meth:`feed` for several chunks, hashing md5 in parallel with the rest."""
        total = sum(len(c) for c in chunks)
        if 0 <= self.grant.max_bytes < self.size + total:
            raise ImageDataTooLarge(self.grant.limit_reason)
        md5 = _MD5_POOL.submit(_md5_all, self._md5, chunks)
        try:
            for chunk in chunks:
                self._sha.update(chunk)
                self._inspector.feed(chunk)
                self.writer.write(chunk)
        finally:
            md5.result()
        self.size += total

    def facts(self, enforce: bool = True) -> dict[str, Any]:
        """Inspect, enforce the declared format, and return what the image row records."""
        result = self._inspector.result()
        declared = self.grant.disk_format
        # Only a bare container holds the disk image itself (ova/ovf/docker are archives).
        checked = declared not in UNCHECKED_FORMATS and self.grant.container_format == "bare"
        if checked and enforce:
            try:
                self._check(declared, result)
            except inspect.FormatMismatchError as exc:
                raise exceptions.BadRequest(
                    f"Image content does not match disk_format {declared!r}: "
                    f"the data is {exc.detected!r}.") from None
            except inspect.ImageFormatError as exc:
                raise exceptions.BadRequest(f"Image rejected: {exc.message}.") from None
        virtual_size = result.virtual_size if checked else None
        return {
            "size": self.size,
            "virtual_size": virtual_size,
            "checksum": self._md5.hexdigest(),
            "os_hash_algo": HASH_ALGO,
            "os_hash_value": self._sha.hexdigest(),
            "detected_format": result.format,
        }

    def _check(self, declared: str, result: inspect.InspectionResult) -> None:
        try:
            inspect.check(declared, result)
        except inspect.FormatMismatchError:
            if self.require_format_match:
                raise
            # Like Glance with [image_format] require_image_format_match = False: accept
            # the content as what it really is, but still refuse it if that is unsafe.
            inspect.check(result.format if result.format in inspect.ACCEPTED_FORMATS
                          else "raw", result)

    def commit(self) -> tuple[str, dict[str, Any]]:
        facts = self.facts()
        return self.writer.commit(), facts

    def abort(self) -> None:
        self.writer.abort()
