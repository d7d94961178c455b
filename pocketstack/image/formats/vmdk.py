"""VMDK parsing (VMware "Virtual Disk Format 5.0" technote).

Three shapes are recognised:

* a hosted sparse extent (magic ``KDMV``): little-endian header with capacity
  (sectors) @12, grain size @20, descriptor offset/size (sectors) @28/@36 and
  grain directory offset @56.  ``monolithicSparse`` and ``streamOptimized``
  images embed their text descriptor here.  A grain directory offset of
  ``GD_AT_END`` means the real header is a footer 1024 bytes before the end;
* a legacy ``COWD`` sparse extent, which is refused;
* a bare text descriptor (what QEMU probes as VMDK when the text starts, after
  comment and blank lines, with ``version=N``): its data lives in other files,
  so it is always unsafe.

Safety rules: the embedded descriptor must declare an allowed ``createType``,
exactly one ``SPARSE`` extent whose file name is a bare name, and no parent
(``parentFileNameHint``).  QEMU also looks for ``parentFileNameHint`` in the
20 sectors after the header regardless of the header's descriptor offset, so
that window is checked too.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field

from pocketstack.image.formats._base import (
    SECTOR,
    Finding,
    FindingCode,
    FormatDef,
    Parsed,
    Request,
    View,
    printable,
)

NAME = "vmdk"
SPARSE_MAGIC = b"KDMV"
COWD_MAGIC = b"COWD"
GD_AT_END = 0xFFFF_FFFF_FFFF_FFFF
ALLOWED_CREATE_TYPES = frozenset({"monolithicSparse", "streamOptimized"})
#: largest embedded descriptor inspected (QEMU-made ones are 20 sectors)
DESCRIPTOR_LIMIT = 64 * 1024
#: how much of the stream the text-descriptor probe looks at (as QEMU does)
PROBE_LEN = 2048
#: the footer, its marker and the end-of-stream marker: the stream's last bytes
FOOTER_TAIL = 3 * SECTOR

_HEADER_LEN = 79
_QEMU_DESCRIPTOR_WINDOW = (SECTOR, 20 * SECTOR)
_REQ_DESCRIPTOR = "vmdk.descriptor"
_ACCESS = frozenset({"RW", "RDONLY", "NOACCESS"})
_EXTENT_RE = re.compile(r'^(RW|RDONLY|NOACCESS)\s+(\d+)\s+(\w+)(?:\s+"([^"]*)"(?:\s+(\d+))?)?\s*$')
_VERSION_RE = re.compile(rb"version=[123]")


@dataclass(slots=True)
class _Descriptor:
    create_type: str | None = None
    parent: str | None = None
    extents: list[tuple[str, int, str, str | None]] = field(default_factory=list)
    bad_lines: list[str] = field(default_factory=list)

    @property
    def sectors(self) -> int:
        return sum(extent[1] for extent in self.extents)


def _looks_like_descriptor(probe: bytes) -> bool:
    for line in probe.split(b"\n"):
        stripped = line.strip(b" \t\r")
        if not stripped or stripped.startswith(b"#"):
            continue
        return _VERSION_RE.fullmatch(stripped) is not None
    return False


def _matches(view: View) -> bool:
    magic = view.read(0, 4)
    return magic in (SPARSE_MAGIC, COWD_MAGIC) or _looks_like_descriptor(view.read(0, PROBE_LEN))


def _header_fields(header: bytes) -> tuple[int, int, int, int]:
    """(capacity, descriptor offset, descriptor size, grain dir offset)."""
    capacity, _grain, desc_offset, desc_size = struct.unpack_from("<QQQQ", header, 12)
    (gd_offset,) = struct.unpack_from("<Q", header, 56)
    return capacity, desc_offset, desc_size, gd_offset


def _requests(view: View) -> Sequence[Request]:
    header = view.read(0, _HEADER_LEN)
    if header[:4] != SPARSE_MAGIC or len(header) < _HEADER_LEN:
        return ()
    _, desc_offset, desc_size, _ = _header_fields(header)
    if desc_offset == 0 or desc_size == 0:
        return ()
    length = min(desc_size * SECTOR, DESCRIPTOR_LIMIT)
    return (Request(_REQ_DESCRIPTOR, desc_offset * SECTOR, length),)


def _parse_descriptor(raw: bytes) -> _Descriptor:
    text = raw.split(b"\x00", 1)[0].decode("utf-8", errors="replace")
    desc = _Descriptor()
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.split(None, 1)[0] in _ACCESS:
            match = _EXTENT_RE.match(line)
            if match is None:
                desc.bad_lines.append(line)
            else:
                access, sectors, kind, filename, _ = match.groups()
                desc.extents.append((access, int(sectors), kind, filename))
            continue
        key, sep, value = line.partition("=")
        if not sep:
            continue
        key, value = key.strip(), value.strip().strip('"')
        if key == "createType":
            desc.create_type = value
        elif key == "parentFileNameHint":
            desc.parent = value
    return desc


def _descriptor_findings(desc: _Descriptor, embedded: bool) -> list[Finding]:
    findings: list[Finding] = []
    if desc.parent is not None:
        findings.append(
            Finding(
                FindingCode.BACKING_FILE,
                f"vmdk names a parent disk {printable(desc.parent.encode())!r}",
            )
        )
    if desc.create_type not in ALLOWED_CREATE_TYPES:
        findings.append(
            Finding(
                FindingCode.VMDK_CREATE_TYPE,
                f"vmdk createType {desc.create_type!r} is not one of "
                f"{sorted(ALLOWED_CREATE_TYPES)}",
            )
        )
    if desc.bad_lines:
        findings.append(
            Finding(
                FindingCode.VMDK_EXTENT,
                f"unparseable vmdk extent line {printable(desc.bad_lines[0].encode())!r}",
            )
        )
    names = [printable((name or "").encode()) for _, _, _, name in desc.extents]
    if not embedded:
        findings.append(
            Finding(
                FindingCode.VMDK_EXTENT,
                f"descriptor-only vmdk keeps its data in external extents {names}",
            )
        )
        return findings
    if len(desc.extents) != 1:
        findings.append(
            Finding(
                FindingCode.VMDK_EXTENT,
                f"vmdk must have exactly one extent, found {len(desc.extents)}: {names}",
            )
        )
    for _, _, kind, name in desc.extents:
        if kind != "SPARSE" or not name or "/" in name or "\\" in name:
            findings.append(
                Finding(
                    FindingCode.VMDK_EXTENT,
                    f"vmdk extent {kind} {printable((name or '').encode())!r} refers to "
                    "data outside this file",
                )
            )
    return findings


def _parse_sparse(view: View) -> Parsed:
    header = view.read(0, _HEADER_LEN)
    if len(header) < _HEADER_LEN:
        return Parsed.invalid(NAME, f"vmdk header truncated ({len(header)} bytes)")
    capacity, desc_offset, desc_size, gd_offset = _header_fields(header)
    findings: list[Finding] = []

    if gd_offset == GD_AT_END:
        tail = view.tail(FOOTER_TAIL)
        footer = tail[SECTOR : 2 * SECTOR] if tail is not None else b""
        if view.size < SECTOR + FOOTER_TAIL or footer[:4] != SPARSE_MAGIC:
            return Parsed.invalid(NAME, "vmdk declares a footer but none was found")
        capacity, f_desc_offset, f_desc_size, _ = _header_fields(footer)
        if (f_desc_offset, f_desc_size) != (desc_offset, desc_size):
            findings.append(
                Finding(
                    FindingCode.UNSUPPORTED,
                    "vmdk footer points at a different descriptor than the header",
                )
            )

    backing = False
    if desc_offset == 0 or desc_size == 0:
        findings.append(
            Finding(
                FindingCode.INVALID_HEADER,
                "vmdk sparse extent has no embedded descriptor (part of a split image)",
            )
        )
    else:
        if desc_size * SECTOR > DESCRIPTOR_LIMIT:
            findings.append(
                Finding(
                    FindingCode.UNSUPPORTED,
                    f"vmdk descriptor larger than {DESCRIPTOR_LIMIT} bytes",
                )
            )
        raw = view.region(_REQ_DESCRIPTOR)
        if raw is None:
            findings.append(Finding(FindingCode.INVALID_HEADER, "vmdk descriptor not available"))
        else:
            desc = _parse_descriptor(raw)
            backing = desc.parent is not None
            findings.extend(_descriptor_findings(desc, embedded=True))
    if not backing and b"parentFileNameHint" in view.read(*_QEMU_DESCRIPTOR_WINDOW):
        findings.append(Finding(FindingCode.BACKING_FILE, "vmdk header area names a parent disk"))
    return Parsed(NAME, capacity * SECTOR, tuple(findings))


def _parse(view: View) -> Parsed:
    magic = view.read(0, 4)
    if magic == SPARSE_MAGIC:
        return _parse_sparse(view)
    if magic == COWD_MAGIC:
        raw = view.read(12, 4)
        sectors = struct.unpack("<I", raw)[0] if len(raw) == 4 else None
        finding = Finding(FindingCode.UNSUPPORTED, "legacy COWD vmdk extents are not supported")
        return Parsed(NAME, None if sectors is None else sectors * SECTOR, (finding,))
    # A bare text descriptor: everything it describes lives in other files.
    desc = _parse_descriptor(view.read(0, DESCRIPTOR_LIMIT))
    findings = _descriptor_findings(desc, embedded=False)
    return Parsed(NAME, desc.sectors * SECTOR, tuple(findings))


FORMAT = FormatDef(NAME, _matches, _parse, _requests)
