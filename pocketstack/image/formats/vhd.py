"""VHD ("vpc") parsing from the 512-byte footer (Microsoft VHD spec).

Dynamic and differencing disks carry a copy of the footer at offset 0, which
is what QEMU probes for; a fixed VHD has its footer only at the very end and
is therefore (like in QEMU and Glance) indistinguishable from raw.
Big-endian fields: cookie ``conectix`` @0, current size @48, disk type @60.
"""

from __future__ import annotations

import struct

from pocketstack.image.formats._base import Finding, FindingCode, FormatDef, Parsed, View

NAME = "vhd"
COOKIE = b"conectix"

_FOOTER_FIELDS_LEN = 64
_DISK_FIXED = 2
_DISK_DYNAMIC = 3
_DISK_DIFFERENCING = 4


def _matches(view: View) -> bool:
    return view.read(0, len(COOKIE)) == COOKIE


def _parse(view: View) -> Parsed:
    footer = view.read(0, _FOOTER_FIELDS_LEN)
    if len(footer) < _FOOTER_FIELDS_LEN:
        return Parsed.invalid(NAME, f"vhd footer truncated ({len(footer)} bytes)")
    (current_size,) = struct.unpack_from(">Q", footer, 48)
    (disk_type,) = struct.unpack_from(">I", footer, 60)
    if disk_type == _DISK_DIFFERENCING:
        finding = Finding(FindingCode.BACKING_FILE, "differencing vhd refers to a parent disk")
        return Parsed(NAME, current_size, (finding,))
    if disk_type not in (_DISK_FIXED, _DISK_DYNAMIC):
        return Parsed.invalid(NAME, f"unknown vhd disk type {disk_type}", current_size)
    return Parsed(NAME, current_size)


FORMAT = FormatDef(NAME, _matches, _parse)
