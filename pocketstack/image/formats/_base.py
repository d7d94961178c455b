"""Shared vocabulary of the per-format header parsers.

Every format module exposes one :class:`FormatDef`: a ``matches`` probe, an
optional ``requests`` planner naming byte ranges beyond the retained head of
the stream that the parser will need, and a ``parse`` function.  Parsers only
ever see a :class:`View` of the bytes the inspector chose to retain, so they
work the same on a stream fed in chunks as on a whole file.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

SECTOR = 512


class FindingCode(enum.StrEnum):
    """Why an image is considered unsafe to hand to a hypervisor."""

    BACKING_FILE = "backing_file"
    DATA_FILE = "data_file"
    UNKNOWN_FEATURES = "unknown_features"
    VMDK_CREATE_TYPE = "vmdk_create_type"
    VMDK_EXTENT = "vmdk_extent"
    MULTIPLE_FORMATS = "multiple_formats"
    INVALID_HEADER = "invalid_header"
    UNSUPPORTED = "unsupported"


@dataclass(frozen=True, slots=True)
class Finding:
    """One safety problem found in an image header."""

    code: FindingCode
    message: str


@dataclass(frozen=True, slots=True)
class Request:
    """A byte range ``[offset, offset + length)`` a parser wants retained."""

    name: str
    offset: int
    length: int


@dataclass(frozen=True, slots=True)
class Parsed:
    """What a format parser learnt from the retained bytes."""

    format: str
    virtual_size: int | None
    findings: Sequence[Finding] = field(default_factory=tuple)

    @classmethod
    def invalid(cls, fmt: str, message: str, virtual_size: int | None = None) -> Parsed:
        return cls(fmt, virtual_size, (Finding(FindingCode.INVALID_HEADER, message),))


class View(Protocol):
    """Read-only access to the parts of the stream the inspector retained."""

    @property
    def size(self) -> int:
        """Number of bytes fed so far."""
        ...

    def read(self, offset: int, length: int) -> bytes:
        """Bytes of the retained head at ``offset``; shorter (maybe empty) when
        the head does not reach that far."""
        ...

    def tail(self, length: int) -> bytes | None:
        """The last ``length`` bytes of the stream, or None if unavailable."""
        ...

    def region(self, name: str) -> bytes | None:
        """A range named in a :class:`Request`, once it is completely retained."""
        ...


def _no_requests(view: View) -> Sequence[Request]:
    return ()


@dataclass(frozen=True, slots=True)
class FormatDef:
    """How to recognise, plan for and parse one format."""

    name: str
    matches: Callable[[View], bool]
    parse: Callable[[View], Parsed]
    requests: Callable[[View], Sequence[Request]] = _no_requests


def printable(raw: bytes, limit: int = 200) -> str:
    """A bounded, safe-to-log rendering of a name taken from an image."""
    text = raw.decode("utf-8", errors="replace")
    return text if len(text) <= limit else text[:limit] + "..."
