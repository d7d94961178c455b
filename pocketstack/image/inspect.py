"""Disk image format inspection for uploads (what ``qemu-img info`` and Glance's
format inspector do), in pure Python from the format headers.

This module owns:

* :class:`ImageInspector` — fed an upload chunk by chunk (:meth:`~ImageInspector.feed`),
  it retains only bounded regions (the first :data:`HEAD_SIZE` bytes, the last
  few sectors, and a few small ranges such as a VHDX metadata table) and never
  the whole image; :meth:`~ImageInspector.result` returns an
  :class:`InspectionResult` with the detected format (``qcow2``, ``vmdk``,
  ``vhd``, ``vhdx``, ``iso``, a few recognised-only formats such as ``qed`` or
  ``vdi``, else ``raw``), the virtual size and the safety findings;
* :func:`inspect_file` — the same for a file on disk;
* :func:`check` — the upload policy: the declared ``disk_format`` must match
  what was detected and the image must have no safety findings, otherwise an
  :class:`ImageFormatError` (:class:`FormatMismatchError` or
  :class:`UnsafeImageError`) is raised.

The per-format parsing lives in :mod:`pocketstack.image.formats`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

from pocketstack.image.formats import (
    HEAD_NEEDED,
    ISO,
    SIGNATURE_FORMATS,
    TAIL_NEEDED,
    Finding,
    FindingCode,
    FormatDef,
    Parsed,
)

__all__ = [
    "HEAD_SIZE",
    "Finding",
    "FindingCode",
    "FormatMismatchError",
    "ImageFormatError",
    "ImageInspector",
    "InspectionResult",
    "UnsafeImageError",
    "check",
    "inspect_file",
]

#: bytes retained from the start of the stream
HEAD_SIZE: Final = HEAD_NEEDED
#: bytes retained from the end of the stream
TAIL_SIZE: Final = TAIL_NEEDED
#: upper bound on any extra retained range, and on how many there may be
MAX_REGION_SIZE: Final = 64 * 1024
MAX_REGIONS: Final = 8

_RAW_CONTENT: Final = frozenset({"raw", "iso"})
#: declared disk_format -> detected formats it accepts.  An ISO 9660 image is
#: plain sectors to every hypervisor, so it may be uploaded as raw.
ACCEPTED_FORMATS: Final[Mapping[str, frozenset[str]]] = MappingProxyType(
    {
        "raw": _RAW_CONTENT,
        "ami": _RAW_CONTENT,
        "aki": _RAW_CONTENT,
        "ari": _RAW_CONTENT,
        "iso": frozenset({"iso"}),
        "qcow2": frozenset({"qcow2"}),
        "vmdk": frozenset({"vmdk"}),
        "vhd": frozenset({"vhd"}),
        "vhdx": frozenset({"vhdx"}),
        "vdi": frozenset({"vdi"}),
        "ploop": frozenset({"ploop"}),
    }
)


class ImageFormatError(Exception):
    """An uploaded image is not acceptable as the declared disk format."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class FormatMismatchError(ImageFormatError):
    """The image content is not of the declared disk format."""

    def __init__(self, declared: str, detected: str) -> None:
        super().__init__(f"image declared as {declared!r} but its content is {detected!r}")
        self.declared = declared
        self.detected = detected


class UnsafeImageError(ImageFormatError):
    """The image is of the declared format but fails a safety rule."""

    def __init__(self, findings: Iterable[Finding]) -> None:
        self.findings = tuple(findings)
        super().__init__("unsafe image: " + "; ".join(f.message for f in self.findings))


@dataclass(frozen=True, slots=True)
class InspectionResult:
    """What an inspection found.

    ``virtual_size`` is the guest-visible size in bytes (for raw and iso the
    number of bytes / the ISO volume size), or None when the header did not
    give it (then ``findings`` says why, except for recognised-only formats).
    ``actual_size`` is the number of bytes inspected.
    """

    format: str
    virtual_size: int | None
    actual_size: int
    findings: tuple[Finding, ...] = ()

    @property
    def safe(self) -> bool:
        return not self.findings


class _Region:
    """A retained byte range ``[offset, offset + length)``, filled in order."""

    __slots__ = ("data", "length", "offset")

    def __init__(self, offset: int, length: int) -> None:
        self.offset = offset
        self.length = length
        self.data = bytearray()

    @property
    def complete(self) -> bool:
        return len(self.data) >= self.length

    def fill(self, head: bytearray, chunk: memoryview, base: int) -> bool:
        """Copy what the head and the current chunk (at stream offset ``base``)
        hold of this range; True if that completed it."""
        if self.complete:
            return False
        while not self.complete:
            pos = self.offset + len(self.data)
            need = self.length - len(self.data)
            if pos < len(head):
                self.data += head[pos : pos + need]
            elif base <= pos < base + len(chunk):
                self.data += chunk[pos - base : pos - base + need]
            else:
                return False
        return True


class _Stream:
    """The retained parts of a stream; implements the parsers' ``View``."""

    def __init__(self) -> None:
        self._size = 0
        self._head = bytearray()
        self._tail = bytearray()
        self._regions: dict[str, _Region] = {}
        self._signature: FormatDef | None = None
        self._signature_final = False

    # -- View ---------------------------------------------------------------
    @property
    def size(self) -> int:
        return self._size

    def read(self, offset: int, length: int) -> bytes:
        if offset < 0 or length <= 0:
            return b""
        return bytes(self._head[offset : offset + length])

    def tail(self, length: int) -> bytes | None:
        if length > len(self._tail):
            return None
        return bytes(self._tail[len(self._tail) - length :])

    def region(self, name: str) -> bytes | None:
        found = self._regions.get(name)
        return bytes(found.data) if found is not None and found.complete else None

    # -- feeding ------------------------------------------------------------
    def feed(self, chunk: memoryview) -> None:
        n = len(chunk)
        base = self._size
        self._size += n
        head_was_full = base >= HEAD_SIZE
        if not head_was_full:
            self._head += chunk[: HEAD_SIZE - base]
        if n >= TAIL_SIZE:
            self._tail = bytearray(chunk[n - TAIL_SIZE :])
        else:
            self._tail += chunk
            if len(self._tail) > TAIL_SIZE:
                del self._tail[: len(self._tail) - TAIL_SIZE]
        if self._size < HEAD_SIZE:
            # Everything so far is in the head; planning can wait.
            return
        replan = not head_was_full
        for found in list(self._regions.values()):
            if found.fill(self._head, chunk, base):
                replan = True
        while replan:
            replan = self._plan(chunk, base)

    def settle(self) -> None:
        """Plan and fill from what is retained (for a stream that is over or
        never filled the head)."""
        empty = memoryview(b"")
        while self._plan(empty, self._size):
            pass

    def signature_formats(self) -> list[FormatDef]:
        return [fmt for fmt in SIGNATURE_FORMATS if fmt.matches(self)]

    def _signature_format(self) -> FormatDef | None:
        if self._signature_final:
            return self._signature
        matched = self.signature_formats()
        found = matched[0] if matched else None
        if len(self._head) >= HEAD_SIZE:
            self._signature, self._signature_final = found, True
        return found

    def _plan(self, chunk: memoryview, base: int) -> bool:
        """Register the ranges the detected format asks for; True if a newly
        registered range is already complete (its parser may want more)."""
        fmt = self._signature_format()
        if fmt is None:
            return False
        progressed = False
        for req in fmt.requests(self):
            if req.name in self._regions or len(self._regions) >= MAX_REGIONS:
                continue
            length = max(0, min(req.length, MAX_REGION_SIZE))
            found = _Region(max(0, req.offset), length)
            self._regions[req.name] = found
            if found.fill(self._head, chunk, base) or found.complete:
                progressed = True
        return progressed


class ImageInspector:
    """Streaming disk image inspector.

    Feed the upload in chunks of any size with :meth:`feed`; call
    :meth:`result` once the stream is over (it may also be called earlier and
    then describes the bytes seen so far).  Memory use is bounded by roughly
    ``HEAD_SIZE + MAX_REGIONS * MAX_REGION_SIZE`` whatever the image size.
    """

    def __init__(self) -> None:
        self._stream = _Stream()

    @property
    def bytes_seen(self) -> int:
        return self._stream.size

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        with memoryview(data) as view, view.cast("B") as chunk:
            if len(chunk):
                self._stream.feed(chunk)

    def result(self) -> InspectionResult:
        stream = self._stream
        stream.settle()
        matched = stream.signature_formats()
        iso_match = ISO.matches(stream)
        extra: list[Finding] = []
        if matched:
            parsed = matched[0].parse(stream)
            others = [fmt.name for fmt in matched[1:]] + (["iso"] if iso_match else [])
            if others:
                extra.append(
                    Finding(
                        FindingCode.MULTIPLE_FORMATS,
                        f"{parsed.format} image also carries {', '.join(others)} headers",
                    )
                )
        elif iso_match:
            parsed = ISO.parse(stream)
        else:
            parsed = Parsed("raw", stream.size)
        return InspectionResult(
            format=parsed.format,
            virtual_size=parsed.virtual_size,
            actual_size=stream.size,
            findings=(*parsed.findings, *extra),
        )


def inspect_file(path: str | os.PathLike[str], *, chunk_size: int = 1 << 20) -> InspectionResult:
    """Inspect an image file by streaming it through an :class:`ImageInspector`."""
    inspector = ImageInspector()
    with open(path, "rb") as handle:
        while block := handle.read(chunk_size):
            inspector.feed(block)
    return inspector.result()


def check(declared_format: str, result: InspectionResult) -> None:
    """Enforce the upload policy for an image declared as ``declared_format``.

    Raises :class:`FormatMismatchError` when the content is not of the declared
    format (e.g. a ``raw`` upload that is really qcow2, an ``iso`` that has no
    ISO 9660 volume descriptor), :class:`UnsafeImageError` when it has safety
    findings (backing or data files, foreign VMDK extents, unknown qcow2
    features, several format headers at once, unusable headers), and a plain
    :class:`ImageFormatError` for a disk format this inspector does not know.
    """
    accepted = ACCEPTED_FORMATS.get(declared_format)
    if accepted is None:
        raise ImageFormatError(f"unsupported disk_format {declared_format!r}")
    if result.format not in accepted:
        raise FormatMismatchError(declared_format, result.format)
    if result.findings:
        raise UnsafeImageError(result.findings)
