"""QCOW2 header parsing (layout from QEMU's docs/interop/qcow2.txt).

Big-endian header at offset 0: magic ``QFI\\xfb``, version (2 or 3), backing
file offset/length, cluster_bits, virtual size; version 3 adds the
incompatible/compatible/autoclear feature bitmaps and header_length.
"""

from __future__ import annotations

import struct

from pocketstack.image.formats._base import (
    Finding,
    FindingCode,
    FormatDef,
    Parsed,
    View,
    printable,
)

NAME = "qcow2"
MAGIC = b"QFI\xfb"

_V2_HEADER_LEN = 72
_V3_HEADER_LEN = 104
_MAX_BACKING_NAME = 1023  # QEMU refuses longer backing file names

# Incompatible feature bits defined by the spec as of QEMU 9.x.
_INCOMPAT_DIRTY = 1 << 0
_INCOMPAT_CORRUPT = 1 << 1
_INCOMPAT_DATA_FILE = 1 << 2
_INCOMPAT_COMPRESSION = 1 << 3
_INCOMPAT_EXTENDED_L2 = 1 << 4
_INCOMPAT_KNOWN = (
    _INCOMPAT_DIRTY
    | _INCOMPAT_CORRUPT
    | _INCOMPAT_DATA_FILE
    | _INCOMPAT_COMPRESSION
    | _INCOMPAT_EXTENDED_L2
)


def _matches(view: View) -> bool:
    return view.read(0, len(MAGIC)) == MAGIC


def _parse(view: View) -> Parsed:
    hdr = view.read(0, _V3_HEADER_LEN)
    if len(hdr) < _V2_HEADER_LEN:
        return Parsed.invalid(NAME, f"qcow2 header truncated ({len(hdr)} bytes)")
    version, backing_offset, backing_len, cluster_bits, size = struct.unpack_from(">IQIIQ", hdr, 4)
    if version not in (2, 3):
        return Parsed.invalid(NAME, f"unsupported qcow2 version {version}")
    if not 9 <= cluster_bits <= 21:
        return Parsed.invalid(NAME, f"invalid qcow2 cluster_bits {cluster_bits}")

    findings: list[Finding] = []
    if backing_offset:
        name = view.read(backing_offset, min(backing_len, _MAX_BACKING_NAME))
        shown = repr(printable(name)) if name else "(name not retained)"
        findings.append(
            Finding(FindingCode.BACKING_FILE, f"qcow2 image has a backing file {shown}")
        )
    if version >= 3:
        if len(hdr) < _V3_HEADER_LEN:
            return Parsed.invalid(NAME, f"qcow2 v3 header truncated ({len(hdr)} bytes)")
        (incompatible,) = struct.unpack_from(">Q", hdr, 72)
        (header_length,) = struct.unpack_from(">I", hdr, 100)
        if header_length < _V3_HEADER_LEN:
            return Parsed.invalid(NAME, f"invalid qcow2 header_length {header_length}")
        if incompatible & _INCOMPAT_DATA_FILE:
            findings.append(
                Finding(FindingCode.DATA_FILE, "qcow2 image uses an external data file")
            )
        unknown = incompatible & ~_INCOMPAT_KNOWN
        if unknown:
            findings.append(
                Finding(
                    FindingCode.UNKNOWN_FEATURES,
                    f"qcow2 image has unknown incompatible features {unknown:#x}",
                )
            )
    return Parsed(NAME, size, tuple(findings))


FORMAT = FormatDef(NAME, _matches, _parse)
